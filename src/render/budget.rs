//! The render budget: how long one template may render and how much text a
//! release's templates may produce, so that a template that loops forever
//! (or nearly: nested loops over large ranges) fails with its name instead
//! of hanging the command or the controller.
//!
//! Tera runs a template to its end with no way to interrupt it from outside.
//! It does call back into our code: it writes every piece of output into the
//! `Write` it is given, and it calls the functions it has registered. Both
//! are checkpoints here: the [`Metered`] writer charges every write against
//! the budget, and `range` (registered in place of Tera's own) checks the
//! clock on every call. A runaway template either writes (and is stopped by
//! size or time) or loops over ranges (and is stopped by time at its next
//! inner `range`). Rendering stays on the caller's thread: a watchdog thread
//! could return on time but could not stop the render, which would keep a
//! core busy for as long as the loop lasts.
//!
//! # Caveats
//! A template that loops without writing and without calling `range` (an
//! empty loop over a list in the values, nested deep enough) is not
//! interrupted: its work is bounded by the size of its input only.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tera::{Error, Kwargs, State, TeraResult};

/// Limits on rendering, with defaults that stop a runaway template within
/// about ten seconds and no normal one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Wall time one template may take to render (each template of each
    /// release gets its own).
    pub timeout: Duration,
    /// Bytes of output all templates of one release may produce together.
    pub max_bytes: u64,
}

/// Ten seconds: far beyond any real template, which render in milliseconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// 64 MiB per release: hundreds of times the largest real release.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

impl Default for Budget {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// Which limit a template ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Time,
    Bytes,
}

/// Clock reads are cheap but not free: the writer reads it once every this
/// many writes (a runaway loop writes millions of times a second).
const WRITES_PER_CLOCK_READ: u32 = 1024;

/// A release's budget being spent, template by template.
pub struct Meter {
    budget: Budget,
    deadline: Cell<Instant>,
    used: Cell<u64>,
    writes: Cell<u32>,
    exceeded: Cell<Option<Exceeded>>,
}

impl Meter {
    pub fn new(budget: Budget) -> Rc<Self> {
        Rc::new(Self {
            budget,
            deadline: Cell::new(deadline(budget.timeout)),
            used: Cell::new(0),
            writes: Cell::new(0),
            exceeded: Cell::new(None),
        })
    }

    /// Starts the clock of the next template; the bytes carry over.
    pub fn start_template(&self) {
        self.deadline.set(deadline(self.budget.timeout));
        self.writes.set(0);
    }

    /// The limit the template ran into, if it did.
    pub fn exceeded(&self) -> Option<Exceeded> {
        self.exceeded.get()
    }

    /// What went wrong, for the message.
    pub fn describe(&self, exceeded: Exceeded) -> String {
        match exceeded {
            Exceeded::Time => format!(
                "rendering took longer than the render budget of {} per template: a loop that does not end, or one far too big?",
                seconds(self.budget.timeout)
            ),
            Exceeded::Bytes => format!(
                "the release's templates wrote more than the render budget of {} bytes: a loop that does not end, or one far too big?",
                self.budget.max_bytes
            ),
        }
    }

    fn stop(&self, why: Exceeded) -> Exceeded {
        self.exceeded.set(Some(why));
        why
    }

    fn check_time(&self) -> Result<(), Exceeded> {
        if let Some(why) = self.exceeded.get() {
            return Err(why);
        }
        if Instant::now() >= self.deadline.get() {
            return Err(self.stop(Exceeded::Time));
        }
        Ok(())
    }

    fn charge(&self, bytes: usize) -> Result<(), Exceeded> {
        let used = self.used.get().saturating_add(bytes as u64);
        self.used.set(used);
        if used > self.budget.max_bytes {
            return Err(self.stop(Exceeded::Bytes));
        }
        let writes = self.writes.get().wrapping_add(1);
        self.writes.set(writes);
        if writes.is_multiple_of(WRITES_PER_CLOCK_READ) {
            self.check_time()?;
        }
        Ok(())
    }
}

/// `timeout` from now; a timeout too long to represent never runs out.
fn deadline(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// A template's output, charged against the meter as it is written.
pub struct Metered<'a> {
    pub text: Vec<u8>,
    meter: &'a Meter,
}

impl<'a> Metered<'a> {
    pub fn new(meter: &'a Meter, capacity: usize) -> Self {
        Self {
            text: Vec::with_capacity(capacity),
            meter,
        }
    }
}

impl io::Write for Metered<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.meter
            .charge(buf.len())
            .map_err(|_| io::Error::other("render budget exceeded"))?;
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

thread_local! {
    /// The meter of the release rendering on this thread, for `range`,
    /// which Tera calls without a way to pass it along.
    static ACTIVE: RefCell<Option<Rc<Meter>>> = const { RefCell::new(None) };
}

/// Makes `meter` the one `range` checks on this thread until the guard is
/// dropped.
pub fn activate(meter: &Rc<Meter>) -> Active {
    let previous = ACTIVE.with(|a| a.replace(Some(Rc::clone(meter))));
    Active { previous }
}

/// Restores the previous meter (if any) when dropped, also on unwinding.
pub struct Active {
    previous: Option<Rc<Meter>>,
}

impl Drop for Active {
    fn drop(&mut self) {
        let previous = self.previous.take();
        ACTIVE.with(|a| *a.borrow_mut() = previous);
    }
}

/// Tera's longest range: longer ones are refused rather than allocated.
const MAX_RANGE_LEN: i128 = 100_000;

/// `range(end=N, start=0, step_by=1)`: the integers from `start` up to (not
/// including) `end`, as Tera's own `range`, after checking the clock of the
/// template being rendered. Registered in its place so that nested loops
/// over ranges reach a checkpoint at every inner loop.
pub fn range(kwargs: Kwargs, _: &State) -> TeraResult<Vec<i128>> {
    let over = ACTIVE.with(|a| a.borrow().as_ref().and_then(|m| m.check_time().err()));
    if over.is_some() {
        return Err(Error::message("render budget exceeded"));
    }
    let start = kwargs.get::<i128>("start")?.unwrap_or(0);
    let end = kwargs.must_get::<i128>("end")?;
    let step = kwargs.get::<i128>("step_by")?.unwrap_or(1);
    if step == 0 {
        return Err(Error::message("range: step_by must not be 0"));
    }
    if step > 0 && start > end {
        return Err(Error::message(format!(
            "range: start ({start}) is greater than end ({end})"
        )));
    }
    // The number of values, without overflowing: ceil(|end - start| / |step|)
    // in the direction of the step, none when the step points away.
    let span = if step > 0 {
        end.checked_sub(start)
    } else {
        start.checked_sub(end)
    };
    let overflow = || Error::message("range: arguments overflow");
    let span = span.ok_or_else(overflow)?.max(0);
    let magnitude = step.checked_abs().ok_or_else(overflow)?;
    let len = span / magnitude + i128::from(span % magnitude != 0);
    if len > MAX_RANGE_LEN {
        return Err(Error::message(format!(
            "range: {len} values, more than the {MAX_RANGE_LEN} allowed"
        )));
    }
    Ok((0..len).map(|i| start + i * step).collect())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn bytes_are_charged_per_release() {
        let meter = Meter::new(Budget {
            timeout: Duration::from_secs(60),
            max_bytes: 10,
        });
        let mut first = Metered::new(&meter, 0);
        first.write_all(b"123456").unwrap();
        meter.start_template();
        let mut second = Metered::new(&meter, 0);
        assert!(second.write_all(b"7890").is_ok());
        assert!(second.write_all(b"x").is_err());
        assert_eq!(meter.exceeded(), Some(Exceeded::Bytes));
    }

    #[test]
    fn time_runs_out() {
        let meter = Meter::new(Budget {
            timeout: Duration::ZERO,
            max_bytes: u64::MAX,
        });
        let mut out = Metered::new(&meter, 0);
        let failed = (0..WRITES_PER_CLOCK_READ * 2).any(|_| out.write_all(b"x").is_err());
        assert!(failed);
        assert_eq!(meter.exceeded(), Some(Exceeded::Time));
    }

    #[test]
    fn long_timeouts_do_not_overflow() {
        let meter = Meter::new(Budget {
            timeout: Duration::MAX,
            max_bytes: u64::MAX,
        });
        assert!(meter.check_time().is_ok());
    }

    fn render(template: &str) -> Result<String, String> {
        let mut tera = tera::Tera::default();
        tera.register_function("range", range);
        tera.add_raw_template("t", template)
            .map_err(|e| e.to_string())?;
        tera.render("t", &tera::Context::new())
            .map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn range_is_teras() {
        let cases = [
            ("{{ range(end=3) }}", "[0, 1, 2]"),
            ("{{ range(start=1, end=7, step_by=2) }}", "[1, 3, 5]"),
            ("{{ range(start=1, end=8, step_by=2) }}", "[1, 3, 5, 7]"),
            ("{{ range(start=5, end=1, step_by=-2) }}", "[5, 3]"),
            ("{{ range(start=1, end=5, step_by=-1) }}", "[]"),
            ("{{ range(end=0) }}", "[]"),
        ];
        for (template, want) in cases {
            assert_eq!(render(template).as_deref(), Ok(want), "{template}");
        }
        assert!(render("{{ range(end=100001) }}").is_err());
        assert!(render("{{ range(start=3, end=1) }}").is_err());
        assert!(render("{{ range(end=3, step_by=0) }}").is_err());
    }

    #[test]
    fn range_stops_when_the_time_is_up() {
        let meter = Meter::new(Budget {
            timeout: Duration::ZERO,
            max_bytes: u64::MAX,
        });
        let _active = activate(&meter);
        assert!(render("{% for i in range(end=2) %}{% endfor %}").is_err());
        assert_eq!(meter.exceeded(), Some(Exceeded::Time));
    }
}

//! Progress of `export` and `import` on stderr: one bar redrawn in place at
//! a terminal (at most ten times a second), plain lines at each tenth of a
//! phase otherwise, so CI logs stay short and readable.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::oci::progress::Progress;

/// Time between redraws of the bar.
const REDRAW: Duration = Duration::from_millis(100);
/// Width of the bar, in characters.
const WIDTH: usize = 30;

#[derive(Debug)]
struct State {
    phase: &'static str,
    total: u64,
    done: u64,
    started: Instant,
    drawn: Option<Instant>,
    /// The last tenth printed, for plain lines.
    tenth: u64,
}

/// Draws progress on stderr.
#[derive(Debug)]
pub struct Bar {
    tty: bool,
    state: Mutex<State>,
}

impl Bar {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn stderr() -> Self {
        Bar {
            tty: std::io::stderr().is_terminal(),
            state: Mutex::new(State {
                phase: "",
                total: 0,
                done: 0,
                started: Instant::now(),
                drawn: None,
                tenth: 0,
            }),
        }
    }

    /// Ends the current phase with a summary line.
    pub fn finish(&self) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        self.end_phase(&mut s);
    }

    fn end_phase(&self, s: &mut State) {
        if s.phase.is_empty() {
            return;
        }
        let took = s.started.elapsed().as_secs_f64();
        let line = if is_bytes(s.phase) {
            format!(
                "{} {} in {took:.1}s ({}/s)",
                past(s.phase),
                size(s.done),
                size((s.done as f64 / took.max(0.001)) as u64)
            )
        } else {
            format!("{} {} in {took:.1}s", past(s.phase), s.done)
        };
        self.line(&line);
        s.phase = "";
    }

    fn line(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(err, "{text}");
    }

    fn draw(&self, s: &mut State) {
        let now = Instant::now();
        if self.tty {
            if s.drawn.is_some_and(|t| now - t < REDRAW) && s.done < s.total {
                return;
            }
            s.drawn = Some(now);
            let filled = if s.total == 0 {
                WIDTH
            } else {
                ((s.done.min(s.total) as u128 * WIDTH as u128) / s.total as u128) as usize
            };
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r\x1b[2K{:<9} [{}{}] {}",
                s.phase,
                "#".repeat(filled),
                ".".repeat(WIDTH - filled),
                amount(s)
            );
            let _ = err.flush();
        } else {
            let tenth = (s.done.min(s.total) * 10)
                .checked_div(s.total)
                .unwrap_or(10);
            if tenth > s.tenth && tenth < 10 {
                s.tenth = tenth;
                self.line(&format!("{} {}% {}", s.phase, tenth * 10, amount(s)));
            }
        }
    }
}

/// What a phase's summary line says: `pulling` -> `pulled`.
fn past(phase: &str) -> String {
    match phase.strip_suffix("ing") {
        Some(stem) => match stem.strip_suffix('y') {
            Some(s) => format!("{s}ied"),
            None => format!("{stem}ed"),
        },
        None => phase.to_string(),
    }
}

/// Phases counted in bytes; the others count items.
fn is_bytes(phase: &str) -> bool {
    phase != "resolving"
}

fn amount(s: &State) -> String {
    if is_bytes(s.phase) {
        let rate = s.done as f64 / s.started.elapsed().as_secs_f64().max(0.001);
        format!("{}/{} {}/s", size(s.done), size(s.total), size(rate as u64))
    } else {
        format!("{}/{}", s.done, s.total)
    }
}

/// Bytes in binary units, one decimal.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

impl Progress for Bar {
    fn phase(&self, name: &'static str, total: u64) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        self.end_phase(&mut s);
        *s = State {
            phase: name,
            total,
            done: 0,
            started: Instant::now(),
            drawn: None,
            tenth: 0,
        };
        if !self.tty {
            let what = if is_bytes(name) {
                size(total)
            } else {
                format!("{total} images")
            };
            self.line(&format!("{name} {what}"));
        }
    }

    fn advance(&self, bytes: u64) {
        if let Ok(mut s) = self.state.lock() {
            s.done += bytes;
            self.draw(&mut s);
        }
    }

    fn redo(&self, bytes: u64) {
        if let Ok(mut s) = self.state.lock() {
            s.done = s.done.saturating_sub(bytes);
        }
    }

    fn item(&self, line: &str) {
        if let Ok(mut s) = self.state.lock() {
            self.line(&format!("  {line}"));
            s.drawn = None;
            self.draw(&mut s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_end_in_the_past() {
        assert_eq!(past("pulling"), "pulled");
        assert_eq!(past("pushing"), "pushed");
        assert_eq!(past("verifying"), "verified");
        assert_eq!(past("resolving"), "resolved");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(1 << 30), "1.0 GiB");
    }
}

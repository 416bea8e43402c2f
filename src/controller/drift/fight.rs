//! Backing off from a fight over an object: when something keeps changing
//! an object back right after each correction (another controller that
//! owns the same fields, a script in a loop), correcting at once every
//! time would make both sides write forever. The first few corrections in
//! a row happen at once; after them each one waits twice as long as the
//! one before, up to a cap. A quiet spell ends the streak.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::apply::ObjectKey;

/// Corrections in a row made at once, before backing off.
pub const FREE_CORRECTIONS: u32 = 3;

/// A correction this soon after the one before continues the streak.
const STREAK_WINDOW: Duration = Duration::from_secs(60);

/// The first wait once backing off; each next one doubles.
const FIRST_WAIT: Duration = Duration::from_secs(5);

/// The longest wait between two corrections of one object.
const MAX_WAIT: Duration = Duration::from_secs(300);

/// One object's streak of corrections.
#[derive(Debug, Clone, Copy)]
struct Streak {
    /// Corrections in a row, each within [`STREAK_WINDOW`] of the last.
    count: u32,
    last: Instant,
}

/// The streaks of every object corrected recently.
#[derive(Debug, Default)]
pub struct Fights {
    streaks: HashMap<ObjectKey, Streak>,
}

impl Fights {
    /// `key` was corrected at `now`: the streak it is now at.
    pub fn corrected(&mut self, key: &ObjectKey, now: Instant) -> u32 {
        self.forget_before(now);
        let streak = self.streaks.entry(key.clone()).or_insert(Streak {
            count: 0,
            last: now,
        });
        streak.count += 1;
        streak.last = now;
        streak.count
    }

    /// The earliest time `key` may be corrected again.
    pub fn not_before(&self, key: &ObjectKey) -> Option<Instant> {
        let streak = self.streaks.get(key)?;
        wait(streak.count).map(|w| streak.last + w)
    }

    /// Ends streaks whose last correction is older than the window: the
    /// map holds only objects being fought over.
    fn forget_before(&mut self, now: Instant) {
        self.streaks
            .retain(|_, s| now.saturating_duration_since(s.last) < STREAK_WINDOW);
    }
}

/// How long to wait after the `count`-th correction in a row, if at all.
pub fn wait(count: u32) -> Option<Duration> {
    let over = count.checked_sub(FREE_CORRECTIONS)?;
    let doubled = FIRST_WAIT.saturating_mul(1u32 << over.min(16));
    Some(doubled.min(MAX_WAIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjectKey {
        ObjectKey {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: Some("ns".into()),
            name: name.into(),
        }
    }

    #[test]
    fn the_first_corrections_are_free_then_waits_double_up_to_the_cap() {
        assert_eq!(wait(1), None);
        assert_eq!(wait(FREE_CORRECTIONS - 1), None);
        assert_eq!(wait(FREE_CORRECTIONS), Some(FIRST_WAIT));
        assert_eq!(wait(FREE_CORRECTIONS + 1), Some(FIRST_WAIT * 2));
        assert_eq!(wait(FREE_CORRECTIONS + 2), Some(FIRST_WAIT * 4));
        assert_eq!(wait(FREE_CORRECTIONS + 40), Some(MAX_WAIT));
    }

    #[test]
    fn a_streak_grows_per_object_and_ends_after_a_quiet_spell() {
        let mut fights = Fights::default();
        let (a, b) = (key("a"), key("b"));
        let t0 = Instant::now();
        for i in 0..FREE_CORRECTIONS {
            assert_eq!(
                fights.corrected(&a, t0 + Duration::from_secs(i.into())),
                i + 1
            );
        }
        let last = t0 + Duration::from_secs((FREE_CORRECTIONS - 1).into());
        assert_eq!(fights.not_before(&a), Some(last + FIRST_WAIT));
        // Another object has its own streak.
        assert_eq!(fights.corrected(&b, last), 1);
        assert_eq!(fights.not_before(&b), None);
        // A correction after the window starts over.
        let later = last + STREAK_WINDOW + Duration::from_secs(1);
        assert_eq!(fights.corrected(&a, later), 1);
        assert_eq!(fights.not_before(&a), None);
        assert!(!fights.streaks.contains_key(&b), "b's streak ended too");
    }
}

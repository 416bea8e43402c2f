//! When each Platform is reconciled next: at once when it changes or a
//! webhook fires, after its interval when all is well, with exponential
//! backoff when it fails. One reconcile per Platform at a time; a trigger
//! that arrives while it runs makes it run once more right after.
//!
//! Pure state, no clock of its own: the loop passes `now`.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// A Platform: namespace and name.
pub type Key = (String, String);

/// The first retry delay after a failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(2);
/// The longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The delay before retry number `failures` (1 for the first): doubling
/// from [`BACKOFF_BASE`], capped at `cap`.
pub fn backoff(failures: u32, cap: Duration) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    BACKOFF_BASE
        .saturating_mul(1u32 << exp)
        .min(cap)
        .max(Duration::from_millis(1))
}

/// How a reconcile ended, for scheduling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// All is well: check again after the interval.
    After(Duration),
    /// It failed: retry with backoff, capped at the interval and at
    /// [`BACKOFF_MAX`].
    Failed { interval: Duration },
    /// Failed with its own retry policy: run again after this delay.
    RetryAfter(Duration),
    /// Wait until the object changes.
    AwaitChange,
}

#[derive(Debug, Default)]
pub struct Queue {
    due: HashMap<Key, Instant>,
    running: HashSet<Key>,
    again: HashSet<Key>,
    failures: HashMap<Key, u32>,
}

impl Queue {
    /// Reconcile `key` as soon as possible.
    pub fn now(&mut self, key: Key, now: Instant) {
        if self.running.contains(&key) {
            self.again.insert(key);
        } else {
            self.due.insert(key, now);
        }
    }

    /// Forget `key` (its object was deleted).
    pub fn forget(&mut self, key: &Key) {
        self.due.remove(key);
        self.again.remove(key);
        self.failures.remove(key);
    }

    /// The earliest time something is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.due.values().min().copied()
    }

    /// Takes up to `limit` keys due at `now`, earliest first, and marks
    /// them running.
    pub fn take_due(&mut self, now: Instant, limit: usize) -> Vec<Key> {
        let mut ready: Vec<(Instant, Key)> = self
            .due
            .iter()
            .filter(|(k, at)| **at <= now && !self.running.contains(*k))
            .map(|(k, at)| (*at, k.clone()))
            .collect();
        ready.sort();
        ready.truncate(limit);
        let keys: Vec<Key> = ready.into_iter().map(|(_, k)| k).collect();
        for k in &keys {
            self.due.remove(k);
            self.running.insert(k.clone());
        }
        keys
    }

    /// Every running reconcile was stopped: run them again as soon as
    /// possible.
    pub fn requeue_running(&mut self, now: Instant) {
        for key in std::mem::take(&mut self.running) {
            self.due.insert(key, now);
        }
    }

    /// How many reconciles are running.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Records the end of a reconcile and schedules the next one.
    pub fn ended(&mut self, key: Key, ended: Ended, now: Instant) {
        self.running.remove(&key);
        let at = match ended {
            Ended::After(d) => {
                self.failures.remove(&key);
                Some(now + d)
            }
            Ended::Failed { interval } => {
                let n = self.failures.entry(key.clone()).or_insert(0);
                *n += 1;
                Some(now + backoff(*n, interval.min(BACKOFF_MAX)))
            }
            Ended::RetryAfter(d) => Some(now + d),
            Ended::AwaitChange => {
                self.failures.remove(&key);
                None
            }
        };
        if self.again.remove(&key) {
            self.due.insert(key, now);
        } else if let Some(at) = at {
            self.due.insert(key, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: &str) -> Key {
        ("ns".into(), n.into())
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let cap = Duration::from_secs(60);
        assert_eq!(backoff(1, cap), Duration::from_secs(2));
        assert_eq!(backoff(2, cap), Duration::from_secs(4));
        assert_eq!(backoff(3, cap), Duration::from_secs(8));
        assert_eq!(backoff(10, cap), cap);
        assert_eq!(backoff(u32::MAX, cap), cap);
    }

    #[test]
    fn a_trigger_while_running_runs_once_more() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        q.now(key("a"), t0);
        assert_eq!(q.take_due(t0, 4), vec![key("a")]);
        q.now(key("a"), t0);
        q.now(key("a"), t0);
        assert!(q.take_due(t0, 4).is_empty(), "never twice at once");
        q.ended(key("a"), Ended::After(Duration::from_secs(60)), t0);
        assert_eq!(q.take_due(t0, 4), vec![key("a")]);
    }

    #[test]
    fn failures_back_off_and_success_resets() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        let interval = Duration::from_secs(600);
        q.now(key("a"), t0);
        let _ = q.take_due(t0, 1);
        q.ended(key("a"), Ended::Failed { interval }, t0);
        assert_eq!(q.next_due(), Some(t0 + Duration::from_secs(2)));
        let _ = q.take_due(t0 + Duration::from_secs(2), 1);
        q.ended(key("a"), Ended::Failed { interval }, t0);
        assert_eq!(q.next_due(), Some(t0 + Duration::from_secs(4)));
        let _ = q.take_due(t0 + Duration::from_secs(4), 1);
        q.ended(key("a"), Ended::After(interval), t0);
        assert_eq!(q.next_due(), Some(t0 + interval));
    }

    #[test]
    fn limit_and_order() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        q.now(key("b"), t0 + Duration::from_millis(2));
        q.now(key("a"), t0 + Duration::from_millis(1));
        q.now(key("c"), t0 + Duration::from_secs(9));
        let now = t0 + Duration::from_millis(5);
        assert_eq!(q.take_due(now, 1), vec![key("a")]);
        assert_eq!(q.take_due(now, 5), vec![key("b")]);
        assert_eq!(q.running(), 2);
        q.forget(&key("c"));
        assert_eq!(q.next_due(), None);
    }
}

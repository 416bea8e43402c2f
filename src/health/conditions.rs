//! `status.conditions`: lookup, the kstatus standard conditions (`Stalled`,
//! `Reconciling`) every kind may carry, and the rule for kinds `distro` has
//! no special knowledge of (the `Ready` condition, or nothing to wait for).

use serde_json::Value;

use super::{Assessment, field, int, waiting_for_generation};

/// The `status` of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Truth {
    True,
    False,
    Unknown,
}

impl std::fmt::Display for Truth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Truth::True => "True",
            Truth::False => "False",
            Truth::Unknown => "Unknown",
        })
    }
}

/// One entry of `status.conditions`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Condition<'a> {
    pub kind: &'a str,
    pub status: Truth,
    pub reason: &'a str,
    pub message: &'a str,
    /// The generation the condition was computed for, when the controller
    /// records it (metav1.Condition does).
    pub observed_generation: Option<i64>,
}

impl Condition<'_> {
    pub fn is_true(&self) -> bool {
        self.status == Truth::True
    }

    /// `condition Ready=False: <message>`, falling back to the reason when
    /// the message is empty.
    pub fn describe(&self) -> String {
        let head = format!("condition {}={}", self.kind, self.status);
        match (self.message.trim(), self.reason) {
            ("", "") => head,
            ("", reason) => format!("{head}: {reason}"),
            (message, _) => format!("{head}: {message}"),
        }
    }

    /// The message, or the reason when there is no message.
    pub fn detail(&self) -> &str {
        match self.message.trim() {
            "" => self.reason,
            m => m,
        }
    }

    /// True when the condition was computed for an older generation than
    /// the object's.
    fn is_stale(&self, object: &Value) -> bool {
        match (
            self.observed_generation,
            int(object, &["metadata", "generation"]),
        ) {
            (Some(observed), Some(generation)) => observed < generation,
            _ => false,
        }
    }
}

/// The condition of a type, if the object has it.
pub(super) fn find<'a>(object: &'a Value, kind: &str) -> Option<Condition<'a>> {
    all(object).find(|c| c.kind == kind)
}

/// True when the object has a condition of this type with status True.
pub(super) fn is_true(object: &Value, kind: &str) -> bool {
    find(object, kind).is_some_and(|c| c.is_true())
}

fn all(object: &Value) -> impl Iterator<Item = Condition<'_>> {
    field(object, &["status", "conditions"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(parse)
}

fn parse(entry: &Value) -> Option<Condition<'_>> {
    let kind = entry.get("type")?.as_str()?;
    // "True" as the API writes it; a YAML boolean from a hand-written file
    // means the same.
    let status = match entry.get("status") {
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Truth::True,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Truth::False,
        Some(Value::Bool(true)) => Truth::True,
        Some(Value::Bool(false)) => Truth::False,
        _ => Truth::Unknown,
    };
    let text = |key: &str| entry.get(key).and_then(Value::as_str).unwrap_or_default();
    Some(Condition {
        kind,
        status,
        reason: text("reason"),
        message: text("message"),
        observed_generation: entry.get("observedGeneration").and_then(Value::as_i64),
    })
}

/// The kstatus standard conditions: `Stalled=True` is Failed,
/// `Reconciling=True` is InProgress. A stale condition (computed for an older
/// generation) means the controller has not caught up yet.
pub(super) fn standard(object: &Value) -> Option<Assessment> {
    if let Some(stalled) = find(object, "Stalled").filter(Condition::is_true) {
        if stalled.is_stale(object) {
            return Some(stale(object));
        }
        return Some(Assessment::failed(stalled.describe()));
    }
    find(object, "Reconciling")
        .filter(Condition::is_true)
        .map(|c| Assessment::in_progress(c.describe()))
}

/// Kinds without special rules: the `Ready` condition when there is one,
/// otherwise nothing to wait for.
pub(super) fn generic(object: &Value) -> Assessment {
    if let Some(ready) = find(object, "Ready") {
        if ready.is_stale(object) {
            return stale(object);
        }
        return if ready.is_true() {
            Assessment::current(ready.describe())
        } else {
            Assessment::in_progress(ready.describe())
        };
    }
    match object.get("status") {
        None | Some(Value::Null) => Assessment::current("no status to wait for"),
        Some(_) => Assessment::current("no Ready condition to wait for"),
    }
}

fn stale(object: &Value) -> Assessment {
    waiting_for_generation(int(object, &["metadata", "generation"]).unwrap_or_default())
}

//! What apply did to each object: the one value that the command line,
//! status and logs all report from.

use serde::Serialize;

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// It did not exist and was created.
    Created,
    /// It existed and was changed.
    Configured,
    /// It already matched; nothing was written.
    Unchanged,
    /// It was deleted and created again (immutable field, `distro.dev/force`).
    Recreated,
    /// It left the release and was deleted.
    Deleted,
    /// Left alone: it left the release but was kept (CRD,
    /// `distro.dev/prune: disabled`), or it says `distro.dev/reconcile:
    /// disabled`.
    Skipped,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
            Action::Recreated => "recreated",
            Action::Deleted => "deleted",
            Action::Skipped => "skipped",
        };
        f.write_str(s)
    }
}

/// One object and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `Kind.group/namespace/name`.
    pub object: String,
    pub action: Action,
}

/// Every change of one release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChangeSet {
    pub changes: Vec<Change>,
}

impl ChangeSet {
    pub fn push(&mut self, object: String, action: Action) {
        self.changes.push(Change { object, action });
    }

    /// How many objects had `action`.
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    /// Whether anything was written.
    pub fn wrote(&self) -> bool {
        self.changes
            .iter()
            .any(|c| c.action != Action::Unchanged && c.action != Action::Skipped)
    }

    /// `3 created, 1 configured, 20 unchanged`.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = [
            Action::Created,
            Action::Configured,
            Action::Recreated,
            Action::Deleted,
            Action::Unchanged,
            Action::Skipped,
        ]
        .iter()
        .filter_map(|a| {
            let n = self.count(*a);
            (n > 0).then(|| format!("{n} {a}"))
        })
        .collect();
        if parts.is_empty() {
            "no objects".into()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_and_wrote() {
        let mut c = ChangeSet::default();
        c.push("a".into(), Action::Unchanged);
        assert!(!c.wrote());
        c.push("b".into(), Action::Created);
        c.push("c".into(), Action::Unchanged);
        assert!(c.wrote());
        assert_eq!(c.summary(), "1 created, 2 unchanged");
    }
}

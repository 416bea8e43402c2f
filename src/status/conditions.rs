//! Conditions and reasons, in Flux's spirit: `Ready` says whether the release
//! is usable, `Reconciling` that work is under way, `Stalled` that retrying
//! without a change will not help.

use serde::{Deserialize, Serialize};

/// Why a condition has its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// First successful apply of this release.
    InstallSucceeded,
    /// A later revision applied and became ready.
    UpgradeSucceeded,
    /// Objects are being applied or are not ready yet.
    Progressing,
    /// A dependency is not ready, so this release was not touched.
    DependencyNotReady,
    /// The distribution did not render.
    RenderFailed,
    /// The API server rejected an object (invalid, conflict, immutable field).
    ApplyFailed,
    /// Objects were applied but did not become ready in time, or failed.
    HealthCheckFailed,
    /// The release left the platform and its objects were removed.
    UninstallSucceeded,
    /// The release belongs to another Platform and was left alone.
    OwnershipConflict,
    /// A reason this version of distro does not know (written by another
    /// version); never written by this one.
    #[serde(other)]
    Unknown,
}

impl Reason {
    /// Whether a release with this reason counts as Ready.
    pub fn ready(self) -> bool {
        matches!(
            self,
            Reason::InstallSucceeded | Reason::UpgradeSucceeded | Reason::UninstallSucceeded
        )
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl std::fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// A `metav1.Condition` whose reason is one of the typed reasons `R`
/// (a Release's [`Reason`] by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition<R = Reason> {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: ConditionStatus,
    pub reason: R,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    pub last_transition_time: String,
}

/// Where a release stands after a reconcile attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub reason: Reason,
    pub message: String,
}

/// `{"ready": true, "reason": "...", "message": "..."}`: readiness is
/// spelled out so that readers need not know which reasons mean Ready.
impl Serialize for Summary {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Summary", 3)?;
        st.serialize_field("ready", &self.ready())?;
        st.serialize_field("reason", &self.reason)?;
        st.serialize_field("message", &self.message)?;
        st.end()
    }
}

impl Summary {
    /// Whether the release ended Ready.
    pub fn ready(&self) -> bool {
        self.reason.ready()
    }
}

/// What the three conditions say: `Ready`'s status, and whether
/// `Reconciling` and `Stalled` are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub ready: ConditionStatus,
    pub reconciling: bool,
    pub stalled: bool,
}

impl Reason {
    /// The conditions a release with this reason has.
    pub fn standing(self) -> Standing {
        let (ready, reconciling, stalled) = match self {
            Reason::InstallSucceeded | Reason::UpgradeSucceeded | Reason::UninstallSucceeded => {
                (ConditionStatus::True, false, false)
            }
            Reason::Progressing => (ConditionStatus::Unknown, true, false),
            Reason::DependencyNotReady | Reason::HealthCheckFailed => {
                (ConditionStatus::False, false, false)
            }
            Reason::RenderFailed | Reason::ApplyFailed | Reason::OwnershipConflict => {
                (ConditionStatus::False, false, true)
            }
            Reason::Unknown => (ConditionStatus::Unknown, false, false),
        };
        Standing {
            ready,
            reconciling,
            stalled,
        }
    }
}

/// The conditions for a summary. `previous` keeps `lastTransitionTime` for
/// conditions whose status did not change, as Kubernetes conventions ask.
pub fn conditions_for(
    summary: &Summary,
    generation: Option<i64>,
    previous: &[Condition],
    now: &str,
) -> Vec<Condition> {
    conditions(
        summary.reason,
        summary.reason.standing(),
        &summary.message,
        generation,
        previous,
        now,
    )
}

/// `Ready`, and `Reconciling` / `Stalled` when set, for any typed reason.
pub fn conditions<R: Copy>(
    reason: R,
    standing: Standing,
    message: &str,
    generation: Option<i64>,
    previous: &[Condition<R>],
    now: &str,
) -> Vec<Condition<R>> {
    let make = |type_: &str, status: ConditionStatus| {
        let last_transition_time = previous
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| now.to_string());
        Condition {
            type_: type_.to_string(),
            status,
            reason,
            message: message.to_string(),
            observed_generation: generation,
            last_transition_time,
        }
    };
    let mut out = vec![make("Ready", standing.ready)];
    if standing.reconciling {
        out.push(make("Reconciling", ConditionStatus::True));
    }
    if standing.stalled {
        out.push(make("Stalled", ConditionStatus::True));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(reason: Reason) -> Summary {
        Summary {
            reason,
            message: "m".into(),
        }
    }

    #[test]
    fn ready_release_has_only_ready_true() {
        let c = conditions_for(&summary(Reason::InstallSucceeded), Some(1), &[], "t1");
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].type_.as_str(), c[0].status),
            ("Ready", ConditionStatus::True)
        );
        assert_eq!(c[0].reason, Reason::InstallSucceeded);
    }

    #[test]
    fn progressing_is_unknown_and_reconciling() {
        let c = conditions_for(&summary(Reason::Progressing), None, &[], "t1");
        assert_eq!(c[0].status, ConditionStatus::Unknown);
        assert_eq!(c[1].type_, "Reconciling");
    }

    #[test]
    fn apply_failure_stalls_health_failure_does_not() {
        let c = conditions_for(&summary(Reason::ApplyFailed), None, &[], "t1");
        assert!(c.iter().any(|c| c.type_ == "Stalled"));
        let c = conditions_for(&summary(Reason::HealthCheckFailed), None, &[], "t1");
        assert!(!c.iter().any(|c| c.type_ == "Stalled"));
        assert_eq!(c[0].status, ConditionStatus::False);
    }

    #[test]
    fn unknown_reasons_read_as_unknown() {
        let r: Reason = serde_json::from_str("\"SomethingNew\"").unwrap();
        assert_eq!(r, Reason::Unknown);
        let r: Reason = serde_json::from_str("\"ApplyFailed\"").unwrap();
        assert_eq!(r, Reason::ApplyFailed);
    }

    #[test]
    fn transition_time_kept_while_status_holds() {
        let first = conditions_for(&summary(Reason::InstallSucceeded), Some(1), &[], "t1");
        let again = conditions_for(&summary(Reason::UpgradeSucceeded), Some(2), &first, "t2");
        assert_eq!(again[0].last_transition_time, "t1");
        let failed = conditions_for(&summary(Reason::HealthCheckFailed), Some(2), &again, "t3");
        assert_eq!(failed[0].last_transition_time, "t3");
    }
}

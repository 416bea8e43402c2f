//! Errors of the apply engine. Messages put the subject first:
//! `Deployment.apps/ns/name: apply failed: ...`.

/// A problem with one object or one release.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Discovery has no resource for the object's apiVersion and kind.
    #[error("{object}: no API resource for {api_version} {kind} (is its CRD installed?)")]
    UnknownKind {
        object: String,
        api_version: String,
        kind: String,
    },
    /// Another field manager owns fields this apply wants to set.
    #[error("{object}: conflict: {message} (re-run with --force-conflicts to take ownership)")]
    Conflict { object: String, message: String },
    /// The change touches an immutable field.
    #[error(
        "{object}: immutable field changed: {message} (annotate the object with distro.dev/force: enabled to let distro delete and recreate it)"
    )]
    Immutable { object: String, message: String },
    /// The API server rejected the object.
    #[error("{object}: apply failed: {message}")]
    Rejected { object: String, message: String },
    /// Any other API failure.
    #[error("{object}: {action} failed: {source}")]
    Api {
        object: String,
        action: &'static str,
        #[source]
        source: kube::Error,
    },
    /// Objects that did not become ready in time.
    #[error("timed out after {seconds}s waiting for: {}", .waiting.join("; "))]
    Timeout { seconds: u64, waiting: Vec<String> },
    /// An object reports that it failed.
    #[error("{object}: {message}")]
    Unhealthy { object: String, message: String },
    /// Reading or writing the release's status failed.
    #[error(transparent)]
    Status(#[from] crate::status::Error),
}

impl Error {
    /// Whether the failure is about the object itself (the API server said
    /// no), as opposed to readiness.
    pub fn is_apply_failure(&self) -> bool {
        !matches!(self, Error::Timeout { .. } | Error::Unhealthy { .. })
    }
}

/// The HTTP code and message of an API error.
pub(crate) fn api_status(e: &kube::Error) -> Option<(u16, &str)> {
    match e {
        kube::Error::Api(s) => Some((s.code, s.message.as_str())),
        _ => None,
    }
}

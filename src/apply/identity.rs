//! Who distro is to the API server (its field manager) and what identifies
//! an object there.

/// The field manager of every server-side apply distro makes.
pub const FIELD_MANAGER: &str = "distro";

/// Identity of an object in a cluster: group, kind, namespace, name. The API
/// version is not part of it: the same object served as `v1beta1` and `v1`
/// is one object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub group: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        };
        match &self.namespace {
            Some(ns) => write!(f, "{kind}/{ns}/{}", self.name),
            None => write!(f, "{kind}/{}", self.name),
        }
    }
}

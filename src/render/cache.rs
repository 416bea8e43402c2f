//! Rendered releases kept from one render to the next, so that a process
//! rendering revision after revision (the controller) renders again only
//! the releases whose inputs changed.
//!
//! # Guarantees
//! A cached release is used only when everything its templates can read is
//! what it was: the package (by digest), the release's name, namespace and
//! merged values, the platform values, the capabilities, the budget, and
//! the scope of every custom kind its objects looked up. Rendering is
//! deterministic, so the cached output is byte for byte what rendering
//! again would give.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::manifest::CrdInfo;
use super::{Budget, Capabilities, RenderedRelease};
use crate::model::Release;

/// What a release's output depends on, as one digest.
pub type Key = [u8; 32];

/// Custom kinds a release's objects looked up, with the scope each was
/// found to have (`None`: unknown, taken as namespaced).
pub type Consulted = Vec<((String, String), Option<bool>)>;

/// Releases rendered before, by name.
#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<String, Entry>>,
}

/// One release as last rendered, and what it was rendered from.
#[derive(Clone)]
pub struct Entry {
    pub key: Key,
    pub consulted: Consulted,
    /// CRDs its templates render.
    pub crds: Vec<CrdInfo>,
    pub release: RenderedRelease,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cache({} releases)", self.len())
    }
}

impl Cache {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many releases it holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The release `name` as rendered from inputs with digest `key`.
    pub(super) fn get(&self, name: &str, key: &Key) -> Option<Entry> {
        self.lock().get(name).filter(|e| e.key == *key).cloned()
    }

    /// Replaces what it holds with the releases of a render that
    /// succeeded: releases no longer rendered are forgotten, so it never
    /// holds more than one distribution.
    pub(super) fn replace(&self, entries: HashMap<String, Entry>) {
        *self.lock() = entries;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // The map is replaced whole: a panic elsewhere cannot leave it half
        // written.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The digest of what every release of a render shares: platform values,
/// capabilities and budget.
pub(super) fn common(
    platform_values: &serde_json::Value,
    capabilities: &Capabilities,
    budget: &Budget,
) -> Key {
    let mut h = Sha256::new();
    field(
        &mut h,
        &serde_json::to_vec(platform_values).unwrap_or_default(),
    );
    field(&mut h, capabilities.kube_version.as_bytes());
    for v in capabilities.api_versions {
        field(&mut h, v.as_bytes());
    }
    field(&mut h, format!("{budget:?}").as_bytes());
    h.finalize().into()
}

/// The digest of everything one release's templates read, `common`
/// included.
pub(super) fn key(common: &Key, release: &Release) -> Key {
    let mut h = Sha256::new();
    field(&mut h, common);
    field(&mut h, release.package.digest.as_bytes());
    field(&mut h, release.package.dir.as_bytes());
    field(&mut h, release.name.as_bytes());
    field(&mut h, release.namespace.as_bytes());
    field(
        &mut h,
        &serde_json::to_vec(&release.values).unwrap_or_default(),
    );
    h.finalize().into()
}

/// A length-prefixed field: no two different lists of fields hash the
/// same bytes.
fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_delimited() {
        let digest = |parts: &[&[u8]]| {
            let mut h = Sha256::new();
            for p in parts {
                field(&mut h, p);
            }
            <[u8; 32]>::from(h.finalize())
        };
        assert_ne!(digest(&[b"ab", b"c"]), digest(&[b"a", b"bc"]));
        assert_eq!(digest(&[b"ab", b"c"]), digest(&[b"ab", b"c"]));
    }
}

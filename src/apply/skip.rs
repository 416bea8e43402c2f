//! Objects apply leaves alone, and objects it need not ask the API server
//! about.
//!
//! - `distro.dev/reconcile: disabled` on an object, in its template or in
//!   the cluster, makes distro leave it alone: it is not created, applied,
//!   corrected for drift or pruned.
//! - A [`Ledger`] remembers what distro last applied (the object's rendered
//!   digest and the resourceVersion the API server gave it). When both are
//!   unchanged, the object is skipped without a read or a dry run; when the
//!   digest is the same but someone changed the object, apply takes back
//!   the fields the template sets. The controller keeps one, fed by its
//!   watch caches; `distro apply` has none and compares every object.

use std::sync::Arc;

use kube::api::DynamicObject;
use kube::core::ApiResource;
use serde_json::Value;

use super::identity::ObjectKey;

/// Annotation that makes distro leave an object alone.
pub const RECONCILE_ANNOTATION: &str = "distro.dev/reconcile";

/// Whether annotations (a JSON map) say `distro.dev/reconcile: disabled`.
pub fn disabled_value(object: &Value) -> bool {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(RECONCILE_ANNOTATION))
        .and_then(Value::as_str)
        == Some("disabled")
}

/// Whether a live object says `distro.dev/reconcile: disabled`.
pub fn disabled(object: &DynamicObject) -> bool {
    object
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(RECONCILE_ANNOTATION))
        .is_some_and(|v| v == "disabled")
}

/// `sha256:<hex>` of one object's rendered YAML: what "the template did
/// not change" means for one object.
pub fn object_digest(yaml: &str) -> String {
    crate::source::sha256(yaml.as_bytes())
}

/// An object the ledger vouches for: the live object from a cache, and the
/// API resource to talk to it (so that no discovery is needed either).
#[derive(Debug, Clone)]
pub struct Known {
    /// Shared with the ledger's cache: asked for on every object of every
    /// run, a copy each time would cost more than the rest of the lookup.
    pub live: Arc<DynamicObject>,
    /// Whether `live` is known to be ready (Current): then nothing waits
    /// for it, nor judges it again.
    pub current: bool,
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// What apply reports to the ledger for one object it applied or found
/// unchanged. Borrowed: a ledger keeps what it needs of it, and at
/// thousands of objects copies of whole objects would be most of the
/// controller's memory.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The release (namespace, name) the object belongs to.
    pub release: (&'a str, &'a str),
    pub key: &'a ObjectKey,
    /// The object as rendered, for re-applying it.
    pub desired: &'a Value,
    /// [`object_digest`] of the rendered object.
    pub digest: &'a str,
    /// The object as the API server returned it.
    pub live: &'a DynamicObject,
    pub resource: &'a ApiResource,
    pub namespaced: bool,
}

/// What a [`Ledger`] knows of one object about to be applied.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// distro applied this very template and nobody changed the object
    /// since: it needs neither a read nor a dry run.
    Unchanged(Box<Known>),
    /// distro applied this very template, and someone changed or deleted
    /// the object since. The fields the template sets were distro's then:
    /// apply takes them back from whoever changed them.
    Drifted,
    /// Nothing recorded for this template: compare as usual.
    Unknown,
}

/// What distro last applied, per object.
///
/// # Guarantees
/// [`Ledger::lookup`] answers [`Lookup::Unchanged`] only for an object
/// whose rendered digest equals the one recorded and whose live
/// resourceVersion (as the implementation observes it) is the one apply
/// left: no one changed it.
pub trait Ledger: Send + Sync {
    /// What is known of the object with this rendered digest.
    fn lookup(&self, key: &ObjectKey, digest: &str) -> Lookup;
    /// An object was applied with the given digest.
    fn record(&self, record: Record<'_>);
    /// The object [`Ledger::lookup`] just called [`Lookup::Unchanged`] is
    /// still what this run applies: what is known of it stays as it is.
    /// Cheaper than [`Ledger::record`], which would need the object parsed
    /// and its live content digested again, for each of thousands of
    /// objects that did not change.
    fn keep(&self, release: (&str, &str), key: &ObjectKey);
}

/// A shared [`Ledger`], as [`super::Options`] holds it.
#[derive(Clone)]
pub struct Skip(pub Arc<dyn Ledger>);

impl std::fmt::Debug for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Skip(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_annotation_disables_only_with_the_value_disabled() {
        let on = json!({"metadata": {"annotations": {RECONCILE_ANNOTATION: "disabled"}}});
        let off = json!({"metadata": {"annotations": {RECONCILE_ANNOTATION: "enabled"}}});
        assert!(disabled_value(&on));
        assert!(!disabled_value(&off));
        assert!(!disabled_value(&json!({"metadata": {}})));
        let mut live = DynamicObject::new(
            "x",
            &ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
        );
        assert!(!disabled(&live));
        live.metadata.annotations =
            Some([(RECONCILE_ANNOTATION.to_string(), "disabled".to_string())].into());
        assert!(disabled(&live));
    }

    #[test]
    fn object_digests_are_sha256_hex() {
        let d = object_digest("a: 1\n");
        assert!(d.starts_with("sha256:") && d.len() == 7 + 64, "{d}");
        assert_ne!(d, object_digest("a: 2\n"));
    }
}

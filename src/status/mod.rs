//! The `Release` custom resource (`releases.distro.dev`): one per release, in
//! the release's namespace, with Flux-style conditions. `kubectl get
//! releases -A` and `distro status` read it.
//!
//! Condition types and reasons live here and nowhere else.

mod conditions;
mod records;
mod store;

pub use conditions::{
    Condition, ConditionStatus, Reason, Standing, Summary, conditions, conditions_for,
};
pub use records::Records;
pub use store::{
    DependencyRef, Error, InventoryEntry, Owner, PLATFORM_LABEL, PLATFORM_NAMESPACE_LABEL,
    ReleaseRecord, Store, crd_object, is_missing_resource, now, now_precise,
};

/// The CustomResourceDefinition, installed by `distro apply` itself.
pub const CRD_YAML: &str = include_str!("../../packages/distro/0.1.0/crds/releases.yaml");
pub const GROUP: &str = "distro.dev";
pub const VERSION: &str = "v1alpha1";
pub const KIND: &str = "Release";
pub const PLURAL: &str = "releases";
pub const API_VERSION: &str = "distro.dev/v1alpha1";

//! The distribution as an OCI artifact, and the registry it lives in.
//!
//! - [`reference`]: `oci://` URLs and plain image references, validated.
//! - [`credentials`]: registry credentials from the Docker config format.
//! - [`registry`]: a verifying client for one registry (manifests, blobs,
//!   tags), over `oci-client`.
//! - [`content`]: the content layer, a deterministic tar that unpacks
//!   safely.
//! - [`artifact`]: the artifact's manifest and config; push and pull.
//! - [`provenance`]: the source, revision and time a push records.
//! - [`images`]: the images a rendered distribution references.
//! - [`relocate`]: their references rewritten to a private registry.

pub mod artifact;
pub mod content;
pub mod credentials;
pub mod images;
pub mod provenance;
pub mod reference;
pub mod registry;
pub mod relocate;

pub use reference::Reference;
pub use registry::Registry;

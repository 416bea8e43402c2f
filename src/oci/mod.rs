//! OCI: the distribution as an artifact, the registry it lives in, the
//! images it references and their relocation, and the air-gap file that
//! carries them all.
//!
//! - [`reference`]: every reference, validated and normalised in one
//!   place: `oci://` URLs, plain image references, registry prefixes.
//! - [`credentials`]: registry credentials from the Docker config format.
//! - [`registry`]: a verifying client for one registry (manifests, blobs,
//!   tags), over `oci-client`.
//! - [`content`]: the content layer, a deterministic tar that unpacks
//!   safely.
//! - [`artifact`]: the artifact's manifest and config; push and pull.
//! - [`provenance`]: the source, revision and time a push records.
//! - [`images`], [`relocate`]: the images of a rendered distribution, and
//!   rewriting them to a private registry.
//! - [`layout`], [`export`], [`import`]: the air-gap file.

pub mod artifact;
pub mod content;
pub mod credentials;
pub mod export;
pub mod images;
pub mod import;
pub mod layout;
pub mod progress;
pub mod provenance;
pub mod reference;
pub mod registry;
pub mod relocate;
pub mod retry;

pub use reference::Reference;
pub use registry::Registry;

//! The distribution as an OCI artifact, and the registry it lives in.
//!
//! - [`reference`]: `oci://` URLs and plain image references, validated.
//! - [`credentials`]: registry credentials from the Docker config format.
//! - [`registry`]: a verifying client for one registry (manifests, blobs,
//!   tags), over `oci-client`.

pub mod credentials;
pub mod reference;
pub mod registry;

pub use reference::Reference;
pub use registry::Registry;

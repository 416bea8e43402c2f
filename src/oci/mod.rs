//! OCI: the distribution as an artifact, the images it needs, and the
//! air-gap file that carries both.

pub mod layout;

//! OCI: the images a distribution references, and their relocation.

pub mod images;
pub mod relocate;

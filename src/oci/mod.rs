//! OCI: the images a distribution references, their relocation, and the
//! air-gap file that carries them with the distribution.

pub mod images;
pub mod layout;
pub mod relocate;

//! Integration tests: the `distro` binary run on real files.
//!
//! One test binary; each module covers one area.

mod bad_input;
mod render;
mod support;

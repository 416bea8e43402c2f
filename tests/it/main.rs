//! Integration tests: the `distro` binary run on real files.
//!
//! One test binary; each module covers one area.

mod airgap;
mod apply;
mod bad_input;
mod bootstrap;
mod cli;
mod cluster;
mod cluster_script;
mod controller;
mod crash;
mod drift;
mod git_server;
mod git_source;
mod graph_svg;
mod health;
mod images;
mod leader;
mod oci;
mod rbac;
mod registry;
mod render;
mod support;
mod yaml_compat;

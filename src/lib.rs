//! `distro`: build a Kubernetes platform distribution out of versioned,
//! Helm-style packages and keep a cluster reconciled to it.
//!
//! The pipeline, left to right; everything here is pure and needs no cluster:
//!
//! ```text
//! source -> model -> render -> graph
//! (files)   (types,   (Tera,    (release DAG:
//!            values,   manifests, order, levels)
//!            lock)     digests)
//! ```
//!
//! [`pipeline`] strings the stages together; the command line and any other
//! front end call it rather than the stages one by one.

pub mod cli;
pub mod graph;
pub mod kinds;
pub mod lock;
pub mod model;
pub mod pipeline;
pub mod render;
pub mod source;
pub mod yaml;

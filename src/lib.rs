//! `distro`: build a Kubernetes platform distribution out of versioned,
//! Helm-style packages and keep a cluster reconciled to it.
//!
//! The pipeline, left to right; everything here is pure and needs no cluster:
//!
//! ```text
//! source -> model -> render -> graph  |  apply (+ health) -> status
//! (files)   (types,   (Tera,    (DAG)  |  (server-side apply, wait,
//!            values,   manifests,      |   prune)   (Release objects)
//!            lock)     digests)        |
//!        pure, no cluster              |  needs a cluster
//! ```
//!
//! [`pipeline`] strings the pure stages together from a
//! [`source::Snapshot`]; [`apply::apply_snapshot`] takes a snapshot to a
//! cluster. The command line and the controller call those two rather than
//! the stages one by one.

pub mod apply;
pub mod bootstrap;
pub mod cli;
pub mod client;
pub mod controller;
pub mod graph;
pub mod health;
pub mod kinds;
pub mod lock;
pub mod model;
pub mod names;
pub mod oci;
pub mod pipeline;
pub mod render;
pub mod slim;
pub mod source;
pub mod status;
pub mod watch;
pub mod yaml;

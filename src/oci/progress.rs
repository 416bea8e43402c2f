//! Progress of long transfers (export, import), reported to whoever shows
//! it; the library never prints.

use std::sync::Arc;

/// Receives progress; implementations must be cheap, they are called for
/// every chunk.
pub trait Progress: Send + Sync {
    /// A new phase starts (`verifying`, `pulling`, `pushing`) with `total`
    /// bytes to go.
    fn phase(&self, name: &'static str, total: u64);
    /// `bytes` more are done.
    fn advance(&self, bytes: u64);
    /// `bytes` already counted have to be done again (a retried transfer).
    fn redo(&self, bytes: u64);
    /// One item (an image, a blob) is done; `line` says which.
    fn item(&self, line: &str);
}

/// Progress that goes nowhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn phase(&self, _: &'static str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn redo(&self, _: u64) {}
    fn item(&self, _: &str) {}
}

/// A shared progress receiver.
pub type Shared = Arc<dyn Progress>;

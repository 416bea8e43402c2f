//! Each Platform's render cache (see [`crate::render::cache`]): a new
//! revision renders again only the releases whose inputs it changed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::queue::Key;
use crate::render::Cache;

/// Render caches by Platform.
#[derive(Default)]
pub struct Renders(Mutex<HashMap<Key, Arc<Cache>>>);

impl Renders {
    /// The cache of the Platform `key`, made on first use.
    pub fn of(&self, key: &Key) -> Arc<Cache> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(key.clone()).or_default())
    }

    /// The Platform is gone: so is what it rendered.
    pub fn forget(&self, key: &Key) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

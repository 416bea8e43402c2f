//! Maps apiVersion + kind to an API resource, asking the API server once per
//! kind. Kinds that were missing are asked again later, because a CRD applied
//! in an earlier stage makes them appear.

use std::collections::HashMap;
use std::sync::Arc;

use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{Scope, pinned_kind};
use tokio::sync::RwLock;

/// A resolved kind.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// `(group, version, kind)`.
type Key = (String, String, String);

/// Discovery with a cache, shared by every release of one run.
#[derive(Clone)]
pub struct Resolver {
    client: kube::Client,
    cache: Arc<RwLock<HashMap<Key, Resolved>>>,
}

impl Resolver {
    pub fn new(client: kube::Client) -> Self {
        Resolver {
            client,
            cache: Arc::default(),
        }
    }

    /// The resource for `apiVersion` + `kind`, or `None` if the API server
    /// does not serve it (yet).
    ///
    /// # Errors
    /// Discovery itself fails for another reason than "not found".
    pub async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<Resolved>, kube::Error> {
        let (group, version) = crate::kinds::split_api_version(api_version);
        let key = (group.to_string(), version.to_string(), kind.to_string());
        if let Some(hit) = self.cache.read().await.get(&key) {
            return Ok(Some(hit.clone()));
        }
        let gvk = GroupVersionKind::gvk(group, version, kind);
        match pinned_kind(&self.client, &gvk).await {
            Ok((resource, caps)) => {
                let resolved = Resolved {
                    resource,
                    namespaced: caps.scope == Scope::Namespaced,
                };
                self.cache.write().await.insert(key, resolved.clone());
                Ok(Some(resolved))
            }
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(kube::Error::Discovery(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

//! Every Release record of the cluster, kept current by one watch, so that
//! a process that runs again and again (the controller) starts each run
//! from memory instead of listing a thousand releases.
//!
//! # Guarantees
//! - [`Records::snapshot`] answers only while the watch follows a complete
//!   list; before that (or after the watch lost its list, for longer than
//!   the caller would wait), callers list themselves.
//! - A record this process just wrote is not undone by an older version
//!   still on its way through the watch: a version replaces another only
//!   when its resourceVersion is not older.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};

use super::store::ReleaseRecord;
use super::{GROUP, KIND, PLURAL, VERSION};
use crate::render::{MANAGED_BY, MANAGED_BY_LABEL};
use crate::slim::SlimObject;

/// A release by (namespace, name).
pub type Key = (String, String);

/// Items per page of the watch's lists.
const LIST_PAGE: u32 = 500;

/// The Release records of the cluster, as a watch delivers them.
pub struct Records {
    client: kube::Client,
    state: Arc<Mutex<State>>,
    /// Whether the watch follows a complete list.
    synced: tokio::sync::watch::Sender<bool>,
    task: std::sync::OnceLock<tokio::task::AbortHandle>,
}

#[derive(Default)]
struct State {
    records: HashMap<Key, Versioned>,
}

#[derive(Clone)]
struct Versioned {
    resource_version: Option<String>,
    record: Arc<ReleaseRecord>,
}

impl Drop for Records {
    fn drop(&mut self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

impl Records {
    /// Records to be read with `client`'s identity; nothing is watched
    /// until [`Records::start`].
    pub fn new(client: kube::Client) -> Arc<Self> {
        Arc::new(Records {
            client,
            state: Arc::default(),
            synced: tokio::sync::watch::Sender::new(false),
            task: std::sync::OnceLock::new(),
        })
    }

    /// Starts the watch of every Release distro manages, in every
    /// namespace, once: called when the Release CRD is known to be served
    /// (a watch started before would only back off, and lag behind).
    pub fn start(&self) {
        self.task.get_or_init(|| self.spawn());
    }

    fn spawn(&self) -> tokio::task::AbortHandle {
        let gvk = GroupVersionKind::gvk(GROUP, VERSION, KIND);
        let resource = ApiResource::from_gvk_with_plural(&gvk, PLURAL);
        let api: Api<SlimObject> = Api::all_with(self.client.clone(), &resource);
        let config = watcher::Config::default()
            .labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"))
            .page_size(LIST_PAGE);
        let fed = Arc::downgrade(&self.state);
        let synced = self.synced.clone();
        let task = tokio::spawn(async move {
            let stream = watcher(api, config).default_backoff();
            let mut stream = std::pin::pin!(stream);
            // A (re)list fills this, then replaces the records at once.
            let mut listing: Option<HashMap<Key, Versioned>> = None;
            while let Some(event) = stream.next().await {
                let Some(state) = fed.upgrade() else { return };
                match event {
                    Ok(watcher::Event::Apply(SlimObject(o))) => observe(&mut lock(&state), &o),
                    Ok(watcher::Event::Delete(SlimObject(o))) => {
                        lock(&state).records.remove(&key_of(&o));
                    }
                    Ok(watcher::Event::Init) => listing = Some(HashMap::new()),
                    Ok(watcher::Event::InitApply(SlimObject(o))) => {
                        if let Some(v) = versioned(&o) {
                            listing.get_or_insert_default().insert(key_of(&o), v);
                        }
                    }
                    Ok(watcher::Event::InitDone) => {
                        lock(&state).records = listing.take().unwrap_or_default();
                        synced.send_replace(true);
                    }
                    Err(e) => {
                        // The watcher lists again after an error: until it
                        // has, what it holds may be behind.
                        synced.send_replace(false);
                        tracing::debug!("releases: watch failed: {e}");
                    }
                }
            }
        });
        task.abort_handle()
    }

    /// Every record, as soon as the watch follows a complete list, waiting
    /// for that at most `within`; `None` when it does not.
    pub async fn snapshot(
        &self,
        within: std::time::Duration,
    ) -> Option<HashMap<Key, Arc<ReleaseRecord>>> {
        let mut synced = self.synced.subscribe();
        let ready = tokio::time::timeout(within, synced.wait_for(|s| *s)).await;
        if !matches!(ready, Ok(Ok(_))) {
            return None;
        }
        let state = lock(&self.state);
        Some(
            state
                .records
                .iter()
                .map(|(k, v)| (k.clone(), Arc::clone(&v.record)))
                .collect(),
        )
    }

    /// A Release as a write of this process returned it: known now, not
    /// only once the watch delivers it.
    pub fn wrote(&self, object: &DynamicObject) {
        observe(&mut lock(&self.state), object);
    }

    /// A Release this process deleted.
    pub fn deleted(&self, namespace: &str, name: &str) {
        lock(&self.state)
            .records
            .remove(&(namespace.to_string(), name.to_string()));
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Nothing panics while holding the lock: a poisoned one is consistent.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn key_of(o: &DynamicObject) -> Key {
    (
        o.metadata.namespace.clone().unwrap_or_default(),
        o.metadata.name.clone().unwrap_or_default(),
    )
}

fn versioned(o: &DynamicObject) -> Option<Versioned> {
    match ReleaseRecord::from_object(o) {
        Ok(record) => Some(Versioned {
            resource_version: o.metadata.resource_version.clone(),
            record: Arc::new(record),
        }),
        Err(e) => {
            // Left out: a run reads it itself, and reports what it finds.
            tracing::debug!("releases: {e}");
            None
        }
    }
}

/// Takes `o` unless the version held is newer.
fn observe(state: &mut State, o: &DynamicObject) {
    let key = key_of(o);
    let Some(new) = versioned(o) else {
        state.records.remove(&key);
        return;
    };
    let older = state
        .records
        .get(&key)
        .is_some_and(|held| newer(&held.resource_version, &new.resource_version));
    if !older {
        state.records.insert(key, new);
    }
}

/// Whether `held` is newer than `arriving`. resourceVersions are opaque to
/// clients in general; the API server's (etcd's revisions) are integers
/// that grow, and one that does not read as one is taken as new.
fn newer(held: &Option<String>, arriving: &Option<String>) -> bool {
    let number = |v: &Option<String>| v.as_deref().and_then(|s| s.parse::<u64>().ok());
    match (number(held), number(arriving)) {
        (Some(h), Some(a)) => h > a,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn release(rv: &str, digest: &str) -> DynamicObject {
        let gvk = GroupVersionKind::gvk(GROUP, VERSION, KIND);
        let mut o = DynamicObject::new("web", &ApiResource::from_gvk_with_plural(&gvk, PLURAL))
            .within("apps");
        o.metadata.resource_version = Some(rv.into());
        o.data = json!({"spec": {"package": "web", "version": "1.0.0", "digest": digest}});
        o
    }

    fn digest(state: &State) -> String {
        state.records[&("apps".to_string(), "web".to_string())]
            .record
            .digest
            .clone()
    }

    /// A write's answer is kept over an older version the watch delivers
    /// after it, and replaced by a newer one.
    #[test]
    fn an_older_version_does_not_replace_a_newer_one() {
        let mut state = State::default();
        observe(&mut state, &release("10", "sha256:b"));
        observe(&mut state, &release("9", "sha256:a"));
        assert_eq!(digest(&state), "sha256:b");
        observe(&mut state, &release("10", "sha256:b"));
        observe(&mut state, &release("11", "sha256:c"));
        assert_eq!(digest(&state), "sha256:c");
        // A version that is not a number is taken as new.
        observe(&mut state, &release("x", "sha256:d"));
        assert_eq!(digest(&state), "sha256:d");
    }
}

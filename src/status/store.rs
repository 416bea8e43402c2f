//! Reading and writing `Release` objects (client required).

// Errors keep the whole `kube::Error` for its context, as the apply engine
// does; they are built once per failing request.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::conditions::{Condition, Summary, conditions_for};
use super::records::Records;
use super::{API_VERSION, CRD_YAML, GROUP, KIND, PLURAL, VERSION};
use crate::apply::{FIELD_MANAGER, ObjectKey};
use crate::render::{MANAGED_BY, MANAGED_BY_LABEL};
use crate::slim::SlimObject;

/// Errors talking to the API server about `Release` objects.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Release/{namespace}/{name}: {action} failed: {source}")]
    Api {
        namespace: String,
        name: String,
        action: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("listing Release objects failed: {0}")]
    List(#[source] kube::Error),
    /// The Release belongs to another owner: it is never taken over.
    #[error("Release/{namespace}/{name} belongs to {owner}")]
    OwnedElsewhere {
        namespace: String,
        name: String,
        owner: Owner,
    },
    /// A Release's status cannot be read: acting on it as if it were empty
    /// would forget objects that must be pruned later.
    #[error("Release/{namespace}/{name}: status.{field} is unreadable: {message}")]
    Unreadable {
        namespace: String,
        name: String,
        field: &'static str,
        message: String,
    },
}

/// One object a release applied, as kept in `status.inventory`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InventoryEntry {
    #[serde(default)]
    pub group: String,
    pub version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl InventoryEntry {
    /// Whether both name the same object ([`InventoryEntry::key`] equal),
    /// without building the keys.
    pub fn same_object(&self, other: &InventoryEntry) -> bool {
        self.name == other.name
            && self.kind == other.kind
            && self.group == other.group
            && self.namespace == other.namespace
    }

    /// Identity of the object regardless of API version: the same object
    /// served as `v1beta1` and `v1` is one object.
    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            group: self.group.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

impl std::fmt::Display for InventoryEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.key().fmt(f)
    }
}

/// A dependency as recorded in `spec.dependsOn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DependencyRef {
    pub name: String,
    pub namespace: String,
}

/// Who applies a set of releases: the platform's name and, for a Platform
/// object of the controller, its namespace. Release objects carry it as
/// labels; a release belongs to exactly one owner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    pub platform: String,
    /// The namespace of the Platform object; `None` for `distro apply`.
    pub namespace: Option<String>,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "Platform {ns}/{}", self.platform),
            None => write!(f, "platform {:?} (distro apply)", self.platform),
        }
    }
}

/// What the cluster knows about one release.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReleaseRecord {
    pub name: String,
    pub namespace: String,
    /// Read from the labels; `None` when the record has none.
    pub owner: Option<Owner>,
    pub source_revision: Option<String>,
    pub package: String,
    pub version: String,
    pub digest: String,
    pub depends_on: Vec<DependencyRef>,
    pub generation: Option<i64>,
    pub observed_generation: Option<i64>,
    pub last_applied_revision: Option<String>,
    pub conditions: Vec<Condition>,
    pub inventory: Vec<InventoryEntry>,
}

impl ReleaseRecord {
    /// `<version>@sha256:<first 12 hex>`: short enough for a table column,
    /// precise enough to tell two renders of one version apart.
    pub fn revision(version: &str, digest: &str) -> String {
        let hex = digest.trim_start_matches("sha256:");
        format!("{version}@sha256:{}", &hex[..hex.len().min(12)])
    }

    /// The `Ready` condition, if any.
    pub fn ready(&self) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == "Ready")
    }

    pub(super) fn from_object(obj: &DynamicObject) -> Result<Self, Error> {
        // Read in place: a list of a thousand releases is parsed every
        // reconcile, and copying each subtree first doubled its cost.
        let spec = obj.data.get("spec").unwrap_or(&Value::Null);
        let status = obj.data.get("status").unwrap_or(&Value::Null);
        let text = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        fn list<'v, T: serde::Deserialize<'v>>(
            v: &'v Value,
            k: &str,
        ) -> Result<Vec<T>, serde_json::Error> {
            match v.get(k) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(items) => Vec::<T>::deserialize(items),
            }
        }
        let name = obj.metadata.name.clone().unwrap_or_default();
        let namespace = obj.metadata.namespace.clone().unwrap_or_default();
        let unreadable = |field: &'static str, e: serde_json::Error| Error::Unreadable {
            namespace: namespace.clone(),
            name: name.clone(),
            field,
            message: e.to_string(),
        };
        let labels = obj.metadata.labels.as_ref();
        let owner = labels
            .and_then(|l| l.get(PLATFORM_LABEL))
            .map(|platform| Owner {
                platform: platform.clone(),
                namespace: labels
                    .and_then(|l| l.get(PLATFORM_NAMESPACE_LABEL))
                    .cloned(),
            });
        let inventory = list(status, "inventory").map_err(|e| unreadable("inventory", e))?;
        // Conditions written by another version may not parse; they are
        // rewritten on the next status write, so reading none is safe.
        let conditions = list(status, "conditions").unwrap_or_default();
        Ok(ReleaseRecord {
            owner,
            source_revision: status
                .get("sourceRevision")
                .and_then(Value::as_str)
                .map(str::to_string),
            package: text(spec, "package"),
            version: text(spec, "version"),
            digest: text(spec, "digest"),
            depends_on: list(spec, "dependsOn").unwrap_or_default(),
            generation: obj.metadata.generation,
            observed_generation: status.get("observedGeneration").and_then(Value::as_i64),
            last_applied_revision: status
                .get("lastAppliedRevision")
                .and_then(Value::as_str)
                .map(str::to_string),
            conditions,
            inventory,
            name,
            namespace,
        })
    }
}

/// The Release CRD as an object to apply.
pub fn crd_object() -> Value {
    serde_yaml_ng::from_str(CRD_YAML).unwrap_or(Value::Null)
}

/// Label naming the platform a `Release` belongs to.
pub const PLATFORM_LABEL: &str = "distro.dev/platform";
/// Label naming the namespace of the Platform object a `Release` belongs
/// to; absent on releases of `distro apply`.
pub const PLATFORM_NAMESPACE_LABEL: &str = "distro.dev/platform-namespace";

/// Releases read per list request: a platform of thousands of releases
/// read in one response would be most of the controller's memory for a
/// moment, even read without managers' field sets ([`SlimObject`]).
const LIST_PAGE: u32 = 500;

/// How long a run waits for the Release watch to (re)list before it lists
/// for itself: about what a list of a thousand releases takes, and well
/// under any reconcile's timeout.
const RECORDS_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Access to the `Release` objects of one platform.
#[derive(Clone)]
pub struct Store {
    client: kube::Client,
    resource: ApiResource,
    owner: Owner,
    /// Every Release as one list read them at the start of a run, so that
    /// a run reads each release with no request of its own.
    listed: Arc<Mutex<Option<Listed>>>,
    /// Where a list comes from memory instead, once it is complete.
    records: Option<Arc<Records>>,
    /// The Release CRD was found (or made) Established by this store.
    /// Held through [`Store::prepare`], so that a second caller waits for
    /// the first one's list rather than listing again.
    installed: Arc<tokio::sync::Mutex<bool>>,
}

/// Releases read by one list.
struct Listed {
    records: HashMap<(String, String), Arc<ReleaseRecord>>,
    /// Written since the list: read from the API server again.
    stale: HashSet<(String, String)>,
}

/// The current time with nanoseconds: a value that differs between two
/// requests made in the same second (`requestedAt`).
pub fn now_precise() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

/// The current time as Kubernetes writes it in conditions.
pub fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl Store {
    /// A store for the releases of `owner`.
    pub fn new(client: kube::Client, owner: Owner) -> Self {
        let gvk = GroupVersionKind::gvk(GROUP, VERSION, KIND);
        Store {
            client,
            resource: ApiResource::from_gvk_with_plural(&gvk, PLURAL),
            owner,
            listed: Arc::default(),
            records: None,
            installed: Arc::default(),
        }
    }

    /// The same store, reading its list from `records` (once they are
    /// complete) and telling them what it writes.
    pub fn with_records(self, records: Arc<Records>) -> Self {
        Store {
            records: Some(records),
            ..self
        }
    }

    /// Gets the store ready for a run: the Release CRD installed and
    /// Established, then every release read by one list
    /// ([`Store::prefetch`]). Once it succeeded, later calls cost nothing,
    /// so a caller that has time to spare (the controller, while it
    /// downloads a revision) can do it ahead of the run.
    ///
    /// # Errors
    /// The CRD is refused, or not Established within `timeout`.
    pub async fn prepare(&self, timeout: std::time::Duration) -> Result<(), crate::apply::Error> {
        let mut installed = self.installed.lock().await;
        if !*installed {
            // distro's own CRD, as distro (not as an impersonated
            // ServiceAccount).
            crate::apply::install_crd(
                &self.client,
                &crate::apply::Resolver::new(self.client.clone()),
                crd_object(),
                timeout,
            )
            .await?;
            *installed = true;
        }
        if let Some(records) = &self.records {
            records.start();
        }
        // Listed only once the kind is served: a list before would fail,
        // and leave every release to be read on its own.
        self.prefetch().await;
        Ok(())
    }

    /// Reads every release with one list (or, for a store with
    /// [`Records`], from the watch's memory); [`Store::get`] and
    /// [`Store::list`] answer from it until the release is written. A list
    /// that fails is not an error: each release is then read on its own.
    /// Once a store has listed, later calls keep that list: what changed
    /// since is what this store wrote, and it knows which those are.
    async fn prefetch(&self) {
        if self.listed().is_some() {
            return;
        }
        if let Some(records) = &self.records {
            match records.snapshot(RECORDS_WAIT).await {
                Some(records) => {
                    *self.listed() = Some(Listed {
                        records,
                        stale: HashSet::new(),
                    });
                    return;
                }
                None => tracing::info!(
                    "the Release watch has no complete list after {RECORDS_WAIT:?}: listing"
                ),
            }
        }
        match self.list_all().await {
            Ok(all) => {
                let records = all
                    .into_iter()
                    .map(|r| ((r.namespace.clone(), r.name.clone()), Arc::new(r)))
                    .collect();
                *self.listed() = Some(Listed {
                    records,
                    stale: HashSet::new(),
                });
            }
            Err(e) => tracing::debug!("listing the releases failed, reading each: {e}"),
        }
    }

    fn listed(&self) -> std::sync::MutexGuard<'_, Option<Listed>> {
        // Nothing panics while holding the lock: a poisoned one is consistent.
        self.listed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The prefetched answer for one release: `Some(None)` when the list
    /// had no such release.
    fn prefetched(&self, namespace: &str, name: &str) -> Option<Option<ReleaseRecord>> {
        let listed = self.listed();
        let listed = listed.as_ref()?;
        let key = (namespace.to_string(), name.to_string());
        if listed.stale.contains(&key) {
            return None;
        }
        Some(listed.records.get(&key).map(|r| ReleaseRecord::clone(r)))
    }

    fn written(&self, namespace: &str, name: &str) {
        if let Some(listed) = self.listed().as_mut() {
            listed
                .stale
                .insert((namespace.to_string(), name.to_string()));
        }
    }

    /// Whose releases these are.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    fn api(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &self.resource)
    }

    /// Reads one release; `None` when it does not exist (or the CRD is not
    /// installed yet).
    ///
    /// # Errors
    /// The API server fails.
    pub async fn get(&self, namespace: &str, name: &str) -> Result<Option<ReleaseRecord>, Error> {
        if let Some(found) = self.prefetched(namespace, name) {
            return Ok(found);
        }
        match self.api(namespace).get_opt(name).await {
            Ok(obj) => obj.as_ref().map(ReleaseRecord::from_object).transpose(),
            Err(e) if is_missing_resource(&e) => Ok(None),
            Err(source) => Err(Error::Api {
                namespace: namespace.into(),
                name: name.into(),
                action: "get",
                source,
            }),
        }
    }

    /// Every release of this platform, in all namespaces, sorted by
    /// namespace and name.
    ///
    /// # Errors
    /// The API server fails (a missing CRD gives an empty list).
    pub async fn list(&self) -> Result<Vec<ReleaseRecord>, Error> {
        if let Some(listed) = self.listed().as_ref() {
            // Releases written since are ones the run applies: callers look
            // for the others, whose records the list holds as they are.
            let mut out: Vec<ReleaseRecord> = listed
                .records
                .values()
                .filter(|r| r.owner.as_ref() == Some(&self.owner))
                .map(|r| ReleaseRecord::clone(r))
                .collect();
            out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
            return Ok(out);
        }
        let namespace = match &self.owner.namespace {
            Some(ns) => format!("{PLATFORM_NAMESPACE_LABEL}={ns}"),
            None => format!("!{PLATFORM_NAMESPACE_LABEL}"),
        };
        self.list_selected(&format!(
            "{MANAGED_BY_LABEL}={MANAGED_BY},{PLATFORM_LABEL}={},{namespace}",
            self.owner.platform
        ))
        .await
    }

    /// Every release of every platform, as `kubectl get releases -A` shows.
    ///
    /// # Errors
    /// The API server fails (a missing CRD gives an empty list).
    pub async fn list_all(&self) -> Result<Vec<ReleaseRecord>, Error> {
        self.list_selected(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"))
            .await
    }

    async fn list_selected(&self, selector: &str) -> Result<Vec<ReleaseRecord>, Error> {
        let api: Api<SlimObject> = Api::all_with(self.client.clone(), &self.resource);
        let mut lp = ListParams::default().labels(selector).limit(LIST_PAGE);
        let mut out: Vec<ReleaseRecord> = Vec::new();
        loop {
            let page = match api.list(&lp).await {
                Ok(l) => l,
                Err(e) if is_missing_resource(&e) => return Ok(Vec::new()),
                Err(e) => return Err(Error::List(e)),
            };
            for SlimObject(item) in &page.items {
                out.push(ReleaseRecord::from_object(item)?);
            }
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => lp = lp.continue_token(&token),
                None => break,
            }
        }
        out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        Ok(out)
    }

    /// Applies the spec (package, version, digest, dependencies) when it
    /// differs from `current`. Returns the record as it now stands.
    ///
    /// # Errors
    /// The API server rejects the write.
    pub async fn write_spec(
        &self,
        current: Option<&ReleaseRecord>,
        desired: &ReleaseRecord,
    ) -> Result<ReleaseRecord, Error> {
        // The one place Release objects are (re)labelled: a release of
        // another owner is refused here, whoever asks.
        if let Some(c) = current
            && let Some(owner) = &c.owner
            && *owner != self.owner
        {
            return Err(Error::OwnedElsewhere {
                namespace: c.namespace.clone(),
                name: c.name.clone(),
                owner: owner.clone(),
            });
        }
        if let Some(c) = current
            && c.owner.as_ref() == Some(&self.owner)
            && c.package == desired.package
            && c.version == desired.version
            && c.digest == desired.digest
            && c.depends_on == desired.depends_on
        {
            return Ok(c.clone());
        }
        let mut labels = serde_json::Map::new();
        labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
        labels.insert(PLATFORM_LABEL.into(), self.owner.platform.clone().into());
        if let Some(ns) = &self.owner.namespace {
            labels.insert(PLATFORM_NAMESPACE_LABEL.into(), ns.clone().into());
        }
        let body = json!({
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "name": desired.name,
                "namespace": desired.namespace,
                "labels": labels,
            },
            "spec": {
                "package": desired.package,
                "version": desired.version,
                "digest": desired.digest,
                "dependsOn": desired.depends_on,
            },
        });
        self.written(&desired.namespace, &desired.name);
        let obj = self
            .api(&desired.namespace)
            .patch(
                &desired.name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&body),
            )
            .await
            .map_err(|source| Error::Api {
                namespace: desired.namespace.clone(),
                name: desired.name.clone(),
                action: "apply",
                source,
            })?;
        if let Some(records) = &self.records {
            records.wrote(&obj);
        }
        let mut record = ReleaseRecord::from_object(&obj)?;
        if let Some(c) = current {
            record.conditions = c.conditions.clone();
            record.inventory = c.inventory.clone();
            record.last_applied_revision = c.last_applied_revision.clone();
            record.source_revision = c.source_revision.clone();
        }
        Ok(record)
    }

    /// Writes the status for a summary, unless it would not change anything:
    /// an unchanged release costs no write.
    ///
    /// # Errors
    /// The API server rejects the write.
    pub async fn write_status(
        &self,
        record: &ReleaseRecord,
        summary: &Summary,
        inventory: Option<&[InventoryEntry]>,
        source_revision: Option<&str>,
    ) -> Result<(), Error> {
        let conditions = conditions_for(summary, record.generation, &record.conditions, &now());
        let revision = ReleaseRecord::revision(&record.version, &record.digest);
        let last_applied = if summary.ready() {
            Some(revision.clone())
        } else {
            record.last_applied_revision.clone()
        };
        let inventory = inventory.unwrap_or(&record.inventory);
        // The source revision moves when the release was applied from it.
        let source_revision = match source_revision {
            Some(rev) if summary.ready() => Some(rev.to_string()),
            _ => record.source_revision.clone(),
        };
        if conditions == record.conditions
            && source_revision == record.source_revision
            && last_applied == record.last_applied_revision
            && record.observed_generation == record.generation
            && inventory == record.inventory.as_slice()
        {
            return Ok(());
        }
        let mut status = json!({
            "observedGeneration": record.generation,
            "lastAttemptedRevision": revision,
            "digest": record.digest,
            "conditions": conditions,
            "inventory": inventory,
        });
        if let Some(rev) = last_applied {
            status["lastAppliedRevision"] = Value::String(rev);
        }
        if let Some(rev) = source_revision {
            status["sourceRevision"] = Value::String(rev);
        }
        let body = json!({"apiVersion": API_VERSION, "kind": KIND, "status": status});
        self.written(&record.namespace, &record.name);
        let obj = self
            .api(&record.namespace)
            .patch_status(
                &record.name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&body),
            )
            .await
            .map_err(|source| Error::Api {
                namespace: record.namespace.clone(),
                name: record.name.clone(),
                action: "status update",
                source,
            })?;
        if let Some(records) = &self.records {
            records.wrote(&obj);
        }
        Ok(())
    }

    /// Deletes a release record.
    ///
    /// # Errors
    /// The API server fails (a record already gone is fine).
    pub async fn delete(&self, namespace: &str, name: &str) -> Result<(), Error> {
        self.written(namespace, name);
        let gone = || {
            if let Some(records) = &self.records {
                records.deleted(namespace, name);
            }
            Ok(())
        };
        match self.api(namespace).delete(name, &Default::default()).await {
            Ok(_) => gone(),
            Err(e) if is_missing_resource(&e) => gone(),
            Err(source) => Err(Error::Api {
                namespace: namespace.into(),
                name: name.into(),
                action: "delete",
                source,
            }),
        }
    }
}

/// 404: the object, or the whole resource type, does not exist.
pub fn is_missing_resource(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(status: Value) -> DynamicObject {
        let gvk = GroupVersionKind::gvk(GROUP, VERSION, KIND);
        let mut obj =
            DynamicObject::new("r", &ApiResource::from_gvk_with_plural(&gvk, PLURAL)).within("ns");
        obj.data =
            json!({"spec": {"package": "p", "version": "1.0.0", "digest": "d"}, "status": status});
        obj
    }

    /// Regression: an inventory that did not parse was read as empty, so the
    /// objects it listed were never pruned.
    #[test]
    fn an_unreadable_inventory_is_an_error_not_an_empty_one() {
        let bad = release(json!({"inventory": [{"kind": 3}]}));
        let err = ReleaseRecord::from_object(&bad).unwrap_err();
        assert!(
            err.to_string().contains("Release/ns/r: status.inventory"),
            "{err}"
        );
        let good =
            release(json!({"inventory": [{"version": "v1", "kind": "ConfigMap", "name": "c"}]}));
        assert_eq!(
            ReleaseRecord::from_object(&good).unwrap().inventory.len(),
            1
        );
    }
}

//! The cache one drift watch feeds: every object of one kind that carries
//! the release label, as small as drift can use it.
//!
//! Drift asks two things of a cached object: whether it still holds what
//! distro applied (its resourceVersion, or else a digest of its content),
//! and, for a reconcile that skips it, what its health is (its metadata and
//! status, and the spec a status is judged against). So each entry keeps
//! the content digest, computed from the whole object as it arrived, and
//! the object without what neither needs: managers' field sets (never even
//! parsed, see [`crate::slim`]), labels and most of the metadata, and
//! the whole body of an object without a status (ConfigMaps, Secrets,
//! ServiceAccounts, RBAC: most of a platform's objects). At ten thousand
//! objects, that is most of the controller's memory. A correction reads the
//! whole object from the API server.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DynamicObject, TypeMeta};
use serde_json::Value;

use super::fields;
use crate::apply::RECONCILE_ANNOTATION;
use crate::health::Status;

/// (namespace, name) within one kind.
pub type Name = (Option<String>, String);

/// One cached object.
#[derive(Debug, Clone)]
pub struct Cached {
    /// The object without managers' field sets, and without its body when
    /// it has no status.
    pub live: Arc<DynamicObject>,
    /// [`fields::content`] of the whole object.
    pub content: [u8; 32],
    /// Whether this version of the object is ready (Current): judged once
    /// as it arrives, not again by every reconcile that finds it unchanged.
    pub current: bool,
}

impl Cached {
    /// The entry for an object of type `types` as a watch delivered it.
    pub fn new(mut object: DynamicObject, types: &TypeMeta) -> (Name, Cached) {
        let content = fields::content(&object);
        let current = crate::apply::readiness(&object, types).status == Status::Current;
        slim(&mut object);
        let name = name_of(&object);
        let live = Arc::new(object);
        (
            name,
            Cached {
                live,
                content,
                current,
            },
        )
    }
}

fn name_of(object: &DynamicObject) -> Name {
    (
        object.metadata.namespace.clone(),
        object.metadata.name.clone().unwrap_or_default(),
    )
}

/// Drops what drift needs of no cached object. Kept: what says whether
/// the object holds what distro applied (its resourceVersion), whether it
/// is to be left alone (the reconcile annotation), and what its health is
/// judged on (generation, deletion, and the body when it has a status).
fn slim(object: &mut DynamicObject) {
    let meta = std::mem::take(&mut object.metadata);
    let annotations = meta
        .annotations
        .and_then(|mut a| a.remove_entry(RECONCILE_ANNOTATION))
        .map(|(k, v)| BTreeMap::from([(k, v)]));
    object.metadata = ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        resource_version: meta.resource_version,
        generation: meta.generation,
        deletion_timestamp: meta.deletion_timestamp,
        annotations,
        ..ObjectMeta::default()
    };
    // Readiness takes the type from the rendered object.
    object.types = None;
    let has_status = object
        .data
        .get("status")
        .is_some_and(|s| s.as_object().is_some_and(|m| !m.is_empty()));
    if !has_status {
        object.data = Value::Object(serde_json::Map::new());
    }
}

/// The objects of one kind. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Cache {
    /// The kind's type, which objects of a list or watch do not carry.
    types: Arc<TypeMeta>,
    objects: Arc<Mutex<HashMap<Name, Cached>>>,
}

impl Cache {
    /// An empty cache of objects of type `types`.
    pub fn new(types: TypeMeta) -> Self {
        Self {
            types: Arc::new(types),
            objects: Arc::default(),
        }
    }

    /// The entry for an object as a watch delivered it.
    pub fn entry(&self, object: DynamicObject) -> (Name, Cached) {
        Cached::new(object, &self.types)
    }

    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<Cached> {
        self.lock()
            .get(&(namespace.map(str::to_string), name.to_string()))
            .cloned()
    }

    pub fn apply(&self, object: DynamicObject) {
        let (name, cached) = self.entry(object);
        self.lock().insert(name, cached);
    }

    pub fn delete(&self, object: &DynamicObject) {
        self.lock().remove(&name_of(object));
    }

    /// Replaces every entry at once, after a (re)list.
    pub fn replace(&self, objects: HashMap<Name, Cached>) {
        *self.lock() = objects;
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Name, Cached>> {
        // Nothing panics while holding this lock.
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
    use kube::core::ApiResource;
    use serde_json::json;

    fn object(kind: &str, data: Value) -> DynamicObject {
        let resource = ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: kind.into(),
            plural: format!("{}s", kind.to_lowercase()),
        };
        let mut o = DynamicObject::new("x", &resource).within("ns");
        o.data = data;
        o.metadata.resource_version = Some("7".into());
        o.metadata.labels = Some(BTreeMap::from([("app".into(), "web".into())]));
        o.metadata.annotations = Some(BTreeMap::from([
            (RECONCILE_ANNOTATION.into(), "disabled".into()),
            ("note".into(), "long text".into()),
        ]));
        o.metadata.managed_fields = Some(vec![ManagedFieldsEntry {
            manager: Some("distro".into()),
            ..Default::default()
        }]);
        o
    }

    fn types(api_version: &str, kind: &str) -> TypeMeta {
        TypeMeta {
            api_version: api_version.into(),
            kind: kind.into(),
        }
    }

    #[test]
    fn an_object_without_status_keeps_its_metadata_and_the_digest_of_its_body() {
        let whole = object("ConfigMap", json!({"data": {"color": "blue"}}));
        let digest = fields::content(&whole);
        let (name, cached) = Cached::new(whole, &types("v1", "ConfigMap"));
        assert_eq!(name, (Some("ns".to_string()), "x".to_string()));
        assert_eq!(cached.content, digest);
        assert_eq!(cached.live.data, json!({}));
        assert_eq!(cached.live.metadata.resource_version.as_deref(), Some("7"));
        assert!(cached.live.metadata.managed_fields.is_none());
        assert!(cached.live.metadata.labels.is_none());
        // What says "leave it alone" stays; other annotations go.
        assert!(crate::apply::reconcile_disabled(&cached.live));
        assert_eq!(
            cached.live.metadata.annotations.as_ref().map(BTreeMap::len),
            Some(1)
        );
        // Another body is another digest, though both cached objects look alike.
        let other = Cached::new(
            object("ConfigMap", json!({"data": {"color": "red"}})),
            &types("v1", "ConfigMap"),
        )
        .1;
        assert_ne!(other.content, cached.content);
    }

    #[test]
    fn an_object_with_status_keeps_spec_and_status_for_its_health() {
        let body = json!({"spec": {"replicas": 2}, "status": {"readyReplicas": 2}});
        let (_, cached) = Cached::new(
            object("Deployment", body.clone()),
            &types("apps/v1", "Deployment"),
        );
        assert_eq!(cached.live.data, body);
        assert!(cached.live.metadata.managed_fields.is_none());
    }

    /// Readiness is judged as the object arrives, by the rules of its kind.
    #[test]
    fn each_entry_says_whether_its_version_is_ready() {
        let deployment = types("apps/v1", "Deployment");
        let rolled_out = json!({
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
                       "readyReplicas": 2, "availableReplicas": 2},
        });
        let mut ready = object("Deployment", rolled_out);
        ready.metadata.generation = Some(1);
        assert!(Cached::new(ready, &deployment).1.current);
        let rolling = json!({
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 1,
                       "readyReplicas": 1, "availableReplicas": 1},
        });
        let mut not_yet = object("Deployment", rolling);
        not_yet.metadata.generation = Some(1);
        assert!(!Cached::new(not_yet, &deployment).1.current);
        let config = Cached::new(object("ConfigMap", json!({})), &types("v1", "ConfigMap"));
        assert!(config.1.current);
    }

    #[test]
    fn a_relist_replaces_the_entries() {
        let cache = Cache::new(types("v1", "ConfigMap"));
        cache.apply(object("ConfigMap", json!({})));
        assert!(cache.get(Some("ns"), "x").is_some());
        cache.replace(HashMap::new());
        assert!(cache.get(Some("ns"), "x").is_none());
        cache.apply(object("ConfigMap", json!({})));
        cache.delete(&object("ConfigMap", json!({})));
        assert!(cache.get(Some("ns"), "x").is_none());
    }
}

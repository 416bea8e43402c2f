//! [`SlimObject`]: a [`DynamicObject`] read without its managers' field
//! sets (`metadata.managedFields`), for lists and watches of many objects.
//!
//! Parsed, those field sets are most of a small object: every field a
//! manager owns is a nested map of its own. A list is held parsed a page at
//! a time, so what is never parsed is never held: the field sets are
//! skipped as the response is read, without being built. Drift's watches
//! and the Release store read this way; neither looks at the field sets.

use std::borrow::Cow;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DynamicObject, TypeMeta};
use kube::core::{ApiResource, DynamicResourceScope, Resource};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

/// An object with everything but `metadata.managedFields`.
#[derive(Debug, Clone)]
pub struct SlimObject(pub DynamicObject);

impl Resource for SlimObject {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        DynamicObject::kind(dt)
    }

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        DynamicObject::group(dt)
    }

    fn version(dt: &ApiResource) -> Cow<'_, str> {
        DynamicObject::version(dt)
    }

    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        DynamicObject::api_version(dt)
    }

    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        DynamicObject::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.0.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.0.metadata
    }
}

impl<'de> Deserialize<'de> for SlimObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// Reads an object's top level as [`DynamicObject`] does: `apiVersion` and
/// `kind` into its type (list items carry none), `metadata`, and the rest
/// as data.
struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = SlimObject;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kubernetes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SlimObject, A::Error> {
        let mut api_version: Option<String> = None;
        let mut kind: Option<String> = None;
        let mut metadata = ObjectMeta::default();
        let mut data = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "apiVersion" => api_version = Some(map.next_value()?),
                "kind" => kind = Some(map.next_value()?),
                "metadata" => metadata = map.next_value::<Meta>()?.0,
                _ => {
                    let value: Value = map.next_value()?;
                    data.insert(key, value);
                }
            }
        }
        let types = match (api_version, kind) {
            (Some(api_version), Some(kind)) => Some(TypeMeta { api_version, kind }),
            _ => None,
        };
        Ok(SlimObject(DynamicObject {
            types,
            metadata,
            data: Value::Object(data),
        }))
    }
}

/// `metadata` without `managedFields`.
struct Meta(ObjectMeta);

impl<'de> Deserialize<'de> for Meta {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MetaVisitor)
    }
}

struct MetaVisitor;

impl<'de> Visitor<'de> for MetaVisitor {
    type Value = Meta;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("object metadata")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Meta, A::Error> {
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "managedFields" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value: Value = map.next_value()?;
            fields.insert(key, value);
        }
        serde_json::from_value(Value::Object(fields))
            .map(Meta)
            .map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_object_reads_as_a_dynamic_object_without_managed_fields() {
        let text = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web",
                "namespace": "shop",
                "resourceVersion": "42",
                "labels": {"distro.dev/release": "web"},
                "managedFields": [{"manager": "distro", "fieldsV1": {"f:spec": {"f:replicas": {}}}}],
            },
            "spec": {"replicas": 2},
            "status": {"readyReplicas": 2},
        })
        .to_string();
        let SlimObject(read) = serde_json::from_str(&text).expect("parses");
        let mut whole: DynamicObject = serde_json::from_str(&text).expect("parses");
        assert!(whole.metadata.managed_fields.is_some());
        whole.metadata.managed_fields = None;
        assert_eq!(read.metadata, whole.metadata);
        assert_eq!(read.types, whole.types);
        assert_eq!(read.data, whole.data);
        assert_eq!(read.metadata.name.as_deref(), Some("web"));
        assert_eq!(read.data["spec"]["replicas"], 2);
    }

    #[test]
    fn a_list_item_has_no_type_and_bad_metadata_is_an_error() {
        let SlimObject(item) =
            serde_json::from_value(json!({"metadata": {"name": "a"}, "data": {"k": "v"}}))
                .expect("parses");
        assert!(item.types.is_none());
        assert_eq!(item.data, json!({"data": {"k": "v"}}));
        let bad = serde_json::from_value::<SlimObject>(json!({"metadata": {"name": 7}}));
        assert!(bad.is_err());
    }
}

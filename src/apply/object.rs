//! Server-side apply of one object, without writing when nothing changed.

use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy};
use serde_json::Value;

use super::change::Action;
use super::discovery::{Resolved, Resolver};
use super::error::{Error, api_status};
use super::identity::FIELD_MANAGER;
use crate::status::InventoryEntry;

/// Annotation that lets distro delete and recreate an object whose change
/// touches an immutable field.
pub const FORCE_ANNOTATION: &str = "distro.dev/force";

/// How long a kind may stay missing from discovery before apply calls it
/// unknown.
pub const DISCOVERY_GRACE: Duration = Duration::from_secs(10);

/// An object ready to apply.
#[derive(Debug, Clone)]
pub struct Desired {
    pub value: Value,
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// `Kind.group/ns/name`, for messages.
    pub display: String,
    /// `sha256:<hex>` of the rendered YAML (see [`super::skip::object_digest`]).
    pub digest: String,
}

impl Desired {
    /// Parses a rendered object.
    ///
    /// # Errors
    /// The YAML does not parse (render guarantees it does).
    pub fn from_rendered(object: &crate::render::Object) -> Result<Self, Error> {
        let value = crate::yaml::parse_value(object.yaml(), 0).map_err(|e| Error::Rejected {
            object: object.key.to_string(),
            message: e.to_string(),
        })?;
        Ok(Desired {
            value,
            api_version: object.api_version.clone(),
            kind: object.key.kind.clone(),
            namespace: object.key.namespace.clone(),
            name: object.key.name.clone(),
            display: object.key.to_string(),
            digest: super::skip::object_digest(object.yaml()),
        })
    }

    /// Whether the template says `distro.dev/reconcile: disabled`.
    pub fn disabled(&self) -> bool {
        super::skip::disabled_value(&self.value)
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        self.value
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
    }

    pub fn inventory_entry(&self) -> InventoryEntry {
        inventory_entry(
            &self.api_version,
            &self.kind,
            self.namespace.as_deref(),
            &self.name,
        )
    }
}

/// The inventory entry of an object.
pub fn inventory_entry(
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) -> InventoryEntry {
    let (group, version) = crate::kinds::split_api_version(api_version);
    InventoryEntry {
        group: group.to_string(),
        version: version.to_string(),
        kind: kind.to_string(),
        namespace: namespace.map(str::to_string),
        name: name.to_string(),
    }
}

/// The result of applying one object.
pub struct Applied {
    pub action: Action,
    /// The object as the API server now has it.
    pub live: DynamicObject,
    pub api: Api<DynamicObject>,
    pub resolved: Resolved,
}

/// The API for an object's kind and namespace.
///
/// # Errors
/// The kind is unknown to the API server.
pub async fn api_for(
    client: &kube::Client,
    resolver: &Resolver,
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    display: &str,
    grace: Duration,
) -> Result<(Api<DynamicObject>, Resolved), Error> {
    // A CRD reports Established a moment before discovery serves its kind;
    // give discovery a bounded grace period before calling the kind unknown.
    let deadline = tokio::time::Instant::now() + grace;
    let resolved = loop {
        let found = resolver
            .resolve(api_version, kind)
            .await
            .map_err(|source| Error::Api {
                object: display.to_string(),
                action: "discovery",
                source,
            })?;
        match found {
            Some(r) => break r,
            None if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            None => {
                return Err(Error::UnknownKind {
                    object: display.to_string(),
                    api_version: api_version.to_string(),
                    kind: kind.to_string(),
                });
            }
        }
    };
    let api = api_from(client, &resolved.resource, resolved.namespaced, namespace);
    Ok((api, resolved))
}

/// The API for a resolved kind and an object's namespace.
pub fn api_from(
    client: &kube::Client,
    resource: &kube::core::ApiResource,
    namespaced: bool,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match (namespaced, namespace) {
        (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, resource),
        (true, None) => Api::default_namespaced_with(client.clone(), resource),
        (false, _) => Api::all_with(client.clone(), resource),
    }
}

/// Applies one object with field manager `distro`.
///
/// An existing object is first applied as a server-side dry run; when the
/// result equals the live object nothing is written, so its
/// resourceVersion does not move. A live object annotated
/// `distro.dev/reconcile: disabled` is left alone ([`Action::Skipped`]).
///
/// # Errors
/// Conflicts, immutable fields, rejections, API failures, each naming the
/// object.
pub async fn apply(
    client: &kube::Client,
    resolver: &Resolver,
    desired: &Desired,
    force_conflicts: bool,
) -> Result<Applied, Error> {
    let (api, resolved) = api_for(
        client,
        resolver,
        &desired.api_version,
        &desired.kind,
        desired.namespace.as_deref(),
        &desired.display,
        DISCOVERY_GRACE,
    )
    .await?;
    let params = params(force_conflicts);
    let live = live(&api, desired).await?;
    if let Some(live) = &live
        && super::skip::disabled(live)
    {
        return Ok(Applied {
            action: Action::Skipped,
            live: live.clone(),
            api,
            resolved,
        });
    }
    if let Some(live) = &live {
        let dry = api
            .patch(
                &desired.name,
                &params.clone().dry_run(),
                &Patch::Apply(&desired.value),
            )
            .await;
        match dry {
            Ok(dry) if same(live, &dry) => {
                return Ok(Applied {
                    action: Action::Unchanged,
                    live: live.clone(),
                    api,
                    resolved,
                });
            }
            Ok(_) => {}
            Err(e) => return recover(&api, resolved, desired, &params, e).await,
        }
    }
    match api
        .patch(&desired.name, &params, &Patch::Apply(&desired.value))
        .await
    {
        Ok(obj) => Ok(Applied {
            action: if live.is_some() {
                Action::Configured
            } else {
                Action::Created
            },
            live: obj,
            api,
            resolved,
        }),
        Err(e) => recover(&api, resolved, desired, &params, e).await,
    }
}

/// Turns an apply error into a precise one, or recreates the object when an
/// immutable field changed and the object allows it.
async fn recover(
    api: &Api<DynamicObject>,
    resolved: Resolved,
    desired: &Desired,
    params: &PatchParams,
    e: kube::Error,
) -> Result<Applied, Error> {
    let Some((code, message)) = api_status(&e) else {
        return Err(Error::Api {
            object: desired.display.clone(),
            action: "apply",
            source: e,
        });
    };
    let object = desired.display.clone();
    let message = message.to_string();
    match code {
        409 => Err(Error::Conflict { object, message }),
        422 if message.contains("immutable") => {
            if desired.annotation(FORCE_ANNOTATION) != Some("enabled") {
                return Err(Error::Immutable { object, message });
            }
            recreate(api, resolved, desired, params).await
        }
        400..=499 => Err(Error::Rejected { object, message }),
        _ => Err(Error::Api {
            object,
            action: "apply",
            source: e,
        }),
    }
}

async fn recreate(
    api: &Api<DynamicObject>,
    resolved: Resolved,
    desired: &Desired,
    params: &PatchParams,
) -> Result<Applied, Error> {
    let object = desired.display.clone();
    let api_err = |action: &'static str| {
        let object = object.clone();
        move |source| Error::Api {
            object,
            action,
            source,
        }
    };
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    };
    let uid = api
        .get_opt(&desired.name)
        .await
        .map_err(api_err("get"))?
        .and_then(|o| o.metadata.uid);
    api.delete(&desired.name, &dp)
        .await
        .map_err(api_err("delete"))?;
    if let Some(uid) = uid {
        let gone = kube::runtime::wait::await_condition(
            api.clone(),
            &desired.name,
            kube::runtime::wait::conditions::is_deleted(&uid),
        );
        if tokio::time::timeout(Duration::from_secs(120), gone)
            .await
            .is_err()
        {
            return Err(Error::Timeout {
                seconds: 120,
                waiting: vec![format!("{object} to be deleted before it is recreated")],
            });
        }
    }
    let obj = api
        .patch(&desired.name, params, &Patch::Apply(&desired.value))
        .await
        .map_err(api_err("create"))?;
    Ok(Applied {
        action: Action::Recreated,
        live: obj,
        api: api.clone(),
        resolved,
    })
}

/// Whether a dry-run result equals the live object.
fn same(live: &DynamicObject, dry: &DynamicObject) -> bool {
    comparable(live) == comparable(dry)
}

/// The object without what every write changes by itself (resourceVersion,
/// managedFields, generation), what identifies this instance (uid,
/// creationTimestamp), and `status`: apply never sets it, and a controller
/// may update it between a read and a dry run.
pub fn comparable(o: &DynamicObject) -> Value {
    let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
    if let Some(map) = v.as_object_mut() {
        map.remove("status");
    }
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in [
            "resourceVersion",
            "managedFields",
            "generation",
            "uid",
            "creationTimestamp",
        ] {
            meta.remove(key);
        }
    }
    v
}

/// The live object, `None` when it does not exist.
///
/// # Errors
/// The API server fails.
pub async fn live(
    api: &Api<DynamicObject>,
    desired: &Desired,
) -> Result<Option<DynamicObject>, Error> {
    api.get_opt(&desired.name)
        .await
        .map_err(|source| Error::Api {
            object: desired.display.clone(),
            action: "get",
            source,
        })
}

/// Server-side apply parameters with field manager `distro`.
pub fn params(force_conflicts: bool) -> PatchParams {
    let params = PatchParams::apply(FIELD_MANAGER);
    if force_conflicts {
        params.force()
    } else {
        params
    }
}

/// The live object named by an inventory entry and its API; `None` when
/// it (or its whole kind) is gone.
///
/// # Errors
/// The API server fails.
pub async fn find_entry(
    client: &kube::Client,
    resolver: &Resolver,
    entry: &InventoryEntry,
) -> Result<Option<(Api<DynamicObject>, DynamicObject)>, Error> {
    let display = entry.to_string();
    let api_version = if entry.group.is_empty() {
        entry.version.clone()
    } else {
        format!("{}/{}", entry.group, entry.version)
    };
    let (api, _) = match api_for(
        client,
        resolver,
        &api_version,
        &entry.kind,
        entry.namespace.as_deref(),
        &display,
        Duration::ZERO,
    )
    .await
    {
        Ok(found) => found,
        // The kind is gone (its CRD was removed): so are its objects.
        Err(Error::UnknownKind { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let live = api
        .get_opt(&entry.name)
        .await
        .map_err(|source| Error::Api {
            object: display,
            action: "get",
            source,
        })?;
    Ok(live.map(|l| (api, l)))
}

/// Deletes an object (in the background, as kubectl does).
///
/// # Errors
/// The API server fails (an object already gone counts as deleted).
pub async fn delete(api: &Api<DynamicObject>, entry: &InventoryEntry) -> Result<(), Error> {
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    };
    match api.delete(&entry.name, &dp).await {
        Ok(_) => Ok(()),
        Err(e) if matches!(api_status(&e), Some((404, _))) => Ok(()),
        Err(source) => Err(Error::Api {
            object: entry.to_string(),
            action: "delete",
            source,
        }),
    }
}

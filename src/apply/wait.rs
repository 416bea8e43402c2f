//! Waiting for objects to become ready, driven by watch events: each object
//! not ready yet gets a watch on its name, and the wait ends on the event
//! that makes it Current (or Failed), not on a polling tick.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::{Api, DynamicObject, TypeMeta};

use super::error::Error;
use crate::health::{self, Status};

/// An object to wait for.
pub struct Pending {
    pub api: Api<DynamicObject>,
    pub name: String,
    pub display: String,
    /// The object as last seen (the apply response, or the watch cache's
    /// copy when nothing was applied).
    pub last: Arc<DynamicObject>,
    /// Its type, which objects read from a list or watch do not carry.
    pub types: TypeMeta,
    /// `last` is known to be ready: nothing to judge or wait for.
    pub current: bool,
}

/// Readiness of an object, with its type filled in: list and watch
/// responses leave `apiVersion` and `kind` out of each item, and readiness
/// rules depend on the kind.
pub fn assess(obj: &DynamicObject, types: &TypeMeta) -> health::Assessment {
    let mut value = serde_json::to_value(obj).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), types.api_version.clone().into());
        map.insert("kind".into(), types.kind.clone().into());
    }
    health::assess(&value)
}

/// Waits until every object is Current.
///
/// # Errors
/// [`Error::Unhealthy`] for the first object that reports failure,
/// [`Error::Timeout`] naming every object still not ready.
pub async fn all_ready(objects: Vec<Pending>, timeout: Duration) -> Result<(), Error> {
    let mut waiting = Vec::new();
    for p in objects.into_iter().filter(|p| !p.current) {
        let a = assess(&p.last, &p.types);
        tracing::debug!(object = %p.display, status = %a.status, message = %a.message, "readiness");
        match a.status {
            Status::Current => {}
            Status::Failed => {
                return Err(Error::Unhealthy {
                    object: p.display,
                    message: a.message,
                });
            }
            _ => waiting.push((p, a.message)),
        }
    }
    if waiting.is_empty() {
        return Ok(());
    }
    // Last message seen per object, for the timeout report.
    let state: Arc<Mutex<Vec<Option<String>>>> = Arc::new(Mutex::new(
        waiting.iter().map(|(_, m)| Some(m.clone())).collect(),
    ));
    let displays: Vec<String> = waiting.iter().map(|(p, _)| p.display.clone()).collect();
    let waits = waiting.into_iter().enumerate().map(|(i, (p, _))| {
        let state = state.clone();
        async move {
            let types = p.types.clone();
            let cond = {
                let state = state.clone();
                let types = types.clone();
                move |obj: Option<&DynamicObject>| match obj {
                    None => {
                        if let Ok(mut s) = state.lock() {
                            s[i] = Some("not found".into());
                        }
                        false
                    }
                    Some(o) => {
                        let a = assess(o, &types);
                        let done = matches!(a.status, Status::Current | Status::Failed);
                        if let Ok(mut s) = state.lock() {
                            s[i] = if a.status == Status::Current {
                                None
                            } else {
                                Some(a.message)
                            };
                        }
                        done
                    }
                }
            };
            match kube::runtime::wait::await_condition(p.api.clone(), &p.name, cond).await {
                Ok(Some(obj)) => {
                    let a = assess(&obj, &types);
                    if a.status == Status::Failed {
                        return Err(Error::Unhealthy {
                            object: p.display,
                            message: a.message,
                        });
                    }
                    Ok(())
                }
                Ok(None) => Ok(()),
                Err(e) => Err(Error::Unhealthy {
                    object: p.display,
                    message: format!("watch failed: {e}"),
                }),
            }
        }
    });
    let all = futures::future::try_join_all(waits);
    match tokio::time::timeout(timeout, all).await {
        Ok(result) => result.map(|_| ()),
        Err(_) => {
            let s = state.lock().map(|s| s.clone()).unwrap_or_default();
            let waiting = displays
                .iter()
                .zip(s)
                .filter_map(|(d, m)| m.map(|m| format!("{d} ({m})")))
                .collect();
            Err(Error::Timeout {
                seconds: timeout.as_secs(),
                waiting,
            })
        }
    }
}

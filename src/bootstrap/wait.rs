//! Waiting after bootstrap, as `flux bootstrap` does: first for the
//! controller's Deployment to be available, then for the Platform to be
//! `Ready` at its current generation. Polled (two objects, every two
//! seconds), bounded by the timeout, and every change of what is awaited
//! is reported as it happens.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DynamicObject};
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use super::{Error, Request};
use crate::controller::platform as platform_crd;
use crate::health::{self, Status};

/// The controller's Deployment, as the package names it.
pub const DEPLOYMENT: &str = "distro-controller";

const POLL: Duration = Duration::from_secs(2);

/// How the wait ended.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Waited {
    /// The Deployment was available and the Platform Ready in time.
    pub ready: bool,
    /// What was last seen of the object that was awaited.
    pub message: String,
}

/// Waits until the controller is available and the Platform is Ready, or
/// `timeout` passes, or the Platform stalls (a retry cannot help). Calls
/// `progress` with each new line of news.
///
/// # Errors
/// The API server fails (not: the objects are not ready yet).
pub async fn wait(
    client: &kube::Client,
    request: &Request,
    timeout: Duration,
    mut progress: impl FnMut(&str),
) -> Result<Waited, Error> {
    let deadline = Instant::now() + timeout;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &request.namespace);
    let platforms = platform_crd::api(client, Some(&request.namespace));
    let deployment_name = format!("Deployment/{}/{DEPLOYMENT}", request.namespace);
    let platform_name = format!("Platform/{}/{}", request.namespace, request.name);
    let mut last = String::new();
    let mut report = |line: String, last: &mut String| {
        if line != *last {
            progress(&line);
            *last = line;
        }
    };

    // The Deployment first: without a running controller the Platform
    // never changes.
    loop {
        let live = deployments
            .get_opt(DEPLOYMENT)
            .await
            .map_err(|source| api_error(&deployment_name, source))?;
        let assessment = match &live {
            Some(d) => health::assess(&serde_json::to_value(d).unwrap_or(Value::Null)),
            None => health::Assessment::not_found(),
        };
        match assessment.status {
            Status::Current => {
                report(format!("{deployment_name}: available"), &mut last);
                break;
            }
            Status::Failed => {
                return Ok(Waited {
                    ready: false,
                    message: format!("{deployment_name}: {}", assessment.message),
                });
            }
            _ => report(
                format!("waiting for {deployment_name}: {}", assessment.message),
                &mut last,
            ),
        }
        if !sleep_until_next(deadline).await {
            return Ok(timed_out(timeout, &last));
        }
    }

    loop {
        let live: Option<DynamicObject> = platforms
            .get_opt(&request.name)
            .await
            .map_err(|source| api_error(&platform_name, source))?;
        match live.as_ref().map(verdict) {
            Some(Verdict::Ready(message)) => {
                report(format!("{platform_name}: Ready: {message}"), &mut last);
                return Ok(Waited {
                    ready: true,
                    message: last,
                });
            }
            Some(Verdict::Stalled(message)) => {
                return Ok(Waited {
                    ready: false,
                    message: format!("{platform_name}: stalled: {message}"),
                });
            }
            Some(Verdict::Pending(message)) => {
                report(format!("waiting for {platform_name}: {message}"), &mut last)
            }
            None => report(format!("waiting for {platform_name}: not found"), &mut last),
        }
        if !sleep_until_next(deadline).await {
            return Ok(timed_out(timeout, &last));
        }
    }
}

fn api_error(object: &str, source: kube::Error) -> Error {
    Error::Api {
        object: object.to_string(),
        action: "get",
        source,
    }
}

fn timed_out(timeout: Duration, last: &str) -> Waited {
    Waited {
        ready: false,
        message: format!(
            "timed out after {}s; {}",
            timeout.as_secs(),
            last.strip_prefix("waiting for ").unwrap_or(last)
        ),
    }
}

/// Sleeps one poll interval, or less when the deadline is nearer; `false`
/// when the deadline has passed.
async fn sleep_until_next(deadline: Instant) -> bool {
    let now = Instant::now();
    if now >= deadline {
        return false;
    }
    tokio::time::sleep(POLL.min(deadline - now)).await;
    true
}

/// Where a Platform stands, from its conditions.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Ready(String),
    Stalled(String),
    Pending(String),
}

fn verdict(obj: &DynamicObject) -> Verdict {
    let status = &obj.data["status"];
    let condition = |type_: &str| {
        status["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == type_))
    };
    let text = |c: &Value, key: &str| c[key].as_str().unwrap_or_default().to_string();
    // A status written for an older spec says nothing about this one.
    let observed = status["observedGeneration"].as_i64();
    if observed.is_none() || observed != obj.metadata.generation {
        return Verdict::Pending("the controller has not reconciled it yet".into());
    }
    if let Some(c) = condition("Stalled")
        && c["status"] == "True"
    {
        return Verdict::Stalled(text(c, "message"));
    }
    match condition("Ready") {
        Some(c) if c["status"] == "True" => Verdict::Ready(text(c, "message")),
        Some(c) => Verdict::Pending(format!("{}: {}", text(c, "reason"), text(c, "message"))),
        None => Verdict::Pending("no Ready condition yet".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(generation: i64, status: Value) -> DynamicObject {
        let mut obj = DynamicObject::new("p", &platform_crd::resource()).within("ns");
        obj.metadata.generation = Some(generation);
        obj.data = serde_json::json!({ "status": status });
        obj
    }

    #[test]
    fn a_platform_is_ready_only_at_its_generation() {
        let ready = serde_json::json!({
            "observedGeneration": 2,
            "conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded", "message": "applied main@sha1:abc"}]
        });
        assert_eq!(
            verdict(&platform(2, ready.clone())),
            Verdict::Ready("applied main@sha1:abc".into())
        );
        assert!(matches!(verdict(&platform(3, ready)), Verdict::Pending(_)));
        assert!(matches!(
            verdict(&platform(1, Value::Null)),
            Verdict::Pending(_)
        ));
    }

    #[test]
    fn a_stalled_platform_ends_the_wait() {
        let stalled = serde_json::json!({
            "observedGeneration": 1,
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "ValidationFailed", "message": "bad"},
                {"type": "Stalled", "status": "True", "reason": "ValidationFailed", "message": "bad"}
            ]
        });
        assert_eq!(
            verdict(&platform(1, stalled)),
            Verdict::Stalled("bad".into())
        );
    }
}

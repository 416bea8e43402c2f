//! Running every release in dependency order. Each release waits on its
//! dependencies' outcome channels and starts the moment the last one turns
//! Ready: readiness is pushed, never polled.

use std::collections::HashMap;
use std::time::SystemTime;

use futures::FutureExt;
use tokio::sync::{Semaphore, mpsc, watch};

use super::error::Error;
use super::object::{self, Desired};
use super::{Context, ReleaseReport, Report, prune, release, wait};
use crate::graph::Graph;
use crate::render::RenderedRelease;
use crate::status::{DependencyRef, Reason, ReleaseRecord, Summary};

/// Progress of a run, for live views.
#[derive(Debug, Clone)]
pub enum Event {
    /// A release's dependencies are Ready and it started.
    Started { name: String, objects: usize },
    /// A release ended (Ready, failed, or skipped for a dependency);
    /// `total` releases are in the run.
    Finished { report: ReleaseReport, total: usize },
    /// A release that left the platform was removed.
    Removed(ReleaseReport),
}

/// Applies every release of `releases` (in apply order) following `graph`.
///
/// # Errors
/// Only when the run cannot start (the `Release` CRD cannot be installed);
/// release failures are reported in the [`Report`].
pub async fn run(
    ctx: &Context,
    releases: &[RenderedRelease],
    graph: &Graph,
    events: Option<mpsc::UnboundedSender<Event>>,
) -> Result<Report, Error> {
    // distro's own CRD, and one list instead of one read per release
    // (nothing, when the caller prepared the store already).
    ctx.store.prepare(ctx.options.timeout).await?;
    // Whether anyone reads the events: a report is cloned only for them.
    let listening = events.is_some();
    let emit = |e: Event| {
        if let Some(tx) = &events {
            let _ = tx.send(e);
        }
    };

    // One outcome channel per release: None while pending, then Some(ready).
    type Outcome = (watch::Sender<Option<bool>>, watch::Receiver<Option<bool>>);
    let channels: HashMap<&str, Outcome> = releases
        .iter()
        .map(|r| (r.name.as_str(), watch::channel(None)))
        .collect();
    let namespaces: HashMap<&str, &str> = releases
        .iter()
        .map(|r| (r.name.as_str(), r.namespace.as_str()))
        .collect();
    let semaphore = Semaphore::new(ctx.options.concurrency.max(1));
    let platform_objects = prune::platform_objects(releases);

    let edges: HashMap<&str, &Vec<String>> = graph
        .releases
        .iter()
        .map(|n| (n.name.as_str(), &n.depends_on))
        .collect();

    let tasks = releases.iter().map(|r| {
        let deps: Vec<String> = edges
            .get(r.name.as_str())
            .map(|d| d.to_vec())
            .unwrap_or_default();
        let channels = &channels;
        let namespaces = &namespaces;
        let semaphore = &semaphore;
        let platform_objects = &platform_objects;
        let emit = &emit;
        async move {
            let mut not_ready = Vec::new();
            for dep in &deps {
                if let Some((_, rx)) = channels.get(dep.as_str()) {
                    let mut rx = rx.clone();
                    let ready = rx
                        .wait_for(Option::is_some)
                        .await
                        .map(|v| *v == Some(true))
                        .unwrap_or(false);
                    if !ready {
                        not_ready.push(dep.clone());
                    }
                }
            }
            let refs: Vec<DependencyRef> = deps
                .iter()
                .map(|d| DependencyRef {
                    name: d.clone(),
                    namespace: namespaces
                        .get(d.as_str())
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                })
                .collect();
            let report = if not_ready.is_empty() {
                let _permit = semaphore.acquire().await;
                emit(Event::Started {
                    name: r.name.clone(),
                    objects: r.objects.len(),
                });
                release::apply(ctx, r, refs, platform_objects).await
            } else {
                dependency_not_ready(ctx, r, refs, &not_ready).await
            };
            if let Some((tx, _)) = channels.get(r.name.as_str()) {
                let _ = tx.send(Some(report.summary.ready()));
            }
            if listening {
                emit(Event::Finished {
                    report: report.clone(),
                    total: releases.len(),
                });
            }
            report
        }
        // Boxed as Send: the controller runs this on a spawned task, and
        // an unboxed future of borrowing closures trips rustc's Send check.
        .boxed()
    });
    let reports = futures::future::join_all(tasks).await;

    let removed = if ctx.options.prune {
        prune::removed_releases(ctx, releases, &platform_objects).await?
    } else {
        Vec::new()
    };
    for r in &removed {
        emit(Event::Removed(r.clone()));
    }
    Ok(Report {
        releases: reports,
        removed,
    })
}

async fn dependency_not_ready(
    ctx: &Context,
    r: &RenderedRelease,
    refs: Vec<DependencyRef>,
    not_ready: &[String],
) -> ReleaseReport {
    let summary = Summary {
        reason: Reason::DependencyNotReady,
        message: format!("dependency {} is not ready", not_ready.join(", ")),
    };
    // Record it where users look, if the namespace is there already; a
    // release that never ran may have no namespace yet.
    let record = ReleaseRecord {
        name: r.name.clone(),
        namespace: r.namespace.clone(),
        package: r.package.clone(),
        version: r.version.clone(),
        digest: r.digest.clone(),
        depends_on: refs,
        ..Default::default()
    };
    if let Ok(previous) = ctx.store.get(&r.namespace, &r.name).await
        && let Ok(written) = ctx.store.write_spec(previous.as_ref(), &record).await
    {
        let _ = ctx.store.write_status(&written, &summary, None, None).await;
    }
    ReleaseReport {
        name: r.name.clone(),
        namespace: r.namespace.clone(),
        revision: ReleaseRecord::revision(&r.version, &r.digest),
        summary,
        changes: Default::default(),
        started: None,
        finished: SystemTime::now(),
    }
}

/// Applies a CustomResourceDefinition distro itself needs (no write when
/// unchanged, none when a release installed it) and waits until it is
/// Established.
///
/// # Errors
/// The API server rejects it, or it is not Established within `timeout`.
pub async fn install_crd(
    client: &kube::Client,
    resolver: &super::Resolver,
    crd: serde_json::Value,
    timeout: std::time::Duration,
) -> Result<(), Error> {
    let name = crd
        .pointer("/metadata/name")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string();
    let desired = Desired {
        value: crd,
        api_version: "apiextensions.k8s.io/v1".into(),
        kind: "CustomResourceDefinition".into(),
        namespace: None,
        display: format!("CustomResourceDefinition/{name}"),
        name,
        digest: String::new(),
    };
    let (api, _) = object::api_for(
        client,
        resolver,
        &desired.api_version,
        &desired.kind,
        None,
        &desired.display,
        object::DISCOVERY_GRACE,
    )
    .await?;
    let live = match object::live(&api, &desired).await? {
        // Installed by a release (the `distro` package ships both of
        // distro's CRDs): that release upgrades it. Applying it here as
        // well, under the same field manager, would drop the release's
        // labels, and the release's next run would put them back.
        Some(live)
            if live
                .metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(crate::render::RELEASE_LABEL)) =>
        {
            live
        }
        _ => object::apply(client, resolver, &desired, true).await?.live,
    };
    wait::all_ready(
        vec![wait::Pending {
            api,
            name: desired.name.clone(),
            display: desired.display.clone(),
            last: std::sync::Arc::new(live),
            types: kube::api::TypeMeta {
                api_version: desired.api_version.clone(),
                kind: desired.kind.clone(),
            },
            current: false,
        }],
        timeout,
    )
    .await
}

/// Applies one object that distro writes outside any release (what
/// `distro bootstrap` creates next to the controller), taking the fields
/// it sets from other managers. Nothing is written when it is unchanged.
///
/// # Errors
/// The object is malformed, or the API server rejects it.
pub async fn apply_object(
    client: &kube::Client,
    resolver: &super::Resolver,
    value: serde_json::Value,
) -> Result<super::Action, Error> {
    let text = |p: &str| {
        value
            .pointer(p)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (api_version, kind, name) = (text("/apiVersion"), text("/kind"), text("/metadata/name"));
    let namespace = Some(text("/metadata/namespace")).filter(|n| !n.is_empty());
    let display = match &namespace {
        Some(ns) => format!("{kind}/{ns}/{name}"),
        None => format!("{kind}/{name}"),
    };
    let desired = Desired {
        value,
        api_version,
        kind,
        namespace,
        name,
        display,
        digest: String::new(),
    };
    Ok(object::apply(client, resolver, &desired, true)
        .await?
        .action)
}

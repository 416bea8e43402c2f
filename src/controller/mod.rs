//! `distro controller`: keeps the cluster reconciled to every `Platform`
//! object. One loop owns the schedule ([`queue`]); reconciles run as tasks,
//! one per Platform at a time, bounded in number.
//!
//! Triggers, all pushed, none polled: a watch event that changes a
//! Platform's generation or its `reconcile.distro.dev/requestedAt`
//! annotation, a signed webhook call, and the Platform's interval.
//!
//! - [`platform`]: the Platform resource, its spec, status and reasons.
//! - [`reconcile`]: one Platform: fetch -> validate/render -> apply -> status.
//! - [`queue`]: when each Platform runs next (intervals, backoff).
//! - [`webhook`]: the HTTP receiver for push notifications.
//! - [`drift`]: watches of what was applied; sets back what others changed.
//! - [`arena`]: the allocator limited to one arena (resident size).

pub mod arena;
pub mod drift;
pub mod leader;
pub mod metrics;
pub mod platform;
pub mod queue;
pub mod reconcile;
pub mod renders;
pub mod source;
pub mod webhook;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use self::platform::Platform;
use self::queue::{Ended, Key, Queue};
use self::reconcile::{Next, Shared};
use crate::apply::Resolver;

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Watch Platforms of this namespace only; all namespaces when `None`.
    pub namespace: Option<String>,
    /// Platforms reconciled at the same time (and releases per Platform).
    pub concurrency: usize,
    /// Where the webhook receiver listens; none when `None`.
    pub webhook_addr: Option<SocketAddr>,
    /// Caches (Git repositories) live here.
    pub state_dir: PathBuf,
    /// How long a SIGTERM waits for reconciles in flight.
    pub shutdown_timeout: Duration,
    /// Prometheus metrics on `/metrics` here; none when `None`.
    pub metrics_addr: Option<SocketAddr>,
    /// `/healthz` and `/readyz` here; none when `None`.
    pub health_addr: Option<SocketAddr>,
    /// Elect one leader among the replicas through a Lease in this
    /// namespace; `None` runs as the only writer.
    pub leader_namespace: Option<String>,
    pub target: crate::client::Target,
}

/// Errors that stop the controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Client(#[from] crate::client::Error),
    #[error("installing the CustomResourceDefinitions failed: {0}")]
    Crds(#[source] crate::apply::Error),
    #[error("webhook receiver: cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("leader election: {0}")]
    Leader(#[source] leader::Error),
    #[error("state directory {}: {source}", path.display())]
    StateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Runs until SIGTERM or SIGINT; then stops taking work, lets reconciles in
/// flight finish (bounded by `shutdown_timeout`), and returns.
///
/// # Errors
/// The cluster is unreachable at start, the CRDs cannot be installed, or
/// the webhook address cannot be bound.
pub async fn run(settings: Settings) -> Result<(), Error> {
    std::fs::create_dir_all(&settings.state_dir).map_err(|source| Error::StateDir {
        path: settings.state_dir.clone(),
        source,
    })?;
    let config = crate::client::config(&settings.target).await?;
    let client = crate::client::connect(&settings.target).await?;

    // Both CRDs, installed or upgraded, as `distro apply` does for Release.
    let resolver = Resolver::new(client.clone());
    for crd in [crate::status::crd_object(), platform::crd_object()] {
        crate::apply::install_crd(&client, &resolver, crd, Duration::from_secs(60))
            .await
            .map_err(Error::Crds)?;
    }

    let metrics = Arc::new(metrics::Metrics::new());
    let health = metrics::Health::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Some(addr) = settings.metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Listen { addr, source })?;
        tracing::info!(addr = %listener.local_addr().unwrap_or(addr), "metrics listening");
        tokio::spawn(metrics::serve_metrics(
            listener,
            Arc::clone(&metrics),
            stopped(stop_rx.clone()),
        ));
    }
    if let Some(addr) = settings.health_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Listen { addr, source })?;
        tracing::info!(addr = %listener.local_addr().unwrap_or(addr), "health listening");
        tokio::spawn(metrics::serve_health(
            listener,
            health.clone(),
            stopped(stop_rx.clone()),
        ));
    }
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let mut elector_task = None;
    let mut sole_writer = None;
    // Only the leader writes. Without election this process is the leader.
    let (lead_tx, mut leadership) = tokio::sync::watch::channel(leader::Leadership::Unknown);
    match &settings.leader_namespace {
        Some(ns) => {
            let identity = leader::default_identity();
            let elector =
                leader::Elector::new(client.clone(), ns, &identity, leader::Config::default())
                    .map_err(Error::Leader)?;
            tracing::info!(%identity, namespace = %ns, "leader election");
            // The Lease is released only after the reconciles in flight
            // ended, so that no other replica writes while this one does.
            let stop = stopped(release_rx.clone());
            elector_task = Some(tokio::spawn(async move {
                if let Err(e) = elector.run(lead_tx, stop).await {
                    tracing::warn!("leader election: {e}");
                }
            }));
        }
        None => {
            let _ = lead_tx.send(leader::Leadership::Leader);
            // Kept for the whole run: a closed channel would look like
            // lost leadership.
            sole_writer = Some(lead_tx);
        }
    }

    let registry = webhook::Registry::new();
    let (trigger_tx, mut trigger_rx) = mpsc::channel::<webhook::Trigger>(256);
    if let Some(addr) = settings.webhook_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Listen { addr, source })?;
        tracing::info!(%addr, "webhook receiver listening");
        let (registry, tx, metrics) = (registry.clone(), trigger_tx.clone(), Arc::clone(&metrics));
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = webhook::serve(listener, registry, tx, metrics, shutdown).await {
                tracing::error!("webhook receiver stopped: {e}");
            }
        });
    }
    drop(trigger_tx);

    let reporter = Reporter {
        controller: "distro-controller".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let (drift, checker) = drift::Drift::new(
        client.clone(),
        health.clone(),
        Arc::clone(&metrics),
        recorder.clone(),
        leadership.clone(),
    );
    tokio::spawn(checker.run(stopped(stop_rx.clone())));
    let shared = Arc::new(Shared {
        recorder,
        drift,
        client: client.clone(),
        config,
        state_dir: settings.state_dir.clone(),
        concurrency: settings.concurrency.max(1),
        registry,
        metrics: Arc::clone(&metrics),
        renders: Default::default(),
        records: crate::status::Records::new(client.clone()),
    });

    let api = platform::api(&client, settings.namespace.as_deref());
    let mut watch = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();

    let mut queue = Queue::default();
    // The latest object of every Platform, and the trigger it was last
    // scheduled for (so our own status writes do not reschedule it).
    let mut known: HashMap<Key, (Platform, Fingerprint)> = HashMap::new();
    let mut tasks: JoinSet<(Key, Ended)> = JoinSet::new();
    let mut terminate = std::pin::pin!(shutdown_signal());
    let limit = settings.concurrency.max(1);

    loop {
        // Start whatever is due, when leading.
        let now = Instant::now();
        let leading = leader::is_leader(&leadership);
        let free = if leading {
            limit.saturating_sub(queue.running())
        } else {
            0
        };
        for key in queue.take_due(now, free) {
            let Some((platform, _)) = known.get(&key) else {
                queue.ended(key, Ended::AwaitChange, now);
                continue;
            };
            let platform = platform.clone();
            let shared = Arc::clone(&shared);
            // Every log line of the reconcile, down to one object, names
            // the Platform (and the revision, once known).
            let span = tracing::info_span!(
                "reconcile",
                platform = %platform.name,
                namespace = %platform.namespace,
                revision = tracing::field::Empty,
            );
            tasks.spawn(tracing::Instrument::instrument(async move {
                let started = Instant::now();
                tracing::info!(platform = %platform.name, namespace = %platform.namespace, "reconciling");
                let (next, ready) = reconcile::reconcile(&shared, &platform).await;
                shared.metrics.observe_reconcile(
                    platform::KIND,
                    &platform.namespace,
                    &platform.name,
                    started.elapsed(),
                );
                if let Some(ready) = ready {
                    shared.metrics.set_condition(
                        platform::KIND,
                        &platform.namespace,
                        &platform.name,
                        "Ready",
                        ready,
                    );
                }
                tracing::info!(
                    platform = %platform.name,
                    namespace = %platform.namespace,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    next = ?next,
                    "reconciled"
                );
                let ended = match next {
                    Next::After(d) => Ended::After(d),
                    Next::Retry => Ended::Failed {
                        interval: platform.interval(),
                    },
                    Next::RetryAfter(d) => Ended::RetryAfter(d),
                    Next::AwaitChange => Ended::AwaitChange,
                };
                ((platform.namespace.clone(), platform.name.clone()), ended)
            }, span));
        }
        let sleep = queue
            .next_due()
            .map(|at| at.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(3600));

        tokio::select! {
            _ = &mut terminate => break,
            changed = leadership.changed() => {
                if changed.is_err() {
                    break;
                }
                let now = leadership.borrow().clone();
                health.set_leadership_known(now.is_known());
                if !now.is_leader() && !tasks.is_empty() {
                    // A leader that lost its Lease stops writing at once;
                    // the new leader (or this one, re-elected) redoes it.
                    tracing::warn!(in_flight = tasks.len(), "lost leadership: stopping reconciles in flight");
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                    queue.requeue_running(Instant::now());
                }
            }
            event = watch.next() => match event {
                Some(Ok(event)) => {
                    if matches!(event, watcher::Event::InitDone) {
                        health.set_caches_synced(true);
                    }
                    let leading = leader::is_leader(&leadership);
                    on_watch(event, &mut known, &mut queue, &shared, leading)
                }
                Some(Err(e)) => tracing::warn!("watching Platforms: {e}"),
                None => break,
            },
            Some(trigger) = trigger_rx.recv() => {
                let key = (trigger.namespace, trigger.name);
                if !known.contains_key(&key) {
                    continue;
                }
                if leader::is_leader(&leadership) {
                    tracing::info!(platform = %key.1, namespace = %key.0, "webhook: reconcile requested");
                    queue.now(key, Instant::now());
                } else {
                    // A Service sends the push to any replica. A standby
                    // passes it on to the leader the way `distro reconcile`
                    // does, through the requestedAt annotation the leader
                    // watches; it reconciles nothing itself.
                    tokio::spawn(pass_to_leader(Arc::clone(&shared), key));
                }
            }
            Some(done) = tasks.join_next(), if !tasks.is_empty() => match done {
                Ok((key, ended)) => queue.ended(key, ended, Instant::now()),
                Err(e) => tracing::error!("a reconcile task failed: {e}"),
            },
            _ = tokio::time::sleep(sleep) => {}
        }
    }

    // Stop taking work; let what is in flight finish, within the bound.
    tracing::info!(
        in_flight = tasks.len(),
        "shutting down: finishing reconciles in flight"
    );
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(settings.shutdown_timeout, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("reconciles still running after the shutdown timeout; stopping them");
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    drop(sole_writer);
    // Now hand the Lease over (bounded by the elector's renew deadline).
    let _ = release_tx.send(true);
    if let Some(task) = elector_task {
        let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
    }
    Ok(())
}

/// What makes a Platform run now: a new generation (spec change), a new
/// `requestedAt`, or a new object under the same name.
type Fingerprint = (Option<i64>, Option<String>, Option<String>);

fn fingerprint(p: &Platform) -> Fingerprint {
    (p.generation, p.requested_at.clone(), p.uid.clone())
}

fn on_watch(
    event: watcher::Event<kube::api::DynamicObject>,
    known: &mut HashMap<Key, (Platform, Fingerprint)>,
    queue: &mut Queue,
    shared: &Arc<Shared>,
    leading: bool,
) {
    match event {
        watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => {
            let platform = match Platform::from_object(&obj) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!("{e}");
                    return;
                }
            };
            let key = (platform.namespace.clone(), platform.name.clone());
            shared.drift.update(&platform);
            let print = fingerprint(&platform);
            let changed = known.get(&key).is_none_or(|(_, old)| *old != print);
            if changed && !leading {
                // The leader registers webhook receivers as it reconciles;
                // a standby reconciles nothing, yet a Service may send it
                // pushes to pass on (see `pass_to_leader`).
                let (shared, platform) = (Arc::clone(shared), platform.clone());
                tokio::spawn(async move {
                    reconcile::register_webhook(&shared, &platform).await;
                });
            }
            known.insert(key.clone(), (platform, print));
            if changed {
                queue.now(key, Instant::now());
            }
        }
        watcher::Event::Delete(obj) => {
            let key = (
                obj.metadata.namespace.clone().unwrap_or_default(),
                obj.metadata.name.clone().unwrap_or_default(),
            );
            shared.registry.remove(&key.0, &key.1);
            shared.drift.forget(&key);
            shared.renders.forget(&key);
            known.remove(&key);
            queue.forget(&key);
        }
        watcher::Event::Init | watcher::Event::InitDone => {}
    }
}

/// Resolves on SIGTERM (how Kubernetes stops a pod) or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Asks the leader to reconcile a Platform a webhook call named, by setting
/// its `reconcile.distro.dev/requestedAt` annotation.
async fn pass_to_leader(shared: Arc<Shared>, (namespace, name): Key) {
    let requested = crate::status::now_precise();
    let patch = serde_json::json!({
        "metadata": {"annotations": {platform::REQUESTED_AT_ANNOTATION: requested}}
    });
    match platform::merge(&shared.client, &namespace, &name, &patch).await {
        Ok(_) => tracing::info!(platform = %name, %namespace, "webhook: passed to the leader"),
        Err(e) => {
            tracing::warn!(platform = %name, %namespace, "webhook: cannot pass to the leader: {e}")
        }
    }
}

//! Drift: the controller watches what it applied and sets back what
//! someone else changed or deleted.
//!
//! - Every object a reconcile applies (or finds unchanged) is recorded with
//!   its rendered digest and the resourceVersion the API server gave it
//!   ([`RunLedger`], an [`apply::Ledger`]). A Platform's records are
//!   replaced when its reconcile ends ([`Drift::commit`]).
//! - One watch per kind (apiVersion + kind) that the records hold, selected
//!   by the `distro.dev/release` label, feeds a cache ([`cache`]). A kind's
//!   watch starts when the first record of it appears and stops when the
//!   last one goes.
//! - A watch event about a recorded object whose content moved (not only
//!   its status) is checked by [`correct`]: a server-side dry run names the
//!   fields that differ, then the object alone is applied again, and an
//!   Event on its Release and Platform says what was set back.
//! - The same records let a reconcile of an unchanged revision skip every
//!   object nobody touched: no read, no dry run ([`apply::Ledger`]).
//!
//! # Guarantees
//! - Only the leader corrects; a suspended Platform is not corrected; a
//!   Platform's objects are corrected with its `serviceAccountName`.
//! - A correction never runs while its Platform reconciles (a per-Platform
//!   lock); what changed meanwhile is looked at once the reconcile ends.
//! - Objects annotated `distro.dev/reconcile: disabled` are left alone.
//! - An object changed back after every correction is corrected less and
//!   less often ([`fight`]), with a warning Event that says so.

mod cache;
mod correct;
mod fields;
mod fight;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::events::Recorder;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::{OwnedRwLockWriteGuard, RwLock, mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};

use super::leader::Leadership;
use super::metrics::{Health, Metrics};
use super::platform::Platform;
use super::queue::Key;
use crate::apply::{self, Known, Ledger, Lookup, ObjectKey, Record};
use crate::slim::SlimObject;

/// Corrections running at the same time.
const CHECK_CONCURRENCY: usize = 4;

/// How long one correction (a dry run and an apply) may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// Objects per list request when a watch (re)lists its kind. A list page
/// is held parsed, whole, until the cache took it in; the watches of every
/// kind list at once.
const LIST_PAGE: u32 = 100;

/// A watched kind: `(apiVersion, kind)` as the API server serves it.
type Kind = (String, String);

/// What the watches tell the checker.
#[derive(Debug)]
enum Seen {
    /// An object of a watched kind was added, changed or deleted.
    Object(ObjectKey),
    /// A watch has (re)listed its kind: look at every object of it.
    Synced(Kind),
    /// A Platform's records were replaced: look at every object of it.
    Committed(Key),
}

/// What the records of one kind share: one allocation per kind, not one
/// per object.
#[derive(Debug)]
struct KindInfo {
    id: Kind,
    resource: ApiResource,
    namespaced: bool,
}

/// What distro last applied of one object. Held for every object between
/// reconciles, so what objects share (their Platform, release and kind) is
/// shared, and what the record's key says (the name) is not repeated.
#[derive(Debug, Clone)]
struct Managed {
    platform: Arc<Key>,
    /// The release (namespace, name), where Events go.
    release: Arc<(String, String)>,
    kind: Arc<KindInfo>,
    /// The object as rendered, as compact JSON: text rather than a parsed
    /// tree (a few times smaller); a correction parses it.
    desired: Arc<str>,
    /// The rendered digest applied.
    digest: Box<str>,
    /// The resourceVersion last seen to hold what distro applied.
    resource_version: Option<String>,
    /// [`fields::content`] of that version.
    content: [u8; 32],
}

impl Managed {
    /// Its entry in its kind's cache.
    fn cached(&self, key: &ObjectKey, cache: &cache::Cache) -> Option<cache::Cached> {
        let namespace = key.namespace.as_deref().filter(|_| self.kind.namespaced);
        cache.get(namespace, &key.name)
    }

    /// Whether `live` still holds what distro applied; refreshes the
    /// recorded resourceVersion when only what apply never sets moved.
    fn holds(&mut self, live: &cache::Cached) -> bool {
        if live.live.metadata.resource_version == self.resource_version {
            return true;
        }
        if live.content == self.content {
            self.resource_version = live.live.metadata.resource_version.clone();
            return true;
        }
        false
    }
}

/// One Platform as drift correction sees it.
struct Tenant {
    /// The Platform's uid, for its Events.
    uid: Option<String>,
    suspended: bool,
    service_account: Option<String>,
    /// Its clients (impersonating `serviceAccountName`); `None` until its
    /// first reconcile, or after its ServiceAccount changed.
    clients: Option<apply::Clients>,
    /// Held for writing while the Platform reconciles.
    lock: Arc<RwLock<()>>,
    /// Whether a reconcile recorded its objects.
    committed: bool,
}

/// One watch and its cache.
struct Watch {
    cache: cache::Cache,
    synced: Arc<AtomicBool>,
    task: AbortHandle,
}

#[derive(Default)]
struct State {
    tenants: HashMap<Key, Tenant>,
    objects: HashMap<ObjectKey, Managed>,
    watches: HashMap<Kind, Watch>,
}

struct Inner {
    /// The controller's own client: the watches read as the controller.
    client: kube::Client,
    state: Mutex<State>,
    seen: mpsc::UnboundedSender<Seen>,
    health: Health,
    metrics: Arc<Metrics>,
    recorder: Recorder,
    leadership: watch::Receiver<Leadership>,
}

/// Drift detection and correction, shared by the run loop and every
/// reconcile. Cloning shares it.
#[derive(Clone)]
pub struct Drift {
    inner: Arc<Inner>,
}

/// Runs the checker; ends when every [`Drift`] is dropped or `stop` ends.
pub struct Checker {
    inner: Arc<Inner>,
    seen: mpsc::UnboundedReceiver<Seen>,
}

impl Drift {
    /// A drift corrector with no records yet, and its checker (to spawn).
    pub fn new(
        client: kube::Client,
        health: Health,
        metrics: Arc<Metrics>,
        recorder: Recorder,
        leadership: watch::Receiver<Leadership>,
    ) -> (Drift, Checker) {
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            client,
            state: Mutex::default(),
            seen: tx,
            health,
            metrics,
            recorder,
            leadership,
        });
        let checker = Checker {
            inner: Arc::clone(&inner),
            seen: rx,
        };
        (Drift { inner }, checker)
    }

    /// Whether a reconcile of the Platform recorded its objects since this
    /// process started: until then, a reconcile must apply (and so record)
    /// even an unchanged revision.
    pub fn knows(&self, platform: &Platform) -> bool {
        let key = (platform.namespace.clone(), platform.name.clone());
        self.inner
            .lock()
            .tenants
            .get(&key)
            .is_some_and(|t| t.committed)
    }

    /// The Platform object changed: follow its `suspend`, and stop using
    /// its clients when its ServiceAccount changed (until it reconciles).
    pub fn update(&self, platform: &Platform) {
        update(&mut self.inner.lock(), platform);
    }

    /// The Platform was deleted: forget its objects (they are not
    /// corrected any more) and stop the watches nobody needs.
    pub fn forget(&self, key: &Key) {
        let mut state = self.inner.lock();
        state.tenants.remove(key);
        state.objects.retain(|_, m| *m.platform != *key);
        self.inner.sync_watches(&mut state);
    }

    /// Starts recording a reconcile of `platform`, which applies with
    /// `clients`. Waits for corrections of the Platform in flight to end,
    /// and keeps new ones from starting until the ledger is committed or
    /// dropped.
    pub async fn begin(&self, platform: &Platform, clients: &apply::Clients) -> Arc<RunLedger> {
        let key = (platform.namespace.clone(), platform.name.clone());
        let lock = {
            let mut state = self.inner.lock();
            let tenant = update(&mut state, platform);
            tenant.clients = Some(clients.clone());
            Arc::clone(&tenant.lock)
        };
        let guard = lock.write_owned().await;
        Arc::new(RunLedger {
            inner: Arc::clone(&self.inner),
            platform: Arc::new(key),
            entries: Mutex::default(),
            guard: Mutex::new(Some(guard)),
        })
    }

    /// The reconcile recorded in `ledger` applied: its records replace the
    /// Platform's (what it no longer applies is no longer corrected), the
    /// watches follow, and whatever changed during the reconcile is looked
    /// at now.
    pub fn commit(&self, ledger: &RunLedger) {
        let entries = std::mem::take(&mut lock(&ledger.entries).records);
        {
            let mut state = self.inner.lock();
            let key = &*ledger.platform;
            state.objects.retain(|_, m| *m.platform != *key);
            // Grown once to its size, not doubled step by step (each step
            // holds the old table and the new one at once).
            state.objects.reserve(entries.len());
            state.objects.extend(entries);
            if let Some(t) = state.tenants.get_mut(key) {
                t.committed = true;
            }
            self.inner.sync_watches(&mut state);
        }
        drop(lock(&ledger.guard).take());
        let _ = self
            .inner
            .seen
            .send(Seen::Committed((*ledger.platform).clone()));
    }
}

/// Follows the Platform object in its tenant (created on first sight).
fn update<'a>(state: &'a mut State, platform: &Platform) -> &'a mut Tenant {
    let key = (platform.namespace.clone(), platform.name.clone());
    let tenant = state.tenants.entry(key).or_insert_with(|| Tenant {
        uid: None,
        suspended: false,
        service_account: None,
        clients: None,
        lock: Arc::default(),
        committed: false,
    });
    tenant.uid = platform.uid.clone();
    tenant.suspended = platform.spec.suspend;
    if tenant.service_account != platform.spec.service_account_name {
        tenant.service_account = platform.spec.service_account_name.clone();
        tenant.clients = None;
    }
    tenant
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks, so a poisoned one still
    // holds consistent data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Starts a watch for every kind the records hold and stops the others;
    /// readiness follows whether every watch has listed its kind.
    fn sync_watches(self: &Arc<Self>, state: &mut State) {
        let mut needed: HashMap<Kind, ApiResource> = HashMap::new();
        for m in state.objects.values() {
            needed
                .entry(m.kind.id.clone())
                .or_insert_with(|| m.kind.resource.clone());
        }
        state.watches.retain(|kind, w| {
            let keep = needed.contains_key(kind);
            if !keep {
                tracing::info!(api_version = %kind.0, kind = %kind.1, "drift: watch stopped");
                w.task.abort();
            }
            keep
        });
        for (kind, resource) in needed {
            if state.watches.contains_key(&kind) {
                continue;
            }
            tracing::info!(api_version = %kind.0, kind = %kind.1, "drift: watch started");
            let w = spawn_watch(
                Arc::downgrade(self),
                self.client.clone(),
                kind.clone(),
                resource,
            );
            state.watches.insert(kind, w);
        }
        self.update_health(state);
    }

    fn update_health(&self, state: &State) {
        let synced = state
            .watches
            .values()
            .all(|w| w.synced.load(Ordering::Relaxed));
        self.health.set_drift_synced(synced);
    }

    /// The ledger's question (see [`apply::Ledger::lookup`]).
    fn lookup(&self, platform: &Key, key: &ObjectKey, digest: &str) -> Lookup {
        let mut state = self.lock();
        let State {
            objects, watches, ..
        } = &mut *state;
        let Some(m) = objects.get_mut(key) else {
            return Lookup::Unknown;
        };
        if *m.platform != *platform || *m.digest != *digest {
            return Lookup::Unknown;
        }
        let Some(w) = watches.get(&m.kind.id) else {
            return Lookup::Unknown;
        };
        if !w.synced.load(Ordering::Relaxed) {
            return Lookup::Unknown;
        }
        match m.cached(key, &w.cache) {
            Some(live) if m.holds(&live) => Lookup::Unchanged(Box::new(Known {
                live: Arc::clone(&live.live),
                current: live.current,
                resource: m.kind.resource.clone(),
                namespaced: m.kind.namespaced,
            })),
            _ => Lookup::Drifted,
        }
    }

    /// Whether `key` may have drifted (the cache shows content distro did
    /// not apply, or no object at all), without asking the API server.
    fn suspect(&self, key: &ObjectKey) -> bool {
        let mut state = self.lock();
        let State {
            objects, watches, ..
        } = &mut *state;
        let Some(m) = objects.get_mut(key) else {
            return false;
        };
        let Some(w) = watches.get(&m.kind.id) else {
            return false;
        };
        if !w.synced.load(Ordering::Relaxed) {
            return false;
        }
        match m.cached(key, &w.cache) {
            Some(live) => !apply::reconcile_disabled(&live.live) && !m.holds(&live),
            None => true,
        }
    }

    /// Forgets every record: another replica may apply new revisions while
    /// this one does not lead, and records of what this one applied would
    /// then set the cluster back to an older revision. Each Platform
    /// applies in full (and records again) when this replica leads again.
    fn forget_all(self: &Arc<Self>) {
        let mut state = self.lock();
        state.objects.clear();
        for tenant in state.tenants.values_mut() {
            tenant.committed = false;
        }
        self.sync_watches(&mut state);
    }

    /// The recorded objects of one kind or of one Platform.
    fn keys(&self, filter: impl Fn(&Managed) -> bool) -> Vec<ObjectKey> {
        self.lock()
            .objects
            .iter()
            .filter(|(_, m)| filter(m))
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// Starts the watch of one kind, across namespaces, of the objects
/// labelled with a release.
fn spawn_watch(
    inner: std::sync::Weak<Inner>,
    client: kube::Client,
    kind: Kind,
    resource: ApiResource,
) -> Watch {
    let cache = cache::Cache::new(kube::api::TypeMeta {
        api_version: resource.api_version.clone(),
        kind: resource.kind.clone(),
    });
    let filled = cache.clone();
    let synced = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&synced);
    let api: Api<SlimObject> = Api::all_with(client, &resource);
    let config = watcher::Config::default()
        .labels(crate::render::RELEASE_LABEL)
        .page_size(LIST_PAGE);
    let task = tokio::spawn(async move {
        let stream = watcher(api, config).default_backoff();
        let mut stream = std::pin::pin!(stream);
        // A (re)list fills this, then replaces the cache at once.
        let mut listed: Option<HashMap<cache::Name, cache::Cached>> = None;
        while let Some(event) = stream.next().await {
            let Some(inner) = inner.upgrade() else { return };
            match event {
                Ok(watcher::Event::Apply(SlimObject(o))) => {
                    let key = object_key(&resource, &o);
                    filled.apply(o);
                    let _ = inner.seen.send(Seen::Object(key));
                }
                Ok(watcher::Event::Delete(SlimObject(o))) => {
                    filled.delete(&o);
                    let _ = inner.seen.send(Seen::Object(object_key(&resource, &o)));
                }
                Ok(watcher::Event::Init) => listed = Some(HashMap::new()),
                Ok(watcher::Event::InitApply(SlimObject(o))) => {
                    let (name, cached) = filled.entry(o);
                    listed.get_or_insert_default().insert(name, cached);
                }
                Ok(watcher::Event::InitDone) => {
                    filled.replace(listed.take().unwrap_or_default());
                    flag.store(true, Ordering::Relaxed);
                    inner.update_health(&inner.lock());
                    let _ = inner.seen.send(Seen::Synced(kind.clone()));
                }
                Err(e) => {
                    tracing::warn!(api_version = %kind.0, kind = %kind.1, "drift: watch failed: {e}")
                }
            }
        }
    });
    Watch {
        cache,
        synced,
        task: task.abort_handle(),
    }
}

fn object_key(resource: &ApiResource, o: &DynamicObject) -> ObjectKey {
    ObjectKey {
        group: resource.group.clone(),
        kind: resource.kind.clone(),
        namespace: o.metadata.namespace.clone(),
        name: o.metadata.name.clone().unwrap_or_default(),
    }
}

/// The records of one reconcile, and the lock that keeps corrections of
/// its Platform out while it runs.
pub struct RunLedger {
    inner: Arc<Inner>,
    platform: Arc<Key>,
    entries: Mutex<Entries>,
    guard: Mutex<Option<OwnedRwLockWriteGuard<()>>>,
}

/// The records of one reconcile, and what they share.
#[derive(Default)]
struct Entries {
    records: Vec<(ObjectKey, Managed)>,
    releases: HashMap<(String, String), Arc<(String, String)>>,
    kinds: HashMap<Kind, Arc<KindInfo>>,
}

impl RunLedger {
    /// [`fields::content`] of `live`. An object the ledger vouched for
    /// comes from a cache, which keeps its digest but maybe not its body:
    /// the same resourceVersion is the same content.
    fn content_of(&self, key: &ObjectKey, live: &DynamicObject) -> [u8; 32] {
        let state = self.inner.lock();
        match state.objects.get(key) {
            Some(m)
                if m.resource_version.is_some()
                    && m.resource_version == live.metadata.resource_version =>
            {
                m.content
            }
            _ => fields::content(live),
        }
    }
}

impl Ledger for RunLedger {
    fn lookup(&self, key: &ObjectKey, digest: &str) -> Lookup {
        self.inner.lookup(&self.platform, key, digest)
    }

    /// Keeps what drift needs of the object, no copy of it: its rendered
    /// form as text, and a digest of its live content.
    fn record(&self, record: Record<'_>) {
        let content = self.content_of(record.key, record.live);
        let desired: Arc<str> = serde_json::to_string(record.desired)
            .unwrap_or_default()
            .into();
        let mut entries = lock(&self.entries);
        // One shared value per release and per kind, made the first time.
        let (release_namespace, release_name) = record.release;
        let release = Arc::clone(
            entries
                .releases
                .entry((release_namespace.to_string(), release_name.to_string()))
                .or_insert_with_key(|k| Arc::new(k.clone())),
        );
        let id = (
            record.resource.api_version.clone(),
            record.resource.kind.clone(),
        );
        let kind = Arc::clone(entries.kinds.entry(id).or_insert_with_key(|id| {
            Arc::new(KindInfo {
                id: id.clone(),
                resource: record.resource.clone(),
                namespaced: record.namespaced,
            })
        }));
        let managed = Managed {
            platform: Arc::clone(&self.platform),
            release,
            kind,
            desired,
            digest: record.digest.into(),
            resource_version: record.live.metadata.resource_version.clone(),
            content,
        };
        entries.records.push((record.key.clone(), managed));
    }

    fn keep(&self, release: (&str, &str), key: &ObjectKey) {
        let kept = {
            let state = self.inner.lock();
            state
                .objects
                .get(key)
                .filter(|m| *m.platform == *self.platform)
                .cloned()
        };
        // The run holds its Platform's lock: nothing replaced the record
        // `lookup` vouched for since.
        let Some(mut managed) = kept else {
            tracing::debug!(object = %key, "drift: no record to keep");
            return;
        };
        let mut entries = lock(&self.entries);
        if (managed.release.0.as_str(), managed.release.1.as_str()) != release {
            let (namespace, name) = release;
            managed.release = Arc::clone(
                entries
                    .releases
                    .entry((namespace.to_string(), name.to_string()))
                    .or_insert_with_key(|k| Arc::new(k.clone())),
            );
        }
        entries.records.push((key.clone(), managed));
    }
}

impl Checker {
    /// Checks suspect objects as watch events arrive, a few at a time,
    /// until `stop` completes.
    pub async fn run(mut self, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        let mut leadership = self.inner.leadership.clone();
        let mut queued: BTreeSet<ObjectKey> = BTreeSet::new();
        let mut running: HashMap<tokio::task::Id, ObjectKey> = HashMap::new();
        let mut tasks: JoinSet<bool> = JoinSet::new();
        let mut fights = fight::Fights::default();
        loop {
            // Start what is queued, not already being checked and not
            // waiting out a fight.
            let now = Instant::now();
            let busy: HashSet<&ObjectKey> = running.values().collect();
            let ready: Vec<ObjectKey> = queued
                .iter()
                .filter(|k| !busy.contains(k))
                .filter(|k| fights.not_before(k).is_none_or(|t| t <= now))
                .take(CHECK_CONCURRENCY.saturating_sub(tasks.len()))
                .cloned()
                .collect();
            for key in ready {
                queued.remove(&key);
                let inner = Arc::clone(&self.inner);
                let k = key.clone();
                let handle = tasks.spawn(async move {
                    match tokio::time::timeout(CHECK_TIMEOUT, correct::correct(&inner, &k)).await {
                        Ok(wrote) => wrote,
                        Err(_) => {
                            tracing::warn!(object = %k, "drift: correction timed out");
                            false
                        }
                    }
                });
                running.insert(handle.id(), key);
            }
            // The next queued object whose wait ends.
            let wake = queued
                .iter()
                .filter_map(|k| fights.not_before(k))
                .filter(|t| *t > now)
                .min();
            tokio::select! {
                _ = &mut stop => break,
                () = sleep_until(wake), if wake.is_some() => {}
                changed = leadership.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    if !leadership.borrow_and_update().is_leader() {
                        queued.clear();
                        self.inner.forget_all();
                    }
                }
                seen = self.seen.recv() => {
                    let Some(seen) = seen else { break };
                    let keys = match seen {
                        Seen::Object(key) => vec![key],
                        Seen::Synced(kind) => self.inner.keys(|m| m.kind.id == kind),
                        Seen::Committed(platform) => self.inner.keys(|m| *m.platform == platform),
                    };
                    for key in keys {
                        if self.inner.suspect(&key) {
                            queued.insert(key);
                        }
                    }
                }
                Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    let (id, wrote) = match &done {
                        Ok((id, wrote)) => (*id, *wrote),
                        Err(e) => (e.id(), false),
                    };
                    let Some(key) = running.remove(&id) else { continue };
                    if wrote {
                        let streak = fights.corrected(&key, Instant::now());
                        if let Some(wait) = fight::wait(streak) {
                            correct::backing_off(&self.inner, &key, streak, wait).await;
                        }
                    }
                    if queued.contains(&key) && !self.inner.suspect(&key) {
                        // Changed while being checked, and set right since.
                        queued.remove(&key);
                    }
                }
            }
        }
        tasks.abort_all();
    }
}

/// Sleeps until `at` (forever when `None`; the caller's guard keeps that
/// branch off then).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

//! What the controller tells Prometheus and the kubelet: the metric
//! families of [`Metrics`] served on `GET /metrics`, and the liveness and
//! readiness of [`Health`] on `GET /healthz` and `GET /readyz`.
//!
//! | family | type | labels |
//! |---|---|---|
//! | `distro_reconcile_duration_seconds` | histogram | kind, name, namespace |
//! | `distro_reconcile_condition` | gauge | kind, name, namespace, type, status |
//! | `distro_source_fetch_duration_seconds` | histogram | kind (git, oci), name, namespace |
//! | `distro_apply_objects_total` | counter | action |
//! | `distro_webhook_requests_total` | counter | type, result |
//! | `distro_drift_corrections_total` | counter | |
//!
//! `distro_reconcile_condition` follows Flux's `gotk_reconcile_condition`:
//! for every condition type of an object, the series of its current status
//! is 1 and those of the other statuses are 0, so `== 1` selects the
//! current state and a status change is visible as a pair of flips.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::apply::{Action, ChangeSet};
use crate::controller::webhook::{HookType, Outcome};
use crate::status::ConditionStatus;

/// Upper bounds of the reconcile histogram: a no-op reconcile takes well
/// under a second, a cold install of a platform minutes.
const RECONCILE_BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Upper bounds of the fetch histogram: listing refs is a round trip, a
/// first clone of a large repository can take a minute or two.
const FETCH_BUCKETS: [f64; 11] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

/// Every action a change set can report, so that each counter exists (at
/// 0) from the first scrape and `rate()` sees its first increment.
const ACTIONS: [Action; 6] = [
    Action::Created,
    Action::Configured,
    Action::Unchanged,
    Action::Recreated,
    Action::Deleted,
    Action::Skipped,
];

const STATUSES: [ConditionStatus; 3] = [
    ConditionStatus::True,
    ConditionStatus::False,
    ConditionStatus::Unknown,
];

/// `Content-Type` of the OpenMetrics text format.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `Content-Type` of the Prometheus text format (0.0.4).
pub const PROMETHEUS_CONTENT_TYPE: &str =
    prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The text formats `/metrics` answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0, for scrapers that ask for it in `Accept`.
    OpenMetrics,
    /// Prometheus text 0.0.4, for everyone else.
    Prometheus,
}

impl Format {
    /// The format a request's `Accept` header asks for: OpenMetrics when it
    /// names it, since every client that can read it says so.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Prometheus => PROMETHEUS_CONTENT_TYPE,
        }
    }
}

/// The object a series is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ObjectLabels {
    kind: String,
    name: String,
    namespace: String,
}

impl ObjectLabels {
    fn new(kind: &str, namespace: &str, name: &str) -> Self {
        ObjectLabels {
            kind: kind.to_owned(),
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ConditionLabels {
    kind: String,
    name: String,
    namespace: String,
    r#type: String,
    status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ActionLabels {
    action: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WebhookLabels {
    r#type: String,
    result: String,
}

type Histograms = Family<ObjectLabels, Histogram, fn() -> Histogram>;

/// The controller's metric families, in one registry. Shared as
/// `Arc<Metrics>`; every method takes `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconcile_duration: Histograms,
    reconcile_condition: Family<ConditionLabels, Gauge>,
    fetch_duration: Histograms,
    apply_objects: Family<ActionLabels, Counter>,
    webhook_requests: Family<WebhookLabels, Counter>,
    drift_corrections: Counter,
    /// Condition types set per object, so that [`Metrics::forget`] can
    /// find their series (a family cannot be listed).
    condition_types: Mutex<HashMap<ObjectLabels, BTreeSet<String>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let reconcile_duration: Histograms =
            Family::new_with_constructor(|| Histogram::new(RECONCILE_BUCKETS));
        let fetch_duration: Histograms =
            Family::new_with_constructor(|| Histogram::new(FETCH_BUCKETS));
        let reconcile_condition = Family::<ConditionLabels, Gauge>::default();
        let apply_objects = Family::<ActionLabels, Counter>::default();
        let webhook_requests = Family::<WebhookLabels, Counter>::default();
        let drift_corrections = Counter::default();

        let mut registry = Registry::default();
        // Counter names go in without `_total`; the encoder appends it.
        registry.register_with_unit(
            "distro_reconcile_duration",
            "How long reconciling one object took",
            Unit::Seconds,
            reconcile_duration.clone(),
        );
        registry.register(
            "distro_reconcile_condition",
            "The status of each condition of an object: 1 for the current status, 0 for the others",
            reconcile_condition.clone(),
        );
        registry.register_with_unit(
            "distro_source_fetch_duration",
            "How long checking and fetching a source took",
            Unit::Seconds,
            fetch_duration.clone(),
        );
        registry.register(
            "distro_apply_objects",
            "Objects handled by apply and prune, by what was done to them",
            apply_objects.clone(),
        );
        registry.register(
            "distro_webhook_requests",
            "Webhook requests to a registered path, by hook type and result",
            webhook_requests.clone(),
        );
        registry.register(
            "distro_drift_corrections",
            "Objects changed in the cluster by someone else and set back",
            drift_corrections.clone(),
        );

        for action in ACTIONS {
            apply_objects.get_or_create_owned(&ActionLabels {
                action: action.to_string(),
            });
        }
        for kind in HookType::ALL {
            for outcome in Outcome::ALL {
                webhook_requests.get_or_create_owned(&WebhookLabels {
                    r#type: kind.as_str().to_owned(),
                    result: outcome.as_str().to_owned(),
                });
            }
        }

        Metrics {
            registry,
            reconcile_duration,
            reconcile_condition,
            fetch_duration,
            apply_objects,
            webhook_requests,
            drift_corrections,
            condition_types: Mutex::new(HashMap::new()),
        }
    }

    /// One reconcile of `kind` `namespace/name` took `took`.
    pub fn observe_reconcile(&self, kind: &str, namespace: &str, name: &str, took: Duration) {
        self.reconcile_duration
            .get_or_create(&ObjectLabels::new(kind, namespace, name))
            .observe(took.as_secs_f64());
    }

    /// The condition `type_` of `kind` `namespace/name` is now `status`:
    /// its series for `status` becomes 1 and those for the other statuses 0.
    pub fn set_condition(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        type_: &str,
        status: ConditionStatus,
    ) {
        for other in STATUSES {
            let labels = ConditionLabels {
                kind: kind.to_owned(),
                name: name.to_owned(),
                namespace: namespace.to_owned(),
                r#type: type_.to_owned(),
                status: other.to_string(),
            };
            self.reconcile_condition
                .get_or_create(&labels)
                .set(i64::from(other == status));
        }
        self.condition_types
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(ObjectLabels::new(kind, namespace, name))
            .or_default()
            .insert(type_.to_owned());
    }

    /// Fetching the source (`kind` `git` or `oci`) of `namespace/name`
    /// took `took`, whether or not anything new came of it.
    pub fn observe_fetch(&self, kind: &str, namespace: &str, name: &str, took: Duration) {
        self.fetch_duration
            .get_or_create(&ObjectLabels::new(kind, namespace, name))
            .observe(took.as_secs_f64());
    }

    /// `n` objects had `action` done to them.
    pub fn inc_apply(&self, action: Action, n: u64) {
        self.apply_objects
            .get_or_create(&ActionLabels {
                action: action.to_string(),
            })
            .inc_by(n);
    }

    /// Counts every change of `changes` by its action.
    pub fn record_changes(&self, changes: &ChangeSet) {
        for action in ACTIONS {
            let n = changes.count(action) as u64;
            if n > 0 {
                self.inc_apply(action, n);
            }
        }
    }

    /// A request to a `kind` hook ended in `outcome`.
    pub fn inc_webhook(&self, kind: HookType, outcome: Outcome) {
        self.webhook_requests
            .get_or_create(&WebhookLabels {
                r#type: kind.as_str().to_owned(),
                result: outcome.as_str().to_owned(),
            })
            .inc();
    }

    /// How many requests to a `kind` hook ended in `outcome` so far.
    pub fn webhook_requests(&self, kind: HookType, outcome: Outcome) -> u64 {
        self.webhook_requests
            .get_or_create(&WebhookLabels {
                r#type: kind.as_str().to_owned(),
                result: outcome.as_str().to_owned(),
            })
            .get()
    }

    /// `n` drifted objects were set back.
    pub fn inc_drift_corrections(&self, n: u64) {
        self.drift_corrections.inc_by(n);
    }

    /// Drops every series about `kind` `namespace/name` (durations and
    /// conditions), for an object that was deleted: otherwise its last
    /// values would be scraped for as long as the process runs.
    pub fn forget(&self, kind: &str, namespace: &str, name: &str) {
        let object = ObjectLabels::new(kind, namespace, name);
        self.reconcile_duration.remove(&object);
        let types = self
            .condition_types
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&object)
            .unwrap_or_default();
        for type_ in types {
            for status in STATUSES {
                self.reconcile_condition.remove(&ConditionLabels {
                    kind: kind.to_owned(),
                    name: name.to_owned(),
                    namespace: namespace.to_owned(),
                    r#type: type_.clone(),
                    status: status.to_string(),
                });
            }
        }
        // Source fetches are labelled with the source kind, not the
        // object's kind.
        for source in ["git", "oci"] {
            self.fetch_duration
                .remove(&ObjectLabels::new(source, namespace, name));
        }
    }

    /// Every family, in `format`.
    ///
    /// # Errors
    /// Only if encoding fails, which writing to a `String` does not.
    pub fn encode(&self, format: Format) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut text, &self.registry)?
            }
            Format::Prometheus => {
                prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
            }
        }
        Ok(text)
    }
}

/// `GET /metrics`, in the format the `Accept` header asks for.
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(not_found)
        .with_state(metrics)
}

/// Serve [`metrics_router`] on `listener` until `shutdown` completes.
///
/// # Errors
/// Whatever accepting or serving connections fails with.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, metrics_router(metrics))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn scrape(State(metrics): State<Arc<Metrics>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    match metrics.encode(format) {
        Ok(text) => ([(header::CONTENT_TYPE, format.content_type())], text).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "encoding metrics failed").into_response(),
    }
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

/// Liveness and readiness, shared between whoever learns them (the watch
/// caches, the elector) and the health server. Cloning shares the state.
#[derive(Debug, Clone, Default)]
pub struct Health {
    state: Arc<HealthState>,
}

#[derive(Debug, Default)]
struct HealthState {
    caches_synced: AtomicBool,
    leadership_known: AtomicBool,
    /// The drift watches have all listed their kinds (true while there
    /// are none).
    drift_pending: AtomicBool,
}

impl Health {
    /// Not ready: nothing synced, leadership unknown.
    pub fn new() -> Self {
        Health::default()
    }

    /// The watch caches have (or no longer have) their initial lists.
    pub fn set_caches_synced(&self, synced: bool) {
        self.state.caches_synced.store(synced, Ordering::Relaxed);
    }

    /// Every drift watch has (or not) listed its kind at least once.
    pub fn set_drift_synced(&self, synced: bool) {
        self.state.drift_pending.store(!synced, Ordering::Relaxed);
    }

    /// The elector knows (or no longer knows) whether this replica leads
    /// or stands by; either answer is ready.
    pub fn set_leadership_known(&self, known: bool) {
        self.state.leadership_known.store(known, Ordering::Relaxed);
    }

    /// `Ok` when ready; otherwise what is missing, for the 503 body.
    ///
    /// # Errors
    /// The reasons the process is not ready, comma-separated.
    pub fn readiness(&self) -> Result<(), String> {
        let mut missing = Vec::new();
        if !self.state.caches_synced.load(Ordering::Relaxed) {
            missing.push("caches not synced");
        }
        if self.state.drift_pending.load(Ordering::Relaxed) {
            missing.push("drift caches not synced");
        }
        if !self.state.leadership_known.load(Ordering::Relaxed) {
            missing.push("leadership not known");
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing.join(", "))
        }
    }
}

/// `GET /healthz` (200 while the process serves) and `GET /readyz` (200
/// when [`Health::readiness`] is `Ok`, else 503 and the reasons).
pub fn health_router(health: Health) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .with_state(health)
}

/// Serve [`health_router`] on `listener` until `shutdown` completes.
///
/// # Errors
/// Whatever accepting or serving connections fails with.
pub async fn serve_health(
    listener: tokio::net::TcpListener,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, health_router(health))
        .with_graceful_shutdown(shutdown)
        .await
}

// Liveness says only that the runtime still answers: restarting a process
// that is waiting for the API server or for leadership would not help it.
async fn healthz() -> Response {
    (StatusCode::OK, "ok").into_response()
}

async fn readyz(State(health): State<Health>) -> Response {
    match health.readiness() {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(reasons) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reasons}"),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};

    use tokio::net::TcpListener;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use super::*;

    const WAIT: Duration = Duration::from_secs(10);

    /// One sample line: `name{label="value",...} value`.
    #[derive(Debug, Clone, PartialEq)]
    struct Sample {
        name: String,
        labels: BTreeMap<String, String>,
        value: f64,
    }

    /// The sample lines of an exposition, comments left out. Label values
    /// in these tests hold no commas, quotes or braces.
    fn samples(text: &str) -> Vec<Sample> {
        text.lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| {
                let (series, value) = line
                    .rsplit_once(' ')
                    .unwrap_or_else(|| panic!("no value in {line:?}"));
                let value = match value {
                    "+Inf" => f64::INFINITY,
                    v => v
                        .parse()
                        .unwrap_or_else(|_| panic!("bad value in {line:?}")),
                };
                let (name, labels) = match series.split_once('{') {
                    Some((name, rest)) => {
                        let inner = rest
                            .strip_suffix('}')
                            .unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
                        let labels = inner
                            .split(',')
                            .map(|pair| {
                                let (k, v) = pair
                                    .split_once('=')
                                    .unwrap_or_else(|| panic!("bad label in {line:?}"));
                                let v = v.trim_matches('"');
                                // Bucket bounds are numbers: OpenMetrics
                                // writes `1.0` where Prometheus text writes `1`.
                                let v = match v.parse::<f64>() {
                                    Ok(n) if k == "le" && n.is_finite() => n.to_string(),
                                    _ => v.to_owned(),
                                };
                                (k.to_owned(), v)
                            })
                            .collect();
                        (name, labels)
                    }
                    None => (series, BTreeMap::new()),
                };
                Sample {
                    name: name.to_owned(),
                    labels,
                    value,
                }
            })
            .collect()
    }

    /// The value of the one sample named `name` with exactly `labels`.
    fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let found: Vec<f64> = samples
            .iter()
            .filter(|s| s.name == name && s.labels == wanted)
            .map(|s| s.value)
            .collect();
        assert!(found.len() <= 1, "{name} {labels:?} appears twice");
        found.first().copied()
    }

    fn both_formats(metrics: &Metrics) -> [Vec<Sample>; 2] {
        [Format::OpenMetrics, Format::Prometheus]
            .map(|f| samples(&metrics.encode(f).expect("encodes")))
    }

    const PLATFORM: [(&str, &str); 3] = [
        ("kind", "Platform"),
        ("namespace", "distro-system"),
        ("name", "cozy"),
    ];

    fn with<'a>(
        base: &[(&'a str, &'a str)],
        more: &[(&'a str, &'a str)],
    ) -> Vec<(&'a str, &'a str)> {
        base.iter().chain(more).copied().collect()
    }

    #[test]
    fn families_are_declared_with_their_types() {
        let metrics = Metrics::new();
        // A family without series is left out of the exposition.
        metrics.observe_reconcile("Platform", "ns", "p", Duration::from_secs(1));
        metrics.set_condition("Platform", "ns", "p", "Ready", ConditionStatus::True);
        metrics.observe_fetch("git", "ns", "p", Duration::from_secs(1));
        let open = metrics.encode(Format::OpenMetrics).expect("encodes");
        for line in [
            "# TYPE distro_reconcile_duration_seconds histogram",
            "# UNIT distro_reconcile_duration_seconds seconds",
            "# TYPE distro_reconcile_condition gauge",
            "# TYPE distro_source_fetch_duration_seconds histogram",
            "# TYPE distro_apply_objects counter",
            "# TYPE distro_webhook_requests counter",
            "# TYPE distro_drift_corrections counter",
        ] {
            assert!(
                open.lines().any(|l| l == line),
                "{line:?} missing in:\n{open}"
            );
        }
        assert_eq!(open.lines().last(), Some("# EOF"));

        let prometheus = metrics.encode(Format::Prometheus).expect("encodes");
        for line in [
            "# TYPE distro_reconcile_duration_seconds histogram",
            "# TYPE distro_reconcile_condition gauge",
            "# TYPE distro_apply_objects_total counter",
            "# TYPE distro_webhook_requests_total counter",
            "# TYPE distro_drift_corrections_total counter",
        ] {
            assert!(
                prometheus.lines().any(|l| l == line),
                "{line:?} missing in:\n{prometheus}"
            );
        }
        assert!(!prometheus.contains("# EOF"));
    }

    #[test]
    fn counters_exist_at_zero_before_anything_happens() {
        let metrics = Metrics::new();
        for samples in both_formats(&metrics) {
            for action in [
                "created",
                "configured",
                "unchanged",
                "recreated",
                "deleted",
                "skipped",
            ] {
                assert_eq!(
                    value(
                        &samples,
                        "distro_apply_objects_total",
                        &[("action", action)]
                    ),
                    Some(0.0),
                    "{action}"
                );
            }
            assert_eq!(
                value(
                    &samples,
                    "distro_webhook_requests_total",
                    &[("type", "generic-hmac"), ("result", "unauthorized")]
                ),
                Some(0.0)
            );
            assert_eq!(
                value(&samples, "distro_drift_corrections_total", &[]),
                Some(0.0)
            );
            // No object has been seen, so no per-object series exists.
            assert!(
                !samples
                    .iter()
                    .any(|s| s.name.starts_with("distro_reconcile"))
            );
        }
    }

    #[test]
    fn reconcile_durations_fill_the_buckets() {
        let metrics = Metrics::new();
        metrics.observe_reconcile(
            "Platform",
            "distro-system",
            "cozy",
            Duration::from_millis(1500),
        );
        metrics.observe_reconcile(
            "Platform",
            "distro-system",
            "cozy",
            Duration::from_millis(200),
        );
        metrics.observe_reconcile(
            "Platform",
            "distro-system",
            "other",
            Duration::from_secs(40),
        );
        for samples in both_formats(&metrics) {
            let cozy =
                |name: &str, more: &[(&str, &str)]| value(&samples, name, &with(&PLATFORM, more));
            assert_eq!(
                cozy("distro_reconcile_duration_seconds_count", &[]),
                Some(2.0)
            );
            assert_eq!(
                cozy("distro_reconcile_duration_seconds_sum", &[]),
                Some(1.7)
            );
            let bucket = "distro_reconcile_duration_seconds_bucket";
            assert_eq!(cozy(bucket, &[("le", "0.1")]), Some(0.0));
            assert_eq!(cozy(bucket, &[("le", "0.25")]), Some(1.0));
            assert_eq!(cozy(bucket, &[("le", "1")]), Some(1.0));
            assert_eq!(cozy(bucket, &[("le", "2.5")]), Some(2.0));
            assert_eq!(cozy(bucket, &[("le", "+Inf")]), Some(2.0));
            assert_eq!(
                value(
                    &samples,
                    "distro_reconcile_duration_seconds_count",
                    &[
                        ("kind", "Platform"),
                        ("namespace", "distro-system"),
                        ("name", "other")
                    ]
                ),
                Some(1.0)
            );
        }
    }

    #[test]
    fn condition_gauge_marks_the_current_status_and_zeroes_the_others() {
        let metrics = Metrics::new();
        let series = |samples: &[Sample], type_: &str, status: &str| {
            value(
                samples,
                "distro_reconcile_condition",
                &with(&PLATFORM, &[("type", type_), ("status", status)]),
            )
        };

        metrics.set_condition(
            "Platform",
            "distro-system",
            "cozy",
            "Ready",
            ConditionStatus::Unknown,
        );
        metrics.set_condition(
            "Platform",
            "distro-system",
            "cozy",
            "Reconciling",
            ConditionStatus::True,
        );
        for samples in both_formats(&metrics) {
            assert_eq!(series(&samples, "Ready", "True"), Some(0.0));
            assert_eq!(series(&samples, "Ready", "False"), Some(0.0));
            assert_eq!(series(&samples, "Ready", "Unknown"), Some(1.0));
            assert_eq!(series(&samples, "Reconciling", "True"), Some(1.0));
        }

        metrics.set_condition(
            "Platform",
            "distro-system",
            "cozy",
            "Ready",
            ConditionStatus::True,
        );
        metrics.set_condition(
            "Platform",
            "distro-system",
            "cozy",
            "Reconciling",
            ConditionStatus::False,
        );
        for samples in both_formats(&metrics) {
            assert_eq!(series(&samples, "Ready", "True"), Some(1.0));
            assert_eq!(series(&samples, "Ready", "False"), Some(0.0));
            assert_eq!(series(&samples, "Ready", "Unknown"), Some(0.0));
            assert_eq!(series(&samples, "Reconciling", "True"), Some(0.0));
            assert_eq!(series(&samples, "Reconciling", "False"), Some(1.0));
            // Exactly one status per condition type is 1.
            for type_ in ["Ready", "Reconciling"] {
                let ones = samples
                    .iter()
                    .filter(|s| s.name == "distro_reconcile_condition")
                    .filter(|s| s.labels.get("type").map(String::as_str) == Some(type_))
                    .filter(|s| s.value == 1.0)
                    .count();
                assert_eq!(ones, 1, "{type_}");
            }
        }

        metrics.set_condition(
            "Platform",
            "distro-system",
            "cozy",
            "Ready",
            ConditionStatus::False,
        );
        let [samples, _] = both_formats(&metrics);
        assert_eq!(series(&samples, "Ready", "True"), Some(0.0));
        assert_eq!(series(&samples, "Ready", "False"), Some(1.0));
    }

    #[test]
    fn apply_counts_actions_and_change_sets() {
        let metrics = Metrics::new();
        metrics.inc_apply(Action::Created, 3);
        metrics.inc_apply(Action::Created, 2);
        let mut changes = ChangeSet::default();
        changes.push("ConfigMap/a/x".into(), Action::Configured);
        changes.push("ConfigMap/a/y".into(), Action::Unchanged);
        changes.push("ConfigMap/a/z".into(), Action::Unchanged);
        changes.push("ConfigMap/a/w".into(), Action::Deleted);
        metrics.record_changes(&changes);
        for samples in both_formats(&metrics) {
            let action = |a: &str| value(&samples, "distro_apply_objects_total", &[("action", a)]);
            assert_eq!(action("created"), Some(5.0));
            assert_eq!(action("configured"), Some(1.0));
            assert_eq!(action("unchanged"), Some(2.0));
            assert_eq!(action("deleted"), Some(1.0));
            assert_eq!(action("recreated"), Some(0.0));
            assert_eq!(action("skipped"), Some(0.0));
        }
    }

    #[test]
    fn webhook_fetch_and_drift_series() {
        let metrics = Metrics::new();
        metrics.inc_webhook(HookType::Github, Outcome::Accepted);
        metrics.inc_webhook(HookType::Github, Outcome::Accepted);
        metrics.inc_webhook(HookType::Gitlab, Outcome::Unauthorized);
        metrics.inc_drift_corrections(4);
        metrics.observe_fetch("git", "distro-system", "cozy", Duration::from_millis(300));
        for samples in both_formats(&metrics) {
            let hook = |t: &str, r: &str| {
                value(
                    &samples,
                    "distro_webhook_requests_total",
                    &[("type", t), ("result", r)],
                )
            };
            assert_eq!(hook("github", "accepted"), Some(2.0));
            assert_eq!(hook("gitlab", "unauthorized"), Some(1.0));
            assert_eq!(hook("github", "unauthorized"), Some(0.0));
            assert_eq!(
                value(&samples, "distro_drift_corrections_total", &[]),
                Some(4.0)
            );
            let git = [
                ("kind", "git"),
                ("namespace", "distro-system"),
                ("name", "cozy"),
            ];
            assert_eq!(
                value(&samples, "distro_source_fetch_duration_seconds_count", &git),
                Some(1.0)
            );
            assert_eq!(
                value(&samples, "distro_source_fetch_duration_seconds_sum", &git),
                Some(0.3)
            );
            assert_eq!(
                value(
                    &samples,
                    "distro_source_fetch_duration_seconds_bucket",
                    &with(&git, &[("le", "0.25")])
                ),
                Some(0.0)
            );
            assert_eq!(
                value(
                    &samples,
                    "distro_source_fetch_duration_seconds_bucket",
                    &with(&git, &[("le", "0.5")])
                ),
                Some(1.0)
            );
        }
    }

    #[test]
    fn forget_drops_the_series_of_one_object() {
        let metrics = Metrics::new();
        for name in ["cozy", "kept"] {
            metrics.observe_reconcile("Platform", "distro-system", name, Duration::from_secs(1));
            metrics.observe_fetch("git", "distro-system", name, Duration::from_secs(1));
            metrics.set_condition(
                "Platform",
                "distro-system",
                name,
                "Ready",
                ConditionStatus::True,
            );
        }
        metrics.forget("Platform", "distro-system", "cozy");
        let text = metrics.encode(Format::Prometheus).expect("encodes");
        let samples = samples(&text);
        assert!(
            !samples
                .iter()
                .any(|s| s.labels.get("name").map(String::as_str) == Some("cozy")),
            "{text}"
        );
        let kept = [
            ("kind", "Platform"),
            ("namespace", "distro-system"),
            ("name", "kept"),
        ];
        assert_eq!(
            value(&samples, "distro_reconcile_duration_seconds_count", &kept),
            Some(1.0)
        );
        assert_eq!(
            value(
                &samples,
                "distro_reconcile_condition",
                &with(&kept, &[("type", "Ready"), ("status", "True")])
            ),
            Some(1.0)
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::new();
        metrics.observe_reconcile("Platform", "ns", "a\"b\\c\nd", Duration::from_secs(1));
        let text = metrics.encode(Format::OpenMetrics).expect("encodes");
        assert!(text.contains(r#"name="a\"b\\c\nd""#), "{text}");
    }

    #[test]
    fn openmetrics_is_served_to_those_who_ask_for_it() {
        // What Prometheus 2.x/3.x sends by default.
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Prometheus);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Prometheus);
        assert_eq!(Format::negotiate(None), Format::Prometheus);
    }

    #[test]
    fn readiness_needs_synced_caches_and_known_leadership() {
        let health = Health::new();
        assert_eq!(
            health.readiness(),
            Err("caches not synced, leadership not known".to_owned())
        );
        let shared = health.clone();
        shared.set_caches_synced(true);
        assert_eq!(health.readiness(), Err("leadership not known".to_owned()));
        shared.set_leadership_known(true);
        assert_eq!(health.readiness(), Ok(()));
        shared.set_caches_synced(false);
        assert_eq!(health.readiness(), Err("caches not synced".to_owned()));
        shared.set_caches_synced(true);
        // A drift watch that has not listed its kind yet.
        shared.set_drift_synced(false);
        assert_eq!(
            health.readiness(),
            Err("drift caches not synced".to_owned())
        );
        shared.set_drift_synced(true);
        assert_eq!(health.readiness(), Ok(()));
    }

    // HTTP over a raw socket: what a scraper or the kubelet sees.

    struct Server {
        addr: SocketAddr,
        stop: oneshot::Sender<()>,
        task: JoinHandle<std::io::Result<()>>,
    }

    async fn listener() -> (TcpListener, SocketAddr) {
        let listener = tokio::time::timeout(WAIT, TcpListener::bind("127.0.0.1:0"))
            .await
            .expect("bind in time")
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        (listener, addr)
    }

    impl Server {
        async fn metrics(metrics: Arc<Metrics>) -> Server {
            let (listener, addr) = listener().await;
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(serve_metrics(listener, metrics, async move {
                let _ = stopped.await;
            }));
            Server { addr, stop, task }
        }

        async fn health(health: Health) -> Server {
            let (listener, addr) = listener().await;
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(serve_health(listener, health, async move {
                let _ = stopped.await;
            }));
            Server { addr, stop, task }
        }

        async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
            self.request("GET", path, headers).await
        }

        async fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
            let mut head =
                format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let addr = self.addr;
            tokio::task::spawn_blocking(move || exchange(addr, &head))
                .await
                .expect("the request task")
        }

        async fn stop(self) {
            let _ = self.stop.send(());
            tokio::time::timeout(WAIT, self.task)
                .await
                .expect("shut down in time")
                .expect("server task")
                .expect("serve");
        }
    }

    #[derive(Debug)]
    struct Answer {
        status: u16,
        head: String,
        body: String,
    }

    impl Answer {
        fn header(&self, name: &str) -> Option<&str> {
            self.head.lines().skip(1).find_map(|line| {
                let (k, v) = line.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim())
            })
        }
    }

    /// One request on a fresh connection, read until the server closes it.
    fn exchange(addr: SocketAddr, head: &str) -> Answer {
        let mut stream = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("read timeout");
        stream.set_write_timeout(Some(WAIT)).expect("write timeout");
        stream.write_all(head.as_bytes()).expect("send the request");
        let mut received = Vec::new();
        stream
            .read_to_end(&mut received)
            .expect("read the answer before the timeout");
        let text = String::from_utf8_lossy(&received).into_owned();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no complete answer: {text:?}"));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        Answer {
            status,
            head: head.to_owned(),
            body: body.to_owned(),
        }
    }

    #[tokio::test]
    async fn metrics_are_served_in_both_formats() {
        let metrics = Arc::new(Metrics::new());
        metrics.observe_reconcile("Platform", "distro-system", "cozy", Duration::from_secs(2));
        metrics.set_condition(
            "Platform",
            "distro-system",
            "cozy",
            "Ready",
            ConditionStatus::True,
        );
        let server = Server::metrics(Arc::clone(&metrics)).await;

        let plain = server.get("/metrics", &[]).await;
        assert_eq!(plain.status, 200, "{plain:?}");
        assert_eq!(plain.header("content-type"), Some(PROMETHEUS_CONTENT_TYPE));
        let scraped = samples(&plain.body);
        assert_eq!(
            value(
                &scraped,
                "distro_reconcile_duration_seconds_count",
                &PLATFORM
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &scraped,
                "distro_reconcile_condition",
                &with(&PLATFORM, &[("type", "Ready"), ("status", "True")])
            ),
            Some(1.0)
        );

        // Served live: a change shows in the next scrape.
        metrics.inc_drift_corrections(1);
        let open = server
            .get(
                "/metrics",
                &[("Accept", "application/openmetrics-text; version=1.0.0")],
            )
            .await;
        assert_eq!(open.status, 200, "{open:?}");
        assert_eq!(open.header("content-type"), Some(OPENMETRICS_CONTENT_TYPE));
        assert!(open.body.ends_with("# EOF\n"), "{}", open.body);
        assert_eq!(
            value(&samples(&open.body), "distro_drift_corrections_total", &[]),
            Some(1.0)
        );

        let head = server.request("HEAD", "/metrics", &[]).await;
        assert_eq!(head.status, 200, "{head:?}");
        assert!(head.body.is_empty());
        assert_eq!(server.request("POST", "/metrics", &[]).await.status, 405);
        assert_eq!(server.get("/", &[]).await.status, 404);
        assert_eq!(server.get("/healthz", &[]).await.status, 404);
        server.stop().await;
    }

    #[tokio::test]
    async fn health_answers_liveness_always_and_readiness_when_ready() {
        let health = Health::new();
        let server = Server::health(health.clone()).await;

        let live = server.get("/healthz", &[]).await;
        assert_eq!((live.status, live.body.as_str()), (200, "ok"));
        let ready = server.get("/readyz", &[]).await;
        assert_eq!(
            (ready.status, ready.body.as_str()),
            (503, "not ready: caches not synced, leadership not known")
        );

        health.set_caches_synced(true);
        let ready = server.get("/readyz", &[]).await;
        assert_eq!(
            (ready.status, ready.body.as_str()),
            (503, "not ready: leadership not known")
        );

        health.set_leadership_known(true);
        let ready = server.get("/readyz", &[]).await;
        assert_eq!((ready.status, ready.body.as_str()), (200, "ok"));
        let live = server.get("/healthz", &[]).await;
        assert_eq!(live.status, 200);

        // A watch that lost its cache makes the replica unready again.
        health.set_caches_synced(false);
        let ready = server.get("/readyz", &[]).await;
        assert_eq!(
            (ready.status, ready.body.as_str()),
            (503, "not ready: caches not synced")
        );

        assert_eq!(server.get("/metrics", &[]).await.status, 404);
        assert_eq!(server.request("POST", "/readyz", &[]).await.status, 405);
        server.stop().await;
    }
}

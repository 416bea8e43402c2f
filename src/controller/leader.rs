//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several
//! controller replicas exactly one writes to the cluster at a time.
//!
//! Every replica runs an [`Elector`]. It publishes where it stands on a
//! [`watch`] channel ([`Leadership`]); the controller reconciles only while
//! that says [`Leadership::Leader`].
//!
//! ```text
//! Unknown -> Standby { holder } <-> Leader
//!            (lease held by another)  (renewed every retry period)
//! ```
//!
//! # Guarantees
//! - Every write to the Lease carries the `resourceVersion` that was read,
//!   so of two candidates racing for a free Lease one gets a conflict.
//! - A candidate takes a Lease held by another only when it has seen the
//!   Lease unchanged for the holder's `leaseDurationSeconds`, timed on its
//!   own monotonic clock from when it first saw that version. No two
//!   machines' wall clocks are compared, so clock skew cannot make a
//!   candidate take a Lease that is still being renewed.
//! - A leader counts its term from the moment it *sent* its last successful
//!   renewal, and reports [`Leadership::Standby`] as soon as the renew
//!   deadline has passed since then, without waiting for a request to fail.
//!   Because the renew deadline is shorter than the lease duration, it has
//!   stepped down before any other candidate can see the Lease expire.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::pin;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until, timeout, timeout_at};

/// The Lease every replica of the controller competes for.
pub const LEASE_NAME: &str = "distro-controller-leader-election";

/// Timings of the election; the defaults are client-go's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The Lease's name, [`LEASE_NAME`] by default. Replicas that share a
    /// name in one namespace elect one leader among them.
    pub lease_name: String,
    /// How long a Lease that is not renewed stays with its holder; written
    /// to `leaseDurationSeconds`, rounded up to whole seconds.
    pub lease_duration: Duration,
    /// How long a leader keeps leading without a successful renewal.
    pub renew_deadline: Duration,
    /// How often a leader renews and a standby looks at the Lease.
    pub retry_period: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lease_name: LEASE_NAME.to_owned(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

impl Config {
    /// Checks the timings make sense together.
    ///
    /// # Errors
    /// [`Error::Config`] when the renew deadline is not shorter than the
    /// lease duration (two leaders could overlap) or not longer than the
    /// retry period (a single slow request would end a term), or the retry
    /// period is zero.
    pub fn validate(&self) -> Result<(), Error> {
        let problem = if self.lease_name.is_empty() {
            "the lease name is empty"
        } else if self.retry_period.is_zero() {
            "the retry period is zero"
        } else if self.renew_deadline <= self.retry_period {
            "the renew deadline must be longer than the retry period"
        } else if self.lease_duration <= self.renew_deadline {
            "the lease duration must be longer than the renew deadline"
        } else if self.lease_duration > Duration::from_secs(i32::MAX as u64) {
            "the lease duration is too long"
        } else {
            return Ok(());
        };
        Err(Error::Config(problem))
    }

    /// `leaseDurationSeconds`: whole seconds, rounded up so the Lease never
    /// promises less than the leader counts on.
    fn lease_seconds(&self) -> i32 {
        let whole =
            self.lease_duration.as_secs() + u64::from(self.lease_duration.subsec_nanos() > 0);
        i32::try_from(whole.max(1)).unwrap_or(i32::MAX)
    }
}

/// Errors of leader election.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("leader election settings: {0}")]
    Config(&'static str),
    #[error("Lease {namespace}/{name}: releasing failed: {source}")]
    Release {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("Lease {namespace}/{name}: releasing did not finish in time")]
    ReleaseTimeout { namespace: String, name: String },
}

/// Where one candidate stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Leadership {
    /// The Lease has not been read yet (or never could be).
    #[default]
    Unknown,
    /// Not leading: do not write. `holder` is the identity in the Lease
    /// when another candidate holds it; `None` when it is free or when
    /// this candidate just lost it without learning to whom.
    Standby { holder: Option<String> },
    /// Leading: the only candidate that may write.
    Leader,
}

impl Leadership {
    pub fn is_leader(&self) -> bool {
        matches!(self, Leadership::Leader)
    }

    /// Whether the candidate knows where it stands (leader or standby),
    /// which is what readiness asks for.
    pub fn is_known(&self) -> bool {
        !matches!(self, Leadership::Unknown)
    }
}

/// Whether the candidate behind `state` leads right now.
pub fn is_leader(state: &watch::Receiver<Leadership>) -> bool {
    state.borrow().is_leader()
}

/// An identity unique to this process: `POD_NAME` (or the host name) and
/// a random suffix, so that a restarted process never mistakes its
/// predecessor's Lease for its own.
pub fn default_identity() -> String {
    let base = std::env::var("POD_NAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "distro-controller".to_owned());
    format!("{base}_{:016x}", random_u64())
}

/// 64 random bits without a random number crate: the standard library seeds
/// every `RandomState` from the operating system's randomness.
fn random_u64() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// One candidate for the Lease.
pub struct Elector {
    api: Api<Lease>,
    namespace: String,
    identity: String,
    config: Config,
}

/// The Lease as last read or written, and when this version was first seen.
struct Seen {
    lease: Lease,
    version: Option<String>,
    at: Instant,
}

/// What one attempt to take the Lease found.
enum Acquire {
    /// The Lease is ours; the term counts from `sent`.
    Taken { sent: Instant },
    /// Another candidate holds it and it has not expired.
    Held { holder: String },
    /// Another candidate wrote first; look again.
    Raced,
}

/// What one attempt to renew found.
enum Renew {
    Renewed {
        sent: Instant,
    },
    /// The Lease is someone else's, or gone.
    Lost {
        holder: Option<String>,
    },
}

impl Elector {
    /// A candidate named `identity` for the Lease `config.lease_name` in
    /// `namespace`. Nothing is read or written until [`Elector::run`].
    ///
    /// # Errors
    /// [`Error::Config`] when the timings do not fit together.
    pub fn new(
        client: kube::Client,
        namespace: &str,
        identity: &str,
        config: Config,
    ) -> Result<Self, Error> {
        config.validate()?;
        Ok(Elector {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            identity: identity.to_owned(),
            config,
        })
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Competes for the Lease until `shutdown` completes, publishing every
    /// change of standing on `state`. API errors are logged and retried;
    /// they never end the loop.
    ///
    /// When `shutdown` completes while leading, [`Leadership::Standby`] is
    /// published and the Lease released (no holder, a one-second duration)
    /// so that a standby takes over within its retry period. Complete
    /// `shutdown` only once this process has stopped writing.
    ///
    /// Dropping the future instead (or the process dying) releases nothing:
    /// the others take over once the Lease expires.
    ///
    /// # Errors
    /// Only the release at shutdown: [`Error::Release`] or
    /// [`Error::ReleaseTimeout`]. The Lease then expires on its own.
    pub async fn run(
        self,
        state: watch::Sender<Leadership>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        let mut shutdown = pin!(shutdown);
        let mut seen: Option<Seen> = None;
        loop {
            let sent = tokio::select! {
                () = &mut shutdown => return Ok(()),
                sent = self.acquire(&mut seen, &state) => sent,
            };
            tracing::info!(identity = %self.identity, lease = %self.lease_ref(), "leading");
            publish(&state, Leadership::Leader);
            tokio::select! {
                () = &mut shutdown => {
                    publish(&state, Leadership::Standby { holder: None });
                    return self.release(&mut seen).await;
                }
                () = self.lead(&mut seen, sent, &state) => {}
            }
        }
    }

    /// Stands by until the Lease is ours; returns when the winning write
    /// was sent.
    async fn acquire(&self, seen: &mut Option<Seen>, state: &watch::Sender<Leadership>) -> Instant {
        loop {
            let attempt = timeout(self.config.renew_deadline, self.try_acquire(seen)).await;
            let mut wait = self.config.retry_period;
            match attempt {
                Ok(Ok(Acquire::Taken { sent })) => return sent,
                Ok(Ok(Acquire::Held { holder })) => {
                    // Look again exactly when the Lease would expire if it
                    // is not renewed before, rather than up to a retry
                    // period after.
                    if let Some(left) = seen
                        .as_ref()
                        .map(|s| self.expiry(s).saturating_duration_since(Instant::now()))
                    {
                        wait = wait.min(left.max(Duration::from_millis(10)));
                    }
                    publish(
                        state,
                        Leadership::Standby {
                            holder: Some(holder),
                        },
                    );
                }
                Ok(Ok(Acquire::Raced)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(lease = %self.lease_ref(), "reading the Lease failed: {e}")
                }
                Err(_) => tracing::warn!(lease = %self.lease_ref(), "reading the Lease timed out"),
            }
            sleep(wait).await;
        }
    }

    async fn try_acquire(&self, seen: &mut Option<Seen>) -> Result<Acquire, kube::Error> {
        let Some(current) = self.api.get_opt(&self.config.lease_name).await? else {
            let sent = Instant::now();
            let lease = self.claim(None);
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    *seen = Some(self.seen(created, sent));
                    Ok(Acquire::Taken { sent })
                }
                Err(e) if status(&e) == Some(409) => Ok(Acquire::Raced),
                Err(e) => Err(e),
            };
        };
        let now = Instant::now();
        let observed = self.observe(seen, current, now);
        let other = holder(&observed.lease).filter(|h| *h != self.identity);
        if let Some(other) = other.filter(|_| now < self.expiry(observed)) {
            return Ok(Acquire::Held {
                holder: other.to_owned(),
            });
        }
        // Free, expired, or ours from an earlier term: take it, unless
        // someone writes it first.
        let sent = Instant::now();
        let claim = self.claim(Some(&observed.lease));
        match self
            .api
            .replace(&self.config.lease_name, &PostParams::default(), &claim)
            .await
        {
            Ok(written) => {
                *seen = Some(self.seen(written, sent));
                Ok(Acquire::Taken { sent })
            }
            Err(e) if matches!(status(&e), Some(409 | 404)) => Ok(Acquire::Raced),
            Err(e) => Err(e),
        }
    }

    /// Renews every retry period; returns, having published
    /// [`Leadership::Standby`], when the Lease is lost or could not be
    /// renewed within the renew deadline.
    async fn lead(
        &self,
        seen: &mut Option<Seen>,
        mut term: Instant,
        state: &watch::Sender<Leadership>,
    ) {
        loop {
            sleep_until(term + self.config.retry_period).await;
            let deadline = term + self.config.renew_deadline;
            let renewed = timeout_at(deadline, async {
                loop {
                    match self.try_renew(seen).await {
                        Ok(renew) => return renew,
                        Err(e) => {
                            tracing::warn!(lease = %self.lease_ref(), "renewing the Lease failed: {e}");
                            sleep(self.config.retry_period).await;
                        }
                    }
                }
            })
            .await;
            match renewed {
                Ok(Renew::Renewed { sent }) => term = sent,
                Ok(Renew::Lost { holder }) => {
                    tracing::warn!(
                        lease = %self.lease_ref(),
                        holder = holder.as_deref().unwrap_or(""),
                        "the Lease was taken by another candidate; standing by"
                    );
                    publish(state, Leadership::Standby { holder });
                    return;
                }
                Err(_) => {
                    tracing::warn!(
                        lease = %self.lease_ref(),
                        "the Lease was not renewed within the renew deadline; standing by"
                    );
                    publish(state, Leadership::Standby { holder: None });
                    return;
                }
            }
        }
    }

    async fn try_renew(&self, seen: &mut Option<Seen>) -> Result<Renew, kube::Error> {
        // Two tries: the first with the version we wrote last, the second
        // after a conflict that turned out to leave us the holder (someone
        // edited a label, say).
        for _ in 0..2 {
            let Some(mine) = seen.as_ref() else {
                return Ok(Renew::Lost { holder: None });
            };
            let sent = Instant::now();
            let renewal = self.renewal(&mine.lease);
            match self
                .api
                .replace(&self.config.lease_name, &PostParams::default(), &renewal)
                .await
            {
                Ok(written) => {
                    *seen = Some(self.seen(written, sent));
                    return Ok(Renew::Renewed { sent });
                }
                Err(e) if status(&e) == Some(404) => return Ok(Renew::Lost { holder: None }),
                Err(e) if status(&e) == Some(409) => {
                    let Some(current) = self.api.get_opt(&self.config.lease_name).await? else {
                        return Ok(Renew::Lost { holder: None });
                    };
                    let observed = self.observe(seen, current, Instant::now());
                    let holder = holder(&observed.lease).map(str::to_owned);
                    if holder.as_deref() != Some(self.identity.as_str()) {
                        return Ok(Renew::Lost { holder });
                    }
                }
                Err(e) => return Err(e),
            }
        }
        // Conflicts twice in a row while still the holder: a transient
        // failure, retried until the deadline.
        Err(kube::Error::Api(
            kube::core::Status::failure("the Lease keeps changing", "Conflict")
                .with_code(409)
                .boxed(),
        ))
    }

    /// Gives the Lease up so that a standby need not wait for it to expire.
    async fn release(&self, seen: &mut Option<Seen>) -> Result<(), Error> {
        let released = timeout(self.config.renew_deadline, async {
            for _ in 0..2 {
                let Some(mine) = seen.as_ref() else {
                    return Ok(());
                };
                let mut lease = mine.lease.clone();
                let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
                spec.holder_identity = None;
                spec.lease_duration_seconds = Some(1);
                spec.renew_time = Some(MicroTime(Timestamp::now()));
                match self
                    .api
                    .replace(&self.config.lease_name, &PostParams::default(), &lease)
                    .await
                {
                    Ok(_) => {
                        tracing::info!(lease = %self.lease_ref(), "released the Lease");
                        return Ok(());
                    }
                    Err(e) if status(&e) == Some(404) => return Ok(()),
                    // A renewal in flight when shutdown came may have
                    // landed: look, and release only what is still ours.
                    Err(e) if status(&e) == Some(409) => {
                        let current = self.api.get_opt(&self.config.lease_name).await?;
                        match current {
                            Some(l) if holder(&l) == Some(self.identity.as_str()) => {
                                *seen = Some(self.seen(l, Instant::now()));
                            }
                            _ => return Ok(()),
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
        .await;
        match released {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(Error::Release {
                namespace: self.namespace.clone(),
                name: self.config.lease_name.clone(),
                source,
            }),
            Err(_) => Err(Error::ReleaseTimeout {
                namespace: self.namespace.clone(),
                name: self.config.lease_name.clone(),
            }),
        }
    }

    /// The Lease with us as holder: a new one, or `current` taken over
    /// (keeping its `resourceVersion`, so that the write fails if anyone
    /// wrote in between).
    fn claim(&self, current: Option<&Lease>) -> Lease {
        let now = MicroTime(Timestamp::now());
        let mut lease = current.cloned().unwrap_or_else(|| Lease {
            metadata: ObjectMeta {
                name: Some(self.config.lease_name.clone()),
                namespace: Some(self.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: None,
        });
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let previous = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
        if previous != Some(self.identity.as_str()) {
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(match (current, previous) {
                (Some(_), Some(_)) => spec.lease_transitions.unwrap_or(0).saturating_add(1),
                _ => spec.lease_transitions.unwrap_or(0),
            });
        }
        spec.holder_identity = Some(self.identity.clone());
        spec.lease_duration_seconds = Some(self.config.lease_seconds());
        spec.renew_time = Some(now);
        lease
    }

    fn renewal(&self, mine: &Lease) -> Lease {
        let mut lease = mine.clone();
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        spec.holder_identity = Some(self.identity.clone());
        spec.lease_duration_seconds = Some(self.config.lease_seconds());
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        lease
    }

    fn seen(&self, lease: Lease, at: Instant) -> Seen {
        Seen {
            version: lease.metadata.resource_version.clone(),
            lease,
            at,
        }
    }

    /// Records `current`, keeping the time its version was first seen.
    fn observe<'a>(&self, seen: &'a mut Option<Seen>, current: Lease, now: Instant) -> &'a Seen {
        let at = match seen {
            Some(s) if s.version.is_some() && s.version == current.metadata.resource_version => {
                s.at
            }
            _ => now,
        };
        seen.insert(self.seen(current, at))
    }

    /// When `seen` expires unless it changes: its holder's promised
    /// duration (ours when it names none) after we first saw it.
    fn expiry(&self, seen: &Seen) -> Instant {
        let promised = seen
            .lease
            .spec
            .as_ref()
            .and_then(|s| s.lease_duration_seconds)
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| *s > 0)
            .map_or(self.config.lease_duration, Duration::from_secs);
        seen.at + promised
    }

    fn lease_ref(&self) -> String {
        format!("{}/{}", self.namespace, self.config.lease_name)
    }
}

/// The holder named in `lease`; an empty identity means none.
fn holder(lease: &Lease) -> Option<&str> {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        .filter(|h| !h.is_empty())
}

/// The HTTP status of an API error, if the server answered.
fn status(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// Publishes `next` if it differs from what `state` holds. The value is
/// stored even when nobody listens, so a later subscriber sees it.
fn publish(state: &watch::Sender<Leadership>, next: Leadership) {
    state.send_if_modified(|current| {
        if *current == next {
            return false;
        }
        *current = next;
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_client_gos_and_valid() {
        let config = Config::default();
        assert_eq!(config.lease_name, "distro-controller-leader-election");
        assert_eq!(config.lease_duration, Duration::from_secs(15));
        assert_eq!(config.renew_deadline, Duration::from_secs(10));
        assert_eq!(config.retry_period, Duration::from_secs(2));
        assert!(config.validate().is_ok());
        assert_eq!(config.lease_seconds(), 15);
    }

    #[test]
    fn timings_that_could_overlap_two_leaders_are_refused() {
        let with = |lease: u64, renew: u64, retry: u64| Config {
            lease_duration: Duration::from_millis(lease),
            renew_deadline: Duration::from_millis(renew),
            retry_period: Duration::from_millis(retry),
            ..Config::default()
        };
        assert!(with(3000, 2000, 500).validate().is_ok());
        for bad in [
            with(2000, 2000, 500),
            with(1000, 2000, 500),
            with(3000, 500, 500),
            with(3000, 2000, 0),
        ] {
            let err = bad.validate().expect_err("refused");
            assert!(
                err.to_string().starts_with("leader election settings: "),
                "{err}"
            );
        }
        let unnamed = Config {
            lease_name: String::new(),
            ..Config::default()
        };
        assert!(unnamed.validate().is_err());
    }

    #[test]
    fn the_lease_never_promises_less_than_the_leader_counts_on() {
        let lease = |ms: u64| Config {
            lease_duration: Duration::from_millis(ms),
            ..Config::default()
        };
        assert_eq!(lease(3000).lease_seconds(), 3);
        assert_eq!(lease(2500).lease_seconds(), 3);
        assert_eq!(lease(400).lease_seconds(), 1);
    }

    #[test]
    fn leadership_helpers() {
        let (sender, receiver) = watch::channel(Leadership::default());
        assert!(!receiver.borrow().is_known());
        assert!(!is_leader(&receiver));
        publish(&sender, Leadership::Standby { holder: None });
        assert!(receiver.borrow().is_known());
        assert!(!is_leader(&receiver));
        publish(&sender, Leadership::Leader);
        assert!(is_leader(&receiver));
    }

    #[test]
    fn publishing_the_same_standing_wakes_nobody() {
        let (sender, mut receiver) = watch::channel(Leadership::Leader);
        receiver.mark_unchanged();
        publish(&sender, Leadership::Leader);
        assert!(!receiver.has_changed().expect("open"));
        publish(&sender, Leadership::Standby { holder: None });
        assert!(receiver.has_changed().expect("open"));
    }

    #[test]
    fn identities_differ_between_processes_and_calls() {
        let a = default_identity();
        let b = default_identity();
        assert_ne!(a, b);
        let (base, suffix) = a.rsplit_once('_').expect("a suffix");
        assert!(!base.is_empty());
        assert_eq!(suffix.len(), 16);
        assert!(suffix.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn an_empty_holder_is_no_holder() {
        let lease = |holder: Option<&str>| Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_owned),
                ..LeaseSpec::default()
            }),
        };
        assert_eq!(holder(&lease(Some("a"))), Some("a"));
        assert_eq!(holder(&lease(Some(""))), None);
        assert_eq!(holder(&lease(None)), None);
    }
}

//! Leader election against the real API server: candidates run as tasks of
//! this test and compete for a Lease in a namespace of each test's own.
//!
//! Timings are short (lease 3 s, renew deadline 2 s, retry 0.5 s) and every
//! wait is bounded. Bounds on how fast something happens carry a margin
//! for a loaded machine; bounds on how *early* something may happen (a
//! takeover before the old lease could have expired) carry none in the
//! unsafe direction.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use distro::client::Target;
use distro::controller::leader::{self, Config, Elector, LEASE_NAME, Leadership};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};

use crate::cluster::cluster;

const LEASE: Duration = Duration::from_secs(3);
const RENEW_DEADLINE: Duration = Duration::from_secs(2);
const RETRY: Duration = Duration::from_millis(500);
/// Added to "happens within" bounds: requests take time on a busy machine.
const SLACK: Duration = Duration::from_millis(1500);
/// The longest any wait below may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);

fn config() -> Config {
    Config {
        lease_duration: LEASE,
        renew_deadline: RENEW_DEADLINE,
        retry_period: RETRY,
        ..Config::default()
    }
}

async fn target() -> Target {
    let kubeconfig = tokio::task::spawn_blocking(|| cluster().kubeconfig.clone())
        .await
        .expect("the test cluster starts");
    Target {
        kubeconfig: Some(kubeconfig),
        context: None,
    }
}

async fn client() -> kube::Client {
    distro::client::connect(&target().await)
        .await
        .expect("a client for the test cluster")
}

/// The Leases of namespace `name`, created if missing, with no Lease left
/// from an earlier run.
async fn namespace(client: &kube::Client, name: &str) -> Api<Lease> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    match namespaces.create(&PostParams::default(), &namespace).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("creating namespace {name}: {e}"),
    }
    let leases: Api<Lease> = Api::namespaced(client.clone(), name);
    match leases.delete(LEASE_NAME, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => panic!("deleting an old Lease in {name}: {e}"),
    }
    leases
}

/// `holderIdentity`, `leaseDurationSeconds` and `leaseTransitions` of the
/// Lease.
async fn lease(leases: &Api<Lease>) -> (Option<String>, Option<i32>, Option<i32>) {
    let lease = leases.get(LEASE_NAME).await.expect("the Lease exists");
    let spec = lease.spec.unwrap_or_default();
    (
        spec.holder_identity.filter(|h| !h.is_empty()),
        spec.lease_duration_seconds,
        spec.lease_transitions,
    )
}

type History = Arc<Mutex<Vec<(Instant, Leadership)>>>;

/// One elector running as a task, and what it published.
struct Candidate {
    identity: String,
    state: watch::Receiver<Leadership>,
    history: History,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), leader::Error>>,
}

fn start(client: &kube::Client, namespace: &str, identity: &str) -> Candidate {
    let elector =
        Elector::new(client.clone(), namespace, identity, config()).expect("valid timings");
    let (sender, state) = watch::channel(Leadership::Unknown);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(elector.run(sender, async move {
        let _ = stopped.await;
    }));
    let history: History = Arc::default();
    let (mut changes, record) = (state.clone(), Arc::clone(&history));
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            let now = changes.borrow_and_update().clone();
            record
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((Instant::now(), now));
        }
    });
    Candidate {
        identity: identity.to_owned(),
        state,
        history,
        stop,
        task,
    }
}

impl Candidate {
    /// Waits until the standing is `wanted`; returns when that was seen.
    async fn wait_for(&mut self, wanted: &Leadership) -> Instant {
        let waited = timeout(PATIENCE, async {
            self.state.wait_for(|now| now == wanted).await.map(|_| ())
        })
        .await;
        match waited {
            Ok(Ok(_)) => Instant::now(),
            Ok(Err(_)) => panic!("{}: the elector ended before {wanted:?}", self.identity),
            Err(_) => panic!(
                "{}: not {wanted:?} within {PATIENCE:?}; it is {:?}",
                self.identity,
                *self.state.borrow()
            ),
        }
    }

    fn current(&self) -> Leadership {
        self.state.borrow().clone()
    }

    fn history(&self) -> Vec<(Instant, Leadership)> {
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// When it first published `wanted` at or after `since`.
    fn first(&self, wanted: &Leadership, since: Instant) -> Option<Instant> {
        self.history()
            .into_iter()
            .find(|(at, l)| *at >= since && l == wanted)
            .map(|(at, _)| at)
    }

    /// As SIGKILL would: the task is gone and nothing is released.
    async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    /// As SIGTERM would: shutdown completes, the Lease is released.
    async fn stop(self) -> Result<(), leader::Error> {
        let _ = self.stop.send(());
        timeout(PATIENCE, self.task)
            .await
            .expect("the elector stops in time")
            .expect("the elector task")
    }
}

fn standby(holder: &Candidate) -> Leadership {
    Leadership::Standby {
        holder: Some(holder.identity.clone()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_candidate_leads_and_a_second_stands_by_knowing_the_holder() {
    let client = client().await;
    let ns = "leader-it-standby";
    let leases = namespace(&client, ns).await;

    let mut a = start(&client, ns, "leader-it-standby-a");
    a.wait_for(&Leadership::Leader).await;
    assert!(leader::is_leader(&a.state));
    let (holder, duration, _) = lease(&leases).await;
    assert_eq!(holder.as_deref(), Some("leader-it-standby-a"));
    assert_eq!(duration, Some(3));

    let mut b = start(&client, ns, "leader-it-standby-b");
    b.wait_for(&standby(&a)).await;
    assert!(!leader::is_leader(&b.state));

    // Two lease durations later nothing has changed hands: the leader keeps
    // renewing and the standby never sees the Lease expire.
    let renewed_before = leases
        .get(LEASE_NAME)
        .await
        .expect("the Lease")
        .spec
        .and_then(|s| s.renew_time);
    sleep(LEASE * 2).await;
    let renewed_after = leases
        .get(LEASE_NAME)
        .await
        .expect("the Lease")
        .spec
        .and_then(|s| s.renew_time);
    assert!(
        renewed_after > renewed_before,
        "{renewed_before:?} -> {renewed_after:?}"
    );
    assert_eq!(a.current(), Leadership::Leader);
    assert_eq!(b.current(), standby(&a));
    assert!(
        !a.history().iter().any(|(_, l)| !l.is_leader()),
        "the leader wavered: {:?}",
        a.history()
    );
    assert!(
        !b.history().iter().any(|(_, l)| l.is_leader()),
        "the standby led while the leader renewed: {:?}",
        b.history()
    );

    b.stop().await.expect("a standby has nothing to release");
    a.stop().await.expect("release");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_dies_is_replaced_once_its_lease_expires() {
    let client = client().await;
    let ns = "leader-it-crash";
    let leases = namespace(&client, ns).await;

    let mut a = start(&client, ns, "leader-it-crash-a");
    a.wait_for(&Leadership::Leader).await;
    let mut b = start(&client, ns, "leader-it-crash-b");
    b.wait_for(&standby(&a)).await;
    // Let the standby watch a few renewals.
    sleep(RETRY * 3).await;

    let killed = Instant::now();
    a.kill().await;
    let led = b.wait_for(&Leadership::Leader).await;
    let took = led - killed;
    // The dead leader's last renewal was at most a retry period before it
    // died; the standby must not take over before that renewal could have
    // expired, and should within lease duration + retry period.
    assert!(took >= LEASE - RETRY * 2, "took over early, after {took:?}");
    assert!(
        took <= LEASE + RETRY + SLACK,
        "took over late, after {took:?}"
    );

    let (holder, duration, transitions) = lease(&leases).await;
    assert_eq!(holder.as_deref(), Some("leader-it-crash-b"));
    assert_eq!(duration, Some(3));
    assert_eq!(transitions, Some(1));
    b.stop().await.expect("release");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_lease_is_taken_over_at_once() {
    let client = client().await;
    let ns = "leader-it-release";
    let leases = namespace(&client, ns).await;

    let mut a = start(&client, ns, "leader-it-release-a");
    a.wait_for(&Leadership::Leader).await;
    let mut b = start(&client, ns, "leader-it-release-b");
    b.wait_for(&standby(&a)).await;

    let mut a_state = a.state.clone();
    let stopping = Instant::now();
    a.stop().await.expect("the Lease is released");
    assert_eq!(
        *a_state.borrow_and_update(),
        Leadership::Standby { holder: None }
    );
    let led = b.wait_for(&Leadership::Leader).await;
    let took = led - stopping;
    assert!(took <= RETRY + SLACK, "took over after {took:?}");

    let (holder, duration, _) = lease(&leases).await;
    assert_eq!(holder.as_deref(), Some("leader-it-release-b"));
    assert_eq!(duration, Some(3));

    // The last one out leaves the Lease free.
    b.stop().await.expect("release");
    let (holder, duration, _) = lease(&leases).await;
    assert_eq!(holder, None);
    assert_eq!(duration, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_lease_is_taken_stands_by_at_its_next_renewal() {
    let client = client().await;
    let ns = "leader-it-stolen";
    let leases = namespace(&client, ns).await;

    let mut a = start(&client, ns, "leader-it-stolen-a");
    a.wait_for(&Leadership::Leader).await;

    // Someone else writes the Lease over (with the version it read, as a
    // well-behaved candidate would).
    let mut taken = leases.get(LEASE_NAME).await.expect("the Lease");
    let spec = taken.spec.get_or_insert_with(Default::default);
    spec.holder_identity = Some("leader-it-stolen-intruder".to_owned());
    spec.renew_time = Some(MicroTime(Timestamp::now()));
    spec.lease_duration_seconds = Some(3);
    let stolen = Instant::now();
    leases
        .replace(LEASE_NAME, &PostParams::default(), &taken)
        .await
        .expect("take the Lease over");

    let intruder = Leadership::Standby {
        holder: Some("leader-it-stolen-intruder".to_owned()),
    };
    let stood_by = a.wait_for(&intruder).await;
    let took = stood_by - stolen;
    assert!(took <= RETRY + SLACK, "noticed after {took:?}");
    // It did not write over the new holder's Lease.
    let (holder, _, _) = lease(&leases).await;
    assert_eq!(holder.as_deref(), Some("leader-it-stolen-intruder"));

    // The intruder never renews: once its Lease expires the old leader
    // takes it back, and not before.
    let led = a.wait_for(&Leadership::Leader).await;
    let took = led - stolen;
    assert!(took >= LEASE, "took the Lease back early, after {took:?}");
    assert!(
        took <= LEASE + RETRY + SLACK,
        "took the Lease back late, after {took:?}"
    );
    a.stop().await.expect("release");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_the_api_server_stands_by_by_its_renew_deadline() {
    let target = target().await;
    let direct = client().await;
    let ns = "leader-it-partition";
    let leases = namespace(&direct, ns).await;

    // The leader talks to the API server through a proxy that can stop
    // passing bytes, so its requests hang rather than fail.
    let mut config = distro::client::config(&target).await.expect("kubeconfig");
    let upstream = upstream_addr(&config.cluster_url);
    let proxy = Proxy::start(upstream);
    config.cluster_url = format!("https://{}", proxy.addr)
        .parse()
        .expect("a proxy URL");
    let through_proxy = kube::Client::try_from(config).expect("a client through the proxy");

    let mut a = start(&through_proxy, ns, "leader-it-partition-a");
    a.wait_for(&Leadership::Leader).await;
    let mut b = start(&direct, ns, "leader-it-partition-b");
    b.wait_for(&standby(&a)).await;
    sleep(RETRY * 2).await;

    let cut = Instant::now();
    proxy.freeze(true);
    let lost = Leadership::Standby { holder: None };
    a.wait_for(&lost).await;
    let b_led = b.wait_for(&Leadership::Leader).await;
    let a_stood_by = a.first(&lost, cut).expect("the step down is recorded");
    // The step down is timed by the renew deadline alone: the last renewal
    // was sent before the cut, so it comes at most the deadline after it.
    let took = a_stood_by - cut;
    assert!(
        took <= RENEW_DEADLINE + Duration::from_millis(300),
        "stood by after {took:?}"
    );
    assert!(a_stood_by < b_led, "two leaders at once");
    assert!(b_led - cut >= LEASE - RETRY * 2, "took over early");

    // Back in touch, the old leader learns who leads now.
    proxy.freeze(false);
    a.wait_for(&standby(&b)).await;
    assert_eq!(
        lease(&leases).await.0.as_deref(),
        Some("leader-it-partition-b")
    );

    b.stop().await.expect("release");
    a.stop().await.expect("nothing to release");
}

fn upstream_addr(url: &http::Uri) -> SocketAddr {
    let host = url.host().expect("the kubeconfig names a host");
    let port = url.port_u16().unwrap_or(443);
    format!("{host}:{port}")
        .parse()
        .expect("the test cluster listens on an IP address")
}

/// A TCP forwarder on 127.0.0.1 whose traffic can be held up at will.
struct Proxy {
    addr: SocketAddr,
    frozen: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let frozen = Arc::new(AtomicBool::new(false));
        let held = Arc::clone(&frozen);
        // The threads end when their connections close, which happens when
        // the client using the proxy is dropped.
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5))
                else {
                    continue;
                };
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
                        continue;
                    };
                    let held = Arc::clone(&held);
                    std::thread::spawn(move || pump(from, to, &held));
                }
            }
        });
        Proxy { addr, frozen }
    }

    fn freeze(&self, frozen: bool) {
        self.frozen.store(frozen, Ordering::SeqCst);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, frozen: &AtomicBool) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while frozen.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if to.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

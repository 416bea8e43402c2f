use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::*;
use crate::oci::credentials::Credentials;
use crate::oci::reference::Reference;
use crate::oci::registry::{Error, Options, Registry};

#[test]
fn backoff_grows_and_is_capped() {
    assert_eq!(backoff(1), Duration::from_millis(250));
    assert_eq!(backoff(2), Duration::from_millis(500));
    assert_eq!(backoff(9), Duration::from_secs(4));
}

fn answered(status: Option<u16>, retry_after: Option<Duration>) -> Error {
    Error::Registry {
        registry: "registry.example".into(),
        operation: "manifest fetch",
        status,
        retry_after,
        message: "test".into(),
    }
}

#[test]
fn rate_limits_and_server_errors_are_transient() {
    for status in [429, 500, 502, 503, 504] {
        assert!(transient(&answered(Some(status), None)), "{status}");
    }
}

#[test]
fn client_errors_and_other_statuses_are_not_transient() {
    for status in [400, 401, 403, 404, 405, 409, 413, 501, 505, 302] {
        assert!(!transient(&answered(Some(status), None)), "{status}");
    }
    // An answer without a status is not known to be transient either.
    assert!(!transient(&answered(None, None)));
    assert!(!transient(&Error::NotFound {
        reference: "r".into()
    }));
}

#[test]
fn unreachable_and_timeouts_are_transient() {
    assert!(transient(&Error::Unreachable {
        registry: "r".into(),
        reason: "connection refused".into(),
    }));
    assert!(transient(&Error::Timeout {
        registry: "r".into(),
        operation: "blob fetch",
        after: Duration::from_secs(1),
    }));
}

#[test]
fn retry_after_lengthens_the_pause_up_to_a_cap() {
    let none = answered(Some(503), None);
    assert_eq!(pause(&none, 1), backoff(1));
    let short = answered(Some(503), Some(Duration::from_millis(10)));
    assert_eq!(pause(&short, 2), backoff(2), "the backoff is a floor");
    let asked = answered(Some(429), Some(Duration::from_secs(2)));
    assert_eq!(pause(&asked, 1), Duration::from_secs(2));
    let huge = answered(Some(429), Some(Duration::from_secs(3600)));
    assert_eq!(pause(&huge, 1), MAX_RETRY_AFTER);
}

/// What the test registry answers to a request for a manifest or blob,
/// given how many such requests came before this one.
type Script = fn(usize) -> &'static str;

/// A registry on a loopback port that answers `GET /v2/` with 200 (no
/// authentication) and every manifest or blob request as `script` says,
/// counting them. It serves at most `MAX_CONNECTIONS` connections and
/// stops accepting after `LIFETIME`, so a failing test cannot leave it
/// running for ever.
struct TestRegistry {
    addr: String,
    hits: Arc<AtomicUsize>,
}

const MAX_CONNECTIONS: usize = 32;
const LIFETIME: Duration = Duration::from_secs(60);

impl TestRegistry {
    fn start(script: Script, manifest: &'static [u8]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        listener.set_nonblocking(true).expect("nonblocking");
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut served = 0;
            while served < MAX_CONNECTIONS && started.elapsed() < LIFETIME {
                match listener.accept() {
                    Ok((stream, _)) => {
                        served += 1;
                        answer(stream, script, manifest, &counter);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TestRegistry { addr, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn answer(mut stream: TcpStream, script: Script, manifest: &[u8], hits: &AtomicUsize) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut line = head.lines().next().unwrap_or("").split(' ');
    let method = line.next().unwrap_or("");
    let path = line.next().unwrap_or("");
    let response = if path == "/v2/" {
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
            .as_bytes()
            .to_vec()
    } else {
        let seen = hits.fetch_add(1, Ordering::SeqCst);
        let status = script(seen);
        if status.starts_with("200") {
            let body: &[u8] = if method == "HEAD" { b"" } else { manifest };
            let mut ok = format!(
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {}\r\n\r\n",
                manifest.len()
            )
            .into_bytes();
            ok.extend_from_slice(body);
            ok
        } else {
            format!("HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
                .into_bytes()
        }
    };
    let _ = stream.write_all(&response);
    let _ = stream.flush();
}

const MANIFEST: &[u8] = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

fn client(registry: &TestRegistry) -> (Registry, Reference) {
    let digest = crate::source::sha256(MANIFEST);
    let reference = Reference::parse_oci_url(&format!("oci://{}/demo/app@{digest}", registry.addr))
        .expect("reference");
    let options = Options {
        credentials: Some(Credentials::Anonymous),
        timeout: Duration::from_secs(20),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        ..Options::default()
    };
    (
        Registry::new(&reference, &options).expect("client"),
        reference,
    )
}

#[tokio::test]
async fn a_manifest_behind_two_503s_with_retry_after_is_fetched() {
    let registry = TestRegistry::start(
        |seen| {
            if seen < 2 {
                "503 Service Unavailable\r\nRetry-After: 1"
            } else {
                "200 OK"
            }
        },
        MANIFEST,
    );
    let (client, reference) = client(&registry);
    let started = Instant::now();
    let manifest = retry(4, || client.fetch_manifest(&reference, &[]))
        .await
        .expect("fetched after the registry recovers");
    assert_eq!(manifest.bytes.as_ref(), MANIFEST);
    assert_eq!(registry.hits(), 3);
    // The backoff alone would have waited 0.75 s; the registry asked for 1 s
    // twice.
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_registry_that_stays_overloaded_is_tried_a_bounded_number_of_times() {
    let registry = TestRegistry::start(|_| "502 Bad Gateway", MANIFEST);
    let (client, reference) = client(&registry);
    let e = retry(3, || client.fetch_manifest(&reference, &[]))
        .await
        .expect_err("never recovers");
    assert_eq!(e.status(), Some(502), "{e}");
    assert_eq!(registry.hits(), 3);
}

#[tokio::test]
async fn a_rate_limited_blob_check_is_retried() {
    let registry = TestRegistry::start(
        |seen| {
            if seen == 0 {
                "429 Too Many Requests"
            } else {
                "200 OK"
            }
        },
        MANIFEST,
    );
    let (client, reference) = client(&registry);
    let digest = crate::source::sha256(MANIFEST);
    let exists = retry(3, || client.blob_exists(&reference, &digest))
        .await
        .expect("checked after the limit lifts");
    assert!(exists);
    assert_eq!(registry.hits(), 2);
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let registry = TestRegistry::start(|_| "400 Bad Request", MANIFEST);
    let (client, reference) = client(&registry);
    let e = retry(3, || client.fetch_manifest(&reference, &[]))
        .await
        .expect_err("refused");
    assert_eq!(e.status(), Some(400), "{e}");
    assert_eq!(registry.hits(), 1);

    let missing = TestRegistry::start(|_| "404 Not Found", MANIFEST);
    let (client, reference) = self::client(&missing);
    let e = retry(3, || client.fetch_manifest(&reference, &[]))
        .await
        .expect_err("missing");
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    assert_eq!(missing.hits(), 1);
}

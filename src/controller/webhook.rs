//! The webhook receiver: a push notification from a Git host becomes an
//! immediate reconcile of the Platform it was configured for.
//!
//! Each Platform with `spec.webhook` gets a path of its own,
//! [`hook_path`]`(token, namespace, name)`, published in
//! `status.webhookPath`. The path is unguessable without the token, but it
//! is not the authentication: every request must also carry a valid
//! signature (or, for GitLab, the token itself) for its [`HookType`].
//!
//! ```text
//! POST /hook/<sha256 hex> -> Registry::get -> verify -> Trigger on the channel
//! ```
//!
//! [`verify`] is pure and decides everything about one request's headers and
//! body; the HTTP side only routes, bounds the body and reports.
//!
//! Nothing secret is logged: not the token, the signature, the body, nor the
//! path (it is derived from the token and works as a capability URL).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::mpsc;

use super::metrics::Metrics;
use crate::source::hex;

/// The largest request body read; GitHub caps its payloads at 25 MB but a
/// push notification is a few kilobytes, and the body is held in memory
/// whole to check its signature.
pub const MAX_BODY: usize = 1024 * 1024;

/// How long a client may take to send its body. A slow sender would
/// otherwise hold a connection and a task for as long as it likes.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a request waits for room on the trigger channel before it is
/// answered 503 so that the sender sees the notification was not taken.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Problems with webhook settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("unknown webhook type {0:?}: expected github, gitlab or generic-hmac")]
    UnknownType(String),
}

/// The path a Platform's webhook is served on: `/hook/` and the lowercase
/// hex sha256 of `token`, `namespace` and `name`, concatenated.
///
/// # Caveats
/// The parts are concatenated without a separator, so `a`/`bc` and `ab`/`c`
/// with the same token share a path; [`Registry::set`] keeps the later one.
pub fn hook_path(token: &str, namespace: &str, name: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(token.as_bytes());
    hasher.update(namespace.as_bytes());
    hasher.update(name.as_bytes());
    format!("/hook/{}", hex(&hasher.finalize()))
}

/// Whether `path` has the shape [`hook_path`] produces.
fn is_hook_path(path: &str) -> bool {
    path.strip_prefix("/hook/").is_some_and(|digest| {
        digest.len() == 64
            && digest
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// How a Platform's webhook requests are authenticated, `spec.webhook.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookType {
    /// `X-Hub-Signature-256: sha256=<hex hmac-sha256(token, body)>`;
    /// `X-GitHub-Event: push` triggers.
    Github,
    /// `X-Gitlab-Token: <token>`; `X-Gitlab-Event: Push Hook` or
    /// `Tag Push Hook` triggers.
    Gitlab,
    /// `X-Signature: sha256=<hex hmac-sha256(token, body)>`; every valid
    /// request triggers.
    GenericHmac,
}

impl HookType {
    /// Every type, in a fixed order.
    pub const ALL: [HookType; 3] = [HookType::Github, HookType::Gitlab, HookType::GenericHmac];

    /// The name used in `spec.webhook.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            HookType::Github => "github",
            HookType::Gitlab => "gitlab",
            HookType::GenericHmac => "generic-hmac",
        }
    }
}

impl fmt::Display for HookType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HookType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        HookType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| Error::UnknownType(s.to_owned()))
    }
}

/// One Platform's webhook: whom to trigger and how to check a request.
#[derive(Clone, PartialEq, Eq)]
pub struct Receiver {
    pub namespace: String,
    pub name: String,
    pub kind: HookType,
    /// The shared secret, the `token` key of `spec.webhook.secretRef`.
    pub token: String,
}

// By hand so that the token never reaches a log line through `{:?}`.
impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// A request to reconcile one Platform now, sent for every accepted request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Trigger {
    pub namespace: String,
    pub name: String,
}

/// The receivers by path, shared between the controller (which keeps it in
/// step with Platforms and their Secrets) and the HTTP server.
#[derive(Clone, Default)]
pub struct Registry {
    receivers: Arc<RwLock<HashMap<String, Receiver>>>,
}

impl fmt::Debug for Registry {
    // The keys are capability URLs and the values hold tokens: show neither.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let receivers = self
            .receivers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Registry")
            .field("receivers", &receivers.len())
            .finish_non_exhaustive()
    }
}

impl Registry {
    pub fn new() -> Self {
        Registry::default()
    }

    /// Serve `receiver` and return its path. A receiver already registered
    /// for the same Platform is replaced, so a rotated token stops working
    /// on its old path at once.
    pub fn set(&self, receiver: Receiver) -> String {
        let path = hook_path(&receiver.token, &receiver.namespace, &receiver.name);
        // No code below can panic half-way through an update, so a poisoned
        // lock still holds a consistent map.
        let mut receivers = self
            .receivers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        receivers.retain(|_, r| !(r.namespace == receiver.namespace && r.name == receiver.name));
        if let Some(other) = receivers.get(&path) {
            tracing::warn!(
                namespace = %receiver.namespace,
                name = %receiver.name,
                other_namespace = %other.namespace,
                other_name = %other.name,
                "webhook path already used by another platform; it now triggers this one",
            );
        }
        receivers.insert(path.clone(), receiver);
        path
    }

    /// Stop serving the Platform `namespace/name`, if it was served.
    pub fn remove(&self, namespace: &str, name: &str) {
        let mut receivers = self
            .receivers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        receivers.retain(|_, r| !(r.namespace == namespace && r.name == name));
    }

    /// The receiver served on `path`.
    pub fn get(&self, path: &str) -> Option<Receiver> {
        let receivers = self
            .receivers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        receivers.get(path).cloned()
    }
}

/// What became of a request that reached a registered path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Verified and a [`Trigger`] sent: 202.
    Accepted,
    /// Verified, but not an event that changes the repository: 200.
    Ignored,
    /// Missing or bad signature or token: 401.
    Unauthorized,
    /// The body is over [`MAX_BODY`]: 413.
    TooLarge,
    /// The body could not be read, or not in time: 400 or 408.
    BadRequest,
    /// Verified, but the controller did not take the trigger: 503.
    Unavailable,
}

impl Outcome {
    /// Every outcome, in a fixed order.
    pub const ALL: [Outcome; 6] = [
        Outcome::Accepted,
        Outcome::Ignored,
        Outcome::Unauthorized,
        Outcome::TooLarge,
        Outcome::BadRequest,
        Outcome::Unavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Ignored => "ignored",
            Outcome::Unauthorized => "unauthorized",
            Outcome::TooLarge => "too-large",
            Outcome::BadRequest => "bad-request",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    /// Authentic and a change to the repository: reconcile now.
    Trigger,
    /// Authentic, but nothing to do; the text says why and is the answer.
    Ignore(&'static str),
    /// Missing, malformed or wrong signature or token.
    Unauthorized,
}

/// Decide what a request to a `kind` hook with shared secret `token` asks
/// for. Pure: no I/O, no logging.
///
/// # Guarantees
/// - The event is looked at only once the request is authenticated, so an
///   unauthenticated request is [`Verdict::Unauthorized`] whatever it claims.
/// - Secrets are compared in constant time: HMACs with
///   [`Mac::verify_slice`], GitLab tokens as sha256 digests so that the
///   time taken does not depend on the token's length either.
/// - Signatures are hex, upper or lower case (hex is case-insensitive and
///   GitHub documents none); the `sha256=` prefix must be exactly that.
/// - An empty `token` authenticates nothing: a Secret without a token must
///   not leave the hook open to anyone who learns the path.
pub fn verify(kind: HookType, token: &str, headers: &HeaderMap, body: &[u8]) -> Verdict {
    if token.is_empty() {
        return Verdict::Unauthorized;
    }
    match kind {
        HookType::Github => {
            if !signed(token, headers.get("x-hub-signature-256"), body) {
                return Verdict::Unauthorized;
            }
            match headers.get("x-github-event").map(|v| v.as_bytes()) {
                Some(b"push") => Verdict::Trigger,
                Some(b"ping") => Verdict::Ignore("pong"),
                _ => Verdict::Ignore("ignored"),
            }
        }
        HookType::Gitlab => {
            let Some(given) = headers.get("x-gitlab-token") else {
                return Verdict::Unauthorized;
            };
            let given = Sha256::digest(given.as_bytes());
            let expected = Sha256::digest(token.as_bytes());
            if !bool::from(given.as_slice().ct_eq(expected.as_slice())) {
                return Verdict::Unauthorized;
            }
            match headers.get("x-gitlab-event").map(|v| v.as_bytes()) {
                Some(b"Push Hook" | b"Tag Push Hook") => Verdict::Trigger,
                _ => Verdict::Ignore("ignored"),
            }
        }
        HookType::GenericHmac => {
            if signed(token, headers.get("x-signature"), body) {
                Verdict::Trigger
            } else {
                Verdict::Unauthorized
            }
        }
    }
}

/// Whether `signature` is `sha256=<hex hmac-sha256(token, body)>`.
fn signed(token: &str, signature: Option<&header::HeaderValue>, body: &[u8]) -> bool {
    let Some(digest) = signature.and_then(|v| v.as_bytes().strip_prefix(b"sha256=")) else {
        return false;
    };
    let Some(digest) = unhex(digest) else {
        return false;
    };
    // HMAC takes a key of any length; the error case cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(token.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&digest).is_ok()
}

/// The bytes a hex string spells, either case; `None` when it is not hex.
fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks_exact(2)
        .map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect()
}

/// What the handler needs.
#[derive(Clone)]
struct Hook {
    registry: Registry,
    triggers: mpsc::Sender<Trigger>,
    /// Where requests are counted (`distro_webhook_requests_total`).
    metrics: Arc<Metrics>,
}

/// The receiver's routes, without a server: `POST /hook/<64 hex>`.
///
/// Any other method on a hook path is 405, any other path 404, a body over
/// [`MAX_BODY`] 413, a request that fails [`verify`] 401. Only a
/// [`Verdict::Trigger`] sends on `triggers`.
pub fn router(
    registry: Registry,
    triggers: mpsc::Sender<Trigger>,
    metrics: Arc<Metrics>,
) -> Router {
    Router::new()
        .route("/hook/{digest}", any(receive))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Hook {
            registry,
            triggers,
            metrics,
        })
}

/// Serve [`router`] on `listener` until `shutdown` completes, then finish
/// the requests in flight and return.
///
/// # Errors
/// Whatever accepting or serving connections fails with.
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Registry,
    triggers: mpsc::Sender<Trigger>,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(registry, triggers, metrics))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

async fn receive(State(hook): State<Hook>, mut request: Request) -> Response {
    let path = request.uri().path();
    if !is_hook_path(path) {
        return not_found().await;
    }
    // Answered before the lookup so that the answer does not tell which
    // paths are registered.
    if request.method() != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "method not allowed",
        )
            .into_response();
    }
    let Some(receiver) = hook.registry.get(path) else {
        tracing::debug!("webhook request for no registered platform");
        return not_found().await;
    };
    let report = |outcome: Outcome, status: StatusCode, text: &'static str| {
        hook.metrics.inc_webhook(receiver.kind, outcome);
        let (namespace, name, kind) = (&receiver.namespace, &receiver.name, receiver.kind);
        let result = outcome.as_str();
        match outcome {
            Outcome::Accepted | Outcome::Ignored => {
                tracing::info!(%namespace, %name, %kind, result, reason = text, "webhook request");
            }
            _ => {
                tracing::warn!(%namespace, %name, %kind, result, reason = text, "webhook request refused");
            }
        }
        (status, text).into_response()
    };

    // A declared length over the limit is refused before a byte of the body
    // is read; the limit on the body itself covers chunked requests.
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY as u64) {
        return report(
            Outcome::TooLarge,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload too large",
        );
    }
    let headers = std::mem::take(request.headers_mut());
    let body = match tokio::time::timeout(BODY_TIMEOUT, Bytes::from_request(request, &())).await {
        Ok(Ok(body)) => body,
        Ok(Err(rejection)) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return report(
                Outcome::TooLarge,
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload too large",
            );
        }
        Ok(Err(rejection)) => {
            return report(Outcome::BadRequest, rejection.status(), "unreadable body");
        }
        Err(_) => {
            return report(
                Outcome::BadRequest,
                StatusCode::REQUEST_TIMEOUT,
                "request timeout",
            );
        }
    };

    match verify(receiver.kind, &receiver.token, &headers, &body) {
        Verdict::Unauthorized => report(
            Outcome::Unauthorized,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        Verdict::Ignore(why) => report(Outcome::Ignored, StatusCode::OK, why),
        Verdict::Trigger => {
            let trigger = Trigger {
                namespace: receiver.namespace.clone(),
                name: receiver.name.clone(),
            };
            match hook.triggers.send_timeout(trigger, SEND_TIMEOUT).await {
                Ok(()) => report(Outcome::Accepted, StatusCode::ACCEPTED, "accepted"),
                Err(_) => report(
                    Outcome::Unavailable,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::http::HeaderValue;
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;
    use tokio::time::timeout;

    use super::*;

    const TOKEN: &str = "tok";
    const BODY: &[u8] = br#"{"ref":"refs/heads/main"}"#;
    /// `printf '%s' '{"ref":"refs/heads/main"}' | openssl dgst -sha256 -hmac tok`
    const BODY_HMAC: &str = "b195aeaf767369ad82b277f325de9cb9e8c8dad8b18f7b6af18f6a151043bd97";
    const WAIT: Duration = Duration::from_secs(10);

    fn sign(token: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("any key length");
        mac.update(body);
        format!("sha256={}", hex(&mac.finalize().into_bytes()))
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                *name,
                HeaderValue::from_str(value).expect("test header value"),
            );
        }
        map
    }

    #[test]
    fn hook_path_is_the_sha256_of_token_namespace_and_name() {
        // printf '%s' 'tok' 'ns' 'name' | sha256sum
        assert_eq!(
            hook_path("tok", "ns", "name"),
            "/hook/bb3cb500cb3cd87c0c47e68d63835d479b65a027fcbb6ce810265722d475d0ae"
        );
        assert!(is_hook_path(&hook_path("tok", "ns", "name")));
        assert!(!is_hook_path(
            "/hook/BB3CB500CB3CD87C0C47E68D63835D479B65A027FCBB6CE810265722D475D0AE"
        ));
        assert!(!is_hook_path("/hook/bb3c"));
        assert!(!is_hook_path(
            "/other/bb3cb500cb3cd87c0c47e68d63835d479b65a027fcbb6ce810265722d475d0ae"
        ));
    }

    #[test]
    fn hook_type_names() {
        for kind in HookType::ALL {
            assert_eq!(kind.as_str().parse::<HookType>(), Ok(kind));
            let json = serde_json::to_string(&kind).expect("serialize");
            assert_eq!(json, format!("\"{kind}\""));
            assert_eq!(
                serde_json::from_str::<HookType>(&json).expect("deserialize"),
                kind
            );
        }
        assert_eq!("generic-hmac".parse(), Ok(HookType::GenericHmac));
        let err = "GitHub".parse::<HookType>().expect_err("case matters");
        assert_eq!(err, Error::UnknownType("GitHub".into()));
        assert!(err.to_string().contains("\"GitHub\""), "{err}");
        assert!(serde_json::from_str::<HookType>("\"bitbucket\"").is_err());
    }

    #[test]
    fn receiver_debug_hides_the_token() {
        let receiver = Receiver {
            namespace: "ns".into(),
            name: "name".into(),
            kind: HookType::Github,
            token: "s3cr3t-value".into(),
        };
        let shown = format!("{receiver:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(
            shown.contains("redacted") && shown.contains("ns"),
            "{shown}"
        );
        let registry = Registry::new();
        let path = registry.set(receiver);
        let shown = format!("{registry:?}");
        assert!(
            !shown.contains("s3cr3t-value") && !shown.contains(&path[6..]),
            "{shown}"
        );
    }

    #[test]
    fn the_signing_helper_agrees_with_openssl() {
        assert_eq!(sign(TOKEN, BODY), format!("sha256={BODY_HMAC}"));
    }

    #[test]
    fn github_signature() {
        let push = |signature: &str| {
            headers(&[
                ("x-hub-signature-256", signature),
                ("x-github-event", "push"),
            ])
        };
        let good = format!("sha256={BODY_HMAC}");
        assert_eq!(
            verify(HookType::Github, TOKEN, &push(&good), BODY),
            Verdict::Trigger
        );
        // Hex is case-insensitive; GitHub sends lower case but nothing says
        // a proxy or another sender will.
        let upper = format!("sha256={}", BODY_HMAC.to_uppercase());
        assert_eq!(
            verify(HookType::Github, TOKEN, &push(&upper), BODY),
            Verdict::Trigger
        );

        let wrong_token = push(&sign("other", BODY));
        assert_eq!(
            verify(HookType::Github, TOKEN, &wrong_token, BODY),
            Verdict::Unauthorized
        );
        assert_eq!(
            verify(HookType::Github, TOKEN, &push(&good), b"{}"),
            Verdict::Unauthorized
        );
        assert_eq!(
            verify(HookType::Github, TOKEN, &push(&good), b""),
            Verdict::Unauthorized
        );
        let unsigned = headers(&[("x-github-event", "push")]);
        assert_eq!(
            verify(HookType::Github, TOKEN, &unsigned, BODY),
            Verdict::Unauthorized
        );
        for malformed in [
            BODY_HMAC.to_owned(),                     // no prefix
            format!("SHA256={BODY_HMAC}"),            // prefix is exact
            format!("sha1={BODY_HMAC}"),              // another algorithm
            format!("sha256={}", &BODY_HMAC[..63]),   // odd length
            format!("sha256={}", &BODY_HMAC[..62]),   // short
            format!("sha256={BODY_HMAC}00"),          // long
            format!("sha256={}zz", &BODY_HMAC[..62]), // not hex
            format!("sha256= {BODY_HMAC}"),           // stray space
            "sha256=".to_owned(),                     // empty
        ] {
            assert_eq!(
                verify(HookType::Github, TOKEN, &push(&malformed), BODY),
                Verdict::Unauthorized,
                "{malformed}"
            );
        }
        // The signature of the other generic header does not count.
        let other_header = headers(&[("x-signature", &good), ("x-github-event", "push")]);
        assert_eq!(
            verify(HookType::Github, TOKEN, &other_header, BODY),
            Verdict::Unauthorized
        );
    }

    #[test]
    fn github_events() {
        let event = |name: &str| {
            headers(&[
                ("x-hub-signature-256", &sign(TOKEN, BODY)),
                ("x-github-event", name),
            ])
        };
        assert_eq!(
            verify(HookType::Github, TOKEN, &event("ping"), BODY),
            Verdict::Ignore("pong")
        );
        assert_eq!(
            verify(HookType::Github, TOKEN, &event("issues"), BODY),
            Verdict::Ignore("ignored")
        );
        assert_eq!(
            verify(HookType::Github, TOKEN, &event("Push"), BODY),
            Verdict::Ignore("ignored")
        );
        let no_event = headers(&[("x-hub-signature-256", &sign(TOKEN, BODY))]);
        assert_eq!(
            verify(HookType::Github, TOKEN, &no_event, BODY),
            Verdict::Ignore("ignored")
        );
        // The event is only believed once the request is signed.
        for name in ["ping", "push", "issues"] {
            let unsigned = headers(&[("x-github-event", name)]);
            assert_eq!(
                verify(HookType::Github, TOKEN, &unsigned, BODY),
                Verdict::Unauthorized
            );
        }
    }

    #[test]
    fn gitlab_token() {
        let event = |token: &str, name: &str| {
            headers(&[("x-gitlab-token", token), ("x-gitlab-event", name)])
        };
        // GitLab sends the token itself and signs nothing: any body goes.
        assert_eq!(
            verify(HookType::Gitlab, TOKEN, &event(TOKEN, "Push Hook"), BODY),
            Verdict::Trigger
        );
        assert_eq!(
            verify(HookType::Gitlab, TOKEN, &event(TOKEN, "Tag Push Hook"), b""),
            Verdict::Trigger
        );
        assert_eq!(
            verify(
                HookType::Gitlab,
                TOKEN,
                &event(TOKEN, "Merge Request Hook"),
                BODY
            ),
            Verdict::Ignore("ignored")
        );
        for wrong in ["other", "to", "tokk", "TOK", ""] {
            assert_eq!(
                verify(HookType::Gitlab, TOKEN, &event(wrong, "Push Hook"), BODY),
                Verdict::Unauthorized,
                "{wrong:?}"
            );
        }
        let missing = headers(&[("x-gitlab-event", "Push Hook")]);
        assert_eq!(
            verify(HookType::Gitlab, TOKEN, &missing, BODY),
            Verdict::Unauthorized
        );
        let as_signature = headers(&[
            ("x-signature", &sign(TOKEN, BODY)),
            ("x-gitlab-event", "Push Hook"),
        ]);
        assert_eq!(
            verify(HookType::Gitlab, TOKEN, &as_signature, BODY),
            Verdict::Unauthorized
        );
    }

    #[test]
    fn generic_hmac_signature() {
        let signed = |signature: &str| headers(&[("x-signature", signature)]);
        let good = sign(TOKEN, BODY);
        assert_eq!(
            verify(HookType::GenericHmac, TOKEN, &signed(&good), BODY),
            Verdict::Trigger
        );
        let upper = format!("sha256={}", BODY_HMAC.to_uppercase());
        assert_eq!(
            verify(HookType::GenericHmac, TOKEN, &signed(&upper), BODY),
            Verdict::Trigger
        );
        assert_eq!(
            verify(
                HookType::GenericHmac,
                TOKEN,
                &signed(&sign("other", BODY)),
                BODY
            ),
            Verdict::Unauthorized
        );
        assert_eq!(
            verify(HookType::GenericHmac, TOKEN, &signed(&good), b"{}"),
            Verdict::Unauthorized
        );
        assert_eq!(
            verify(HookType::GenericHmac, TOKEN, &HeaderMap::new(), BODY),
            Verdict::Unauthorized
        );
        for malformed in [
            BODY_HMAC.to_owned(),
            format!("sha256={}x", &BODY_HMAC[..63]),
            format!("sha256={}", &BODY_HMAC[..63]),
        ] {
            assert_eq!(
                verify(HookType::GenericHmac, TOKEN, &signed(&malformed), BODY),
                Verdict::Unauthorized,
                "{malformed}"
            );
        }
        let github_header = headers(&[("x-hub-signature-256", &good)]);
        assert_eq!(
            verify(HookType::GenericHmac, TOKEN, &github_header, BODY),
            Verdict::Unauthorized
        );
    }

    #[test]
    fn an_empty_token_authenticates_nothing() {
        let github = headers(&[
            ("x-hub-signature-256", &sign("", BODY)),
            ("x-github-event", "push"),
        ]);
        assert_eq!(
            verify(HookType::Github, "", &github, BODY),
            Verdict::Unauthorized
        );
        let gitlab = headers(&[("x-gitlab-token", ""), ("x-gitlab-event", "Push Hook")]);
        assert_eq!(
            verify(HookType::Gitlab, "", &gitlab, BODY),
            Verdict::Unauthorized
        );
        let generic = headers(&[("x-signature", &sign("", BODY))]);
        assert_eq!(
            verify(HookType::GenericHmac, "", &generic, BODY),
            Verdict::Unauthorized
        );
    }

    fn receiver(namespace: &str, name: &str, kind: HookType, token: &str) -> Receiver {
        Receiver {
            namespace: namespace.into(),
            name: name.into(),
            kind,
            token: token.into(),
        }
    }

    #[test]
    fn registry_set_replaces_and_remove_forgets() {
        let registry = Registry::new();
        let old = registry.set(receiver("ns", "a", HookType::Github, "one"));
        assert_eq!(old, hook_path("one", "ns", "a"));
        let other = registry.set(receiver("ns", "b", HookType::Github, "one"));
        assert_eq!(registry.get(&old).map(|r| r.name), Some("a".into()));

        // A rotated token moves the Platform to a new path; the old one dies.
        let new = registry.set(receiver("ns", "a", HookType::Gitlab, "two"));
        assert_ne!(old, new);
        assert_eq!(registry.get(&old), None);
        assert_eq!(registry.get(&new).map(|r| r.kind), Some(HookType::Gitlab));

        // Clones share the map.
        let clone = registry.clone();
        clone.remove("ns", "a");
        assert_eq!(registry.get(&new), None);
        assert_eq!(registry.get(&other).map(|r| r.name), Some("b".into()));
        registry.remove("ns", "missing");
        assert_eq!(registry.get(&other).map(|r| r.name), Some("b".into()));
    }

    /// A receiver served on a loopback port.
    struct Server {
        addr: SocketAddr,
        registry: Registry,
        metrics: Arc<Metrics>,
        triggers: mpsc::Receiver<Trigger>,
        stop: oneshot::Sender<()>,
        task: JoinHandle<std::io::Result<()>>,
    }

    impl Server {
        async fn start() -> Server {
            let listener = timeout(WAIT, TcpListener::bind("127.0.0.1:0"))
                .await
                .expect("bind in time")
                .expect("bind a loopback port");
            let addr = listener.local_addr().expect("local address");
            let registry = Registry::new();
            let metrics = Arc::new(Metrics::new());
            let (sender, triggers) = mpsc::channel(8);
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(serve(
                listener,
                registry.clone(),
                sender,
                Arc::clone(&metrics),
                async move {
                    let _ = stopped.await;
                },
            ));
            Server {
                addr,
                registry,
                metrics,
                triggers,
                stop,
                task,
            }
        }

        /// Shut down gracefully and make sure that nothing else was triggered.
        async fn stop(mut self) {
            assert_eq!(
                self.triggers.try_recv(),
                Err(mpsc::error::TryRecvError::Empty)
            );
            let _ = self.stop.send(());
            timeout(WAIT, self.task)
                .await
                .expect("shut down in time")
                .expect("server task")
                .expect("serve");
        }

        fn assert_no_trigger(&mut self) {
            // The trigger is sent before the answer, so by now it would be here.
            assert_eq!(
                self.triggers.try_recv(),
                Err(mpsc::error::TryRecvError::Empty)
            );
        }

        async fn next_trigger(&mut self) -> Trigger {
            timeout(WAIT, self.triggers.recv())
                .await
                .expect("trigger in time")
                .expect("trigger channel open")
        }

        async fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
            self.request("POST", path, headers, body).await
        }

        async fn request(
            &self,
            method: &str,
            path: &str,
            headers: &[(&str, &str)],
            body: &[u8],
        ) -> Answer {
            let mut head = format!(
                "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            exchange(self.addr, head, body.to_vec()).await
        }
    }

    /// Status, head and body of a response.
    #[derive(Debug)]
    struct Answer {
        status: u16,
        head: String,
        body: String,
    }

    /// Send `head` and `body` over a fresh connection and read the answer.
    /// The body is written alongside the read, since the server may answer
    /// (413) and close without reading it.
    async fn exchange(addr: SocketAddr, head: String, body: Vec<u8>) -> Answer {
        let stream = timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        let (reader, writer) = stream.into_split();
        let write = tokio::spawn(async move {
            // Errors are expected when the server stops reading early.
            if write_all(&writer, head.as_bytes()).await.is_ok() {
                let _ = write_all(&writer, &body).await;
            }
            writer
        });
        let mut received = Vec::new();
        // Until the server closes (Connection: close) or resets after answering.
        while let Ok(Ok(chunk)) = timeout(WAIT, read_some(&reader)).await {
            if chunk.is_empty() {
                break;
            }
            received.extend_from_slice(&chunk);
        }
        write.abort();
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

    // Readiness plus try_* rather than tokio's io-util extension traits, which
    // the crate does not otherwise need.
    async fn write_all(
        writer: &tokio::net::tcp::OwnedWriteHalf,
        mut bytes: &[u8],
    ) -> std::io::Result<()> {
        while !bytes.is_empty() {
            writer.writable().await?;
            match writer.try_write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The next bytes that arrive; empty at the end of the stream.
    async fn read_some(reader: &tokio::net::tcp::OwnedReadHalf) -> std::io::Result<Vec<u8>> {
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            reader.readable().await?;
            match reader.try_read(&mut chunk) {
                Ok(n) => {
                    chunk.truncate(n);
                    return Ok(chunk);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn github_push(signature: &str) -> [(&'static str, &str); 2] {
        [
            ("X-Hub-Signature-256", signature),
            ("X-GitHub-Event", "push"),
        ]
    }

    #[tokio::test]
    async fn github_push_is_accepted_and_triggers() {
        let mut server = Server::start().await;
        let path = server
            .registry
            .set(receiver("team", "platform", HookType::Github, TOKEN));
        let answer = server
            .post(&path, &github_push(&sign(TOKEN, BODY)), BODY)
            .await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (202, "accepted"),
            "{answer:?}"
        );
        assert_eq!(
            server.next_trigger().await,
            Trigger {
                namespace: "team".into(),
                name: "platform".into()
            }
        );
        assert_eq!(
            server
                .metrics
                .webhook_requests(HookType::Github, Outcome::Accepted),
            1
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn bad_signature_is_unauthorized_and_triggers_nothing() {
        let mut server = Server::start().await;
        let path = server
            .registry
            .set(receiver("team", "platform", HookType::Github, TOKEN));
        let answer = server
            .post(&path, &github_push(&sign("other", BODY)), BODY)
            .await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (401, "unauthorized"),
            "{answer:?}"
        );
        server.assert_no_trigger();
        let unsigned = server
            .post(&path, &[("X-GitHub-Event", "push")], BODY)
            .await;
        assert_eq!(unsigned.status, 401, "{unsigned:?}");
        server.assert_no_trigger();
        assert_eq!(
            server
                .metrics
                .webhook_requests(HookType::Github, Outcome::Unauthorized),
            2
        );
        assert_eq!(
            server
                .metrics
                .webhook_requests(HookType::Github, Outcome::Accepted),
            0
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn github_ping_answers_ok_and_triggers_nothing() {
        let mut server = Server::start().await;
        let path = server
            .registry
            .set(receiver("team", "platform", HookType::Github, TOKEN));
        let signature = sign(TOKEN, BODY);
        let ping = [
            ("X-Hub-Signature-256", signature.as_str()),
            ("X-GitHub-Event", "ping"),
        ];
        let answer = server.post(&path, &ping, BODY).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, "pong"),
            "{answer:?}"
        );
        server.assert_no_trigger();
        let issues = [
            ("X-Hub-Signature-256", signature.as_str()),
            ("X-GitHub-Event", "issues"),
        ];
        let answer = server.post(&path, &issues, BODY).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, "ignored"),
            "{answer:?}"
        );
        server.assert_no_trigger();
        assert_eq!(
            server
                .metrics
                .webhook_requests(HookType::Github, Outcome::Ignored),
            2
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn unknown_paths_are_not_found() {
        let mut server = Server::start().await;
        let path = server
            .registry
            .set(receiver("team", "platform", HookType::Github, TOKEN));
        let signature = sign(TOKEN, BODY);
        let unregistered = hook_path(TOKEN, "team", "other");
        for target in [
            unregistered.as_str(),
            "/",
            "/hook",
            "/hook/",
            "/hook/abc",
            &path.to_uppercase(),
            &format!("{path}/"),
            &format!("{path}/more"),
        ] {
            let answer = server.post(target, &github_push(&signature), BODY).await;
            assert_eq!(
                (answer.status, answer.body.as_str()),
                (404, "not found"),
                "{target}: {answer:?}"
            );
        }
        let answer = server.request("GET", "/metrics", &[], b"").await;
        assert_eq!(answer.status, 404, "{answer:?}");
        server.assert_no_trigger();
        server.stop().await;
    }

    #[tokio::test]
    async fn other_methods_on_a_hook_path_are_not_allowed() {
        let mut server = Server::start().await;
        let path = server
            .registry
            .set(receiver("team", "platform", HookType::Github, TOKEN));
        let signature = sign(TOKEN, BODY);
        // Registered or not, so that the answer does not reveal which is.
        for target in [path.clone(), hook_path(TOKEN, "team", "other")] {
            for method in ["GET", "PUT", "DELETE"] {
                let answer = server
                    .request(method, &target, &github_push(&signature), BODY)
                    .await;
                assert_eq!(answer.status, 405, "{method}: {answer:?}");
                assert!(
                    answer.head.to_ascii_lowercase().contains("\r\nallow: post"),
                    "{answer:?}"
                );
            }
        }
        server.assert_no_trigger();
        server.stop().await;
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused() {
        let mut server = Server::start().await;
        let path = server
            .registry
            .set(receiver("team", "platform", HookType::GenericHmac, TOKEN));
        let body = vec![b'x'; 2 * 1024 * 1024];
        let signature = sign(TOKEN, &body);
        let answer = server
            .post(&path, &[("X-Signature", &signature)], &body)
            .await;
        assert_eq!(answer.status, 413, "{answer:?}");
        server.assert_no_trigger();

        // Without a declared length the limit applies while reading.
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nX-Signature: {signature}\r\n\r\n"
        );
        let mut chunked = Vec::new();
        for piece in body.chunks(64 * 1024) {
            chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            chunked.extend_from_slice(piece);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let answer = exchange(server.addr, std::mem::take(&mut head), chunked).await;
        assert_eq!(answer.status, 413, "{answer:?}");
        server.assert_no_trigger();
        assert_eq!(
            server
                .metrics
                .webhook_requests(HookType::GenericHmac, Outcome::TooLarge),
            2
        );

        // Exactly at the limit is fine.
        let body = vec![b'x'; MAX_BODY];
        let answer = server
            .post(&path, &[("X-Signature", &sign(TOKEN, &body))], &body)
            .await;
        assert_eq!(answer.status, 202, "{answer:?}");
        server.next_trigger().await;
        server.stop().await;
    }

    #[tokio::test]
    async fn gitlab_push_is_accepted_and_triggers() {
        let mut server = Server::start().await;
        let path = server
            .registry
            .set(receiver("infra", "edge", HookType::Gitlab, TOKEN));
        let push = [("X-Gitlab-Token", TOKEN), ("X-Gitlab-Event", "Push Hook")];
        let answer = server.post(&path, &push, BODY).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (202, "accepted"),
            "{answer:?}"
        );
        assert_eq!(server.next_trigger().await.name, "edge");

        let wrong = [("X-Gitlab-Token", "nope"), ("X-Gitlab-Event", "Push Hook")];
        assert_eq!(server.post(&path, &wrong, BODY).await.status, 401);
        server.assert_no_trigger();
        let note = [("X-Gitlab-Token", TOKEN), ("X-Gitlab-Event", "Note Hook")];
        assert_eq!(server.post(&path, &note, BODY).await.status, 200);
        server.assert_no_trigger();
        server.stop().await;
    }

    #[tokio::test]
    async fn generic_hmac_is_accepted_and_triggers() {
        let mut server = Server::start().await;
        let path = server
            .registry
            .set(receiver("infra", "core", HookType::GenericHmac, TOKEN));
        let answer = server
            .post(&path, &[("X-Signature", &sign(TOKEN, BODY))], BODY)
            .await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (202, "accepted"),
            "{answer:?}"
        );
        assert_eq!(
            server.next_trigger().await,
            Trigger {
                namespace: "infra".into(),
                name: "core".into()
            }
        );
        let tampered = server
            .post(&path, &[("X-Signature", &sign(TOKEN, BODY))], b"{}")
            .await;
        assert_eq!(tampered.status, 401, "{tampered:?}");
        server.assert_no_trigger();
        server.stop().await;
    }

    #[tokio::test]
    async fn a_closed_trigger_channel_is_unavailable() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let registry = Registry::new();
        let path = registry.set(receiver("infra", "core", HookType::GenericHmac, TOKEN));
        let (sender, receiver) = mpsc::channel(1);
        drop(receiver);
        let (stop, stopped) = oneshot::channel::<()>();
        let metrics = Arc::new(Metrics::new());
        let task = tokio::spawn(serve(
            listener,
            registry.clone(),
            sender,
            Arc::clone(&metrics),
            async move {
                let _ = stopped.await;
            },
        ));
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\nX-Signature: {}\r\n\r\n",
            BODY.len(),
            sign(TOKEN, BODY)
        );
        let answer = exchange(addr, head, BODY.to_vec()).await;
        assert_eq!(answer.status, 503, "{answer:?}");
        assert_eq!(
            metrics.webhook_requests(HookType::GenericHmac, Outcome::Unavailable),
            1
        );
        let _ = stop.send(());
        timeout(WAIT, task)
            .await
            .expect("shut down in time")
            .expect("task")
            .expect("serve");
    }
}

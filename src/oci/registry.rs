//! A client for one registry, over `oci-client`, that trusts nothing the
//! registry says about content:
//!
//! - manifests are checked against the digest asked for, or for a tag, the
//!   digest is computed from the bytes received (a `Docker-Content-Digest`
//!   header is never taken as the answer);
//! - blobs are streamed to an [`AsyncWrite`] and checked against the
//!   descriptor's sha256 and size as they arrive, so memory stays bounded and
//!   a blob that runs past its size is cut off at once;
//! - every operation has a deadline ([`Options::timeout`]), on top of the
//!   connect and read timeouts of the HTTP client.
//!
//! Plain HTTP is used only for registries on this machine (127.0.0.0/8,
//! `::1`, `localhost`) or when [`Options::insecure`] is set; no proxy is
//! used. Credentials come from [`Options::credentials`], else from the
//! Docker client's config file (see [`super::credentials`]).

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use oci_client::Client;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::credentials::{self, Credentials};
use super::reference::{Reference, is_sha256_digest};

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Every manifest media type [`Registry::fetch_manifest`] accepts by default.
pub const MANIFEST_TYPES: &[&str] = &[
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// Largest manifest accepted (the size registries commonly enforce).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// The User-Agent of every request.
const USER_AGENT: &str = concat!("distro/", env!("CARGO_PKG_VERSION"));

/// Most tags read from one repository.
pub const MAX_TAGS: usize = 10_000;

/// Errors talking to a registry. Messages name the registry or the
/// reference, never a credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Credentials(#[from] credentials::Error),
    /// The registry could not be reached (connect, TLS, transfer).
    #[error("registry {registry} unreachable: {reason}")]
    Unreachable { registry: String, reason: String },
    /// An operation took longer than [`Options::timeout`].
    #[error("registry {registry}: {operation} timed out after {after:?}")]
    Timeout {
        registry: String,
        operation: &'static str,
        after: Duration,
    },
    /// The registry refused the credentials (or anonymous access).
    #[error(
        "registry {registry}: authentication failed for {reference} (check the credentials in the Docker config or the Secret)"
    )]
    Auth { registry: String, reference: String },
    /// The manifest, blob or repository does not exist.
    #[error("{reference}: not found")]
    NotFound { reference: String },
    /// Content does not match its digest or size.
    #[error("{subject}: expected {expected}, received {actual}")]
    Mismatch {
        subject: String,
        expected: String,
        actual: String,
    },
    /// Content larger than a bound.
    #[error("{subject}: larger than {limit} bytes")]
    TooLarge { subject: String, limit: u64 },
    /// A digest that is not `sha256:<64 hex>`.
    #[error("{subject}: unsupported digest {digest:?} (only sha256 is accepted)")]
    BadDigest { subject: String, digest: String },
    /// Writing fetched content failed.
    #[error("{subject}: write failed: {source}")]
    Write {
        subject: String,
        #[source]
        source: std::io::Error,
    },
    /// Any other answer of the registry.
    #[error("registry {registry}: {operation} failed: {message}")]
    Registry {
        registry: String,
        operation: &'static str,
        /// The HTTP status, when the registry answered with one: whether
        /// trying again may help depends on it (see [`super::retry`]).
        status: Option<u16>,
        /// The registry's `Retry-After`, in seconds, when it sent one.
        retry_after: Option<Duration>,
        message: String,
    },
}

/// What went wrong, broadly; the CLI maps it to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Unreachable or timed out: exit code 3.
    Unreachable,
    /// Credentials refused.
    Auth,
    /// The reference does not exist.
    NotFound,
    /// The registry sent content that fails verification, or too much.
    Content,
    /// Local input (credentials file) unusable.
    Config,
    /// Anything else the registry answered.
    Registry,
}

impl Error {
    /// The broad class of the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Unreachable { .. } | Error::Timeout { .. } => ErrorKind::Unreachable,
            Error::Auth { .. } => ErrorKind::Auth,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Mismatch { .. } | Error::TooLarge { .. } | Error::BadDigest { .. } => {
                ErrorKind::Content
            }
            Error::Credentials(_) | Error::Write { .. } => ErrorKind::Config,
            Error::Registry { .. } => ErrorKind::Registry,
        }
    }

    /// The HTTP status of a registry's answer, when one is known.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Registry { status, .. } => *status,
            _ => None,
        }
    }

    /// How long the registry asked to wait before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Registry { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// How to talk to a registry.
#[derive(Debug, Clone)]
pub struct Options {
    /// Allow plain HTTP to a registry that is not on this machine.
    pub insecure: bool,
    /// Deadline of one operation (one manifest, one blob, one tag list).
    pub timeout: Duration,
    /// Deadline of a TCP (and TLS) connect.
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response.
    pub read_timeout: Duration,
    /// Credentials to use; `None` reads the Docker client's config file.
    pub credentials: Option<Credentials>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            insecure: false,
            timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            credentials: None,
        }
    }
}

/// A manifest or index, as received and verified.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The bytes, exactly as the registry sent them (their sha256 is `digest`).
    pub bytes: Bytes,
    /// `sha256:<hex>` of `bytes`.
    pub digest: String,
    /// The `mediaType` field of the document, if it has one.
    pub media_type: Option<String>,
}

/// A client for the registry of one reference.
#[derive(Clone)]
pub struct Registry {
    client: Client,
    /// For manifests, whose body `oci-client` would read unbounded.
    http: reqwest::Client,
    /// `https`, or `http` for loopback and `--insecure`.
    scheme: &'static str,
    registry: String,
    auth: RegistryAuth,
    timeout: Duration,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A client for `reference`'s registry.
    ///
    /// # Errors
    /// The Docker config file is unreadable, or the HTTP client cannot be
    /// built (TLS setup).
    pub fn new(reference: &Reference, options: &Options) -> Result<Self, Error> {
        let credentials = match &options.credentials {
            Some(c) => c.clone(),
            None => credentials::from_docker_config(&reference.registry)?,
        };
        // reqwest is built without a TLS provider of its own: use ring, the
        // one kube already brings. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let plain = options.insecure || reference.is_loopback();
        let protocol = if plain {
            ClientProtocol::HttpsExcept(vec![reference.registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let setup = |message: String| Error::Registry {
            registry: reference.registry.clone(),
            operation: "client setup",
            status: None,
            retry_after: None,
            message,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .user_agent(USER_AGENT)
            .no_proxy()
            .build()
            .map_err(|e| setup(e.to_string()))?;
        let config = ClientConfig {
            protocol,
            connect_timeout: Some(options.connect_timeout),
            read_timeout: Some(options.read_timeout),
            // An index is never resolved to a platform behind our back.
            platform_resolver: None,
            user_agent: USER_AGENT,
            ..ClientConfig::default()
        };
        let client = Client::try_from(config).map_err(|e| setup(e.to_string()))?;
        Ok(Registry {
            client,
            http,
            scheme: if plain { "http" } else { "https" },
            registry: reference.registry.clone(),
            auth: credentials.to_client(),
            timeout: options.timeout,
        })
    }

    /// The registry this client talks to (`host[:port]`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Fetches the manifest or index `reference` names, accepting only
    /// `accept` media types ([`MANIFEST_TYPES`] when empty). The bytes are
    /// checked against the reference's digest when it has one; otherwise
    /// their digest is computed.
    ///
    /// # Errors
    /// Unreachable, refused, missing, larger than [`MAX_MANIFEST_BYTES`],
    /// or not matching the digest asked for.
    ///
    pub async fn fetch_manifest(
        &self,
        reference: &Reference,
        accept: &[&str],
    ) -> Result<Manifest, Error> {
        let accept = if accept.is_empty() {
            MANIFEST_TYPES
        } else {
            accept
        };
        let subject = reference.to_string();
        if let Some(digest) = &reference.digest {
            check_digest_form(&subject, digest)?;
        }
        let (bytes, claimed) = self
            .deadline(
                "manifest fetch",
                self.get_manifest(reference, accept, &subject),
            )
            .await??;
        let digest = crate::source::sha256(&bytes);
        if let Some(expected) = &reference.digest
            && *expected != digest
        {
            return Err(Error::Mismatch {
                subject: format!("manifest {subject}"),
                expected: expected.clone(),
                actual: digest,
            });
        }
        // The header is never the answer, but a registry that contradicts
        // itself is not believed either.
        if let Some(claimed) = claimed
            && claimed.starts_with("sha256:")
            && claimed != digest
        {
            return Err(Error::Mismatch {
                subject: format!("manifest {subject} (Docker-Content-Digest)"),
                expected: claimed,
                actual: digest,
            });
        }
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string));
        Ok(Manifest {
            bytes,
            digest,
            media_type,
        })
    }

    /// Streams the blob `digest` of `reference`'s repository into `out`,
    /// checking its sha256 and that it is exactly `size` bytes as it goes.
    /// Returns the bytes written. Memory use is one network chunk.
    ///
    /// # Errors
    /// Unreachable, refused, missing, longer or shorter than `size`, not
    /// matching `digest`, or `out` failing. What was written to `out` before
    /// an error must be thrown away by the caller.
    pub async fn fetch_blob<W: AsyncWrite + Unpin>(
        &self,
        reference: &Reference,
        digest: &str,
        size: u64,
        out: &mut W,
    ) -> Result<u64, Error> {
        let subject = format!(
            "blob {digest} of {}/{}",
            self.registry, reference.repository
        );
        check_digest_form(&subject, digest)?;
        let descriptor = OciDescriptor {
            digest: digest.to_string(),
            size: i64::try_from(size).unwrap_or(i64::MAX),
            ..OciDescriptor::default()
        };
        let work = async {
            let mut stream = self
                .client
                .pull_blob_stream(&reference.to_client(), &descriptor)
                .await
                .map_err(|e| self.map_err(e, "blob fetch", &subject))?;
            let mut hasher = Sha256::new();
            let mut received: u64 = 0;
            while let Some(chunk) = stream.next().await {
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    // oci-client checks the digest itself at the end of the
                    // stream; ours below says more, so finish with it.
                    Err(e) if is_digest_error(&e) => break,
                    Err(e) => {
                        return Err(Error::Unreachable {
                            registry: self.registry.clone(),
                            reason: format!("{subject}: {e}"),
                        });
                    }
                };
                received += chunk.len() as u64;
                if received > size {
                    return Err(Error::Mismatch {
                        subject,
                        expected: format!("{size} bytes"),
                        actual: format!("more than {size} bytes"),
                    });
                }
                hasher.update(&chunk);
                out.write_all(&chunk).await.map_err(|source| Error::Write {
                    subject: subject.clone(),
                    source,
                })?;
            }
            out.flush().await.map_err(|source| Error::Write {
                subject: subject.clone(),
                source,
            })?;
            if received != size {
                return Err(Error::Mismatch {
                    subject,
                    expected: format!("{size} bytes"),
                    actual: format!("{received} bytes"),
                });
            }
            let actual = format!("sha256:{}", crate::source::hex(&hasher.finalize()));
            if actual != digest {
                return Err(Error::Mismatch {
                    subject,
                    expected: digest.to_string(),
                    actual,
                });
            }
            Ok(received)
        };
        self.deadline("blob fetch", work).await?
    }

    /// Fetches a small blob into memory, verified as [`Self::fetch_blob`]
    /// does; refuses a `size` above `max`.
    ///
    /// # Errors
    /// As [`Self::fetch_blob`], and [`Error::TooLarge`].
    pub async fn fetch_blob_bytes(
        &self,
        reference: &Reference,
        digest: &str,
        size: u64,
        max: u64,
    ) -> Result<Vec<u8>, Error> {
        if size > max {
            return Err(Error::TooLarge {
                subject: format!(
                    "blob {digest} of {}/{}",
                    self.registry, reference.repository
                ),
                limit: max,
            });
        }
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        self.fetch_blob(reference, digest, size, &mut out).await?;
        Ok(out)
    }

    /// Whether the blob `digest` exists in `reference`'s repository.
    ///
    /// # Errors
    /// Unreachable or refused.
    pub async fn blob_exists(&self, reference: &Reference, digest: &str) -> Result<bool, Error> {
        let subject = format!(
            "blob {digest} of {}/{}",
            self.registry, reference.repository
        );
        check_digest_form(&subject, digest)?;
        self.client
            .store_auth_if_needed(&self.registry, &self.auth)
            .await;
        self.deadline(
            "blob check",
            self.client.blob_exists(&reference.to_client(), digest),
        )
        .await?
        .map_err(|e| self.map_err(e, "blob check", &subject))
    }

    /// Uploads `data` as the blob `digest` of `reference`'s repository,
    /// unless the registry has it already. `data` is checked against
    /// `digest` first, so a caller's mistake cannot poison a repository.
    ///
    /// # Errors
    /// `data` does not match `digest`; unreachable or refused.
    pub async fn push_blob(
        &self,
        reference: &Reference,
        data: Bytes,
        digest: &str,
    ) -> Result<(), Error> {
        let subject = format!(
            "blob {digest} of {}/{}",
            self.registry, reference.repository
        );
        check_digest_form(&subject, digest)?;
        let actual = crate::source::sha256(&data);
        if actual != digest {
            return Err(Error::Mismatch {
                subject,
                expected: digest.to_string(),
                actual,
            });
        }
        if self.blob_exists(reference, digest).await? {
            return Ok(());
        }
        self.deadline(
            "blob upload",
            self.client.push_blob(&reference.to_client(), data, digest),
        )
        .await?
        .map(|_| ())
        .map_err(|e| self.map_err(e, "blob upload", &subject))
    }

    /// Uploads the blob `digest` of `size` bytes from a stream (a file, a
    /// layout's blob), unless the registry has it already. Memory use is one
    /// chunk. The registry checks the digest when the upload is committed
    /// and refuses a mismatch, so nothing unverified is stored.
    ///
    /// # Errors
    /// The stream fails, the registry refuses (a digest mismatch among
    /// others), or it is unreachable.
    pub async fn push_blob_stream<S>(
        &self,
        reference: &Reference,
        stream: S,
        digest: &str,
        size: u64,
    ) -> Result<(), Error>
    where
        S: futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    {
        let subject = format!(
            "blob {digest} of {}/{}",
            self.registry, reference.repository
        );
        check_digest_form(&subject, digest)?;
        if self.blob_exists(reference, digest).await? {
            return Ok(());
        }
        let stream = stream.map(|chunk| chunk.map_err(OciDistributionError::IoError));
        self.deadline(
            "blob upload",
            self.client
                .push_blob_stream(&reference.to_client(), stream, digest, Some(size)),
        )
        .await?
        .map(|_| ())
        .map_err(|e| self.map_err(e, "blob upload", &subject))
    }

    /// Uploads a manifest (or index) under `reference`'s tag, or under its
    /// digest when it has no tag, with `media_type` as its content type.
    /// Returns its digest (computed here, not taken from the registry).
    ///
    /// # Errors
    /// Larger than [`MAX_MANIFEST_BYTES`], a digest reference the bytes do
    /// not match, unreachable or refused.
    pub async fn push_manifest(
        &self,
        reference: &Reference,
        bytes: Bytes,
        media_type: &str,
    ) -> Result<String, Error> {
        let subject = reference.to_string();
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(Error::TooLarge {
                subject,
                limit: MAX_MANIFEST_BYTES as u64,
            });
        }
        let digest = crate::source::sha256(&bytes);
        let target = match (&reference.tag, &reference.digest) {
            (Some(tag), _) => reference.with_tag(tag),
            (None, Some(expected)) if *expected != digest => {
                return Err(Error::Mismatch {
                    subject: format!("manifest {subject}"),
                    expected: expected.clone(),
                    actual: digest,
                });
            }
            _ => reference.with_digest(&digest),
        };
        let content_type =
            http::HeaderValue::from_str(media_type).map_err(|_| Error::Registry {
                registry: self.registry.clone(),
                operation: "manifest upload",
                status: None,
                retry_after: None,
                message: format!("media type {media_type:?} is not a header value"),
            })?;
        self.client
            .store_auth_if_needed(&self.registry, &self.auth)
            .await;
        self.deadline(
            "manifest upload",
            self.client
                .push_manifest_raw(&target.to_client(), bytes, content_type),
        )
        .await?
        .map_err(|e| self.map_err(e, "manifest upload", &subject))?;
        Ok(digest)
    }

    /// Every tag of `reference`'s repository, following pagination, at
    /// most [`MAX_TAGS`].
    ///
    /// # Errors
    /// Unreachable, refused, or more than [`MAX_TAGS`] tags.
    pub async fn list_tags(&self, reference: &Reference) -> Result<Vec<String>, Error> {
        const PAGE: usize = 1000;
        let subject = format!("{}/{}", self.registry, reference.repository);
        let image = reference.to_client();
        let work = async {
            let mut tags: Vec<String> = Vec::new();
            loop {
                let last = tags.last().cloned();
                let page = self
                    .client
                    .list_tags(&image, &self.auth, Some(PAGE), last.as_deref())
                    .await
                    .map_err(|e| self.map_err(e, "tag list", &subject))?;
                let count = page.tags.len();
                // A page that does not move forward would loop for ever.
                let before = tags.len();
                tags.extend(
                    page.tags
                        .into_iter()
                        .filter(|t| last.as_deref().is_none_or(|l| t.as_str() > l)),
                );
                if tags.len() > MAX_TAGS {
                    return Err(Error::TooLarge {
                        subject: format!("tags of {subject}"),
                        limit: MAX_TAGS as u64,
                    });
                }
                if count < PAGE || tags.len() == before {
                    return Ok(tags);
                }
            }
        };
        self.deadline("tag list", work).await?
    }

    /// GET of a manifest, its body read up to [`MAX_MANIFEST_BYTES`]: the
    /// token (or Basic credentials) come from `oci-client`'s handshake, the
    /// request is made here so that a huge body is cut off, not buffered.
    async fn get_manifest(
        &self,
        reference: &Reference,
        accept: &[&str],
        subject: &str,
    ) -> Result<(Bytes, Option<String>), Error> {
        let image = reference.to_client();
        let token = self
            .client
            .auth(&image, &self.auth, oci_client::RegistryOperation::Pull)
            .await
            .map_err(|e| self.map_err(e, "manifest fetch", subject))?;
        let target = reference
            .digest
            .clone()
            .or_else(|| reference.tag.clone())
            .unwrap_or_else(|| "latest".into());
        let url = format!(
            "{}://{}/v2/{}/manifests/{target}",
            self.scheme,
            image.resolve_registry(),
            reference.repository
        );
        let mut request = self.http.get(&url).header("Accept", accept.join(", "));
        request = match (&token, &self.auth) {
            (Some(token), _) => request.bearer_auth(token),
            (None, RegistryAuth::Basic(user, password)) => request.basic_auth(user, Some(password)),
            (None, RegistryAuth::Bearer(token)) => request.bearer_auth(token),
            (None, RegistryAuth::Anonymous) => request,
        };
        let unreachable = |e: reqwest::Error| Error::Unreachable {
            registry: self.registry.clone(),
            reason: request_reason(&e),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(Error::Auth {
                registry: self.registry.clone(),
                reference: subject.to_string(),
            });
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(Error::NotFound {
                reference: subject.to_string(),
            });
        }
        let too_large = || Error::TooLarge {
            subject: subject.to_string(),
            limit: MAX_MANIFEST_BYTES as u64,
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_MANIFEST_BYTES as u64)
        {
            return Err(too_large());
        }
        let claimed = response
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after_seconds);
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(unreachable)?;
            if body.len() + chunk.len() > MAX_MANIFEST_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(Error::Registry {
                registry: self.registry.clone(),
                operation: "manifest fetch",
                status: Some(status.as_u16()),
                retry_after,
                message: shorten(&format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&body)
                )),
            });
        }
        Ok((Bytes::from(body), claimed))
    }

    async fn deadline<T>(
        &self,
        operation: &'static str,
        work: impl Future<Output = T>,
    ) -> Result<T, Error> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| Error::Timeout {
                registry: self.registry.clone(),
                operation,
                after: self.timeout,
            })
    }

    fn map_err(&self, e: OciDistributionError, operation: &'static str, subject: &str) -> Error {
        let registry = self.registry.clone();
        let auth = || Error::Auth {
            registry: self.registry.clone(),
            reference: subject.to_string(),
        };
        let not_found = || Error::NotFound {
            reference: subject.to_string(),
        };
        match e {
            // A status here comes from a response `oci-client` turned into
            // an error (a blob check): the registry was reached.
            OciDistributionError::RequestError(e) => match e.status().map(|s| s.as_u16()) {
                Some(401 | 403) => auth(),
                Some(404) => not_found(),
                Some(code) => Error::Registry {
                    registry,
                    operation,
                    status: Some(code),
                    retry_after: None,
                    message: shorten(&format!("HTTP {code}")),
                },
                None => Error::Unreachable {
                    registry,
                    reason: request_reason(&e),
                },
            },
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => auth(),
            OciDistributionError::ServerError {
                code: 401 | 403, ..
            } => auth(),
            OciDistributionError::ServerError { code: 404, .. }
            | OciDistributionError::ImageManifestNotFoundError(_) => not_found(),
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
                {
                    auth()
                } else if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::BlobUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                    )
                }) {
                    not_found()
                } else {
                    // The envelope is all that is left of a 4xx answer; its
                    // code still tells a rate limit apart.
                    let limited = codes
                        .iter()
                        .any(|c| matches!(c, OciErrorCode::Toomanyrequests));
                    Error::Registry {
                        registry,
                        operation,
                        status: limited.then_some(429),
                        retry_after: None,
                        message: shorten(&envelope.to_string()),
                    }
                }
            }
            OciDistributionError::DigestError(e) => Error::Mismatch {
                subject: subject.to_string(),
                expected: "content matching its digest".into(),
                actual: shorten(&e.to_string()),
            },
            OciDistributionError::ServerError { code, .. } => Error::Registry {
                registry,
                operation,
                status: Some(code),
                retry_after: None,
                message: shorten(&e.to_string()),
            },
            other => Error::Registry {
                registry,
                operation,
                status: None,
                retry_after: None,
                message: shorten(&other.to_string()),
            },
        }
    }
}

fn check_digest_form(subject: &str, digest: &str) -> Result<(), Error> {
    if is_sha256_digest(digest) {
        Ok(())
    } else {
        Err(Error::BadDigest {
            subject: subject.to_string(),
            digest: shorten(digest),
        })
    }
}

/// A `Retry-After` in delta-seconds; the HTTP-date form is not honoured
/// (the backoff applies instead). Bounded: it is the registry's word.
fn retry_after_seconds(value: &str) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().map(Duration::from_secs)
}

fn is_digest_error(e: &std::io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.is::<oci_client::errors::DigestError>())
}

/// The innermost cause of a transport error, one line ("connection
/// refused", "operation timed out").
fn request_reason(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    let reason = source.to_string();
    if e.is_timeout() {
        format!("timed out ({reason})")
    } else {
        shorten(&reason)
    }
}

/// A registry's message, on one line and bounded: it is untrusted text.
fn shorten(message: &str) -> String {
    let one_line: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    one_line.trim().to_string()
}

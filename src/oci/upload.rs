//! Streaming blob uploads for `distro import`: one PUT whose body is read
//! from the air-gap file chunk by chunk, so memory stays at a chunk however
//! large the layer ([`super::Registry::push_blob`] takes the blob in
//! memory, fine for the distribution artifact, not for images).
//!
//! The client is set up as [`super::Registry`] sets up its own: the same
//! credentials (Docker config), plain HTTP only for loopback registries or
//! with `insecure`, the same timeouts, and errors in
//! [`super::registry::Error`]'s terms.

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use oci_client::Client;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;

use super::credentials;
use super::reference::Reference;
use super::registry::{Error, Options};

/// Uploads blobs to one registry.
#[derive(Clone)]
pub struct Uploader {
    client: Client,
    registry: String,
    auth: RegistryAuth,
    timeout: Duration,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploader")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl Uploader {
    /// An uploader for `reference`'s registry.
    ///
    /// # Errors
    /// The Docker config is unreadable, or the HTTP client cannot be built.
    pub fn new(reference: &Reference, options: &Options) -> Result<Self, Error> {
        let credentials = match &options.credentials {
            Some(c) => c.clone(),
            None => credentials::from_docker_config(&reference.registry)?,
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let protocol = if options.insecure || reference.is_loopback() {
            ClientProtocol::HttpsExcept(vec![reference.registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let config = ClientConfig {
            protocol,
            connect_timeout: Some(options.connect_timeout),
            read_timeout: Some(options.read_timeout),
            // One PUT with a streamed body, not a PATCH per chunk.
            use_monolithic_push: true,
            user_agent: concat!("distro/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let client = Client::try_from(config).map_err(|e| Error::Registry {
            registry: reference.registry.clone(),
            operation: "client setup",
            message: e.to_string(),
        })?;
        Ok(Uploader {
            client,
            registry: reference.registry.clone(),
            auth: credentials.to_client(),
            timeout: options.timeout,
        })
    }

    /// Uploads `size` bytes from `data` as the blob `digest` of
    /// `reference`'s repository. The registry checks the digest before it
    /// keeps the blob; a stream that ends in an error aborts the upload.
    ///
    /// # Errors
    /// Unreachable, timed out, refused (credentials or content), or the
    /// stream failed.
    pub async fn push_blob<S>(
        &self,
        reference: &Reference,
        data: S,
        digest: &str,
        size: u64,
    ) -> Result<(), Error>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    {
        let subject = format!(
            "blob {digest} of {}/{}",
            self.registry, reference.repository
        );
        let image = reference.to_client();
        self.client
            .store_auth_if_needed(&self.registry, &self.auth)
            .await;
        let body = data.map(|chunk| chunk.map_err(OciDistributionError::IoError));
        let work = self
            .client
            .push_blob_stream(&image, body, digest, Some(size));
        match tokio::time::timeout(self.timeout, work).await {
            Err(_) => Err(Error::Timeout {
                registry: self.registry.clone(),
                operation: "blob upload",
                after: self.timeout,
            }),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.map_err(e, &subject)),
        }
    }

    fn map_err(&self, e: OciDistributionError, subject: &str) -> Error {
        match e {
            OciDistributionError::RequestError(e) => Error::Unreachable {
                registry: self.registry.clone(),
                reason: innermost(&e),
            },
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_)
            | OciDistributionError::ServerError {
                code: 401 | 403, ..
            } => Error::Auth {
                registry: self.registry.clone(),
                reference: subject.to_string(),
            },
            other => Error::Registry {
                registry: self.registry.clone(),
                operation: "blob upload",
                message: other
                    .to_string()
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .take(300)
                    .collect(),
            },
        }
    }
}

/// The innermost cause of a transport error, on one line.
fn innermost(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    let reason: String = source.to_string().chars().take(300).collect();
    if e.is_timeout() {
        format!("timed out ({reason})")
    } else {
        reason
    }
}

//! Building the Kubernetes client, as kubectl finds its cluster: an explicit
//! kubeconfig, then `KUBECONFIG`, then `~/.kube/config`, then the in-cluster
//! service account. Every front end (command line, controller) connects
//! through here.

use std::path::PathBuf;

/// Which cluster to talk to.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// A kubeconfig file instead of the usual search.
    pub kubeconfig: Option<PathBuf>,
    /// A context of the kubeconfig instead of its current one.
    pub context: Option<String>,
}

/// Errors finding or building a client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no usable kubeconfig (--kubeconfig, KUBECONFIG, ~/.kube/config) or in-cluster service account: {0}"
    )]
    NoConfig(String),
    #[error("cannot build a Kubernetes client for {server}: {message}")]
    Build { server: String, message: String },
}

/// The user agent distro names itself with in audit logs and metrics.
pub const USER_AGENT: &str = concat!("distro/", env!("CARGO_PKG_VERSION"));

/// The configuration for `target`.
///
/// # Errors
/// No configuration is found, or it is unusable.
pub async fn config(target: &Target) -> Result<kube::Config, Error> {
    let options = kube::config::KubeConfigOptions {
        context: target.context.clone(),
        ..Default::default()
    };
    let mut config = match &target.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| Error::NoConfig(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| Error::NoConfig(format!("{}: {e}", path.display())))?
        }
        None if target.context.is_some() => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| Error::NoConfig(e.to_string()))?,
        None => kube::Config::infer()
            .await
            .map_err(|e| Error::NoConfig(e.to_string()))?,
    };
    if let Ok(value) = http::HeaderValue::from_str(USER_AGENT) {
        config.headers.push((http::header::USER_AGENT, value));
    }
    Ok(config)
}

/// A client for `target`.
///
/// # Errors
/// No configuration is found, or the client cannot be built from it.
pub async fn connect(target: &Target) -> Result<kube::Client, Error> {
    let config = config(target).await?;
    let server = config.cluster_url.to_string();
    kube::Client::try_from(config).map_err(|e| Error::Build {
        server,
        message: e.to_string(),
    })
}

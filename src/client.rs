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

/// The API server a client talks to and how it was chosen, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://127.0.0.1:6443`.
    pub server: String,
    /// The kubeconfig context; `None` for the in-cluster service account.
    pub context: Option<String>,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.context {
            Some(context) => write!(f, "{} (context {context})", self.server),
            None => write!(f, "{} (in-cluster)", self.server),
        }
    }
}

/// Errors finding, building or reaching a client. Every variant means the
/// cluster could not be talked to at all (exit code 3 on the command line).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no usable kubeconfig (--kubeconfig, KUBECONFIG, ~/.kube/config) or in-cluster service account: {0}"
    )]
    NoConfig(String),
    #[error("cannot build a Kubernetes client for {server}: {message}")]
    Build { server: String, message: String },
    /// No answer from the API server: no connection, TLS failure, timeout.
    #[error("cannot reach {endpoint}: {reason}")]
    Unreachable { endpoint: Endpoint, reason: String },
}

impl Endpoint {
    /// `error` as [`Error::Unreachable`] when it is a failure to reach the
    /// API server (see [`transport_failure`]).
    pub fn unreachable(&self, error: &(dyn std::error::Error + 'static)) -> Option<Error> {
        transport_failure(error).map(|reason| Error::Unreachable {
            endpoint: self.clone(),
            reason,
        })
    }
}

/// When `error` or one of its causes is a failure to talk to the API server
/// at all (the transport: connecting, TLS, a timeout) rather than an answer
/// from it, the innermost cause in a few words: `connection refused`.
pub fn transport_failure(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let chain = || std::iter::successors(Some(error), |e| e.source());
    let transport = chain().any(|e| {
        if let Some(kube) = e.downcast_ref::<kube::Error>() {
            return matches!(kube, kube::Error::HyperError(_) | kube::Error::Service(_));
        }
        e.downcast_ref::<std::io::Error>().is_some_and(|io| {
            use std::io::ErrorKind::*;
            matches!(
                io.kind(),
                ConnectionRefused
                    | ConnectionReset
                    | ConnectionAborted
                    | NotConnected
                    | TimedOut
                    | HostUnreachable
                    | NetworkUnreachable
                    | AddrNotAvailable
            )
        })
    });
    if !transport {
        return None;
    }
    let innermost = chain().last()?.to_string();
    // "Connection refused (os error 111)" -> "connection refused"
    let reason = match innermost.rfind(" (os error ") {
        Some(i) if innermost.ends_with(')') => &innermost[..i],
        _ => innermost.as_str(),
    };
    let mut chars = reason.chars();
    Some(match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && second.is_lowercase() => {
            first.to_lowercase().chain(reason.chars().skip(1)).collect()
        }
        _ => reason.to_string(),
    })
}

/// The user agent distro names itself with in audit logs and metrics.
pub const USER_AGENT: &str = concat!("distro/", env!("CARGO_PKG_VERSION"));

/// The configuration for `target`.
///
/// # Errors
/// No configuration is found, or it is unusable.
pub async fn config(target: &Target) -> Result<kube::Config, Error> {
    resolve(target).await.map(|(config, _)| config)
}

/// The configuration for `target` and the endpoint it names.
///
/// # Errors
/// No configuration is found, or it is unusable.
pub async fn resolve(target: &Target) -> Result<(kube::Config, Endpoint), Error> {
    let options = kube::config::KubeConfigOptions {
        context: target.context.clone(),
        ..Default::default()
    };
    let (mut config, context) = match &target.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| Error::NoConfig(format!("{}: {e}", path.display())))?;
            let context = target
                .context
                .clone()
                .or_else(|| kubeconfig.current_context.clone());
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| Error::NoConfig(format!("{}: {e}", path.display())))?;
            (config, context)
        }
        None if target.context.is_some() => {
            let config = kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| Error::NoConfig(e.to_string()))?;
            (config, target.context.clone())
        }
        None => {
            let config = kube::Config::infer()
                .await
                .map_err(|e| Error::NoConfig(e.to_string()))?;
            // infer() takes the kubeconfig when there is one, else the
            // in-cluster service account, which has no context.
            let context = kube::config::Kubeconfig::read()
                .ok()
                .and_then(|k| k.current_context);
            (config, context)
        }
    };
    if let Ok(value) = http::HeaderValue::from_str(USER_AGENT) {
        config.headers.push((http::header::USER_AGENT, value));
    }
    let endpoint = Endpoint {
        server: config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string(),
        context,
    };
    Ok((config, endpoint))
}

/// A client for `target`.
///
/// # Errors
/// No configuration is found, or the client cannot be built from it.
pub async fn connect(target: &Target) -> Result<kube::Client, Error> {
    connect_to(target).await.map(|(client, _)| client)
}

/// A client for `target` and the endpoint it talks to.
///
/// # Errors
/// No configuration is found, or the client cannot be built from it.
pub async fn connect_to(target: &Target) -> Result<(kube::Client, Endpoint), Error> {
    let (config, endpoint) = resolve(target).await?;
    let client = kube::Client::try_from(config).map_err(|e| Error::Build {
        server: endpoint.server.clone(),
        message: e.to_string(),
    })?;
    Ok((client, endpoint))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("listing Release objects failed: {0}")]
    struct Wrapper(#[source] kube::Error);

    #[test]
    fn a_refused_connection_is_a_transport_failure_in_a_few_words() {
        let io = std::io::Error::from_raw_os_error(111);
        let kube = kube::Error::Service(Box::new(io));
        let wrapped = Wrapper(kube);
        assert_eq!(
            transport_failure(&wrapped).as_deref(),
            Some("connection refused")
        );
        let endpoint = Endpoint {
            server: "https://127.0.0.1:6443".into(),
            context: Some("dev".into()),
        };
        assert_eq!(
            endpoint.unreachable(&wrapped).unwrap().to_string(),
            "cannot reach https://127.0.0.1:6443 (context dev): connection refused"
        );
    }

    #[test]
    fn an_answer_from_the_server_is_not_a_transport_failure() {
        let status = kube::core::Status::failure("forbidden", "Forbidden").with_code(403);
        let wrapped = Wrapper(kube::Error::Api(Box::new(status)));
        assert_eq!(transport_failure(&wrapped), None);
    }
}

//! What the cluster commands share: a runtime, a client, the table.

use std::future::Future;

use anyhow::Context as _;

use crate::status::ReleaseRecord;

/// Runs async work on a fresh multi-threaded runtime.
pub fn block_on<F: Future>(f: F) -> anyhow::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(rt.block_on(f))
}

/// Runs `work` with a client from `--kubeconfig`, `KUBECONFIG`,
/// `~/.kube/config` or the in-cluster service account, as kubectl finds
/// it. A failure to reach the API server, wherever in `work` it surfaced,
/// comes back as one [`crate::client::Error::Unreachable`] naming the
/// server and context (exit code 3), not as the chain of whatever was
/// being done at the time.
pub fn with_cluster<T, F, Fut>(global: &super::Global, work: F) -> anyhow::Result<T>
where
    F: FnOnce(kube::Client) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    block_on(async {
        let (client, endpoint) = crate::client::connect_to(&global.target()).await?;
        work(client).await.map_err(|e| {
            match endpoint.unreachable(AsRef::<dyn std::error::Error>::as_ref(&e)) {
                Some(unreachable) => anyhow::Error::from(unreachable),
                None => e,
            }
        })
    })?
}

/// Output of commands that print the release table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

/// One row of the release table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub namespace: String,
    pub name: String,
    pub revision: String,
    /// "True", "False" or "Unknown".
    pub ready: String,
    pub reason: String,
    pub message: String,
}

impl Row {
    pub fn from_record(r: &ReleaseRecord) -> Self {
        let ready = r.ready();
        Row {
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            revision: r
                .last_applied_revision
                .clone()
                .unwrap_or_else(|| ReleaseRecord::revision(&r.version, &r.digest)),
            ready: ready
                .map(|c| c.status.to_string())
                .unwrap_or_else(|| "Unknown".into()),
            reason: ready.map(|c| c.reason.to_string()).unwrap_or_default(),
            message: ready.map(|c| c.message.clone()).unwrap_or_default(),
        }
    }
}

/// `NAMESPACE NAME REVISION READY STATUS`, as `kubectl get releases -A`.
pub fn table(rows: &[Row]) -> String {
    let headers = ["NAMESPACE", "NAME", "REVISION", "READY", "STATUS"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.namespace.clone(),
                r.name.clone(),
                r.revision.clone(),
                r.ready.clone(),
                r.message.replace('\n', " "),
            ]
        })
        .collect();
    columns(&headers, &cells)
}

/// Aligned columns as kubectl prints them; the last column is not padded.
pub fn columns<const N: usize>(headers: &[&str; N], cells: &[[String; N]]) -> String {
    let mut widths = headers.map(str::len);
    for row in cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    let mut line = |cols: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cols.iter().enumerate() {
            if i + 1 == N {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}   ", w = widths[i]));
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(headers.to_vec());
    for row in cells {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

//! Downloading one blob into its slot of the file being written, verified
//! as it streams; a transient failure writes the slot again from its start.

use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncSeekExt, AsyncWrite};

use super::Error;
use crate::oci::layout::{self, write::Slot};
use crate::oci::progress::Shared;
use crate::oci::reference::Reference;
use crate::oci::registry::Registry;
use crate::oci::retry::{backoff, transient};

/// One blob to fetch into its slot.
pub(super) struct Download {
    pub(super) registry: Registry,
    pub(super) source: Reference,
    pub(super) digest: String,
    pub(super) slot: Slot,
    pub(super) path: PathBuf,
    pub(super) attempts: u32,
    pub(super) progress: Shared,
}

impl Download {
    pub(super) async fn run(self) -> Result<(), Error> {
        let failed = |source| Error::Registry {
            image: self.source.to_string(),
            source,
        };
        let io = |e: std::io::Error| {
            Error::Layout(layout::Error::io(
                format!("{} (blob {})", self.path.display(), self.digest),
                e,
            ))
        };
        let mut attempt = 1;
        loop {
            let mut file = tokio::fs::OpenOptions::new()
                .write(true)
                .open(&self.path)
                .await
                .map_err(io)?;
            file.seek(std::io::SeekFrom::Start(self.slot.offset))
                .await
                .map_err(io)?;
            let mut out = Counting {
                inner: tokio::io::BufWriter::with_capacity(1 << 20, file),
                progress: self.progress.clone(),
                written: 0,
            };
            let result = self
                .registry
                .fetch_blob(&self.source, &self.digest, self.slot.size, &mut out)
                .await;
            match result {
                Ok(_) => return Ok(()),
                // The slot is simply written again from its start.
                Err(e) if transient(&e) && attempt < self.attempts => {
                    tracing::debug!(error = %e, attempt, "retrying blob");
                    self.progress.redo(out.written);
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(failed(e)),
            }
        }
    }
}

/// A spawned download, stopped when dropped: when one download fails, the
/// others in flight stop instead of writing on into a file that is gone.
pub(super) struct Abort<T>(pub(super) tokio::task::JoinHandle<T>);

impl<T> Drop for Abort<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for Abort<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// Counts bytes written, for progress.
struct Counting<W> {
    inner: W,
    progress: Shared,
    written: u64,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Counting<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            self.written += *n as u64;
            self.progress.advance(*n as u64);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

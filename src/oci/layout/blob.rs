//! Reading one blob of a verified file as a stream of chunks, for an
//! upload: memory stays at one chunk whatever the blob's size, and the
//! digest is checked again as it goes (the stream ends in an error when
//! the bytes changed since verification, so a registry never receives a
//! blob the file no longer has).

use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::read::Entry;
use super::{Error, Layout, blob_entry};

/// Bytes read per chunk: the largest piece the registry client sends in one
/// request.
const CHUNK: u64 = 4 << 20;

struct State {
    path: PathBuf,
    name: String,
    entry: Entry,
    file: Option<tokio::fs::File>,
    left: u64,
    hasher: Sha256,
    done: bool,
}

impl State {
    async fn next(&mut self) -> std::io::Result<Option<Bytes>> {
        if self.file.is_none() {
            let mut file = tokio::fs::File::open(&self.path).await?;
            file.seek(std::io::SeekFrom::Start(self.entry.offset))
                .await?;
            self.file = Some(file);
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(None);
        };
        if self.left == 0 {
            let actual = crate::source::hex(&self.hasher.finalize_reset());
            if actual != self.entry.sha256 {
                return Err(std::io::Error::other(
                    Error::Corrupt {
                        entry: self.name.clone(),
                        actual,
                    }
                    .to_string(),
                ));
            }
            return Ok(None);
        }
        let n = self.left.min(CHUNK) as usize;
        let mut buf = BytesMut::zeroed(n);
        file.read_exact(&mut buf).await?;
        self.hasher.update(&buf);
        self.left -= n as u64;
        Ok(Some(buf.freeze()))
    }
}

impl Layout {
    /// The blob `digest` as a stream of chunks of at most 4 MiB; the last
    /// item is an error if its bytes no longer match the digest.
    ///
    /// # Errors
    /// The blob is not in the file.
    pub fn blob_stream(
        &self,
        digest: &str,
    ) -> Result<impl Stream<Item = std::io::Result<Bytes>> + Send + 'static, Error> {
        let name = blob_entry(digest);
        let entry = self.entry(&name)?.clone();
        let state = State {
            path: self.path().to_path_buf(),
            name,
            left: entry.size,
            entry,
            file: None,
            hasher: Sha256::new(),
            done: false,
        };
        Ok(futures::stream::unfold(state, |mut s| async move {
            if s.done {
                return None;
            }
            match s.next().await {
                Ok(Some(chunk)) => Some((Ok(chunk), s)),
                Ok(None) => None,
                Err(e) => {
                    s.done = true;
                    Some((Err(e), s))
                }
            }
        }))
    }
}

//! Retrying registry requests: a request that fails for a transient reason
//! (the registry unreachable, a timeout, a rate limit, a server-side error)
//! is tried again after a growing pause, a bounded number of times; any
//! other failure counts at once.

use std::time::Duration;

use super::registry::{self, ErrorKind};

/// Longest pause a registry's `Retry-After` may impose: a registry that
/// asks for an hour gets this, and the operation's deadline still holds.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Whether an error may go away on its own: the registry unreachable or
/// slow, or answering 429 (rate limited) or 500, 502, 503, 504 (overloaded,
/// restarting, behind a failing proxy). Any other answer, a 4xx above all,
/// says the request itself is wrong and will be again.
pub fn transient(e: &registry::Error) -> bool {
    match e.status() {
        Some(status) => matches!(status, 429 | 500 | 502 | 503 | 504),
        None => e.kind() == ErrorKind::Unreachable,
    }
}

/// The pause after failed try `attempt`: the backoff, or the registry's
/// `Retry-After` when it asks for longer, up to [`MAX_RETRY_AFTER`].
pub fn pause(e: &registry::Error, attempt: u32) -> Duration {
    let asked = e.retry_after().unwrap_or_default().min(MAX_RETRY_AFTER);
    backoff(attempt).max(asked)
}

/// The pause before try `attempt + 1`: 250 ms, 500 ms, 1 s, ... at most 4 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.saturating_sub(1).min(4))
}

/// Runs `work` up to `attempts` times while it fails transiently.
///
/// # Errors
/// The last error.
pub async fn retry<T, F, Fut>(attempts: u32, mut work: F) -> Result<T, registry::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, registry::Error>>,
{
    let mut attempt = 1;
    loop {
        match work().await {
            Err(e) if transient(&e) && attempt < attempts => {
                tracing::debug!(error = %e, attempt, "retrying");
                tokio::time::sleep(pause(&e, attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests;

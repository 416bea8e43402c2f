//! Retrying registry requests: a request that fails for a transient reason
//! (the registry unreachable, a timeout) is tried again after a growing
//! pause, a bounded number of times; any other failure counts at once.

use std::time::Duration;

use super::registry::{self, ErrorKind};

/// Whether an error may go away on its own.
pub fn transient(e: &registry::Error) -> bool {
    e.kind() == ErrorKind::Unreachable
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
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(9), Duration::from_secs(4));
    }
}

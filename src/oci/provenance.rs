//! Where pushed content came from: the Git checkout around the
//! distribution, if there is one.
//!
//! The `created` annotation follows [`Provenance::created_for`]:
//! `SOURCE_DATE_EPOCH`, else the HEAD commit's time, else the Unix epoch.
//! Never the wall clock, so that pushing unchanged content twice gives the
//! same manifest digest.

use std::path::Path;

use super::artifact::Provenance;

/// The provenance of a distribution read from `dir`: the HEAD commit of
/// the Git repository holding it (if any), its `origin` remote without
/// credentials (unless `source` is given), and the `created` time.
pub fn of_dir(dir: &Path, source: Option<&str>) -> Provenance {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let repo = git2::Repository::discover(dir).ok();
    let head = repo
        .as_ref()
        .and_then(|r| r.head().ok())
        .and_then(|h| h.peel_to_commit().ok());
    let origin = repo
        .as_ref()
        .and_then(|r| r.find_remote("origin").ok())
        .and_then(|r| r.url().map(crate::source::git::display_url));
    if head.is_some()
        && let Some(repo) = &repo
        && is_dirty(repo)
    {
        tracing::warn!(
            "the Git checkout has uncommitted changes: the revision annotation names HEAD, not what is pushed"
        );
    }
    let epoch = std::env::var("SOURCE_DATE_EPOCH").ok();
    Provenance {
        source: source.map(str::to_string).or(origin),
        revision: head.as_ref().map(|c| c.id().to_string()),
        created: Provenance::created_for(
            epoch.as_deref(),
            head.as_ref().map(|c| c.time().seconds()),
        ),
    }
}

fn is_dirty(repo: &git2::Repository) -> bool {
    let mut options = git2::StatusOptions::new();
    options.include_untracked(false).include_ignored(false);
    repo.statuses(Some(&mut options))
        .map(|s| !s.is_empty())
        .unwrap_or(false)
}

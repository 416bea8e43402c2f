//! `--watch`: run a command again on every change under the distribution,
//! debounced, and say what changed since the last run (releases added,
//! removed, or with a new digest).

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use crate::render::output::IndexEntry;

/// How long the tree must be quiet before a run: an editor's save is
/// several events.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// Errors setting up the watch.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot watch {}: {source}", path.display())]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
}

/// Calls `run` once, then again after every change under `paths`, once the
/// tree has been quiet for `debounce`, until `run` returns `false` or the
/// watcher stops. Changes to files whose name ends in `~` or starts with
/// `.` (editor and distro temporaries) are ignored.
///
/// # Errors
/// A path cannot be watched.
pub fn watch(
    paths: &[PathBuf],
    debounce: Duration,
    mut run: impl FnMut() -> bool,
) -> Result<(), Error> {
    let (tx, rx) = mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && is_change(&event.kind)
            && event.paths.iter().any(|p| relevant(p))
        {
            let _ = tx.send(());
        }
    })
    .map_err(|source| Error::Watch {
        path: PathBuf::new(),
        source,
    })?;
    for path in paths {
        let mode = if path.is_dir() {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        watcher.watch(path, mode).map_err(|source| Error::Watch {
            path: path.clone(),
            source,
        })?;
    }
    if !run() {
        return Ok(());
    }
    while rx.recv().is_ok() {
        // Debounce: wait until no event arrives for `debounce`.
        while rx.recv_timeout(debounce).is_ok() {}
        if !run() {
            break;
        }
    }
    Ok(())
}

/// Whether an event can change what a run reads. Reading the tree (which
/// every run does) raises access events: counting those would make each
/// run trigger the next, forever.
fn is_change(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    matches!(
        kind,
        EventKind::Any | EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
    )
}

fn relevant(path: &std::path::Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| !n.ends_with('~') && !n.starts_with('.'))
}

/// What changed between two runs, one line per release, in the order of
/// `after` then the removed ones: `+ name`, `~ name: old -> new digest`,
/// `- name`. Empty when nothing changed.
pub fn changes(before: &[IndexEntry], after: &[IndexEntry]) -> Vec<String> {
    let short = |d: &str| {
        let hex = d.trim_start_matches("sha256:");
        hex[..hex.len().min(12)].to_string()
    };
    let mut out = Vec::new();
    for a in after {
        match before.iter().find(|b| b.name == a.name) {
            None => out.push(format!("+ {} ({} {})", a.name, a.package, a.version)),
            Some(b) if b.digest != a.digest || b.version != a.version => out.push(format!(
                "~ {}: {} {} -> {} {}",
                a.name,
                b.version,
                short(&b.digest),
                a.version,
                short(&a.digest)
            )),
            Some(_) => {}
        }
    }
    for b in before {
        if !after.iter().any(|a| a.name == b.name) {
            out.push(format!("- {}", b.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_the_tree_is_not_a_change() {
        use notify::EventKind;
        use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind};
        assert!(!is_change(&EventKind::Access(AccessKind::Open(
            AccessMode::Read
        ))));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(!is_change(&EventKind::Other));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
        assert!(is_change(&EventKind::Modify(ModifyKind::Any)));
        assert!(is_change(&EventKind::Remove(RemoveKind::File)));
    }

    fn entry(name: &str, version: &str, digest: &str) -> IndexEntry {
        IndexEntry {
            name: name.into(),
            namespace: "ns".into(),
            package: name.into(),
            version: version.into(),
            digest: digest.into(),
            objects: 1,
        }
    }

    #[test]
    fn changes_name_added_changed_and_removed_releases() {
        let before = [
            entry("a", "1.0.0", "sha256:aaaaaaaaaaaaaaaa"),
            entry("b", "1.0.0", "sha256:bbbbbbbbbbbbbbbb"),
        ];
        let after = [
            entry("a", "1.0.0", "sha256:aaaaaaaaaaaaaaaa"),
            entry("b", "1.1.0", "sha256:cccccccccccccccc"),
            entry("c", "0.1.0", "sha256:dddddddddddddddd"),
        ];
        assert_eq!(
            changes(&before, &after),
            vec![
                "~ b: 1.0.0 bbbbbbbbbbbb -> 1.1.0 cccccccccccc".to_string(),
                "+ c (c 0.1.0)".to_string(),
            ]
        );
        assert_eq!(changes(&after, &before[..1]), vec!["- b", "- c"]);
        assert!(changes(&before, &before).is_empty());
    }

    #[test]
    fn a_change_under_the_tree_runs_again() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let path = root.join("x.yaml");
        std::fs::write(&path, "a: 1").unwrap();
        let (done_tx, done_rx) = mpsc::channel();
        // On a thread of its own, so that a watch that never fires fails
        // the test after a bound instead of hanging it.
        std::thread::spawn(move || {
            let mut runs = 0;
            let result = watch(&[root], Duration::from_millis(50), || {
                runs += 1;
                if runs == 1 {
                    let path = path.clone();
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(200));
                        let _ = std::fs::write(&path, "a: 2");
                        // A temporary file is ignored.
                        let _ = std::fs::write(path.with_extension("tmp~"), "x");
                    });
                }
                runs < 2
            });
            let _ = done_tx.send((result.is_ok(), runs));
        });
        let (ok, runs) = done_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the change was seen within 20 s");
        assert!(ok);
        assert_eq!(runs, 2);
    }
}

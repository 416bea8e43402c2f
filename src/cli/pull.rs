//! `distro pull`: an OCI artifact into a directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use super::Global;
use super::cluster::block_on;
use super::push::{Format, RegistryArgs, oci_url};
use crate::oci::content::{self, Limits};
use crate::oci::registry::Registry;
use crate::oci::{Reference, artifact};

pub const AFTER_HELP: &str = "Examples:\n  distro pull oci://registry.example/platform/prod:v1.4.0 --out prod\n  distro pull oci://registry.example/platform/prod@sha256:<hex> --out prod -o json\n\nThe manifest is checked against the digest asked for (for a tag, its digest is\ncomputed from the bytes received), every blob against the manifest, and the\ncontent is refused, naming the entry, if it holds links, devices, absolute or\n.. paths, duplicates, or more than the limits. DIR must not exist or be empty;\nit is written in a temporary directory beside it and renamed into place, so a\nfailed pull leaves nothing behind.\n\nExit codes: 0 pulled, 1 refused content or registry error, 2 invalid input, 3 registry unreachable.";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to pull: oci://REGISTRY/REPOSITORY:TAG or ...@sha256:HEX.
    #[arg(value_name = "oci://REGISTRY/REPOSITORY[:TAG|@sha256:HEX]", value_parser = oci_url)]
    pub reference: Reference,
    /// The directory to write (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Bytes of content accepted, compressed and unpacked.
    #[arg(long, default_value_t = Limits::default().max_bytes, value_name = "BYTES")]
    pub max_bytes: u64,
    /// Files accepted in the content.
    #[arg(long, default_value_t = Limits::default().max_entries, value_name = "N")]
    pub max_files: usize,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

#[derive(Debug, Serialize)]
struct Pulled {
    reference: String,
    digest: String,
    out: String,
    files: usize,
    annotations: std::collections::BTreeMap<String, String>,
    config: artifact::Config,
}

pub fn run(_global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    check_out(&args.out)?;
    let limits = Limits {
        max_bytes: args.max_bytes,
        max_entries: args.max_files,
    };
    let registry = Registry::new(&args.reference, &args.registry.options())?;
    let pulled = block_on(artifact::pull(&registry, &args.reference, limits))??;
    write_atomically(&args.out, &pulled.files)?;
    let shown = Pulled {
        reference: pulled.reference.to_oci_url(),
        digest: pulled.digest.clone(),
        out: args.out.display().to_string(),
        files: pulled.files.len(),
        annotations: pulled.annotations,
        config: pulled.config,
    };
    match args.output {
        Format::Text => super::print(&format!("{}\n", pulled.digest))?,
        Format::Json => super::print(&super::json_text(&shown)?)?,
        Format::Yaml => super::print(&super::yaml_text(&shown)?)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// DIR may not exist yet, or be an empty directory.
fn check_out(out: &Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow::Error::from(e).context(format!("--out {}", out.display()))),
        Ok(meta) if meta.is_dir() => {
            let empty = std::fs::read_dir(out)
                .with_context(|| format!("--out {}", out.display()))?
                .next()
                .is_none();
            if empty {
                Ok(())
            } else {
                Err(OutError(out.to_path_buf()).into())
            }
        }
        Ok(_) => Err(OutError(out.to_path_buf()).into()),
    }
}

/// `--out` names something that is not an empty directory: invalid input.
#[derive(Debug, thiserror::Error)]
#[error("--out {}: exists and is not an empty directory; nothing was written", .0.display())]
pub struct OutError(pub PathBuf);

/// Writes the files into a fresh directory beside `out`, then renames it
/// to `out`; on any failure the temporary directory is removed.
fn write_atomically(
    out: &Path,
    files: &std::collections::BTreeMap<String, Vec<u8>>,
) -> anyhow::Result<()> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pull".into());
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let temp = parent.join(format!(".{name}.partial-{}", std::process::id()));
    std::fs::create_dir(&temp).with_context(|| format!("creating {}", temp.display()))?;
    let result = content::write_tree(&temp, files)
        .with_context(|| format!("writing {}", temp.display()))
        .and_then(|()| {
            // An empty directory in the way is replaced; rename(2) does
            // that for directories.
            std::fs::rename(&temp, out)
                .with_context(|| format!("moving {} to {}", temp.display(), out.display()))
        });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    result
}

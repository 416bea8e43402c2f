//! `distro import`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::Global;
use super::progress::Bar;
use crate::oci::import::{self, Imported};
use crate::oci::layout::{self, signature::VerifyingKeyFile};
use crate::pipeline::{Invalid, Problem};
use crate::source::tarball;

pub const AFTER_HELP: &str = "Examples:
  distro import platform.tar --registry registry.local:5000/mirror
  distro import platform.tar --registry 127.0.0.1:5000 --verify-key distro.pub
  distro import platform.tar --registry registry.local/mirror -o json > relocation.json

The whole file is verified before anything is pushed: every blob's digest
and size, the index and manifests, every referenced blob present, nothing
unlisted, the checksums file, and the signature when --verify-key is
given. Each image then goes to REG/PREFIX/<its repository path> (quay.io/
cilium/cilium:v1.16.5 to REG/PREFIX/cilium/cilium) with its digest
unchanged; blobs the registry has are skipped. The relocation map printed
is the one `distro apply --from FILE --registry REG/PREFIX` renders with.
The distribution artifact in the file goes last, by its digest, to
REG/PREFIX/distribution: a Platform inside the air gap follows it with
spec.source.oci {url: oci://REG/PREFIX/distribution, ref: {digest: ...}}.
Credentials come from the Docker config (~/.docker/config.json or
$DOCKER_CONFIG).

Exit codes: 0 ok, 1 the registry refused an upload, 2 invalid input (the file
fails verification; nothing was pushed), 3 registry unreachable.";

/// Output formats of `distro import`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Yaml,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The air-gap file (`distro export`).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The registry and path to push to: REG[:PORT][/PREFIX].
    #[arg(long, value_name = "REG/PREFIX")]
    pub registry: String,
    /// Refuse the file unless its checksums are signed by this ed25519
    /// public key (PEM, `openssl pkey -pubout`).
    #[arg(long, value_name = "FILE")]
    pub verify_key: Option<PathBuf>,
    /// Uploads at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Allow plain HTTP to a registry not on this machine.
    #[arg(long)]
    pub insecure: bool,
    /// Output format of the relocation map.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

pub fn run(_global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    let invalid = |e: layout::Error| {
        Invalid(vec![Problem::Tarball(tarball::Error::verify(
            &args.file, e,
        ))])
    };
    let key = match &args.verify_key {
        Some(path) => {
            Some(VerifyingKeyFile::read(path).map_err(|e| invalid(layout::Error::Signature(e)))?)
        }
        None => None,
    };
    // The file is looked at before any progress is shown, so that a
    // missing one is refused with nothing else printed.
    let total = match std::fs::metadata(&args.file) {
        Ok(m) if m.is_file() => m.len(),
        Ok(_) => {
            let not_a_file = std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file");
            return Err(invalid(layout::Error::io(args.file.display(), not_a_file)).into());
        }
        Err(e) => return Err(invalid(layout::Error::io(args.file.display(), e)).into()),
    };
    let bar = Arc::new(Bar::stderr());
    {
        use crate::oci::progress::Progress;
        bar.phase("verifying", total);
    }
    let mut seen = 0;
    let layout = layout::verify(&args.file, key.as_ref(), &mut |at| {
        use crate::oci::progress::Progress;
        bar.advance(at.saturating_sub(seen));
        seen = at;
    })
    .map_err(invalid)?;
    bar.finish();
    // A bad --registry is found before the first upload.
    import::plan(&layout, &args.registry)
        .map_err(|e| Invalid(vec![Problem::Tarball(tarball::Error::Import(e))]))?;
    let options = import::Options {
        concurrency: usize::from(args.concurrency),
        registry: crate::oci::registry::Options {
            insecure: args.insecure,
            ..Default::default()
        },
        ..Default::default()
    };
    let result = super::cluster::block_on(import::import(
        &layout,
        &args.registry,
        &options,
        bar.clone(),
    ))?;
    bar.finish();
    let imported = result?;
    let text = match args.output {
        Format::Text => table(&imported),
        Format::Json => super::json_text(&imported)?,
        Format::Yaml => super::yaml_text(&imported)?,
    };
    super::print(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// `ORIGINAL -> TARGET`, one image a line, with what was sent.
fn table(imported: &[Imported]) -> String {
    let width = imported.iter().map(|i| i.image.len()).max().unwrap_or(0);
    let mut out = String::new();
    for i in imported {
        out.push_str(&format!(
            "{:<width$}  ->  {}  ({} blobs pushed, {} present)\n",
            i.image, i.target, i.pushed, i.skipped
        ));
    }
    out
}

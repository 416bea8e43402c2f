//! `distro export`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::Global;
use super::progress::{Bar, size};
use crate::oci::export::{self, Artifact, Exported, Platforms};
use crate::oci::layout::{self, Platform, signature::SigningKeyFile};
use crate::oci::{artifact, images, provenance};
use crate::pipeline::{self, Invalid, Problem};
use crate::source::tarball;

pub const AFTER_HELP: &str = "Examples:
  distro export -o platform.tar
  distro export -o platform.tar -p prod/platform.yaml --image-platform linux/amd64,linux/arm64
  distro export -o platform.tar --sign-key distro.pem --format json

The file is an uncompressed tar of an OCI image layout: oci-layout,
index.json (the distribution artifact as `distribution`, each image under
its full original reference in org.opencontainers.image.ref.name),
blobs/sha256/<hex> (each blob once), checksums.sha256 (sha256sum format)
and, with --sign-key, checksums.sha256.sig (raw ed25519 over the checksums
file). Multi-platform images keep every platform and their index as it is,
unless --image-platform chooses some. The file is written under a
temporary name and renamed when complete. Credentials come from the Docker
config (~/.docker/config.json or $DOCKER_CONFIG).

Keys: openssl genpkey -algorithm ed25519 -out distro.pem
      openssl pkey -in distro.pem -pubout -out distro.pub

Exit codes: 0 written, 1 a registry refused or an image is missing, 2 invalid
input (nothing written), 3 a registry unreachable.";

/// Output formats of the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Yaml,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The air-gap file to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Keep only these platforms of multi-platform images, os/arch[/variant]
    /// (comma-separated or repeated). Default: every platform, and each
    /// index byte for byte. (Not --platform: that is the platform file.)
    #[arg(long, value_name = "OS/ARCH", value_delimiter = ',', value_parser = platform)]
    pub image_platform: Vec<Platform>,
    /// Sign the checksums file with this ed25519 private key (PKCS#8 PEM,
    /// `openssl genpkey -algorithm ed25519`).
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// Blobs downloaded at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Allow plain HTTP to a registry not on this machine.
    #[arg(long)]
    pub insecure: bool,
    /// Format of the summary on stdout (-o is the file, as with docker save).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

fn platform(text: &str) -> Result<Platform, String> {
    Platform::parse(text).ok_or_else(|| format!("{text:?} is not os/arch[/variant]"))
}

pub fn run(global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    // validate (no registry needed): a bad key or distribution writes nothing.
    let sign = match &args.sign_key {
        Some(path) => Some(SigningKeyFile::read(path).map_err(|e| {
            Invalid(vec![Problem::Tarball(tarball::Error::Layout(
                layout::Error::Signature(e),
            ))])
        })?),
        None => None,
    };
    let rendered = pipeline::render_with(
        global.snapshot()?,
        &global.options(),
        &global.render_options(),
    )?;
    let list =
        images::list(&rendered).map_err(|e| Invalid(e.into_iter().map(Into::into).collect()))?;
    let names: Vec<String> = list.into_iter().map(|i| i.image).collect();
    // The same artifact as `distro push` builds.
    let loaded = &rendered.loaded;
    let (files, config) = artifact::contents(loaded);
    let dir = loaded
        .snapshot
        .dir()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let built = artifact::build(
        &files,
        &config,
        &provenance::of_dir(&dir, None),
        &Default::default(),
    )?;
    pipeline::write_lock(loaded)?;

    // pull (registries) and write
    let options = export::Options {
        platforms: if args.image_platform.is_empty() {
            Platforms::All
        } else {
            Platforms::Only(args.image_platform.clone())
        },
        concurrency: usize::from(args.concurrency),
        registry: crate::oci::registry::Options {
            insecure: args.insecure,
            ..Default::default()
        },
        sign,
        ..Default::default()
    };
    let artifact = Artifact {
        manifest: built.manifest,
        config: built.config,
        layer: built.layer,
    };
    let bar = Arc::new(Bar::stderr());
    let result = super::cluster::block_on(export::export(
        &args.output,
        &artifact,
        &names,
        &options,
        bar.clone(),
    ))?;
    bar.finish();
    let exported = result?;
    let text = match args.format {
        Format::Text => summary(&exported),
        Format::Json => super::json_text(&exported)?,
        Format::Yaml => super::yaml_text(&exported)?,
    };
    super::print(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn summary(e: &Exported) -> String {
    let mut out = format!(
        "{}: distribution {}, {} images, {} blobs, {}{}\n",
        e.file,
        e.distribution,
        e.images.len(),
        e.blobs,
        size(e.bytes),
        if e.signed { ", signed" } else { "" }
    );
    for i in &e.images {
        out.push_str(&format!("  {}  {}", i.image, i.digest));
        if !i.platforms.is_empty() {
            out.push_str(&format!("  [{}]", i.platforms.join(", ")));
        }
        out.push('\n');
    }
    out
}

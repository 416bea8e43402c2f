//! `distro push`: the distribution as an OCI artifact.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde::Serialize;

use super::Global;
use super::cluster::block_on;
use crate::oci::registry::{Options, Registry};
use crate::oci::{Reference, artifact, provenance};
use crate::pipeline;

pub const AFTER_HELP: &str = "Examples:\n  distro push oci://registry.example/platform/prod:v1.4.0\n  distro push oci://127.0.0.1:5000/platform:dev -p staging/platform.yaml -o json\n  SOURCE_DATE_EPOCH=0 distro push oci://... --annotation org.example/team=infra\n\nThe distribution is validated first; nothing is pushed from an invalid one.\nAnnotations: org.opencontainers.image.source (the checkout's origin remote,\nor --source), .revision (the checkout's HEAD commit) and .created\n(SOURCE_DATE_EPOCH, else the HEAD commit's time, else 1970-01-01T00:00:00Z),\nso pushing unchanged content gives the same digest.\nCredentials: $DOCKER_CONFIG/config.json, else ~/.docker/config.json.\nPlain HTTP only for 127.0.0.0/8, ::1 and localhost, or with --insecure.\n\nExit codes: 0 pushed, 1 the registry refused, 2 invalid input, 3 registry unreachable.";

/// How to reach a registry: shared by push and pull.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Allow plain HTTP to a registry that is not on this machine.
    #[arg(long)]
    pub insecure: bool,
    /// Deadline of one registry operation (a manifest, a blob).
    #[arg(long = "registry-timeout", default_value = "5m", value_name = "DURATION", value_parser = crate::model::parse_duration)]
    pub timeout: std::time::Duration,
}

impl RegistryArgs {
    pub fn options(&self) -> Options {
        Options {
            insecure: self.insecure,
            timeout: self.timeout,
            ..Options::default()
        }
    }
}

/// Output of push and pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The manifest digest alone.
    Text,
    Json,
    Yaml,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to push: oci://REGISTRY/REPOSITORY:TAG.
    #[arg(value_name = "oci://REGISTRY/REPOSITORY:TAG", value_parser = oci_url)]
    pub reference: Reference,
    /// An annotation on the manifest, KEY=VALUE (repeatable; overrides the
    /// defaults of the same key).
    #[arg(long = "annotation", value_name = "KEY=VALUE", value_parser = annotation)]
    pub annotations: Vec<(String, String)>,
    /// The org.opencontainers.image.source annotation, instead of the
    /// checkout's origin remote.
    #[arg(long, value_name = "URL")]
    pub source: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

/// What push prints with -o json.
#[derive(Debug, Serialize)]
struct Pushed {
    reference: String,
    digest: String,
    size: usize,
    annotations: BTreeMap<String, String>,
    config: artifact::Config,
}

pub fn oci_url(text: &str) -> Result<Reference, String> {
    Reference::parse_oci_url(text).map_err(|e| e.to_string())
}

fn annotation(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

pub fn run(global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    if args.reference.digest.is_some() {
        return Err(crate::oci::reference::Error::Unusable {
            input: args.reference.to_oci_url(),
            reason: "push needs a tag, not a digest",
        }
        .into());
    }
    // validate (no registry needed): nothing is pushed from an invalid
    // distribution.
    let rendered = pipeline::render_with(
        global.snapshot()?,
        &global.options(),
        &global.render_options(),
    )?;
    let loaded = &rendered.loaded;
    let (files, config) = artifact::contents(loaded);
    let dir = loaded
        .snapshot
        .dir()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let provenance = provenance::of_dir(&dir, args.source.as_deref());
    let extra: BTreeMap<String, String> = args.annotations.iter().cloned().collect();
    let built = artifact::build(&files, &config, &provenance, &extra)?;
    pipeline::write_lock(loaded)?;

    // push (registry)
    let registry = Registry::new(&args.reference, &args.registry.options())?;
    let digest = block_on(artifact::push(&registry, &args.reference, &built))??;
    let annotations = serde_json::from_slice::<serde_json::Value>(&built.manifest)
        .ok()
        .and_then(|m| serde_json::from_value(m["annotations"].clone()).ok())
        .unwrap_or_default();
    let pushed = Pushed {
        reference: args.reference.to_oci_url(),
        digest: digest.clone(),
        size: built.layer.len(),
        annotations,
        config,
    };
    match args.output {
        Format::Text => super::print(&format!("{digest}\n"))?,
        Format::Json => super::print(&super::json_text(&pushed)?)?,
        Format::Yaml => super::print(&super::yaml_text(&pushed)?)?,
    }
    Ok(ExitCode::SUCCESS)
}

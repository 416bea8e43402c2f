//! `--from FILE --registry REG/PREFIX` of `render` and `apply`: install
//! from an air-gap file. The distribution is the artifact inside the file,
//! and every image is rewritten to its copy under REG/PREFIX by digest (the
//! map `distro import` printed), so nothing but the private registry and
//! the cluster is needed.

use std::path::PathBuf;
use std::sync::Arc;

use crate::oci::layout::{self, signature::VerifyingKeyFile};
use crate::oci::relocate::Relocation;
use crate::pipeline::{Invalid, Problem};
use crate::source::{Snapshot, tarball};

#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Air-gap file")]
pub struct From {
    /// Take the distribution from this air-gap file (`distro export`)
    /// instead of the platform file, with every image relocated to
    /// --registry by digest. The whole file is verified first.
    #[arg(
        long,
        value_name = "FILE",
        requires = "registry",
        conflicts_with = "watch"
    )]
    pub from: Option<PathBuf>,
    /// Where `distro import` put the images: REG[:PORT][/PREFIX].
    #[arg(long, value_name = "REG/PREFIX", requires = "from")]
    pub registry: Option<String>,
    /// Refuse the file unless its checksums are signed by this ed25519
    /// public key (PEM, `openssl pkey -pubout`).
    #[arg(long, value_name = "FILE", requires = "from")]
    pub verify_key: Option<PathBuf>,
}

/// What `--from` gives: the distribution, and where its images are.
pub struct Installed {
    pub snapshot: Snapshot,
    pub relocation: Arc<Relocation>,
}

impl From {
    /// Verifies the file and reads the distribution and relocation map
    /// from it; `None` without `--from`.
    ///
    /// # Errors
    /// Any verification failure, an unreadable key, a bad --registry: all
    /// invalid input (exit code 2).
    pub fn load(&self) -> Result<Option<Installed>, Invalid> {
        let (Some(file), Some(registry)) = (&self.from, &self.registry) else {
            return Ok(None);
        };
        let invalid = |e: tarball::Error| Invalid(vec![Problem::Tarball(e)]);
        let key =
            match &self.verify_key {
                Some(path) => Some(VerifyingKeyFile::read(path).map_err(|e| {
                    invalid(tarball::Error::verify(file, layout::Error::Signature(e)))
                })?),
                None => None,
            };
        let layout = layout::verify(file, key.as_ref(), &mut |_| {})
            .map_err(|e| invalid(tarball::Error::verify(file, e)))?;
        let snapshot = tarball::read(&layout).map_err(invalid)?;
        let relocation = crate::oci::import::relocation(&layout, registry)
            .map_err(|e| Invalid(vec![Problem::Tarball(tarball::Error::Import(e))]))?;
        Ok(Some(Installed {
            snapshot,
            relocation: Arc::new(relocation),
        }))
    }
}

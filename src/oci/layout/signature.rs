//! The detached signature: ed25519 over the bytes of `checksums.sha256`,
//! stored raw (64 bytes) as `checksums.sha256.sig`.
//!
//! Keys are PEM files as OpenSSL writes them: the private key PKCS#8
//! (`openssl genpkey -algorithm ed25519 -out key.pem`), the public key
//! SubjectPublicKeyInfo (`openssl pkey -in key.pem -pubout -out key.pub`).
//! Because the signature is raw ed25519 over the file, OpenSSL checks it
//! too: `openssl pkeyutl -verify -pubin -inkey key.pub -rawin -in
//! checksums.sha256 -sigfile checksums.sha256.sig`.

use std::path::Path;

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};

use super::{CHECKSUMS, SIGNATURE};

/// Key files larger than this are not keys.
const MAX_KEY_BYTES: u64 = 16 << 10;

/// Errors of signing and checking. Key material never appears in a
/// message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: cannot read key: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: not an ed25519 private key in PKCS#8 PEM (make one with `openssl genpkey -algorithm ed25519`)"
    )]
    PrivateKey { path: String },
    #[error(
        "{path}: not an ed25519 public key in PEM (make it with `openssl pkey -in KEY -pubout`)"
    )]
    PublicKey { path: String },
    #[error("entry {SIGNATURE} is missing, and --verify-key asks for a signed file")]
    Unsigned,
    #[error("entry {SIGNATURE}: {len} bytes, an ed25519 signature has 64")]
    Length { len: usize },
    #[error("entry {SIGNATURE}: the signature over {CHECKSUMS} does not verify with {key}")]
    Mismatch { key: String },
}

fn read_pem(path: &Path) -> Result<String, Error> {
    let shown = path.display().to_string();
    let read = |source| Error::Read {
        path: shown.clone(),
        source,
    };
    let len = std::fs::metadata(path).map_err(read)?.len();
    if len > MAX_KEY_BYTES {
        return Err(read(std::io::Error::other("larger than any key file")));
    }
    std::fs::read_to_string(path).map_err(read)
}

/// A private key, to sign with.
pub struct SigningKeyFile(SigningKey);

impl std::fmt::Debug for SigningKeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKeyFile(..)")
    }
}

impl SigningKeyFile {
    /// Reads a PKCS#8 PEM ed25519 private key.
    ///
    /// # Errors
    /// An unreadable file, or one that is not such a key.
    pub fn read(path: &Path) -> Result<Self, Error> {
        let pem = read_pem(path)?;
        SigningKey::from_pkcs8_pem(&pem)
            .map(Self)
            .map_err(|_| Error::PrivateKey {
                path: path.display().to_string(),
            })
    }

    /// The raw 64-byte signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

/// A public key, to check a signature with.
#[derive(Debug)]
pub struct VerifyingKeyFile {
    key: VerifyingKey,
    path: String,
}

impl VerifyingKeyFile {
    /// Reads a PEM ed25519 public key.
    ///
    /// # Errors
    /// An unreadable file, or one that is not such a key.
    pub fn read(path: &Path) -> Result<Self, Error> {
        let pem = read_pem(path)?;
        let shown = path.display().to_string();
        VerifyingKey::from_public_key_pem(&pem)
            .map(|key| Self {
                key,
                path: shown.clone(),
            })
            .map_err(|_| Error::PublicKey { path: shown })
    }

    /// Checks `signature` (the signature entry, if the file has one) over
    /// `message`.
    ///
    /// # Errors
    /// No signature, one of the wrong length, or one that does not verify.
    pub fn verify(&self, message: &[u8], signature: Option<&[u8]>) -> Result<(), Error> {
        let signature = signature.ok_or(Error::Unsigned)?;
        let bytes: [u8; 64] = signature.try_into().map_err(|_| Error::Length {
            len: signature.len(),
        })?;
        self.key
            .verify(message, &ed25519_dalek::Signature::from_bytes(&bytes))
            .map_err(|_| Error::Mismatch {
                key: self.path.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A throwaway key pair made with `openssl genpkey -algorithm ed25519`
    // and `openssl pkey -pubout`, for these tests only.
    const PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIB35QleJYDHtpYvZzLICcFfYQfdFuVCs1VP7F7vM/M5s
-----END PRIVATE KEY-----
";

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn signs_and_verifies_with_openssl_keys() {
        let dir = tempfile::tempdir().unwrap();
        let private = SigningKeyFile::read(&write(dir.path(), "k.pem", PRIVATE)).unwrap();
        let public_pem = {
            use ed25519_dalek::pkcs8::EncodePublicKey;
            private
                .0
                .verifying_key()
                .to_public_key_pem(Default::default())
                .unwrap()
        };
        let public = VerifyingKeyFile::read(&write(dir.path(), "k.pub", &public_pem)).unwrap();
        let sig = private.sign(b"checksums");
        public.verify(b"checksums", Some(&sig)).unwrap();
        let e = public.verify(b"checksumz", Some(&sig)).unwrap_err();
        assert!(e.to_string().contains("does not verify"), "{e}");
        assert!(matches!(
            public.verify(b"checksums", None),
            Err(Error::Unsigned)
        ));
        assert!(matches!(
            public.verify(b"checksums", Some(&sig[..10])),
            Err(Error::Length { len: 10 })
        ));
    }

    #[test]
    fn refuses_keys_of_the_wrong_kind() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = write(dir.path(), "g.pem", "not a key");
        let e = SigningKeyFile::read(&garbage).unwrap_err().to_string();
        assert!(e.contains("g.pem") && e.contains("PKCS#8"), "{e}");
        // A private key where a public one is wanted.
        let private = write(dir.path(), "k.pem", PRIVATE);
        assert!(matches!(
            VerifyingKeyFile::read(&private),
            Err(Error::PublicKey { .. })
        ));
        assert!(!e.contains("MC4C"));
    }
}

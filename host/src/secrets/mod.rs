//! Secrets at rest: an AEAD (XChaCha20-Poly1305) with a 256-bit key kept
//! outside the database — a 0600 file in the data directory, or supplied in
//! `DROVER_SECRET_KEY` (64 hex characters) by operators who keep it
//! elsewhere. Each sealed value is bound to its owner (the associated data),
//! so a ciphertext copied onto another row does not open.

pub mod credentials;

use anyhow::{Context, Result, bail};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::path::Path;
use zeroize::Zeroizing;

pub const KEY_ENV: &str = "DROVER_SECRET_KEY";
pub const KEY_FILE: &str = "secret.key";
const NONCE_LEN: usize = 24;

pub struct Vault {
    cipher: XChaCha20Poly1305,
}

impl Vault {
    /// The key from `DROVER_SECRET_KEY`, else `<data_dir>/secret.key`
    /// (created, mode 0600, on first start).
    pub fn open(data_dir: &Path) -> Result<Vault> {
        let key = match std::env::var(KEY_ENV) {
            Ok(hex_key) => parse_key(&hex_key).with_context(|| format!("{KEY_ENV} is invalid"))?,
            Err(_) => key_from_file(&data_dir.join(KEY_FILE))?,
        };
        Ok(Vault::from_key(&key))
    }

    pub fn from_key(key: &[u8; 32]) -> Vault {
        Vault {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// Nonce followed by ciphertext and tag.
    pub fn seal(&self, plaintext: &[u8], owner: &str) -> Result<Vec<u8>> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let ct = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub fn open_sealed(&self, sealed: &[u8], owner: &str) -> Result<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN + 16 {
            bail!("sealed value for {owner} is truncated");
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "cannot decrypt the secret of {owner}: the key ({KEY_ENV} or {KEY_FILE}) is \
                     not the one it was stored with, or the database was altered"
                )
            })?;
        Ok(Zeroizing::new(plain))
    }
}

fn parse_key(text: &str) -> Result<Zeroizing<[u8; 32]>> {
    let bytes = Zeroizing::new(
        hex::decode(text.trim()).context("expected 64 hexadecimal characters (a 256-bit key)")?,
    );
    let key: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("expected 64 hexadecimal characters (a 256-bit key)"))?;
    Ok(Zeroizing::new(key))
}

fn key_from_file(path: &Path) -> Result<Zeroizing<[u8; 32]>> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                bail!(
                    "{} is readable by other users (mode {:o}): run `chmod 600 {}`",
                    path.display(),
                    mode & 0o777,
                    path.display()
                );
            }
            let text = Zeroizing::new(text);
            parse_key(&text).with_context(|| format!("{} is invalid", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Zeroizing::new(rand::random::<[u8; 32]>());
            let text = Zeroizing::new(format!("{}\n", hex::encode(*key)));
            crate::config::write_private_file(path, text.as_bytes())?;
            tracing::info!(path = %path.display(), "created the secret key; back it up with the database");
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_tamper() {
        let v = Vault::from_key(&[7; 32]);
        let sealed = v.seal(b"hunter2", "credential:prod").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            &*v.open_sealed(&sealed, "credential:prod").unwrap(),
            b"hunter2"
        );
        // Bound to its owner.
        assert!(v.open_sealed(&sealed, "credential:other").is_err());
        // Another key cannot open it, and says what to check.
        let err = Vault::from_key(&[8; 32])
            .open_sealed(&sealed, "credential:prod")
            .unwrap_err();
        assert!(
            err.to_string().contains("not the one it was stored with"),
            "{err}"
        );
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(v.open_sealed(&bad, "credential:prod").is_err());
        assert!(v.open_sealed(&sealed[..10], "credential:prod").is_err());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let k1 = key_from_file(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let k2 = key_from_file(&path).unwrap();
        assert_eq!(*k1, *k2);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            key_from_file(&path)
                .unwrap_err()
                .to_string()
                .contains("chmod 600")
        );
        assert!(parse_key("abcd").is_err());
    }
}

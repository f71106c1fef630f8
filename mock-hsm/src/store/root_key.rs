//! The storage root key: where it comes from (environment, a 0600 file, or random for a store
//! in memory), and what it seals (key material, import tokens, the fingerprint of imported
//! material).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use super::{OpenError, Storage, Store, internal};
use crate::material::{
    Algorithm, Material, NONCE_LEN, aead_open, aead_seal, random_bytes, random_nonce,
};

/// Environment variable that may hold the storage root key (base64 of 32 bytes).
pub const ROOT_KEY_ENV: &str = "TKMS_HSM_ROOT_KEY";
/// File name of the root key inside a data directory.
pub const ROOT_KEY_FILE: &str = "root.key";

const MATERIAL_AAD_LABEL: &[u8] = b"tkms-material-v1";
const TOKEN_AAD_LABEL: &[u8] = b"tkms-import-token-v1";

/// Where the storage root key comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootKeySource {
    /// `TKMS_HSM_ROOT_KEY` if set, else `root.key` in the data directory (created with mode 0600
    /// on first use). In-memory stores use a random key.
    Default,
    /// This file (created with mode 0600 if missing): 32 raw bytes.
    File(PathBuf),
    /// This environment variable, base64 of 32 bytes.
    EnvVar(String),
}

/// The 32-byte storage root key.
pub(crate) struct RootKey(Zeroizing<[u8; 32]>);

impl RootKey {
    fn from_slice(bytes: &[u8]) -> Result<Self, OpenError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| OpenError::RootKey("must be exactly 32 bytes".into()))?;
        Ok(Self(Zeroizing::new(arr)))
    }

    fn random() -> Result<Self, OpenError> {
        let bytes =
            random_bytes(32).map_err(|_| OpenError::RootKey("random generator failed".into()))?;
        Self::from_slice(&bytes)
    }

    pub(super) fn seal(
        &self,
        aad: &[u8],
        plaintext: &[u8],
    ) -> rusqlite::Result<([u8; NONCE_LEN], Vec<u8>)> {
        let nonce = random_nonce().map_err(|_| internal("random generator failed"))?;
        let sealed = aead_seal(Algorithm::Aes256, &self.0[..], &nonce, aad, plaintext)
            .map_err(|_| internal("sealing key material failed"))?;
        Ok((nonce, sealed))
    }

    pub(super) fn open(
        &self,
        aad: &[u8],
        nonce: &[u8],
        sealed: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        aead_open(Algorithm::Aes256, &self.0[..], &nonce, aad, sealed).ok()
    }
}

pub(super) fn load_root_key(
    storage: &Storage,
    source: &RootKeySource,
) -> Result<RootKey, OpenError> {
    match source {
        RootKeySource::EnvVar(name) => from_env(name)?
            .ok_or_else(|| OpenError::RootKey(format!("environment variable {name} is not set"))),
        RootKeySource::File(path) => root_key_file(path),
        RootKeySource::Default => {
            if let Some(key) = from_env(ROOT_KEY_ENV)? {
                return Ok(key);
            }
            match storage {
                Storage::Directory(dir) => root_key_file(&dir.join(ROOT_KEY_FILE)),
                Storage::InMemory => RootKey::random(),
            }
        }
    }
}

fn from_env(name: &str) -> Result<Option<RootKey>, OpenError> {
    let Some(value) = std::env::var_os(name) else {
        return Ok(None);
    };
    let value = Zeroizing::new(
        value
            .into_string()
            .map_err(|_| OpenError::RootKey(format!("{name} is not UTF-8")))?,
    );
    let bytes = Zeroizing::new(
        B64.decode(value.trim())
            .map_err(|_| OpenError::RootKey(format!("{name} is not base64 of 32 bytes")))?,
    );
    RootKey::from_slice(&bytes).map(Some)
}

/// Reads the root key file, creating it atomically (mode 0600, fsynced, linked into place so a
/// concurrent creator never sees a partial file) when missing.
fn root_key_file(path: &Path) -> Result<RootKey, OpenError> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let describe = |e: std::io::Error| OpenError::RootKey(format!("{}: {e}", path.display()));
    if !path.exists() {
        let dir = path.parent().unwrap_or(Path::new("."));
        let key =
            random_bytes(32).map_err(|_| OpenError::RootKey("random generator failed".into()))?;
        let suffix = hex::encode(
            &random_bytes(8).map_err(|_| OpenError::RootKey("random generator failed".into()))?[..],
        );
        let tmp = dir.join(format!(".{ROOT_KEY_FILE}.{suffix}.tmp"));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(describe)?;
        file.write_all(&key)
            .and_then(|()| file.sync_all())
            .map_err(describe)?;
        drop(file);
        let linked = fs::hard_link(&tmp, path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                if let Ok(d) = fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(describe(e)),
        }
    }
    let meta = fs::metadata(path).map_err(describe)?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(OpenError::RootKey(format!(
            "{} is readable by other users; run `chmod 600` on it",
            path.display()
        )));
    }
    let bytes = Zeroizing::new(fs::read(path).map_err(describe)?);
    RootKey::from_slice(&bytes)
}

pub(super) fn material_aad(key_id: &str, version: u32) -> Vec<u8> {
    let mut aad = MATERIAL_AAD_LABEL.to_vec();
    aad.extend_from_slice(key_id.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

pub(super) fn token_aad(token_id: &str) -> Vec<u8> {
    let mut aad = TOKEN_AAD_LABEL.to_vec();
    aad.extend_from_slice(token_id.as_bytes());
    aad
}

impl Store {
    pub(super) fn open_material(
        &self,
        key_id: &str,
        version: u32,
        nonce: &[u8],
        sealed: &[u8],
    ) -> rusqlite::Result<Material> {
        self.root
            .open(&material_aad(key_id, version), nonce, sealed)
            .map(Material::new)
            .ok_or_else(|| {
                internal("stored key material failed authentication (wrong root key or corruption)")
            })
    }

    /// HMAC-SHA256 fingerprint of imported material under a key derived from the root key, so
    /// re-imports can be compared without keeping the material.
    pub(crate) fn fingerprint(&self, material: &[u8]) -> Vec<u8> {
        use hmac::{KeyInit as _, Mac as _};
        let mut derive = <hmac::Hmac<sha2::Sha256>>::new_from_slice(&self.root.0[..])
            .expect("HMAC takes any key length");
        derive.update(b"tkms-import-fingerprint-v1");
        let subkey = Zeroizing::new(derive.finalize().into_bytes().to_vec());
        let mut mac =
            <hmac::Hmac<sha2::Sha256>>::new_from_slice(&subkey).expect("HMAC takes any key length");
        mac.update(material);
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_key_file_is_private_and_wrong_key_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::Directory(dir.path().to_path_buf());
        drop(Store::open(&storage, &RootKeySource::Default).unwrap());
        let key_path = dir.path().join(ROOT_KEY_FILE);
        assert_eq!(
            fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read(&key_path).unwrap().len(), 32);
        let other = dir.path().join("other.key");
        assert!(matches!(
            Store::open(&storage, &RootKeySource::File(other)),
            Err(OpenError::WrongRootKey)
        ));
        fs::set_permissions(&key_path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            Store::open(&storage, &RootKeySource::Default),
            Err(OpenError::RootKey(_))
        ));
    }
}

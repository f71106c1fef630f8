//! The instance: one directory, one CMK, one master key (two while a rotation is in flight).
//!
//! The master key is a 32-byte data key from GenerateDataKey; only its CiphertextBlob is kept,
//! in `tde.instance`, and it is unwrapped by Decrypt when the instance opens (a restart). While
//! the instance is open the unwrapped key stays in memory, so disabling the CMK does not stop
//! it; the next open fails with the KMS's error.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::codec::{Reader, Writer};
use super::crypto::{self, KEY_LEN};
use super::error::{IoContext as _, TdeError};
use super::fsio;
use super::tablespace::{self, Tablespace, TablespaceInfo};
use crate::aead::check_suite;
use crate::kdf::{self, MAC_LEN};
use crate::kms::{KeyMetadata, KmsClient as _, KmsError, KmsTransport};
use crate::secret::DataKey;
use crate::suite::Suite;

/// `tde.instance`: the CMK-wrapped master key(s) and the instance settings.
pub(crate) const INSTANCE_FILE: &str = "tde.instance";
/// Held with an exclusive lock while an [`Instance`] is open.
const LOCK_FILE: &str = "tde.lock";
/// From docs/tde.md: "magic: the 8 bytes `tkmsTDEi`".
const INSTANCE_MAGIC: &[u8; 8] = b"tkmsTDEi";
const INSTANCE_VERSION: u8 = 1;
const LABEL_INSTANCE_MAC: &[u8] = b"tkms-tde v1 instance-mac";
/// The default page size, as InnoDB's `innodb_page_size`.
pub const DEFAULT_PAGE_SIZE: u32 = 16 * 1024;
const MIN_PAGE_SIZE: u32 = 4 * 1024;
const MAX_PAGE_SIZE: u32 = 64 * 1024;
const MAX_CMK_ID_LEN: usize = 256;
const MAX_BLOB_LEN: usize = 8192;

/// Settings for a new instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitOptions {
    /// The page cipher (and the hash of its HKDF/HMAC): AES-256-GCM + SHA-256 or SM4-GCM + SM3.
    pub suite: Suite,
    /// Plaintext bytes per page: a power of two from 4 KiB to 64 KiB.
    pub page_size: u32,
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            suite: Suite::Aes256Gcm,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

/// An unwrapped master key and the blob it came from.
pub(crate) struct MasterKey {
    pub(crate) generation: u32,
    blob: String,
    pub(crate) key: DataKey,
}

/// An open TDE instance: the master key is unwrapped and held in memory (zeroized on drop).
pub struct Instance {
    dir: PathBuf,
    suite: Suite,
    page_size: u32,
    instance_id: [u8; 16],
    cmk_id: String,
    /// The current master key, then the pending one while a rotation is unfinished.
    masters: Vec<MasterKey>,
    _lock: File,
}

impl core::fmt::Debug for Instance {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Instance")
            .field("dir", &self.dir)
            .field("suite", &self.suite)
            .field("page_size", &self.page_size)
            .field("cmk_id", &self.cmk_id)
            .field("master_generation", &self.master_generation())
            .finish_non_exhaustive()
    }
}

/// What [`Instance::rotate_master`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationReport {
    /// The master key generation before.
    pub old_generation: u32,
    /// The master key generation now.
    pub new_generation: u32,
    /// Tablespace headers rewritten.
    pub tablespaces: usize,
    /// Pages left as they were (all of them: rotation rewrites headers only).
    pub pages_untouched: u64,
    /// Wall time of the rotation, KMS call included.
    pub elapsed: Duration,
}

/// The cloud product a TDE instance binds its CMK as (TencentDB for MySQL), so the KMS refuses
/// to disable or delete a CMK an instance still needs (docs/tde.md, "The CMK binding").
pub const TDE_PRODUCT_ID: &str = "cdb";

/// The ResourceId an instance binds its CMK as: `cdb-` and its instance id in hex.
fn resource_id(instance_id: &[u8; 16]) -> String {
    format!("cdb-{}", hex::encode(instance_id))
}

/// Public, unauthenticated facts about an instance directory, readable without the KMS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceInfo {
    /// The CMK that wraps the master key.
    pub cmk_id: String,
    /// The ResourceId the instance binds its CMK as (product [`TDE_PRODUCT_ID`]).
    pub resource_id: String,
    /// The page cipher suite.
    pub suite: Suite,
    /// Plaintext bytes per page.
    pub page_size: u32,
    /// The current master key generation.
    pub master_generation: u32,
    /// The pending master key generation, while a rotation is unfinished.
    pub pending_master_generation: Option<u32>,
    /// The instance's tablespaces.
    pub tablespaces: Vec<TablespaceInfo>,
}

fn master_context(instance_id: &[u8; 16], generation: u32) -> String {
    // Binds the wrapped master key to this instance and generation: a blob copied from another
    // instance or swapped between generations fails to decrypt at the KMS.
    format!(
        r#"{{"tkms-tde-instance":"{}","tkms-tde-master-generation":"{generation}"}}"#,
        hex::encode(instance_id)
    )
}

struct InstanceFile {
    suite: Suite,
    page_size: u32,
    instance_id: [u8; 16],
    cmk_id: String,
    entries: Vec<(u32, String)>,
    /// Bytes covered by the MAC, and the MAC.
    signed_len: usize,
    mac: [u8; MAC_LEN],
}

fn validate_page_size(page_size: u32) -> Result<(), TdeError> {
    if page_size.is_power_of_two() && (MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&page_size) {
        Ok(())
    } else {
        Err(TdeError::InvalidArgument(format!(
            "page size {page_size} is not a power of two from 4096 to 65536"
        )))
    }
}

fn encode_instance(
    suite: Suite,
    page_size: u32,
    instance_id: &[u8; 16],
    cmk_id: &str,
    masters: &[MasterKey],
) -> Vec<u8> {
    let mut w = Writer::new();
    w.bytes(INSTANCE_MAGIC)
        .u8(INSTANCE_VERSION)
        .u16(suite.id())
        .u32(page_size)
        .bytes(instance_id)
        .str16(cmk_id);
    w.u8(u8::try_from(masters.len()).expect("one or two master keys"));
    for m in masters {
        w.u32(m.generation).str16(&m.blob);
    }
    let mac_key = instance_mac_key(suite, &masters[0].key, instance_id);
    let mac = kdf::hmac(suite, &mac_key, &[&w.0]);
    w.bytes(&mac);
    w.0
}

fn instance_mac_key(
    suite: Suite,
    master: &DataKey,
    instance_id: &[u8; 16],
) -> zeroize::Zeroizing<Vec<u8>> {
    kdf::hkdf(
        suite,
        master.expose_secret(),
        instance_id,
        &[LABEL_INSTANCE_MAC],
        KEY_LEN,
    )
}

fn decode_instance(bytes: &[u8]) -> Result<InstanceFile, TdeError> {
    let mut r = Reader::new(bytes, INSTANCE_FILE);
    r.preamble(INSTANCE_MAGIC, INSTANCE_VERSION, "instance file")?;
    let suite = Suite::from_id(r.u16("suite")?)
        .map_err(|e| TdeError::Format(format!("{INSTANCE_FILE}: {e}")))?;
    let page_size = r.u32("page size")?;
    validate_page_size(page_size)
        .map_err(|_| TdeError::Format(format!("{INSTANCE_FILE}: bad page size")))?;
    let instance_id = r.array::<16>("instance id")?;
    let cmk_id = r.str16("CMK id")?;
    let count = r.u8("master key count")?;
    if !(1..=2).contains(&count) {
        return Err(TdeError::Format(format!(
            "{INSTANCE_FILE}: {count} master keys (expected 1 or 2)"
        )));
    }
    let mut entries = Vec::new();
    for _ in 0..count {
        let generation = r.u32("master key generation")?;
        let blob = r.str16("master key blob")?;
        entries.push((generation, blob));
    }
    if count == 2 && entries[1].0 != entries[0].0.wrapping_add(1) {
        return Err(TdeError::Format(format!(
            "{INSTANCE_FILE}: pending master key generation is not current + 1"
        )));
    }
    let signed_len = r.pos();
    let mac = r.array::<MAC_LEN>("MAC")?;
    if r.pos() != bytes.len() {
        return Err(TdeError::Format(format!("{INSTANCE_FILE}: trailing bytes")));
    }
    Ok(InstanceFile {
        suite,
        page_size,
        instance_id,
        cmk_id,
        entries,
        signed_len,
        mac,
    })
}

fn read_instance_file(dir: &Path) -> Result<(InstanceFile, Vec<u8>), TdeError> {
    let path = dir.join(INSTANCE_FILE);
    let bytes = fs::read(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => TdeError::NotFound(format!(
            "no TDE instance in {} (run `tkms tde init` first)",
            dir.display()
        )),
        _ => TdeError::Io {
            path: path.clone(),
            source,
        },
    })?;
    Ok((decode_instance(&bytes)?, bytes))
}

fn lock(dir: &Path) -> Result<File, TdeError> {
    let path = dir.join(LOCK_FILE);
    let f = crate::private_file::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .at(&path)?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(TdeError::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(TdeError::Io { path, source: e }),
    }
}

fn generate_master(
    kms: &dyn KmsTransport,
    cmk_id: &str,
    instance_id: &[u8; 16],
    generation: u32,
) -> Result<MasterKey, TdeError> {
    let context = master_context(instance_id, generation);
    let generated = kms.generate_data_key(cmk_id, KEY_LEN, Some(&context))?;
    let key = DataKey::from_slice(generated.plaintext.expose_secret()).ok_or_else(|| {
        KmsError::new(
            "InternalError",
            "GenerateDataKey returned a key that is not 32 bytes",
        )
    })?;
    if generated.ciphertext_blob.is_empty() || generated.ciphertext_blob.len() > MAX_BLOB_LEN {
        return Err(KmsError::new(
            "InternalError",
            "GenerateDataKey returned an unusable CiphertextBlob",
        )
        .into());
    }
    Ok(MasterKey {
        generation,
        blob: generated.ciphertext_blob,
        key,
    })
}

impl Instance {
    /// Creates an instance in `dir` (created if missing): asks the KMS for a master key under
    /// `cmk_id` and writes `tde.instance` holding only its CiphertextBlob.
    pub fn create(
        dir: &Path,
        kms: &dyn KmsTransport,
        cmk_id: &str,
        options: InitOptions,
    ) -> Result<Self, TdeError> {
        validate_page_size(options.page_size)?;
        check_suite(options.suite)?;
        if cmk_id.is_empty() || cmk_id.len() > MAX_CMK_ID_LEN {
            return Err(TdeError::InvalidArgument(
                "the CMK id must be 1 to 256 bytes".into(),
            ));
        }
        fs::create_dir_all(dir).at(dir)?;
        let lock = lock(dir)?;
        let path = dir.join(INSTANCE_FILE);
        if path.exists() {
            return Err(TdeError::AlreadyExists(format!(
                "a TDE instance in {}",
                dir.display()
            )));
        }
        let mut instance_id = [0u8; 16];
        getrandom::fill(&mut instance_id).expect("the OS CSPRNG failed");
        let master = generate_master(kms, cmk_id, &instance_id, 1)?;
        let masters = vec![master];
        fsio::write_atomic(
            &path,
            &encode_instance(
                options.suite,
                options.page_size,
                &instance_id,
                cmk_id,
                &masters,
            ),
        )?;
        Ok(Self {
            dir: dir.to_path_buf(),
            suite: options.suite,
            page_size: options.page_size,
            instance_id,
            cmk_id: cmk_id.to_owned(),
            masters,
            _lock: lock,
        })
    }

    /// Opens the instance in `dir` (a restart): Decrypt at the KMS unwraps the master key, so
    /// this fails with the KMS's error while the CMK is Disabled, PendingDelete or gone.
    /// A rotation that a crash interrupted is finished here (rolled forward).
    pub fn open(dir: &Path, kms: &dyn KmsTransport) -> Result<Self, TdeError> {
        // Not an instance: say so (and leave no lock file behind) before locking.
        read_instance_file(dir)?;
        let lock = lock(dir)?;
        let _ = fs::remove_file(fsio::tmp_path(&dir.join(INSTANCE_FILE)));
        let (file, bytes) = read_instance_file(dir)?;
        check_suite(file.suite)?;
        let mut masters = Vec::new();
        for (generation, blob) in &file.entries {
            let context = master_context(&file.instance_id, *generation);
            let decrypted = kms.decrypt(blob, Some(&context))?;
            let key = DataKey::from_slice(decrypted.plaintext.expose_secret())
                .ok_or(TdeError::DecryptionFailed)?;
            masters.push(MasterKey {
                generation: *generation,
                blob: blob.clone(),
                key,
            });
        }
        let mac_key = instance_mac_key(file.suite, &masters[0].key, &file.instance_id);
        crypto::mac_verify(
            file.suite,
            &mac_key,
            &[&bytes[..file.signed_len]],
            &file.mac,
        )?;
        let mut instance = Self {
            dir: dir.to_path_buf(),
            suite: file.suite,
            page_size: file.page_size,
            instance_id: file.instance_id,
            cmk_id: file.cmk_id,
            masters,
            _lock: lock,
        };
        if instance.masters.len() == 2 {
            instance.finish_rotation()?;
        }
        Ok(instance)
    }

    /// Reads the public facts of the instance in `dir` without the KMS and without
    /// authenticating them (for status reports when the CMK cannot be used).
    pub fn inspect(dir: &Path) -> Result<InstanceInfo, TdeError> {
        let (file, _) = read_instance_file(dir)?;
        let mut tablespaces = Vec::new();
        for name in list_tablespaces(dir)? {
            tablespaces.push(tablespace::inspect(dir, &name)?);
        }
        Ok(InstanceInfo {
            resource_id: resource_id(&file.instance_id),
            cmk_id: file.cmk_id,
            suite: file.suite,
            page_size: file.page_size,
            master_generation: file.entries[0].0,
            pending_master_generation: file.entries.get(1).map(|e| e.0),
            tablespaces,
        })
    }

    /// DescribeKey of the instance's CMK: its state in the KMS (`Enabled`, `Disabled`...).
    pub fn describe_cmk(dir: &Path, kms: &dyn KmsTransport) -> Result<KeyMetadata, TdeError> {
        let (file, _) = read_instance_file(dir)?;
        Ok(kms.describe_key(&file.cmk_id)?)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The ResourceId the instance binds its CMK as (product [`TDE_PRODUCT_ID`]).
    pub fn resource_id(&self) -> String {
        resource_id(&self.instance_id)
    }

    /// The CMK that wraps the master key.
    pub fn cmk_id(&self) -> &str {
        &self.cmk_id
    }
    /// The page cipher suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }
    /// Plaintext bytes per page.
    pub fn page_size(&self) -> u32 {
        self.page_size
    }
    /// The current master key generation (1 after `create`, +1 per rotation).
    pub fn master_generation(&self) -> u32 {
        self.masters[0].generation
    }

    /// The names of the instance's tablespaces, sorted.
    pub fn tablespaces(&self) -> Result<Vec<String>, TdeError> {
        list_tablespaces(&self.dir)
    }

    /// Creates an empty tablespace with a fresh random tablespace key.
    pub fn create_tablespace(&self, name: &str) -> Result<Tablespace<'_>, TdeError> {
        Tablespace::create(self, name)
    }

    /// Opens a tablespace: checks its header, finishes a write that a crash interrupted, and
    /// loads and authenticates its counter table.
    pub fn open_tablespace(&self, name: &str) -> Result<Tablespace<'_>, TdeError> {
        Tablespace::open(self, name)
    }

    /// Rotates the master key, as `ALTER INSTANCE ROTATE INNODB MASTER KEY`: a new master key
    /// from GenerateDataKey (so under the CMK's newest version), every tablespace key rewrapped
    /// in its header, no page read or written. Crash-safe: the new key is recorded as pending
    /// before any header changes, and an interrupted rotation is finished by the next open.
    pub fn rotate_master(&mut self, kms: &dyn KmsTransport) -> Result<RotationReport, TdeError> {
        let started = Instant::now();
        let old_generation = self.master_generation();
        if self.masters.len() == 1 {
            let generation = old_generation.checked_add(1).ok_or_else(|| {
                TdeError::InvalidArgument("master key generations exhausted".into())
            })?;
            let pending = generate_master(kms, &self.cmk_id, &self.instance_id, generation)?;
            self.masters.push(pending);
            self.write_instance_file()?;
        }
        let (tablespaces, pages_untouched) = self.finish_rotation()?;
        Ok(RotationReport {
            old_generation,
            new_generation: self.master_generation(),
            tablespaces,
            pages_untouched,
            elapsed: started.elapsed(),
        })
    }

    /// Rewraps every header under the pending master key, then makes it current.
    fn finish_rotation(&mut self) -> Result<(usize, u64), TdeError> {
        let names = self.tablespaces()?;
        let mut pages = 0;
        for name in &names {
            pages += tablespace::rewrap_header(self, name, &self.masters[1])?;
        }
        self.masters.remove(0);
        self.write_instance_file()?;
        Ok((names.len(), pages))
    }

    fn write_instance_file(&self) -> Result<(), TdeError> {
        let bytes = encode_instance(
            self.suite,
            self.page_size,
            &self.instance_id,
            &self.cmk_id,
            &self.masters,
        );
        fsio::write_atomic(&self.dir.join(INSTANCE_FILE), &bytes)
    }

    pub(crate) fn instance_id(&self) -> &[u8; 16] {
        &self.instance_id
    }

    /// The master key of `generation`, if this instance holds it.
    pub(crate) fn master(&self, generation: u32) -> Option<&MasterKey> {
        self.masters.iter().find(|m| m.generation == generation)
    }

    /// The master key new headers are sealed under.
    pub(crate) fn current_master(&self) -> &MasterKey {
        &self.masters[0]
    }
}

fn list_tablespaces(dir: &Path) -> Result<Vec<String>, TdeError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if let Some(name) = file_name.strip_suffix(tablespace::DATA_SUFFIX)
            && tablespace::validate_name(name).is_ok()
        {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn master(generation: u32) -> MasterKey {
        MasterKey {
            generation,
            blob: format!("blob-{generation}"),
            key: DataKey::generate(),
        }
    }

    #[test]
    fn instance_file_round_trips_and_every_truncation_is_a_format_error() {
        let bytes = encode_instance(
            Suite::Aes256Gcm,
            8192,
            &[9; 16],
            "cmk-1",
            &[master(4), master(5)],
        );
        let file = decode_instance(&bytes).unwrap();
        assert_eq!(
            (file.suite, file.page_size, file.cmk_id.as_str()),
            (Suite::Aes256Gcm, 8192, "cmk-1")
        );
        assert_eq!(
            file.entries,
            [(4, "blob-4".to_owned()), (5, "blob-5".to_owned())]
        );
        for len in 0..bytes.len() {
            assert!(
                matches!(decode_instance(&bytes[..len]), Err(TdeError::Format(_))),
                "length {len}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(decode_instance(&longer), Err(TdeError::Format(_))));
    }

    #[test]
    fn a_pending_master_must_be_the_next_generation() {
        let bytes = encode_instance(
            Suite::Sm4Gcm,
            16384,
            &[9; 16],
            "cmk",
            &[master(4), master(6)],
        );
        assert!(matches!(decode_instance(&bytes), Err(TdeError::Format(_))));
    }

    #[test]
    fn the_master_key_context_names_instance_and_generation() {
        assert_eq!(
            master_context(&[0xab; 16], 7),
            r#"{"tkms-tde-instance":"abababababababababababababababab","tkms-tde-master-generation":"7"}"#
        );
    }

    proptest! {
        #[test]
        fn instance_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut framed = INSTANCE_MAGIC.to_vec();
            framed.push(INSTANCE_VERSION);
            framed.extend_from_slice(&bytes);
            let _ = decode_instance(&framed);
            let _ = decode_instance(&bytes);
        }
    }
}

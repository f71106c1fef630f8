//! A tablespace: a header (two alternating slots) holding its key wrapped by the master key,
//! fixed-size encrypted page records, a MAC'd counter table that makes each page's latest version
//! checkable, and a journal that makes every multi-page change atomic (docs/tde.md).

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::codec::{Reader, Writer};
use super::crypto::{self, KEY_LEN};
use super::error::{IoContext as _, TdeError};
use super::fsio;
use super::instance::{Instance, MasterKey};
use crate::aead::{Cipher, NONCE_LEN, TAG_LEN};
use crate::kdf::{self, MAC_LEN};
use crate::secret::DataKey;
use crate::suite::Suite;

/// Page records and header slots.
pub(crate) const DATA_SUFFIX: &str = ".tbs";
/// The counter table.
const COUNTER_SUFFIX: &str = ".ctr";
/// The journal of the change being applied.
const JOURNAL_SUFFIX: &str = ".jnl";

/// From docs/tde.md: "header slot: 4096 bytes; slot 0 at offset 0, slot 1 at offset 4096".
pub(crate) const HEADER_SLOT_LEN: usize = 4096;
const HEADER_AREA_LEN: u64 = 2 * HEADER_SLOT_LEN as u64;
const HEADER_MAGIC: &[u8; 8] = b"tkmsTDEh";
const JOURNAL_MAGIC: &[u8; 8] = b"tkmsTDEj";
const FORMAT_VERSION: u8 = 1;
/// Bytes of a page record before its ciphertext: key generation (4), write counter (8) and
/// random nonce suffix (4).
const RECORD_PREFIX_LEN: usize = 16;
/// Page counters in one counter block (and pages per rekey batch).
pub(crate) const PAGES_PER_BLOCK: u64 = 256;
/// key generation (4) + 256 counters (8 each) + MAC.
const COUNTER_BLOCK_LEN: usize = 4 + PAGES_PER_BLOCK as usize * 8 + MAC_LEN;
/// Write counters reserved in the header at a time (one header write per this many writes).
const COUNTER_RESERVATION: u64 = 1 << 16;
const MAX_NAME_LEN: usize = 64;

const LABEL_HEADER_SEAL: &[u8] = b"tkms-tde v1 header-seal";
const LABEL_JOURNAL_MAC: &[u8] = b"tkms-tde v1 journal-mac";
const LABEL_PAGE_KEY: &[u8] = b"tkms-tde v1 page-key";
const LABEL_COUNTER_MAC: &[u8] = b"tkms-tde v1 counter-mac";
const LABEL_PAGE_AAD: &[u8] = b"tkms-tde v1 page";
const LABEL_COUNTERS: &[u8] = b"tkms-tde v1 counters";

/// Checks a tablespace name: 1 to 64 of `A-Z a-z 0-9 _ -`.
pub(crate) fn validate_name(name: &str) -> Result<(), TdeError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(TdeError::InvalidArgument(format!(
            "table name {name:?}: use 1 to 64 letters, digits, '_' or '-'"
        )))
    }
}

/// One generation of a tablespace key and the keys derived from it.
struct TablespaceKey {
    generation: u32,
    secret: DataKey,
    page: Cipher,
    counter_mac: Zeroizing<Vec<u8>>,
}

impl TablespaceKey {
    fn new(suite: Suite, tablespace_id: &[u8; 16], generation: u32, secret: DataKey) -> Self {
        let gen_bytes = generation.to_be_bytes();
        let info: [&[u8]; 2] = [LABEL_PAGE_KEY, &gen_bytes];
        let page = crypto::aead_key(suite, secret.expose_secret(), tablespace_id, &info);
        let info: [&[u8]; 2] = [LABEL_COUNTER_MAC, &gen_bytes];
        let counter_mac = kdf::hkdf(suite, secret.expose_secret(), tablespace_id, &info, KEY_LEN);
        Self {
            generation,
            secret,
            page,
            counter_mac,
        }
    }
}

/// A rekey in progress: the new key and the first counter block not yet re-encrypted.
struct Rekey {
    key: TablespaceKey,
    next_block: u64,
}

/// The fields of a header slot that are readable without a key.
#[derive(Clone)]
struct HeaderFields {
    suite: Suite,
    page_size: u32,
    instance_id: [u8; 16],
    tablespace_id: [u8; 16],
    name: String,
    seq: u64,
    master_generation: u32,
    page_count: u64,
    data_len: u64,
    counter_reserved: u64,
    key_generation: u32,
    /// (new key generation, next block) while a rekey is in progress.
    rekey: Option<(u32, u64)>,
}

/// A parsed header slot: its fields, the bytes its seal authenticates, nonce and sealed keys.
struct HeaderSlot {
    fields: HeaderFields,
    aad: Vec<u8>,
    nonce: [u8; NONCE_LEN],
    sealed: Vec<u8>,
}

fn header_seal_key(suite: Suite, master: &MasterKey, tablespace_id: &[u8; 16]) -> Cipher {
    crypto::aead_key(
        suite,
        master.key.expose_secret(),
        tablespace_id,
        &[LABEL_HEADER_SEAL],
    )
}

fn journal_mac_key(
    suite: Suite,
    master: &MasterKey,
    tablespace_id: &[u8; 16],
) -> Zeroizing<Vec<u8>> {
    kdf::hkdf(
        suite,
        master.key.expose_secret(),
        tablespace_id,
        &[LABEL_JOURNAL_MAC],
        KEY_LEN,
    )
}

fn encode_header_fields(h: &HeaderFields) -> Vec<u8> {
    let mut w = Writer::new();
    w.bytes(HEADER_MAGIC)
        .u8(FORMAT_VERSION)
        .u16(h.suite.id())
        .u32(h.page_size);
    w.bytes(&h.instance_id).bytes(&h.tablespace_id);
    w.u8(u8::try_from(h.name.len()).expect("names are at most 64 bytes"))
        .bytes(h.name.as_bytes());
    w.u64(h.seq)
        .u32(h.master_generation)
        .u64(h.page_count)
        .u64(h.data_len)
        .u64(h.counter_reserved);
    w.u32(h.key_generation);
    match h.rekey {
        None => w.u8(0),
        Some((generation, next_block)) => w.u8(1).u32(generation).u64(next_block),
    };
    w.0
}

/// Seals the keys under the master key and returns the 4096-byte slot.
fn encode_header_slot(h: &HeaderFields, keys: &[&DataKey], master: &MasterKey) -> Vec<u8> {
    // The header names the master key that seals it, whatever the caller's copy says.
    let h = &HeaderFields {
        master_generation: master.generation,
        ..h.clone()
    };
    let mut slot = encode_header_fields(h);
    let mut nonce = [0u8; NONCE_LEN];
    // Random nonces under a per-(master, tablespace) key: at most one header write per 65536
    // page writes or per rekey batch, far below the 2^32 bound for random GCM nonces.
    getrandom::fill(&mut nonce).expect("the OS CSPRNG failed");
    let aad = slot.clone();
    let mut plain = Zeroizing::new(Vec::with_capacity(keys.len() * KEY_LEN));
    for k in keys {
        plain.extend_from_slice(k.expose_secret());
    }
    let tag =
        header_seal_key(h.suite, master, &h.tablespace_id).seal_in_place(&nonce, &aad, &mut plain);
    slot.extend_from_slice(&nonce);
    slot.extend_from_slice(&plain);
    slot.extend_from_slice(&tag);
    slot.resize(HEADER_SLOT_LEN, 0);
    slot
}

fn decode_header_slot(bytes: &[u8], what: &'static str) -> Result<HeaderSlot, TdeError> {
    let mut r = Reader::new(bytes, what);
    r.preamble(HEADER_MAGIC, FORMAT_VERSION, "tablespace header")?;
    let suite =
        Suite::from_id(r.u16("suite")?).map_err(|e| TdeError::Format(format!("{what}: {e}")))?;
    let page_size = r.u32("page size")?;
    let instance_id = r.array("instance id")?;
    let tablespace_id = r.array("tablespace id")?;
    let name_len = usize::from(r.u8("name length")?);
    let name = String::from_utf8(r.bytes(name_len, "name")?.to_vec())
        .map_err(|_| TdeError::Format(format!("{what}: name is not UTF-8")))?;
    let seq = r.u64("sequence number")?;
    let master_generation = r.u32("master key generation")?;
    let page_count = r.u64("page count")?;
    let data_len = r.u64("data length")?;
    let counter_reserved = r.u64("reserved counter")?;
    let key_generation = r.u32("key generation")?;
    let rekey = match r.u8("rekey flag")? {
        0 => None,
        1 => Some((r.u32("new key generation")?, r.u64("rekey progress")?)),
        other => return Err(TdeError::Format(format!("{what}: bad rekey flag {other}"))),
    };
    let aad = bytes[..r.pos()].to_vec();
    let nonce = r.array("nonce")?;
    let keys = if rekey.is_some() { 2 } else { 1 };
    let sealed = r.bytes(keys * KEY_LEN + TAG_LEN, "sealed keys")?.to_vec();
    if page_count > u64::from(u32::MAX) || data_len > page_count * u64::from(page_size) {
        return Err(TdeError::Format(format!(
            "{what}: inconsistent page count or data length"
        )));
    }
    if let Some((generation, next_block)) = rekey
        && (generation != key_generation.wrapping_add(1)
            || next_block > page_count.div_ceil(PAGES_PER_BLOCK))
    {
        return Err(TdeError::Format(format!(
            "{what}: inconsistent rekey state"
        )));
    }
    let fields = HeaderFields {
        suite,
        page_size,
        instance_id,
        tablespace_id,
        name,
        seq,
        master_generation,
        page_count,
        data_len,
        counter_reserved,
        key_generation,
        rekey,
    };
    Ok(HeaderSlot {
        fields,
        aad,
        nonce,
        sealed,
    })
}

/// Opens a slot's sealed keys with the master key it names.
fn open_header_keys(instance: &Instance, slot: &HeaderSlot) -> Result<Vec<DataKey>, TdeError> {
    let f = &slot.fields;
    let master = instance.master(f.master_generation).ok_or_else(|| {
        TdeError::Format(format!(
            "tablespace {} is wrapped by master key generation {}, which this instance does not hold",
            f.name, f.master_generation
        ))
    })?;
    let (ct, tag) = slot.sealed.split_at(slot.sealed.len() - TAG_LEN);
    let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| TdeError::DecryptionFailed)?;
    let mut plain = Zeroizing::new(ct.to_vec());
    header_seal_key(f.suite, master, &f.tablespace_id)
        .open_in_place(&slot.nonce, &slot.aad, &mut plain, tag)
        .map_err(|_| TdeError::DecryptionFailed)?;
    Ok(plain
        .chunks(KEY_LEN)
        .map(|c| DataKey::from_slice(c).expect("chunks of 32 bytes"))
        .collect())
}

struct Paths {
    data: PathBuf,
    counters: PathBuf,
    journal: PathBuf,
}

fn paths(dir: &Path, name: &str) -> Paths {
    Paths {
        data: dir.join(format!("{name}{DATA_SUFFIX}")),
        counters: dir.join(format!("{name}{COUNTER_SUFFIX}")),
        journal: dir.join(format!("{name}{JOURNAL_SUFFIX}")),
    }
}

/// Reads both header slots and returns the valid one with the highest sequence number, with its
/// keys. `Ok(None)` slots are skipped: a torn slot write leaves the other slot in force.
fn read_header(
    instance: &Instance,
    file: &File,
    path: &Path,
) -> Result<(HeaderFields, Vec<DataKey>), TdeError> {
    let mut best: Option<(HeaderFields, Vec<DataKey>)> = None;
    let mut first_error = None;
    for slot_index in 0..2u64 {
        let mut buf = vec![0u8; HEADER_SLOT_LEN];
        if let Err(e) = fsio::read_at(
            file,
            path,
            slot_index * HEADER_SLOT_LEN as u64,
            &mut buf,
            "header slot",
        ) {
            first_error.get_or_insert(e);
            continue;
        }
        let opened = decode_header_slot(&buf, "tablespace header")
            .and_then(|slot| open_header_keys(instance, &slot).map(|keys| (slot.fields, keys)));
        match opened {
            Ok((fields, keys)) => {
                if best.as_ref().is_none_or(|(b, _)| fields.seq > b.seq) {
                    best = Some((fields, keys));
                }
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    best.ok_or_else(|| first_error.unwrap_or(TdeError::DecryptionFailed))
}

/// Checks that a header belongs to this instance and file.
fn check_header_identity(
    instance: &Instance,
    h: &HeaderFields,
    name: &str,
) -> Result<(), TdeError> {
    if h.instance_id != *instance.instance_id()
        || h.suite != instance.suite()
        || h.page_size != instance.page_size()
    {
        return Err(TdeError::Format(format!(
            "tablespace {name} belongs to another instance"
        )));
    }
    if h.name != name {
        return Err(TdeError::Format(format!(
            "tablespace file {name} holds tablespace {} (renamed?)",
            h.name
        )));
    }
    Ok(())
}

/// Public, unauthenticated facts about a tablespace (from its newest well-formed header slot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TablespaceInfo {
    /// The table name.
    pub name: String,
    /// Pages in the tablespace.
    pub page_count: u64,
    /// The master key generation that wraps its key.
    pub master_generation: u32,
    /// The generation of its (current) tablespace key.
    pub key_generation: u32,
    /// While a rekey is unfinished: the new key's generation and the pages already re-encrypted.
    pub rekey: Option<(u32, u64)>,
}

impl TablespaceInfo {
    fn from_fields(h: &HeaderFields) -> Self {
        Self {
            name: h.name.clone(),
            page_count: h.page_count,
            master_generation: h.master_generation,
            key_generation: h.key_generation,
            rekey: h
                .rekey
                .map(|(g, block)| (g, (block * PAGES_PER_BLOCK).min(h.page_count))),
        }
    }
}

pub(crate) fn inspect(dir: &Path, name: &str) -> Result<TablespaceInfo, TdeError> {
    let p = paths(dir, name);
    let file = File::open(&p.data).at(&p.data)?;
    let mut best: Option<HeaderFields> = None;
    for slot_index in 0..2u64 {
        let mut buf = vec![0u8; HEADER_SLOT_LEN];
        if fsio::read_at(
            &file,
            &p.data,
            slot_index * HEADER_SLOT_LEN as u64,
            &mut buf,
            "header slot",
        )
        .is_err()
        {
            continue;
        }
        if let Ok(slot) = decode_header_slot(&buf, "tablespace header")
            && best.as_ref().is_none_or(|b| slot.fields.seq > b.seq)
        {
            best = Some(slot.fields);
        }
    }
    best.map(|h| TablespaceInfo::from_fields(&h))
        .ok_or_else(|| TdeError::Format(format!("tablespace {name}: no well-formed header slot")))
}

/// Rewraps a tablespace's keys under `new_master` (master rotation); returns its page count.
pub(crate) fn rewrap_header(
    instance: &Instance,
    name: &str,
    new_master: &MasterKey,
) -> Result<u64, TdeError> {
    let p = paths(instance.dir(), name);
    let file = fsio::open_rw(&p.data, false)?;
    let (mut h, _) = read_header(instance, &file, &p.data)?;
    check_header_identity(instance, &h, name)?;
    replay_journal(instance, &p, &file, &mut h)?;
    let (mut h, keys) = read_header(instance, &file, &p.data)?;
    // A crash may have left one slot under the new master key and the other under the old.
    let both_rewrapped = (0..2u64).all(|i| {
        let mut buf = vec![0u8; HEADER_SLOT_LEN];
        fsio::read_at(
            &file,
            &p.data,
            i * HEADER_SLOT_LEN as u64,
            &mut buf,
            "header slot",
        )
        .is_ok()
            && decode_header_slot(&buf, "tablespace header")
                .is_ok_and(|slot| slot.fields.master_generation == new_master.generation)
    });
    if !both_rewrapped {
        // Both slots, one at a time: afterwards no slot is wrapped by the old master key, so its
        // blob (or a leak of it) opens nothing, and a torn write still leaves one good slot.
        h.master_generation = new_master.generation;
        let key_refs: Vec<&DataKey> = keys.iter().collect();
        for _ in 0..2 {
            h.seq += 1;
            write_header_slot(
                &file,
                &p.data,
                &encode_header_slot(&h, &key_refs, new_master),
                h.seq,
            )?;
            file.sync_data().at(&p.data)?;
        }
    }
    Ok(h.page_count)
}

fn write_header_slot(file: &File, path: &Path, slot: &[u8], seq: u64) -> Result<(), TdeError> {
    fsio::write_at(file, path, (seq % 2) * HEADER_SLOT_LEN as u64, slot)
}

/// A decoded journal: the header slot it installs, the page records and counter blocks.
struct Journal {
    header: Vec<u8>,
    records: Vec<(u64, Vec<u8>)>,
    blocks: Vec<(u64, Vec<u8>)>,
}

/// If a journal newer than the header is present, applies it (a crash interrupted it).
/// Updates `h` to the header the journal installs.
fn replay_journal(
    instance: &Instance,
    p: &Paths,
    data: &File,
    h: &mut HeaderFields,
) -> Result<(), TdeError> {
    let _ = fs::remove_file(fsio::tmp_path(&p.journal));
    let bytes = match fs::read(&p.journal) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(TdeError::Io {
                path: p.journal.clone(),
                source,
            });
        }
    };
    let record_len = record_len(h.page_size);
    let mut r = Reader::new(&bytes, "tablespace journal");
    if r.bytes(8, "magic")? != JOURNAL_MAGIC || r.u8("version")? != FORMAT_VERSION {
        return Err(TdeError::Format(
            "tablespace journal: bad magic or version".into(),
        ));
    }
    let header = r.bytes(HEADER_SLOT_LEN, "header")?.to_vec();
    let n = r.u32("record count")?;
    let mut records = Vec::new();
    for _ in 0..n {
        records.push((
            r.u64("page number")?,
            r.bytes(record_len, "record")?.to_vec(),
        ));
    }
    let n = r.u32("block count")?;
    let mut blocks = Vec::new();
    for _ in 0..n {
        blocks.push((
            r.u64("block number")?,
            r.bytes(COUNTER_BLOCK_LEN, "counter block")?.to_vec(),
        ));
    }
    let signed_len = r.pos();
    let mac = r.array::<MAC_LEN>("MAC")?;
    let journal = Journal {
        header,
        records,
        blocks,
    };
    let slot = decode_header_slot(&journal.header, "journal header")?;
    let master = instance
        .master(slot.fields.master_generation)
        .ok_or(TdeError::DecryptionFailed)?;
    let key = journal_mac_key(h.suite, master, &h.tablespace_id);
    crypto::mac_verify(h.suite, &key, &[&bytes[..signed_len]], &mac)?;
    open_header_keys(instance, &slot)?;
    if slot.fields.tablespace_id != h.tablespace_id {
        return Err(TdeError::DecryptionFailed);
    }
    if slot.fields.seq > h.seq {
        apply_journal(p, data, &journal, slot.fields.seq)?;
        *h = slot.fields;
    }
    fs::remove_file(&p.journal).at(&p.journal)?;
    fsio::sync_dir(&p.journal)
}

fn apply_journal(p: &Paths, data: &File, j: &Journal, seq: u64) -> Result<(), TdeError> {
    let counters = fsio::open_rw(&p.counters, false)?;
    for (page, record) in &j.records {
        fsio::write_at(data, &p.data, record_offset(record.len(), *page), record)?;
    }
    for (block, bytes) in &j.blocks {
        fsio::write_at(
            &counters,
            &p.counters,
            block * COUNTER_BLOCK_LEN as u64,
            bytes,
        )?;
    }
    counters.sync_data().at(&p.counters)?;
    write_header_slot(data, &p.data, &j.header, seq)?;
    data.sync_data().at(&p.data)
}

fn record_len(page_size: u32) -> usize {
    RECORD_PREFIX_LEN + page_size as usize + TAG_LEN
}

fn record_offset(record_len: usize, page: u64) -> u64 {
    HEADER_AREA_LEN + page * record_len as u64
}

/// What [`Tablespace::rekey`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RekeyReport {
    /// The tablespace key generation before.
    pub old_generation: u32,
    /// The tablespace key generation now.
    pub new_generation: u32,
    /// Pages re-encrypted by this call (fewer than the total when it resumed a rekey).
    pub pages_rewritten: u64,
    /// Pages in the tablespace.
    pub page_count: u64,
}

/// An open tablespace. Borrows its [`Instance`], so the master key cannot rotate under it.
pub struct Tablespace<'a> {
    instance: &'a Instance,
    paths: Paths,
    data: File,
    counter_file: File,
    header: HeaderFields,
    key: TablespaceKey,
    rekey: Option<Rekey>,
    /// The latest write counter of every page (0: never written).
    counters: Vec<u64>,
    /// The key generation of every counter block (and so of every page in it).
    block_generations: Vec<u32>,
    next_counter: u64,
}

impl core::fmt::Debug for Tablespace<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tablespace")
            .field("name", &self.header.name)
            .field("page_count", &self.header.page_count)
            .field("key_generation", &self.header.key_generation)
            .finish_non_exhaustive()
    }
}

impl<'a> Tablespace<'a> {
    pub(crate) fn create(instance: &'a Instance, name: &str) -> Result<Self, TdeError> {
        validate_name(name)?;
        let p = paths(instance.dir(), name);
        if p.data.exists() {
            return Err(TdeError::AlreadyExists(format!("tablespace {name}")));
        }
        let mut tablespace_id = [0u8; 16];
        getrandom::fill(&mut tablespace_id).expect("the OS CSPRNG failed");
        let header = HeaderFields {
            suite: instance.suite(),
            page_size: instance.page_size(),
            instance_id: *instance.instance_id(),
            tablespace_id,
            name: name.to_owned(),
            seq: 0,
            master_generation: instance.current_master().generation,
            page_count: 0,
            data_len: 0,
            counter_reserved: COUNTER_RESERVATION,
            key_generation: 1,
            rekey: None,
        };
        let key = TablespaceKey::new(instance.suite(), &tablespace_id, 1, DataKey::generate());
        let slot = encode_header_slot(&header, &[&key.secret], instance.current_master());
        // The counter file first, then the data file with its header: a crash leaves either no
        // tablespace or a stray counter file that the next create reuses.
        let counter_file = crate::private_file::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&p.counters)
            .at(&p.counters)?;
        counter_file.sync_all().at(&p.counters)?;
        let tmp = fsio::tmp_path(&p.data);
        {
            let tmp_file = crate::private_file::options()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)
                .at(&tmp)?;
            fsio::write_at(&tmp_file, &tmp, 0, &slot)?;
            tmp_file.set_len(HEADER_AREA_LEN).at(&tmp)?;
            tmp_file.sync_all().at(&tmp)?;
        }
        // No replace: a concurrent create of the same name loses instead of clobbering.
        fs::hard_link(&tmp, &p.data).map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => {
                TdeError::AlreadyExists(format!("tablespace {name}"))
            }
            _ => TdeError::Io {
                path: p.data.clone(),
                source,
            },
        })?;
        fs::remove_file(&tmp).at(&tmp)?;
        fsio::sync_dir(&p.data)?;
        let data = fsio::open_rw(&p.data, false)?;
        Ok(Self {
            instance,
            paths: p,
            data,
            counter_file,
            next_counter: 1,
            header,
            key,
            rekey: None,
            counters: Vec::new(),
            block_generations: Vec::new(),
        })
    }

    pub(crate) fn open(instance: &'a Instance, name: &str) -> Result<Self, TdeError> {
        validate_name(name)?;
        let p = paths(instance.dir(), name);
        let data = fsio::open_rw(&p.data, false).map_err(|e| {
            if matches!(e, TdeError::NotFound(_)) {
                TdeError::NotFound(format!("tablespace {name}"))
            } else {
                e
            }
        })?;
        let (mut header, _) = read_header(instance, &data, &p.data)?;
        check_header_identity(instance, &header, name)?;
        replay_journal(instance, &p, &data, &mut header)?;
        // Re-read: the journal may have installed a header with other keys (a rekey step).
        let (header, keys) = read_header(instance, &data, &p.data)?;
        check_header_identity(instance, &header, name)?;
        let mut keys = keys.into_iter();
        let suite = header.suite;
        let key = TablespaceKey::new(
            suite,
            &header.tablespace_id,
            header.key_generation,
            keys.next().expect("one key"),
        );
        let rekey = header.rekey.map(|(generation, next_block)| Rekey {
            key: TablespaceKey::new(
                suite,
                &header.tablespace_id,
                generation,
                keys.next().expect("two keys in a rekey"),
            ),
            next_block,
        });
        let counter_file = fsio::open_rw(&p.counters, false)?;
        let mut ts = Self {
            instance,
            paths: p,
            data,
            counter_file,
            next_counter: header.counter_reserved,
            header,
            key,
            rekey,
            counters: Vec::new(),
            block_generations: Vec::new(),
        };
        ts.load_counters()?;
        // Never below a counter already in use, even if the header was rolled back alone.
        let highest = ts.counters.iter().copied().max().unwrap_or(0);
        ts.next_counter = ts.next_counter.max(highest.saturating_add(1));
        Ok(ts)
    }

    fn load_counters(&mut self) -> Result<(), TdeError> {
        let blocks = self.header.page_count.div_ceil(PAGES_PER_BLOCK);
        let len = usize::try_from(blocks).expect("page counts fit u32") * COUNTER_BLOCK_LEN;
        let stale_header = || {
            TdeError::Format(format!(
                "tablespace {}: the header is older than the counter table (a rolled-back or damaged header slot)",
                self.header.name
            ))
        };
        let file_len = self.counter_file.metadata().at(&self.paths.counters)?.len();
        if file_len > len as u64 {
            return Err(stale_header());
        }
        let mut buf = vec![0u8; len];
        fsio::read_at(
            &self.counter_file,
            &self.paths.counters,
            0,
            &mut buf,
            "counter table",
        )?;
        self.counters = Vec::with_capacity((blocks * PAGES_PER_BLOCK) as usize);
        for (block, bytes) in buf.chunks(COUNTER_BLOCK_LEN).enumerate() {
            let block = block as u64;
            let generation = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"));
            if generation != self.block_generation_expected(block) {
                return Err(TdeError::DecryptionFailed);
            }
            let key = self.key_of(generation).ok_or(TdeError::DecryptionFailed)?;
            let (body, mac) = bytes.split_at(COUNTER_BLOCK_LEN - MAC_LEN);
            crypto::mac_verify(
                self.header.suite,
                &key.counter_mac,
                &[
                    LABEL_COUNTERS,
                    &self.header.tablespace_id,
                    &block.to_be_bytes(),
                    body,
                ],
                mac,
            )?;
            self.block_generations.push(generation);
            self.counters.extend(
                body[4..]
                    .chunks(8)
                    .map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes"))),
            );
        }
        let page_count = usize::try_from(self.header.page_count).expect("page counts fit u32");
        if self.counters[page_count.min(self.counters.len())..]
            .iter()
            .any(|&c| c != 0)
        {
            return Err(stale_header());
        }
        self.counters.truncate(page_count);
        Ok(())
    }

    /// The key generation block `block` must have: the new key below the rekey mark.
    fn block_generation_expected(&self, block: u64) -> u32 {
        match &self.rekey {
            Some(r) if block < r.next_block => r.key.generation,
            _ => self.key.generation,
        }
    }

    fn key_of(&self, generation: u32) -> Option<&TablespaceKey> {
        if self.key.generation == generation {
            return Some(&self.key);
        }
        self.rekey
            .as_ref()
            .map(|r| &r.key)
            .filter(|k| k.generation == generation)
    }

    /// The table name.
    pub fn name(&self) -> &str {
        &self.header.name
    }
    /// Pages in the tablespace.
    pub fn page_count(&self) -> u64 {
        self.header.page_count
    }
    /// Bytes of data loaded or written (the length `dump` returns).
    pub fn data_len(&self) -> u64 {
        self.header.data_len
    }
    /// Plaintext bytes per page.
    pub fn page_size(&self) -> usize {
        self.header.page_size as usize
    }
    /// Public facts about this tablespace (authenticated: read from the opened header).
    pub fn info(&self) -> TablespaceInfo {
        TablespaceInfo::from_fields(&self.header)
    }

    /// Reads and authenticates page `page`: the record must open under its tablespace key with
    /// its page number, key generation and write counter as associated data, and its counter
    /// must be the latest one the counter table records for that page.
    pub fn read_page(&self, page: u64) -> Result<Zeroizing<Vec<u8>>, TdeError> {
        if page >= self.header.page_count {
            return Err(TdeError::PageOutOfRange {
                page,
                page_count: self.header.page_count,
            });
        }
        let rl = record_len(self.header.page_size);
        let mut record = Zeroizing::new(vec![0u8; rl]);
        fsio::read_at(
            &self.data,
            &self.paths.data,
            record_offset(rl, page),
            &mut record,
            "page record",
        )?;
        let generation = u32::from_be_bytes(record[..4].try_into().expect("4 bytes"));
        let counter = u64::from_be_bytes(record[4..12].try_into().expect("8 bytes"));
        if counter != self.counters[page as usize] {
            return Err(TdeError::StalePage { page });
        }
        let block_generation = self.block_generations[(page / PAGES_PER_BLOCK) as usize];
        if generation != block_generation {
            return Err(TdeError::DecryptionFailed);
        }
        let key = self.key_of(generation).ok_or(TdeError::DecryptionFailed)?;
        let salt: [u8; 4] = record[12..16].try_into().expect("4 bytes");
        let aad = self.page_aad(page, generation, counter);
        let (body, tag) = record[RECORD_PREFIX_LEN..].split_at_mut(self.page_size());
        let tag: &[u8; TAG_LEN] = (&*tag).try_into().map_err(|_| TdeError::DecryptionFailed)?;
        key.page
            .open_in_place(&page_nonce(counter, salt), &aad, body, tag)
            .map_err(|_| TdeError::DecryptionFailed)?;
        Ok(Zeroizing::new(body.to_vec()))
    }

    fn page_aad(&self, page: u64, generation: u32, counter: u64) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(LABEL_PAGE_AAD)
            .bytes(&self.header.tablespace_id)
            .u64(page)
            .u32(generation)
            .u64(counter);
        w.0
    }

    /// Writes pages `first..first + pages.len()`, each padded with zeros to the page size, as
    /// one atomic change. `first` may be at most the page count (append, no holes).
    pub fn write_pages(&mut self, first: u64, pages: &[&[u8]]) -> Result<(), TdeError> {
        let page_size = self.page_size();
        if let Some(bad) = pages.iter().position(|p| p.len() > page_size) {
            return Err(TdeError::InvalidArgument(format!(
                "page content of {} bytes is longer than the page size {page_size}",
                pages[bad].len()
            )));
        }
        if first > self.header.page_count {
            return Err(TdeError::PageOutOfRange {
                page: first,
                page_count: self.header.page_count,
            });
        }
        let n = pages.len() as u64;
        let end = first + n;
        if end > u64::from(u32::MAX) {
            return Err(TdeError::InvalidArgument(
                "a tablespace holds at most 2^32 - 1 pages".into(),
            ));
        }
        if n == 0 {
            return Ok(());
        }
        let counter0 = self.take_counters(n)?;
        let mut records = Vec::with_capacity(pages.len());
        for (i, content) in pages.iter().enumerate() {
            let page = first + i as u64;
            let generation = self.block_generation_expected(page / PAGES_PER_BLOCK);
            let mut plain = Zeroizing::new(vec![0u8; page_size]);
            plain[..content.len()].copy_from_slice(content);
            records.push((
                page,
                self.seal_record(page, generation, counter0 + i as u64, plain),
            ));
        }
        let data_end = (end - 1) * page_size as u64 + pages.last().map_or(0, |p| p.len() as u64);
        let mut header = self.header.clone();
        header.page_count = header.page_count.max(end);
        header.data_len = header.data_len.max(data_end);
        self.commit(header, records, None)
    }

    /// Writes one page (padded with zeros); `page` may be the page count (append).
    pub fn write_page(&mut self, page: u64, content: &[u8]) -> Result<(), TdeError> {
        self.write_pages(page, &[content])
    }

    /// Appends everything `reader` yields as pages, in atomic batches of 256 pages; returns the
    /// number of pages written.
    pub fn load(&mut self, reader: &mut dyn std::io::Read) -> Result<u64, TdeError> {
        let page_size = self.page_size();
        let batch = PAGES_PER_BLOCK as usize;
        let mut total = 0;
        loop {
            let mut buf = Zeroizing::new(vec![0u8; batch * page_size]);
            let mut filled = 0;
            while filled < buf.len() {
                match reader.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(k) => filled += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(source) => {
                        return Err(TdeError::Io {
                            path: PathBuf::from("<input>"),
                            source,
                        });
                    }
                }
            }
            if filled == 0 {
                return Ok(total);
            }
            let pages: Vec<&[u8]> = buf[..filled].chunks(page_size).collect();
            let first = self.header.page_count;
            self.write_pages(first, &pages)?;
            total += pages.len() as u64;
            if filled < buf.len() {
                return Ok(total);
            }
        }
    }

    /// Writes the tablespace's data (`data_len` bytes) to `out`, authenticating every page.
    pub fn dump(&self, out: &mut dyn std::io::Write) -> Result<(), TdeError> {
        let mut left = self.header.data_len;
        for page in 0..self.header.page_count {
            let plain = self.read_page(page)?;
            let take = left.min(plain.len() as u64) as usize;
            out.write_all(&plain[..take])
                .map_err(|source| TdeError::Io {
                    path: PathBuf::from("<output>"),
                    source,
                })?;
            left -= take as u64;
        }
        Ok(())
    }

    /// Reads and authenticates every page; returns how many.
    pub fn verify(&self) -> Result<u64, TdeError> {
        for page in 0..self.header.page_count {
            self.read_page(page)?;
        }
        Ok(self.header.page_count)
    }

    fn seal_record(
        &self,
        page: u64,
        generation: u32,
        counter: u64,
        mut plain: Zeroizing<Vec<u8>>,
    ) -> Vec<u8> {
        let key = self
            .key_of(generation)
            .expect("callers pass a generation this tablespace holds");
        let aad = self.page_aad(page, generation, counter);
        let mut salt = [0u8; 4];
        getrandom::fill(&mut salt).expect("the OS CSPRNG failed");
        let tag = key
            .page
            .seal_in_place(&page_nonce(counter, salt), &aad, &mut plain);
        let mut record = Vec::with_capacity(record_len(self.header.page_size));
        record.extend_from_slice(&generation.to_be_bytes());
        record.extend_from_slice(&counter.to_be_bytes());
        record.extend_from_slice(&salt);
        record.extend_from_slice(&plain);
        record.extend_from_slice(&tag);
        record
    }

    /// Takes `n` fresh write counters. Counters are reserved durably in the header before
    /// use, so no counter is used twice even across crashes: every nonce is new.
    fn take_counters(&mut self, n: u64) -> Result<u64, TdeError> {
        let start = self.next_counter;
        let end = start
            .checked_add(n)
            .ok_or_else(|| TdeError::InvalidArgument("write counters exhausted".into()))?;
        if end > self.header.counter_reserved {
            let mut header = self.header.clone();
            header.counter_reserved = end.saturating_add(COUNTER_RESERVATION);
            header.seq += 1;
            self.write_header(&header)?;
            self.header = header;
        }
        self.next_counter = end;
        Ok(start)
    }

    fn current_keys(&self) -> Vec<&DataKey> {
        let mut keys = vec![&self.key.secret];
        if let Some(r) = &self.rekey {
            keys.push(&r.key.secret);
        }
        keys
    }

    fn write_header(&self, header: &HeaderFields) -> Result<(), TdeError> {
        let slot = encode_header_slot(header, &self.current_keys(), self.instance.current_master());
        write_header_slot(&self.data, &self.paths.data, &slot, header.seq)?;
        self.data.sync_data().at(&self.paths.data)
    }

    /// Applies records and `header` atomically: journal first (fsync, rename), then in place.
    /// `rekey_block` marks a rekey step: that block's generation becomes the new key's.
    fn commit(
        &mut self,
        mut header: HeaderFields,
        records: Vec<(u64, Vec<u8>)>,
        rekey_block: Option<u64>,
    ) -> Result<(), TdeError> {
        header.seq = self.header.seq + 1;
        // Update the in-memory counter table; remember the old state in case the commit fails.
        let old_counters_len = self.counters.len();
        let old_generations = self.block_generations.clone();
        let mut saved = Vec::new();
        for (page, record) in &records {
            let counter = u64::from_be_bytes(record[4..12].try_into().expect("8 bytes"));
            let i = usize::try_from(*page).expect("page numbers are below 2^32");
            if i >= self.counters.len() {
                self.counters.resize(i + 1, 0);
            } else {
                saved.push((i, self.counters[i]));
            }
            self.counters[i] = counter;
        }
        let blocks_needed = (self.counters.len() as u64).div_ceil(PAGES_PER_BLOCK) as usize;
        while self.block_generations.len() < blocks_needed {
            let b = self.block_generations.len() as u64;
            self.block_generations
                .push(self.block_generation_expected(b));
        }
        if let Some(b) = rekey_block {
            let new_generation = self
                .rekey
                .as_ref()
                .expect("rekey steps run during a rekey")
                .key
                .generation;
            self.block_generations[b as usize] = new_generation;
        }
        let mut touched: Vec<u64> = records.iter().map(|(p, _)| p / PAGES_PER_BLOCK).collect();
        touched.dedup();
        let blocks: Vec<(u64, Vec<u8>)> = touched
            .into_iter()
            .map(|b| (b, self.encode_block(b)))
            .collect();

        let result = self.write_journal_and_apply(&header, records, blocks);
        match result {
            Ok(()) => {
                self.header = header;
                Ok(())
            }
            Err(e) => {
                self.counters.truncate(old_counters_len);
                for (i, c) in saved {
                    self.counters[i] = c;
                }
                self.block_generations = old_generations;
                Err(e)
            }
        }
    }

    fn write_journal_and_apply(
        &self,
        header: &HeaderFields,
        records: Vec<(u64, Vec<u8>)>,
        blocks: Vec<(u64, Vec<u8>)>,
    ) -> Result<(), TdeError> {
        let master = self.instance.current_master();
        let keys = match (&self.rekey, header.rekey) {
            (Some(r), Some(_)) => vec![&self.key.secret, &r.key.secret],
            _ => vec![&self.key.secret],
        };
        let slot = encode_header_slot(header, &keys, master);
        let mut w = Writer::new();
        w.bytes(JOURNAL_MAGIC).u8(FORMAT_VERSION).bytes(&slot);
        w.u32(u32::try_from(records.len()).expect("batches are small"));
        for (page, record) in &records {
            w.u64(*page).bytes(record);
        }
        w.u32(u32::try_from(blocks.len()).expect("batches are small"));
        for (block, bytes) in &blocks {
            w.u64(*block).bytes(bytes);
        }
        let mac = kdf::hmac(
            self.header.suite,
            &journal_mac_key(self.header.suite, master, &self.header.tablespace_id),
            &[&w.0],
        );
        w.bytes(&mac);
        fsio::write_atomic(&self.paths.journal, &w.0)?;
        let journal = Journal {
            header: slot,
            records,
            blocks,
        };
        apply_journal(&self.paths, &self.data, &journal, header.seq)?;
        // Once applied, the journal is stale (its sequence number is not above the header's),
        // so a crash before this removal is harmless.
        fs::remove_file(&self.paths.journal).at(&self.paths.journal)
    }

    fn encode_block(&self, block: u64) -> Vec<u8> {
        let generation = self.block_generations[block as usize];
        let key = self
            .key_of(generation)
            .expect("block generations are keys this tablespace holds");
        let mut body = Vec::with_capacity(COUNTER_BLOCK_LEN);
        body.extend_from_slice(&generation.to_be_bytes());
        let start = (block * PAGES_PER_BLOCK) as usize;
        for i in start..start + PAGES_PER_BLOCK as usize {
            body.extend_from_slice(&self.counters.get(i).copied().unwrap_or(0).to_be_bytes());
        }
        let mac = kdf::hmac(
            self.header.suite,
            &key.counter_mac,
            &[
                LABEL_COUNTERS,
                &self.header.tablespace_id,
                &block.to_be_bytes(),
                &body,
            ],
        );
        body.extend_from_slice(&mac);
        body
    }

    /// Re-encrypts every page under a new tablespace key, one counter block (256 pages) per
    /// atomic step; resumes an unfinished rekey. Both key generations and the progress mark are
    /// in the header until the last step, so a crash at any point leaves every page readable.
    pub fn rekey(&mut self) -> Result<RekeyReport, TdeError> {
        let old_generation = self.key.generation;
        if self.rekey.is_none() {
            let generation = old_generation.checked_add(1).ok_or_else(|| {
                TdeError::InvalidArgument("tablespace key generations exhausted".into())
            })?;
            let key = TablespaceKey::new(
                self.header.suite,
                &self.header.tablespace_id,
                generation,
                DataKey::generate(),
            );
            let mut header = self.header.clone();
            header.rekey = Some((generation, 0));
            header.seq += 1;
            self.rekey = Some(Rekey { key, next_block: 0 });
            if let Err(e) = self.write_header(&header) {
                self.rekey = None;
                return Err(e);
            }
            self.header = header;
        }
        let new_generation = self
            .rekey
            .as_ref()
            .map_or(old_generation, |r| r.key.generation);
        let blocks = self.header.page_count.div_ceil(PAGES_PER_BLOCK);
        let mut pages_rewritten = 0;
        while let Some(block) = self
            .rekey
            .as_ref()
            .map(|r| r.next_block)
            .filter(|&b| b < blocks)
        {
            let first = block * PAGES_PER_BLOCK;
            let end = (first + PAGES_PER_BLOCK).min(self.header.page_count);
            let counter0 = self.take_counters(end - first)?;
            let mut records = Vec::new();
            for page in first..end {
                let plain = self.read_page(page)?;
                records.push((
                    page,
                    self.seal_record(page, new_generation, counter0 + (page - first), plain),
                ));
            }
            let mut header = self.header.clone();
            header.rekey = Some((new_generation, block + 1));
            self.commit(header, records, Some(block))?;
            self.rekey.as_mut().expect("rekey in progress").next_block = block + 1;
            pages_rewritten += end - first;
        }
        // Every block is under the new key: drop the old one.
        let rekey = self.rekey.take().expect("rekey in progress");
        let mut header = self.header.clone();
        header.key_generation = new_generation;
        header.rekey = None;
        header.seq += 1;
        let old_key = std::mem::replace(&mut self.key, rekey.key);
        if let Err(e) = self.write_header(&header) {
            let new_key = std::mem::replace(&mut self.key, old_key);
            self.rekey = Some(Rekey {
                key: new_key,
                next_block: blocks,
            });
            return Err(e);
        }
        self.header = header;
        Ok(RekeyReport {
            old_generation,
            new_generation,
            pages_rewritten,
            page_count: self.header.page_count,
        })
    }
}

/// From docs/tde.md: "nonce = write counter (u64, big-endian) || nonce suffix (4 random bytes)".
fn page_nonce(counter: u64, salt: [u8; 4]) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[..8].copy_from_slice(&counter.to_be_bytes());
    nonce[8..].copy_from_slice(&salt);
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields() -> HeaderFields {
        HeaderFields {
            suite: Suite::Sm4Gcm,
            page_size: 16384,
            instance_id: [1; 16],
            tablespace_id: [2; 16],
            name: "orders".into(),
            seq: 7,
            master_generation: 3,
            page_count: 600,
            data_len: 600 * 16384,
            counter_reserved: 1 << 17,
            key_generation: 4,
            rekey: Some((5, 1)),
        }
    }

    #[test]
    fn header_fields_round_trip_and_every_truncation_is_a_format_error() {
        let mut bytes = encode_header_fields(&fields());
        bytes.extend_from_slice(&[0u8; NONCE_LEN + 2 * KEY_LEN + TAG_LEN]);
        let slot = decode_header_slot(&bytes, "test").unwrap();
        assert_eq!(slot.fields.name, "orders");
        assert_eq!(slot.fields.rekey, Some((5, 1)));
        assert_eq!((slot.fields.seq, slot.fields.page_count), (7, 600));
        assert_eq!(slot.aad, encode_header_fields(&fields()));
        for len in 0..bytes.len() {
            assert!(
                matches!(
                    decode_header_slot(&bytes[..len], "test"),
                    Err(TdeError::Format(_))
                ),
                "length {len}"
            );
        }
    }

    #[test]
    fn inconsistent_headers_are_refused() {
        for bad in [
            HeaderFields {
                data_len: 600 * 16384 + 1,
                ..fields()
            },
            HeaderFields {
                rekey: Some((9, 1)),
                ..fields()
            },
            HeaderFields {
                rekey: Some((5, 4)),
                ..fields()
            },
            HeaderFields {
                page_count: 1 << 32,
                ..fields()
            },
        ] {
            let mut bytes = encode_header_fields(&bad);
            bytes.extend_from_slice(&[0u8; NONCE_LEN + 2 * KEY_LEN + TAG_LEN]);
            assert!(matches!(
                decode_header_slot(&bytes, "test"),
                Err(TdeError::Format(_))
            ));
        }
    }

    proptest! {
        #[test]
        fn header_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut framed = HEADER_MAGIC.to_vec();
            framed.push(FORMAT_VERSION);
            framed.extend_from_slice(&bytes);
            let _ = decode_header_slot(&framed, "test");
            let _ = decode_header_slot(&bytes, "test");
        }
    }
}

//! The TDE hierarchy end to end against a stand-in KMS: round trips for both ciphers, what
//! tampering is detected, master rotation that touches no page, rekey, and the effect of the
//! CMK's state on a running and a restarted instance.

#![allow(clippy::unwrap_used)]

#[path = "tde_support/kms.rs"]
mod test_kms;

use std::fs;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use kms_core::Suite;
use kms_core::tde::{InitOptions, Instance, TdeError};
use test_kms::TestKms;

const CMK: &str = "11111111-2222-3333-4444-555555555555";
const PAGE: usize = 4096;
/// From docs/tde.md: record = 16-byte prefix || ciphertext || 16-byte tag, after two 4096-byte
/// header slots.
const RECORD: u64 = 16 + PAGE as u64 + 16;
const DATA_START: u64 = 8192;

fn options(suite: Suite) -> InitOptions {
    InitOptions {
        suite,
        page_size: PAGE as u32,
    }
}

fn content(table: u8, page: u64, version: u8) -> Vec<u8> {
    (0..PAGE)
        .map(|i| (i as u64 * 31 + page * 7 + u64::from(table) * 13 + u64::from(version)) as u8)
        .collect()
}

fn record_bytes(dir: &Path, table: &str, page: u64) -> Vec<u8> {
    let f = fs::File::open(dir.join(format!("{table}.tbs"))).unwrap();
    let mut buf = vec![0u8; RECORD as usize];
    f.read_exact_at(&mut buf, DATA_START + page * RECORD)
        .unwrap();
    buf
}

fn put_record(dir: &Path, table: &str, page: u64, bytes: &[u8]) {
    let f = fs::OpenOptions::new()
        .write(true)
        .open(dir.join(format!("{table}.tbs")))
        .unwrap();
    f.write_all_at(bytes, DATA_START + page * RECORD).unwrap();
}

/// An instance with table `t` of `pages` pages (version 0 content).
fn setup(dir: &Path, kms: &TestKms, suite: Suite, pages: u64) {
    let instance = Instance::create(dir, kms, CMK, options(suite)).unwrap();
    let mut t = instance.create_tablespace("t").unwrap();
    // Small tables page by page (several header generations), big ones in one atomic batch.
    if pages <= 8 {
        for p in 0..pages {
            t.write_page(p, &content(1, p, 0)).unwrap();
        }
    } else {
        let pages: Vec<Vec<u8>> = (0..pages).map(|p| content(1, p, 0)).collect();
        let refs: Vec<&[u8]> = pages.iter().map(Vec::as_slice).collect();
        t.write_pages(0, &refs).unwrap();
    }
}

#[test]
fn pages_round_trip_across_restarts_for_both_ciphers() {
    for suite in [Suite::Aes256Gcm, Suite::Sm4Gcm] {
        let dir = tempfile::tempdir().unwrap();
        let kms = TestKms::with_key(CMK);
        setup(dir.path(), &kms, suite, 5);
        let instance = Instance::open(dir.path(), &kms).unwrap();
        assert_eq!(instance.suite(), suite);
        let mut t = instance.open_tablespace("t").unwrap();
        assert_eq!(t.page_count(), 5);
        for p in 0..5 {
            assert_eq!(
                &t.read_page(p).unwrap()[..],
                &content(1, p, 0)[..],
                "{suite} page {p}"
            );
        }
        // Overwrite one page, short content is zero-padded.
        t.write_page(2, b"short").unwrap();
        let page = t.read_page(2).unwrap();
        assert_eq!(&page[..5], b"short");
        assert!(page[5..].iter().all(|&b| b == 0));
        assert_eq!(t.verify().unwrap(), 5);
        // No plaintext on disk.
        let data = fs::read(dir.path().join("t.tbs")).unwrap();
        let needle = &content(1, 3, 0)[100..132];
        assert!(!data.windows(needle.len()).any(|w| w == needle));
    }
}

#[test]
fn load_and_dump_round_trip_the_exact_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let kms = TestKms::with_key(CMK);
    let instance = Instance::create(dir.path(), &kms, CMK, options(Suite::Sm4Gcm)).unwrap();
    let input: Vec<u8> = (0..(PAGE * 300 + 123)).map(|i| (i % 251) as u8).collect();
    let mut t = instance.create_tablespace("big").unwrap();
    assert_eq!(t.load(&mut &input[..]).unwrap(), 301);
    drop(t);
    let t = instance.open_tablespace("big").unwrap();
    assert_eq!(t.data_len(), input.len() as u64);
    let mut out = Vec::new();
    t.dump(&mut out).unwrap();
    assert_eq!(out, input);
}

#[test]
fn bad_arguments_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let kms = TestKms::with_key(CMK);
    let bad_size = Instance::create(
        dir.path(),
        &kms,
        CMK,
        InitOptions {
            suite: Suite::Aes256Gcm,
            page_size: 5000,
        },
    );
    assert!(matches!(bad_size, Err(TdeError::InvalidArgument(_))));
    setup(dir.path(), &kms, Suite::Aes256Gcm, 2);
    let instance = Instance::open(dir.path(), &kms).unwrap();
    assert!(matches!(
        instance.create_tablespace("../x"),
        Err(TdeError::InvalidArgument(_))
    ));
    assert!(matches!(
        instance.create_tablespace("t"),
        Err(TdeError::AlreadyExists(_))
    ));
    assert!(matches!(
        instance.open_tablespace("nope"),
        Err(TdeError::NotFound(_))
    ));
    let mut t = instance.open_tablespace("t").unwrap();
    assert!(matches!(
        t.read_page(2),
        Err(TdeError::PageOutOfRange {
            page: 2,
            page_count: 2
        })
    ));
    assert!(matches!(
        t.write_page(3, b"x"),
        Err(TdeError::PageOutOfRange { .. })
    ));
    assert!(matches!(
        t.write_page(0, &vec![0; PAGE + 1]),
        Err(TdeError::InvalidArgument(_))
    ));
    t.write_page(2, b"append").unwrap();
    assert_eq!(t.page_count(), 3);
    assert!(matches!(
        Instance::create(dir.path(), &kms, CMK, InitOptions::default()),
        Err(TdeError::Locked(_))
    ));
    drop(t);
    drop(instance);
    assert!(matches!(
        Instance::create(dir.path(), &kms, CMK, InitOptions::default()),
        Err(TdeError::AlreadyExists(_))
    ));
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        Instance::open(empty.path(), &kms),
        Err(TdeError::NotFound(_))
    ));
    assert!(
        !empty.path().join("tde.lock").exists(),
        "no lock file left in a non-instance directory"
    );
    let missing = empty.path().join("missing");
    assert!(matches!(
        Instance::open(&missing, &kms),
        Err(TdeError::NotFound(_))
    ));
}

#[test]
fn a_second_open_of_an_open_instance_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let kms = TestKms::with_key(CMK);
    let _first = Instance::create(dir.path(), &kms, CMK, options(Suite::Aes256Gcm)).unwrap();
    assert!(matches!(
        Instance::open(dir.path(), &kms),
        Err(TdeError::Locked(_))
    ));
}

#[test]
fn flipped_bytes_in_a_page_fail_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let kms = TestKms::with_key(CMK);
    setup(dir.path(), &kms, Suite::Aes256Gcm, 3);
    let original = record_bytes(dir.path(), "t", 1);
    // Every region of the record: generation, counter, nonce suffix, ciphertext, tag.
    for offset in [0usize, 5, 13, 16, 2000, RECORD as usize - 1] {
        let mut bad = original.clone();
        bad[offset] ^= 0x01;
        put_record(dir.path(), "t", 1, &bad);
        let instance = Instance::open(dir.path(), &kms).unwrap();
        let t = instance.open_tablespace("t").unwrap();
        let err = t.read_page(1).unwrap_err();
        assert!(
            matches!(
                err,
                TdeError::DecryptionFailed | TdeError::StalePage { page: 1 }
            ),
            "offset {offset}: {err:?}"
        );
        assert_eq!(
            &t.read_page(0).unwrap()[..],
            &content(1, 0, 0)[..],
            "other pages still read"
        );
        drop(t);
        drop(instance);
        put_record(dir.path(), "t", 1, &original);
    }
    let instance = Instance::open(dir.path(), &kms).unwrap();
    assert_eq!(instance.open_tablespace("t").unwrap().verify().unwrap(), 3);
}

#[test]
fn moved_swapped_and_rolled_back_pages_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let kms = TestKms::with_key(CMK);
    setup(dir.path(), &kms, Suite::Aes256Gcm, 3);
    let (r0, r1) = (
        record_bytes(dir.path(), "t", 0),
        record_bytes(dir.path(), "t", 1),
    );

    // Swap pages 0 and 1.
    put_record(dir.path(), "t", 0, &r1);
    put_record(dir.path(), "t", 1, &r0);
    {
        let instance = Instance::open(dir.path(), &kms).unwrap();
        let t = instance.open_tablespace("t").unwrap();
        assert!(matches!(
            t.read_page(0),
            Err(TdeError::StalePage { page: 0 })
        ));
        assert!(matches!(
            t.read_page(1),
            Err(TdeError::StalePage { page: 1 })
        ));
    }
    // Page 1's record moved to page 0 with the expected counter patched in: the counter and
    // the page number are authenticated, so it does not open.
    let mut moved = r1.clone();
    moved[4..12].copy_from_slice(&r0[4..12]);
    put_record(dir.path(), "t", 0, &moved);
    put_record(dir.path(), "t", 1, &r1);
    {
        let instance = Instance::open(dir.path(), &kms).unwrap();
        let t = instance.open_tablespace("t").unwrap();
        assert!(matches!(t.read_page(0), Err(TdeError::DecryptionFailed)));
        assert!(t.read_page(1).is_ok());
    }
    put_record(dir.path(), "t", 0, &r0);

    // Overwrite page 1, then put its old (authentic) record back: a rollback.
    {
        let instance = Instance::open(dir.path(), &kms).unwrap();
        instance
            .open_tablespace("t")
            .unwrap()
            .write_page(1, &content(1, 1, 9))
            .unwrap();
    }
    let new_r1 = record_bytes(dir.path(), "t", 1);
    put_record(dir.path(), "t", 1, &r1);
    {
        let instance = Instance::open(dir.path(), &kms).unwrap();
        let t = instance.open_tablespace("t").unwrap();
        assert!(matches!(
            t.read_page(1),
            Err(TdeError::StalePage { page: 1 })
        ));
        assert!(matches!(t.verify(), Err(TdeError::StalePage { page: 1 })));
    }
    put_record(dir.path(), "t", 1, &new_r1);
    let instance = Instance::open(dir.path(), &kms).unwrap();
    assert_eq!(
        &instance.open_tablespace("t").unwrap().read_page(1).unwrap()[..],
        &content(1, 1, 9)[..]
    );
}

#[test]
fn a_page_from_another_tablespace_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let kms = TestKms::with_key(CMK);
    setup(dir.path(), &kms, Suite::Aes256Gcm, 2);
    {
        let instance = Instance::open(dir.path(), &kms).unwrap();
        let mut u = instance.create_tablespace("u").unwrap();
        u.write_page(0, &content(2, 0, 0)).unwrap();
        u.write_page(1, &content(2, 1, 0)).unwrap();
    }
    // Same page number, and a counter that matches page 0 of t's table (both tables count from 1).
    let from_u = record_bytes(dir.path(), "u", 0);
    put_record(dir.path(), "t", 0, &from_u);
    let instance = Instance::open(dir.path(), &kms).unwrap();
    let t = instance.open_tablespace("t").unwrap();
    assert!(matches!(
        t.read_page(0),
        Err(TdeError::DecryptionFailed | TdeError::StalePage { .. })
    ));
}

#[test]
fn tampered_headers_counter_tables_and_instance_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let kms = TestKms::with_key(CMK);
    setup(dir.path(), &kms, Suite::Sm4Gcm, 3);
    let tbs = dir.path().join("t.tbs");
    let ctr = dir.path().join("t.ctr");
    let inst = dir.path().join("tde.instance");

    // The page count in the newest header slot (the tablespace has written its slots 0 and 1).
    // Three page writes after create (sequence 0 in slot 0): sequence 3, the newest, is in slot 1
    // with 3 pages; slot 0 holds sequence 2 with 2 pages.
    let original = fs::read(&tbs).unwrap();
    // Byte 40 lies in the tablespace id: authenticated by the seal.
    let mut bad = original.clone();
    bad[40] ^= 1;
    fs::write(&tbs, &bad).unwrap();
    {
        let instance = Instance::open(dir.path(), &kms).unwrap();
        assert_eq!(
            instance.open_tablespace("t").unwrap().page_count(),
            3,
            "the newest slot is intact"
        );
    }
    // Damage the newest slot: the older one authenticates but disagrees with the counter table.
    let mut bad = original.clone();
    bad[4096 + 40] ^= 1;
    fs::write(&tbs, &bad).unwrap();
    {
        let instance = Instance::open(dir.path(), &kms).unwrap();
        match instance.open_tablespace("t") {
            Err(TdeError::Format(m)) => assert!(m.contains("older than the counter table"), "{m}"),
            other => panic!("a stale header was accepted: {other:?}"),
        }
    }
    let mut both = original.clone();
    both[40] ^= 1;
    both[4096 + 40] ^= 1;
    fs::write(&tbs, &both).unwrap();
    {
        let instance = Instance::open(dir.path(), &kms).unwrap();
        assert!(matches!(
            instance.open_tablespace("t"),
            Err(TdeError::DecryptionFailed)
        ));
    }
    fs::write(&tbs, &original).unwrap();

    // A counter changed in the counter table.
    let counters = fs::read(&ctr).unwrap();
    let mut bad = counters.clone();
    bad[4 + 8 + 7] ^= 1;
    fs::write(&ctr, &bad).unwrap();
    {
        let instance = Instance::open(dir.path(), &kms).unwrap();
        assert!(matches!(
            instance.open_tablespace("t"),
            Err(TdeError::DecryptionFailed)
        ));
    }
    fs::write(&ctr, &counters).unwrap();

    // The page size in the instance file.
    let file = fs::read(&inst).unwrap();
    let mut bad = file.clone();
    bad[8 + 1 + 2 + 2] ^= 0x20;
    fs::write(&inst, &bad).unwrap();
    assert!(Instance::open(dir.path(), &kms).is_err());
    let mut bad = file.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    fs::write(&inst, &bad).unwrap();
    assert!(matches!(
        Instance::open(dir.path(), &kms),
        Err(TdeError::DecryptionFailed)
    ));
    fs::write(&inst, &file).unwrap();

    let instance = Instance::open(dir.path(), &kms).unwrap();
    assert_eq!(instance.open_tablespace("t").unwrap().verify().unwrap(), 3);
}

#[test]
fn a_renamed_tablespace_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let kms = TestKms::with_key(CMK);
    setup(dir.path(), &kms, Suite::Aes256Gcm, 1);
    fs::rename(dir.path().join("t.tbs"), dir.path().join("v.tbs")).unwrap();
    fs::rename(dir.path().join("t.ctr"), dir.path().join("v.ctr")).unwrap();
    let instance = Instance::open(dir.path(), &kms).unwrap();
    assert!(matches!(
        instance.open_tablespace("v"),
        Err(TdeError::Format(_))
    ));
}

#[test]
fn master_rotation_rewrites_headers_only() {
    let dir = tempfile::tempdir().unwrap();
    let kms = TestKms::with_key(CMK);
    setup(dir.path(), &kms, Suite::Aes256Gcm, 4);
    {
        let instance = Instance::open(dir.path(), &kms).unwrap();
        let mut u = instance.create_tablespace("u").unwrap();
        u.write_page(0, &content(2, 0, 0)).unwrap();
    }
    let pages_before: Vec<u8> = fs::read(dir.path().join("t.tbs")).unwrap()[8192..].to_vec();
    let counters_before = fs::read(dir.path().join("t.ctr")).unwrap();
    let blob_before = fs::read(dir.path().join("tde.instance")).unwrap();
    kms.rotate(CMK);
    let mut instance = Instance::open(dir.path(), &kms).unwrap();
    let report = instance.rotate_master(&kms).unwrap();
    assert_eq!((report.old_generation, report.new_generation), (1, 2));
    assert_eq!((report.tablespaces, report.pages_untouched), (2, 5));
    assert_eq!(instance.master_generation(), 2);
    assert_eq!(
        fs::read(dir.path().join("t.tbs")).unwrap()[8192..],
        pages_before[..]
    );
    assert_eq!(fs::read(dir.path().join("t.ctr")).unwrap(), counters_before);
    assert_ne!(
        fs::read(dir.path().join("tde.instance")).unwrap(),
        blob_before
    );
    drop(instance);
    let info = Instance::inspect(dir.path()).unwrap();
    assert_eq!(info.master_generation, 2);
    assert!(info.tablespaces.iter().all(|t| t.master_generation == 2));
    let instance = Instance::open(dir.path(), &kms).unwrap();
    let t = instance.open_tablespace("t").unwrap();
    for p in 0..4 {
        assert_eq!(&t.read_page(p).unwrap()[..], &content(1, p, 0)[..]);
    }
    // The old master key's blob no longer opens the instance: the file holds only the new one.
    drop(t);
    drop(instance);
    fs::write(dir.path().join("tde.instance"), &blob_before).unwrap();
    let old = Instance::open(dir.path(), &kms).unwrap();
    assert!(
        old.open_tablespace("t").is_err(),
        "headers are wrapped by master generation 2 now"
    );
}

#[test]
fn rekey_re_encrypts_every_page_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let kms = TestKms::with_key(CMK);
    setup(dir.path(), &kms, Suite::Sm4Gcm, 600);
    let before: Vec<Vec<u8>> = (0..600).map(|p| record_bytes(dir.path(), "t", p)).collect();
    let instance = Instance::open(dir.path(), &kms).unwrap();
    let mut t = instance.open_tablespace("t").unwrap();
    let report = t.rekey().unwrap();
    assert_eq!((report.old_generation, report.new_generation), (1, 2));
    assert_eq!((report.pages_rewritten, report.page_count), (600, 600));
    assert_eq!(t.info().key_generation, 2);
    assert_eq!(t.info().rekey, None);
    drop(t);
    let t = instance.open_tablespace("t").unwrap();
    for p in 0..600 {
        assert_eq!(&t.read_page(p).unwrap()[..], &content(1, p, 0)[..]);
        let after = record_bytes(dir.path(), "t", p);
        assert_eq!(
            u32::from_be_bytes(after[..4].try_into().unwrap()),
            2,
            "page {p} under key generation 2"
        );
        assert_ne!(after[16..], before[p as usize][16..]);
    }
    // An old record put back is refused (rollback across a rekey).
    drop(t);
    put_record(dir.path(), "t", 7, &before[7]);
    let t = instance.open_tablespace("t").unwrap();
    assert!(t.read_page(7).is_err());
}

#[test]
fn the_cmk_state_governs_restarts_not_a_running_instance() {
    let dir = tempfile::tempdir().unwrap();
    let kms = TestKms::with_key(CMK);
    setup(dir.path(), &kms, Suite::Aes256Gcm, 2);
    let code = |r: Result<Instance, TdeError>| match r {
        Err(TdeError::Kms(e)) => e.code,
        other => panic!("expected a KMS refusal, got {other:?}"),
    };

    let mut running = Instance::open(dir.path(), &kms).unwrap();
    kms.disable(CMK).unwrap();
    {
        // The running instance keeps its master key in memory and keeps working.
        let mut t = running.open_tablespace("t").unwrap();
        t.write_page(2, b"written while the CMK is disabled")
            .unwrap();
        assert_eq!(t.verify().unwrap(), 3);
        running.create_tablespace("new").unwrap();
    }
    // Anything that needs the KMS fails with its error.
    match running.rotate_master(&kms) {
        Err(TdeError::Kms(e)) => assert_eq!(e.code, "ResourceUnavailable.CmkDisabled"),
        other => panic!("rotation with a disabled CMK: {other:?}"),
    }
    drop(running);
    // A restart fails: Disabled.
    assert_eq!(
        code(Instance::open(dir.path(), &kms)),
        "ResourceUnavailable.CmkDisabled"
    );
    kms.enable(CMK).unwrap();
    let instance = Instance::open(dir.path(), &kms).unwrap();
    assert_eq!(
        &instance.open_tablespace("t").unwrap().read_page(2).unwrap()[..33],
        b"written while the CMK is disabled"
    );
    drop(instance);
    // PendingDelete, then CancelKeyDeletion (back to Disabled), then EnableKey.
    kms.disable(CMK).unwrap();
    kms.schedule_deletion(CMK).unwrap();
    let e = code(Instance::open(dir.path(), &kms));
    assert!(e.starts_with("ResourceUnavailable."), "{e}");
    kms.cancel_deletion(CMK).unwrap();
    assert_eq!(
        code(Instance::open(dir.path(), &kms)),
        "ResourceUnavailable.CmkDisabled"
    );
    kms.enable(CMK).unwrap();
    assert_eq!(
        Instance::open(dir.path(), &kms)
            .unwrap()
            .open_tablespace("t")
            .unwrap()
            .verify()
            .unwrap(),
        3
    );
    // Destroyed: the data is gone for good.
    kms.destroy(CMK);
    assert_eq!(
        code(Instance::open(dir.path(), &kms)),
        "ResourceUnavailable.CmkNotFound"
    );
    assert_eq!(
        Instance::inspect(dir.path()).unwrap().tablespaces.len(),
        2,
        "metadata stays readable"
    );
}

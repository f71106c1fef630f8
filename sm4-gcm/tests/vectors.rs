//! Known-answer tests on every backend: GB/T 32907 block vectors, RFC 8998 A.1, Wycheproof.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{RAN, forced, hex12, hex16, ran};
use tkms_sm4::{Backend, Error, Sm4Gcm};

const GBT_KEY: &str = "0123456789abcdeffedcba9876543210";

fn gbt_example(backend: Backend) {
    let key = hex16(GBT_KEY);
    let Some(gcm) = forced(&key, backend, "gbt_example") else {
        return;
    };
    let mut blocks = [key; 3];
    gcm.encrypt_blocks(&mut blocks);
    for b in blocks {
        assert_eq!(
            hex::encode(b),
            "681edf34d206965e86b3e94f536e4246",
            "{backend:?}"
        );
    }
    // One block and a batch longer than any kernel group (the tail path), all equal.
    let mut many = [key; 77];
    gcm.encrypt_blocks(&mut many);
    assert!(many.iter().all(|b| *b == blocks[0]), "{backend:?}");
    ran(backend);
}

/// GB/T 32907 Appendix A example 2: encrypt the same block 1,000,000 times.
fn gbt_million(backend: Backend) {
    let key = hex16(GBT_KEY);
    let Some(gcm) = forced(&key, backend, "gbt_million") else {
        return;
    };
    let mut block = [key];
    for _ in 0..1_000_000 {
        gcm.encrypt_blocks(&mut block);
    }
    assert_eq!(
        hex::encode(block[0]),
        "595298c7c6fd271f0402f804c33d3f66",
        "{backend:?}"
    );
    ran(backend);
}

/// RFC 8998 Appendix A.1 (SM4-GCM).
fn rfc8998(backend: Backend) {
    let key = hex16("0123456789abcdeffedcba9876543210");
    let Some(gcm) = forced(&key, backend, "rfc8998") else {
        return;
    };
    let nonce = hex12("00001234567800000000abcd");
    let aad = hex::decode("feedfacedeadbeeffeedfacedeadbeefabaddad2").unwrap();
    let pt = hex::decode(
        "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd\
         eeeeeeeeeeeeeeeeffffffffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa",
    )
    .unwrap();
    let ct = "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735\
              d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d";
    let mut buf = pt.clone();
    let tag = gcm.seal_in_place_detached(&nonce, &aad, &mut buf).unwrap();
    assert_eq!(hex::encode(&buf), ct, "{backend:?}");
    assert_eq!(
        hex::encode(tag),
        "83de3541e4c2b58177e065a9bf7b62ec",
        "{backend:?}"
    );
    gcm.open_in_place_detached(&nonce, &aad, &mut buf, &tag)
        .unwrap();
    assert_eq!(buf, pt);
    ran(backend);
}

/// Every Wycheproof SM4-GCM vector with a 96-bit nonce; returns how many ran.
fn wycheproof(backend: Backend) -> usize {
    let json: serde_json::Value =
        serde_json::from_str(include_str!("data/sm4_gcm_test.json")).unwrap();
    let mut executed = 0;
    let mut skipped = 0;
    for group in json["testGroups"].as_array().unwrap() {
        for t in group["tests"].as_array().unwrap() {
            let h = |k: &str| hex::decode(t[k].as_str().unwrap()).unwrap();
            let (key, iv, aad, msg, ct, tag) =
                (h("key"), h("iv"), h("aad"), h("msg"), h("ct"), h("tag"));
            // The API takes only 96-bit nonces (RFC 8998; GCM's GHASH-derived J0 for other
            // lengths is not offered), so other nonce sizes are skipped and counted.
            let Ok(nonce) = <[u8; 12]>::try_from(iv.as_slice()) else {
                skipped += 1;
                continue;
            };
            let key: [u8; 16] = key.try_into().unwrap();
            let tag: [u8; 16] = tag.try_into().unwrap();
            let gcm = Sm4Gcm::with_backend(&key, backend).unwrap();
            let id = &t["tcId"];
            let mut buf = ct.clone();
            let opened = gcm.open_in_place_detached(&nonce, &aad, &mut buf, &tag);
            match t["result"].as_str().unwrap() {
                "valid" => {
                    assert_eq!(opened, Ok(()), "tcId {id} {backend:?}");
                    assert_eq!(buf, msg, "tcId {id} {backend:?}");
                    let mut buf = msg.clone();
                    let sealed = gcm.seal_in_place_detached(&nonce, &aad, &mut buf).unwrap();
                    assert_eq!((buf, sealed), (ct, tag), "tcId {id} {backend:?}");
                }
                "invalid" => {
                    assert_eq!(
                        opened,
                        Err(Error::DecryptionFailed),
                        "tcId {id} {backend:?}"
                    );
                    assert!(buf.iter().all(|&b| b == 0), "tcId {id}: buffer not wiped");
                }
                other => panic!("tcId {id}: unexpected result {other}"),
            }
            executed += 1;
        }
    }
    assert_eq!(skipped, 39, "nonce sizes other than 96 bits");
    eprintln!("wycheproof {backend:?}: {executed} run, {skipped} skipped (nonce not 96 bits)");
    executed
}

fn all_kats(backend: Backend) {
    gbt_example(backend);
    rfc8998(backend);
    if forced(&[0; 16], backend, "wycheproof").is_some() {
        assert_eq!(wycheproof(backend), 65);
        ran(backend);
    }
}

#[test]
fn kats_gfni512() {
    all_kats(Backend::Gfni512);
}

#[test]
fn kats_gfni256() {
    all_kats(Backend::Gfni256);
}

#[test]
fn kats_vaes_avx2() {
    all_kats(Backend::VaesAvx2);
}

#[test]
fn kats_aesni() {
    all_kats(Backend::AesNi);
}

#[test]
fn kats_soft() {
    all_kats(Backend::Soft);
}

#[test]
fn gbt_million_iterations_every_backend() {
    for b in Backend::ALL {
        gbt_million(b);
    }
}

#[test]
fn default_backend_is_the_fastest_available() {
    let best = Backend::ALL
        .into_iter()
        .find(|b| common::cpu_has(*b))
        .unwrap();
    match Sm4Gcm::new(&[0; 16]) {
        Ok(gcm) => assert_eq!(gcm.backend(), best),
        // Only where the table-based backend is all there is, and nobody opted in.
        Err(refused) => {
            assert_eq!(best, Backend::Soft);
            assert_eq!(refused, tkms_sm4::Refused::TableBackendNotAllowed);
        }
    }
}

/// Every backend the CPU supports must have passed; Soft always. Set
/// `TKMS_SM4_REQUIRE_ALL_BACKENDS=1` on a machine with GFNI + AVX-512 to demand all five.
#[test]
fn every_available_backend_ran() {
    for b in Backend::ALL {
        all_kats(b);
    }
    let ran = RAN.lock().unwrap().clone();
    let mut not_run = Vec::new();
    for b in Backend::ALL {
        if common::cpu_has(b) {
            assert!(ran.contains(&b), "{b:?} is available but did not run");
        } else {
            not_run.push(b);
        }
    }
    assert!(ran.contains(&Backend::Soft));
    eprintln!("backends not run (CPU lacks them): {not_run:?}");
    if std::env::var_os("TKMS_SM4_REQUIRE_ALL_BACKENDS").is_some() {
        assert!(
            not_run.is_empty(),
            "required every backend, not run: {not_run:?}"
        );
    }
}

#[test]
fn debug_does_not_show_key_material() {
    let gcm = Sm4Gcm::with_backend(&[0xab; 16], Backend::Soft).unwrap();
    let s = format!("{gcm:?}");
    assert!(s.starts_with("Sm4Gcm { backend: "), "{s}");
    assert!(
        !s.to_lowercase().contains("ab, ") && !s.contains("171"),
        "{s}"
    );
}

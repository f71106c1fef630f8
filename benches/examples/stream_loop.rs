//! One envelope operation on 1 MiB (or `size` bytes), `iterations` times: fixed work for
//! `perf stat -e task-clock` and `perf record`, whose CPU time is steadier than criterion's wall
//! time on a shared machine (docs/performance.md, "Library path").
//!
//! `RAYON_NUM_THREADS=1 target/release/examples/stream_loop OP ITERATIONS [SIZE]`, OP one of:
//! - `raw_seal`: aws-lc-rs AES-256-GCM in place on the whole buffer (the bench's raw_seal);
//! - `copy`: copy the whole buffer once; `raw_open`: that copy, then open in place;
//! - `stream_seal`, `stream_open`: kms-core's Encryptor (64 KiB writes) and Decryptor (64 KiB
//!   reads), as the bench's rows;
//! - `slot_seal`: seal each 64 KiB frame into one reused buffer, nothing more;
//! - `slot_seal_copy`: that, then append the buffer to a Vec (the bench's write_floor);
//! - `slot_copy_seal_copy`: copy each frame into the buffer, seal it there, append it (what
//!   keeping each write's last frame back, instead of re-sealing it in `finish`, would cost);
//! - `direct_seal`: seal each frame straight into a zeroed output (no `Write` can do this);
//! - `open_a`: copy each sealed frame into a buffer, open it into the caller's (the bench's
//!   read_floor); `open_b`: copy it into the caller's buffer, open in place there; `open_c`: open
//!   straight from the input (no `Read` can do this).

// A measurement loop: any failure is a bug to see at once.
#![allow(clippy::unwrap_used)]
use std::hint::black_box;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use kms_core::{EncryptOptions, encrypt};
use tkms_benches::envelope_ops::{
    BenchKey, FLOOR_FRAME, frame_nonce, read_floor, stream_open, stream_seal, write_floor,
};

/// Seals each frame of `plaintext` with `seal(index, frame)`: the shape every seal variant shares.
fn each_frame(plaintext: &[u8], mut seal: impl FnMut(Nonce, &[u8])) {
    for (i, frame) in black_box(plaintext).chunks(FLOOR_FRAME).enumerate() {
        seal(frame_nonce(i), frame);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args[1].as_str();
    let iters: usize = args[2].parse().unwrap();
    let size: usize = args.get(3).map_or(1 << 20, |s| s.parse().unwrap());
    let key = BenchKey::default();
    let opts = EncryptOptions::default();
    let plaintext = vec![0x5Au8; size];
    let envelope = encrypt(&plaintext, &[&key], &opts).unwrap();
    let raw = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[3u8; 32]).unwrap());
    let mut scratch = plaintext.clone();
    let whole = Nonce::assume_unique_for_key([0; 12]);
    let tag = raw
        .seal_in_place_separate_tag(whole, Aad::empty(), &mut scratch)
        .unwrap();
    let sealed = scratch.clone();
    let mut slot = vec![0u8; FLOOR_FRAME + 16];
    let sealed_frames = write_floor(&raw, &plaintext, &mut slot);
    let mut buf = vec![0u8; FLOOR_FRAME];
    let mut tag_out = [0u8; 16];
    let mut total = 0usize;
    for _ in 0..iters {
        match what {
            "raw_seal" => {
                let nonce = Nonce::assume_unique_for_key([0; 12]);
                let t = raw
                    .seal_in_place_separate_tag(nonce, Aad::empty(), &mut scratch)
                    .unwrap();
                total += t.as_ref()[0] as usize;
            }
            "copy" | "raw_open" => {
                scratch.copy_from_slice(&sealed);
                if what == "raw_open" {
                    let nonce = Nonce::assume_unique_for_key([0; 12]);
                    raw.open_in_place_separate_tag(nonce, Aad::empty(), tag.as_ref(), &mut scratch)
                        .unwrap();
                }
                total += scratch[5] as usize;
            }
            // Seal each frame into one hot buffer, nothing more.
            "slot_seal" => each_frame(&plaintext, |nonce, frame| {
                let body = &mut slot[..frame.len()];
                raw.seal_out_of_place_scatter(nonce, Aad::empty(), frame, body, &[], &mut tag_out)
                    .unwrap();
                total += tag_out[0] as usize;
            }),
            "slot_seal_copy" => total += write_floor(&raw, black_box(&plaintext), &mut slot).len(),
            // Copy each frame into the buffer, seal it there, append it: what keeping each
            // write's last frame back would cost.
            "slot_copy_seal_copy" => {
                let mut out = Vec::with_capacity(plaintext.len() + plaintext.len() / 1024 + 4096);
                each_frame(&plaintext, |nonce, frame| {
                    let body = &mut slot[..frame.len()];
                    body.copy_from_slice(frame);
                    let t = raw
                        .seal_in_place_separate_tag(nonce, Aad::empty(), body)
                        .unwrap();
                    out.extend_from_slice(body);
                    out.extend_from_slice(t.as_ref());
                });
                total += black_box(out).len();
            }
            // Seal straight into the output (what no `Write`-based API can do).
            "direct_seal" => {
                let mut out = vec![0u8; plaintext.len()];
                let mut at = 0;
                each_frame(&plaintext, |nonce, frame| {
                    let body = &mut out[at..at + frame.len()];
                    raw.seal_out_of_place_scatter(
                        nonce,
                        Aad::empty(),
                        frame,
                        body,
                        &[],
                        &mut tag_out,
                    )
                    .unwrap();
                    at += frame.len();
                });
                total += black_box(out).len();
            }
            "open_a" => total += read_floor(&raw, black_box(&sealed_frames), &mut slot, &mut buf),
            // Copy each frame into the caller's buffer and open it in place there (open_b), or
            // open it straight from the input (open_c: what no `Read` can do).
            "open_b" | "open_c" => {
                for (i, frame) in black_box(&sealed_frames)
                    .chunks(FLOOR_FRAME + 16)
                    .enumerate()
                {
                    let (body, tag) = frame.split_at(frame.len() - 16);
                    let out = &mut buf[..body.len()];
                    if what == "open_b" {
                        out.copy_from_slice(body);
                        raw.open_in_place_separate_tag(frame_nonce(i), Aad::empty(), tag, out)
                            .unwrap();
                    } else {
                        raw.open_separate_gather(frame_nonce(i), Aad::empty(), body, tag, out)
                            .unwrap();
                    }
                    total += out[7] as usize;
                }
            }
            "stream_seal" => total += stream_seal(black_box(&plaintext), &key, &opts).len(),
            "stream_open" => {
                total += stream_open(black_box(&envelope), &key, &opts.context, &mut buf);
            }
            other => panic!("unknown operation {other}"),
        }
    }
    println!("{total}");
}

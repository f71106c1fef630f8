//! Streams a large message through `Encryptor` or `Decryptor` to show that memory stays flat.
//!
//! ```text
//! cargo build --release -p kms-core --example stream_rss
//! /usr/bin/time -v target/release/examples/stream_rss encrypt 1024 aes256gcm > /tmp/big.tkms
//! /usr/bin/time -v target/release/examples/stream_rss decrypt < /tmp/big.tkms
//! ```
//! `encrypt <MiB> [aes256gcm|sm4gcm]` seals generated plaintext to stdout; `decrypt` opens stdin
//! and prints the plaintext byte count to stderr. The key is a fixed demo key: not for real data.

use std::io::{self, BufReader, BufWriter, Read, Write};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use kms_core::wrap::{KeyRef, KeyWrapper, WrapMethod, WrappedKey};
use kms_core::{
    DataKey, Decryptor, EncryptOptions, EncryptionContext, Encryptor, Suite, WrapError,
};

/// Stores the data key under a fixed AES-256-GCM key (a stand-in for a real wrapper).
struct DemoKey(LessSafeKey);

impl KeyWrapper for DemoKey {
    fn wrap(&self, data_key: &DataKey, _: &EncryptionContext) -> Result<WrappedKey, WrapError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|_| WrapError::Crypto)?;
        let mut buf = data_key.expose_secret().to_vec();
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
            .map_err(|_| WrapError::Crypto)?;
        let mut ciphertext = nonce.to_vec();
        ciphertext.extend_from_slice(&buf);
        Ok(WrappedKey {
            method: WrapMethod::RsaOaepSha256,
            key_ref: self.key_ref(),
            ciphertext,
        })
    }

    fn unwrap(
        &self,
        wrapped: &WrappedKey,
        _: &EncryptionContext,
    ) -> Result<Option<DataKey>, WrapError> {
        if wrapped.key_ref != self.key_ref() {
            return Ok(None);
        }
        let (nonce, rest) = wrapped
            .ciphertext
            .split_at_checked(12)
            .ok_or(WrapError::Crypto)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| WrapError::Crypto)?;
        let mut buf = rest.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::empty(), &mut buf)
            .map_err(|_| WrapError::Crypto)?;
        DataKey::from_slice(plain)
            .map(Some)
            .ok_or(WrapError::Crypto)
    }

    fn key_ref(&self) -> KeyRef {
        KeyRef::PublicKey {
            fingerprint: [0xD0; 32],
        }
    }
}

/// Yields `remaining` bytes of a repeating pattern without holding them.
struct Generated {
    remaining: u64,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = DemoKey(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &[0x42; 32]).map_err(|_| "key")?,
    ));
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("encrypt") => {
            let mib: u64 = args.get(2).ok_or("usage: encrypt <MiB> [suite]")?.parse()?;
            let suite = match args.get(3) {
                Some(name) => Suite::from_name(name).ok_or("suite: aes256gcm or sm4gcm")?,
                None => Suite::Aes256Gcm,
            };
            let opts = EncryptOptions {
                suite,
                ..EncryptOptions::default()
            };
            let out = BufWriter::new(io::stdout().lock());
            let mut enc = Encryptor::new(out, &[&key], &opts)?;
            io::copy(
                &mut Generated {
                    remaining: mib << 20,
                },
                &mut enc,
            )?;
            enc.finish()?.flush()?;
        }
        Some("decrypt") => {
            let input = BufReader::new(io::stdin().lock());
            let mut dec = Decryptor::new(input, &[&key], &EncryptionContext::new())?;
            let n = io::copy(&mut dec, &mut io::sink())?;
            eprintln!("decrypted {n} bytes");
        }
        _ => {
            return Err(
                "usage: stream_rss encrypt <MiB> [aes256gcm|sm4gcm] | stream_rss decrypt".into(),
            );
        }
    }
    Ok(())
}

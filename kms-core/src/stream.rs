//! Streaming encryption (`std::io::Write`) and decryption (`std::io::Read`).
//! SKELETON: to be implemented.

use std::io::{Read, Write};

use crate::context::EncryptionContext;
use crate::error::{DecryptError, EncryptError};
use crate::format::Header;
use crate::message::EncryptOptions;
use crate::wrap::KeyWrapper;

/// Seals a stream: write plaintext, then call [`Encryptor::finish`] (dropping without finishing
/// leaves a truncated envelope that will never decrypt).
pub struct Encryptor<W: Write> {
    out: W,
}

impl<W: Write> Encryptor<W> {
    /// Writes the header to `out` and returns a writer for the plaintext.
    pub fn new(
        out: W,
        wrappers: &[&dyn KeyWrapper],
        options: &EncryptOptions,
    ) -> Result<Self, EncryptError> {
        let _ = (wrappers, options);
        Ok(Self { out })
    }

    /// Seals the final frame and returns the inner writer.
    pub fn finish(self) -> Result<W, EncryptError> {
        Ok(self.out)
    }
}

impl<W: Write> Write for Encryptor<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = buf;
        todo!()
    }
    fn flush(&mut self) -> std::io::Result<()> {
        todo!()
    }
}

/// Opens a stream: reads yield only authenticated plaintext.
pub struct Decryptor<R: Read> {
    input: R,
    header: Header,
}

impl<R: Read> Decryptor<R> {
    /// Reads and checks the header, unwraps the data key, and returns a reader for the plaintext.
    pub fn new(
        input: R,
        unwrappers: &[&dyn KeyWrapper],
        context: &EncryptionContext,
    ) -> Result<Self, DecryptError> {
        let _ = (unwrappers, context, input);
        todo!()
    }

    /// The envelope's header.
    pub fn header(&self) -> &Header {
        &self.header
    }
}

impl<R: Read> Read for Decryptor<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let _ = (buf, &mut self.input);
        todo!()
    }
}

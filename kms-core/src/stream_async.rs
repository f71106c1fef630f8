//! Streaming encryption and decryption for tokio (feature `tokio`): the same envelopes and
//! guarantees as [`Encryptor`] and [`Decryptor`], which do the work.
//!
//! Sealing and opening batches, and the KMS call that makes or unwraps the data key, run on
//! tokio's blocking pool (`spawn_blocking`), never on a runtime worker. There the blocking
//! stream reads and writes the async one through a small bridge that waits on the runtime.

use std::io::{self, Read, Write};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::runtime::Handle;
use zeroize::Zeroize;

use crate::cache::DataKeyCache;
use crate::context::EncryptionContext;
use crate::error::{DecryptError, EncryptError};
use crate::format::Header;
use crate::message::EncryptOptions;
use crate::stream::{BATCH_TARGET_BYTES, Decryptor, Encryptor, WipeOnDrop};
use crate::wrap::KeyWrapper;

/// An async reader or writer seen as a blocking one. Used only on the blocking pool.
struct Bridge<T> {
    inner: T,
    runtime: Handle,
}

impl<R: AsyncRead + Unpin> Read for Bridge<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.runtime.block_on(self.inner.read(buf))
    }
}

impl<W: AsyncWrite + Unpin> Write for Bridge<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.runtime.block_on(self.inner.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.runtime.block_on(self.inner.flush())
    }
}

async fn blocking<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| io::Error::other(format!("a sealing task failed: {e}")))
}

fn refs(keys: &[Arc<dyn KeyWrapper>]) -> Vec<&dyn KeyWrapper> {
    keys.iter().map(|k| &**k as &dyn KeyWrapper).collect()
}

fn gone() -> io::Error {
    io::Error::other("an earlier call failed; the stream is unusable")
}

/// Seals a stream into an [`AsyncWrite`]: call [`write_all`](Self::write_all), then
/// [`finish`](Self::finish) (dropping without finishing leaves a truncated envelope that will
/// never decrypt).
///
/// Plaintext is gathered here (zeroized on drop) and handed to the blocking pool a batch at a
/// time (about 2 MiB), where it is sealed on all rayon threads and written out.
pub struct AsyncEncryptor<W: AsyncWrite + Unpin> {
    /// `None` while a batch is on the blocking pool, or after a failure.
    inner: Option<Encryptor<Bridge<W>>>,
    pending: WipeOnDrop,
}

impl<W: AsyncWrite + Unpin + Send + 'static> AsyncEncryptor<W> {
    /// Makes and wraps the data key (on the blocking pool: a KMS wrapper calls the KMS there)
    /// and writes the header to `out`. Must be called inside a tokio runtime.
    pub async fn new(
        out: W,
        wrappers: &[Arc<dyn KeyWrapper>],
        options: &EncryptOptions,
    ) -> Result<Self, EncryptError> {
        Self::start(out, wrappers, options, None).await
    }

    /// [`new`](Self::new) with the data key from `cache`. The message's length is not known
    /// when its data key is chosen, so `plaintext_len` is charged to the entry's `max_bytes`
    /// and writing more than that fails.
    pub async fn with_cache(
        out: W,
        wrappers: &[Arc<dyn KeyWrapper>],
        options: &EncryptOptions,
        cache: Arc<DataKeyCache>,
        plaintext_len: u64,
    ) -> Result<Self, EncryptError> {
        Self::start(out, wrappers, options, Some((cache, plaintext_len))).await
    }

    async fn start(
        out: W,
        wrappers: &[Arc<dyn KeyWrapper>],
        options: &EncryptOptions,
        cache: Option<(Arc<DataKeyCache>, u64)>,
    ) -> Result<Self, EncryptError> {
        let out = Bridge {
            inner: out,
            runtime: Handle::current(),
        };
        let wrappers = wrappers.to_vec();
        let options = options.clone();
        let inner = blocking(move || match cache {
            Some((cache, len)) => cache.encryptor(out, &refs(&wrappers), &options, len),
            None => Encryptor::new(out, &refs(&wrappers), &options),
        })
        .await??;
        Ok(Self {
            inner: Some(inner),
            pending: WipeOnDrop(Vec::with_capacity(BATCH_TARGET_BYTES)),
        })
    }

    /// Takes `buf` as plaintext; seals and writes whenever a batch is full.
    pub async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        if self.inner.is_none() {
            return Err(gone());
        }
        while !buf.is_empty() {
            let take = buf.len().min(BATCH_TARGET_BYTES - self.pending.len());
            self.pending.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.pending.len() == BATCH_TARGET_BYTES {
                self.seal_pending().await?;
            }
        }
        Ok(())
    }

    /// Hands the gathered plaintext to the blocking encryptor.
    async fn seal_pending(&mut self) -> io::Result<()> {
        let mut inner = self.inner.take().ok_or_else(gone)?;
        let mut pending = core::mem::replace(&mut self.pending, WipeOnDrop(Vec::new()));
        let (inner, pending) = blocking(move || {
            let written = inner.write_all(&pending);
            pending.zeroize();
            pending.clear();
            written.map(|()| (inner, pending))
        })
        .await??;
        self.inner = Some(inner);
        self.pending = pending;
        Ok(())
    }

    /// Seals the final frame, flushes, and returns the inner writer.
    pub async fn finish(mut self) -> Result<W, EncryptError> {
        self.seal_pending().await?;
        let inner = self.inner.take().ok_or_else(gone)?;
        let out = blocking(move || inner.finish()).await??;
        Ok(out.inner)
    }
}

/// Opens a stream from an [`AsyncRead`]: [`read`](Self::read) yields only authenticated
/// plaintext, exactly as [`Decryptor`] does (which runs on the blocking pool).
pub struct AsyncDecryptor<R: AsyncRead + Unpin> {
    /// `None` while a read is on the blocking pool, or after a failure.
    inner: Option<Decryptor<Bridge<R>>>,
    header: Header,
    /// Plaintext moved back from the blocking pool; zeroized on drop.
    ready: WipeOnDrop,
    pos: usize,
}

impl<R: AsyncRead + Unpin + Send + 'static> AsyncDecryptor<R> {
    /// Reads the header and unwraps the data key (on the blocking pool). Must be called
    /// inside a tokio runtime.
    pub async fn new(
        input: R,
        unwrappers: &[Arc<dyn KeyWrapper>],
        context: &EncryptionContext,
    ) -> Result<Self, DecryptError> {
        Self::start(input, unwrappers, context, None).await
    }

    /// [`new`](Self::new) with the data key from `cache`.
    pub async fn with_cache(
        input: R,
        unwrappers: &[Arc<dyn KeyWrapper>],
        context: &EncryptionContext,
        cache: Arc<DataKeyCache>,
    ) -> Result<Self, DecryptError> {
        Self::start(input, unwrappers, context, Some(cache)).await
    }

    async fn start(
        input: R,
        unwrappers: &[Arc<dyn KeyWrapper>],
        context: &EncryptionContext,
        cache: Option<Arc<DataKeyCache>>,
    ) -> Result<Self, DecryptError> {
        let input = Bridge {
            inner: input,
            runtime: Handle::current(),
        };
        let unwrappers = unwrappers.to_vec();
        let context = context.clone();
        let inner = blocking(move || match cache {
            Some(cache) => cache.decryptor(input, &refs(&unwrappers), &context),
            None => Decryptor::new(input, &refs(&unwrappers), &context),
        })
        .await??;
        Ok(Self {
            header: inner.header().clone(),
            inner: Some(inner),
            ready: WipeOnDrop(Vec::new()),
            pos: 0,
        })
    }

    /// The envelope's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Reads authenticated plaintext into `buf`; `Ok(0)` at the end of the message. A frame
    /// that fails is reported (as [`DecryptError::DecryptionFailed`] inside an `io::Error`)
    /// once the plaintext before it is consumed.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.ready.len() {
            self.fill().await?;
        }
        let n = buf.len().min(self.ready.len() - self.pos);
        buf[..n].copy_from_slice(&self.ready[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }

    /// Reads to the end into `out`; returns the bytes added.
    pub async fn read_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        let start = out.len();
        loop {
            if self.pos == self.ready.len() {
                self.fill().await?;
                if self.ready.is_empty() {
                    return Ok(out.len() - start);
                }
            }
            out.extend_from_slice(&self.ready[self.pos..]);
            self.pos = self.ready.len();
        }
    }

    /// Opens up to one batch on the blocking pool. Leaves `ready` empty at the end.
    async fn fill(&mut self) -> io::Result<()> {
        let mut inner = self.inner.take().ok_or_else(gone)?;
        let mut ready = core::mem::replace(&mut self.ready, WipeOnDrop(Vec::new()));
        self.pos = 0;
        ready.zeroize();
        let (inner, ready, result) = blocking(move || {
            ready.resize(BATCH_TARGET_BYTES, 0);
            let mut filled = 0;
            let mut result = Ok(());
            while filled < ready.len() {
                match inner.read(&mut ready[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    // Plaintext before a failure is released first; the Decryptor repeats
                    // the error on the next read.
                    Err(_) if filled > 0 => break,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            ready[filled..].zeroize();
            ready.truncate(filled);
            (inner, ready, result)
        })
        .await?;
        self.inner = Some(inner);
        self.ready = ready;
        result
    }
}

//! Streaming encryption and decryption for tokio (feature `tokio`): [`AsyncEncryptor`] is an
//! [`AsyncWrite`], [`AsyncDecryptor`] an [`AsyncRead`], with the same envelopes and guarantees
//! as [`Encryptor`] and [`Decryptor`], which do the work (docs/envelope-format.md).
//!
//! Both are polled state machines: they gather plaintext (or ciphertext) on the caller's task
//! and hand each batch of frames (about 2 MiB) to tokio's blocking pool, where it is sealed or
//! opened on the rayon threads; only batches of at most [`INLINE_MAX_BYTES`] run inline.
//!
//! The data key: `new` and `with_cache` call the blocking [`KeyWrapper`]s on the blocking
//! pool; `with_kms` calls the KMS with [`AsyncKms`] (the HTTP client's async call) on the
//! caller's task.

use std::future::Future;
use std::io::{self, ErrorKind, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::JoinHandle;
use zeroize::Zeroize;

use crate::cache::DataKeyCache;
use crate::context::EncryptionContext;
use crate::error::{DecryptError, EncryptError};
use crate::format::{Header, VersionedHeader, read_versioned};
use crate::kms::AsyncKms;
use crate::message::{EncryptOptions, check_seal_options, open_header_with, write_header};
use crate::stream::{BATCH_TARGET_BYTES, Decryptor, Encryptor, WipeOnDrop};
use crate::wrap::KeyWrapper;

/// Work up to this many bytes is sealed or opened on the polling task: less than a
/// millisecond, cheaper than a trip through the blocking pool.
const INLINE_MAX_BYTES: usize = 64 * 1024;

/// How much ciphertext to read at a time while looking for the end of the header.
const HEADER_READ: usize = 8 * 1024;

async fn blocking<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(job).await.map_err(job_failed)
}

fn job_failed(e: tokio::task::JoinError) -> io::Error {
    io::Error::other(format!("a sealing task failed: {e}"))
}

fn refs(keys: &[Arc<dyn KeyWrapper>]) -> Vec<&dyn KeyWrapper> {
    keys.iter().map(|k| &**k as &dyn KeyWrapper).collect()
}

fn gone() -> io::Error {
    io::Error::other("an earlier call failed; the stream is unusable")
}

fn to_io(e: EncryptError) -> io::Error {
    match e {
        EncryptError::Io(e) => e,
        other => io::Error::other(other),
    }
}

/// What one trip of a batch through the encryptor gives back.
struct Sealed {
    /// `None` once the final frame is sealed.
    encryptor: Option<Box<Encryptor<Vec<u8>>>>,
    /// The (wiped, emptied) plaintext buffer, for reuse.
    pending: WipeOnDrop,
    ciphertext: Vec<u8>,
}

enum WriteState {
    /// Accepting plaintext.
    Idle(Box<Encryptor<Vec<u8>>>),
    /// A batch is being sealed on the blocking pool.
    Sealing(JoinHandle<Result<Sealed, EncryptError>>),
    /// The final frame is sealed.
    Finished,
    /// A call failed: the envelope is incomplete and stays so.
    Broken,
}

/// Seals a stream into an [`AsyncWrite`]. Write plaintext, then shut it down
/// ([`AsyncWriteExt::shutdown`](tokio::io::AsyncWriteExt::shutdown), which also shuts `out`
/// down) or call [`finish`](Self::finish) (which returns `out`). Dropping it before either
/// leaves an envelope without its final frame, which never decrypts.
///
/// `poll_flush` writes out every sealed frame and flushes `out`; a partial frame cannot be
/// sealed before the stream ends, so up to a batch of plaintext stays buffered (zeroized when
/// sealed or dropped).
pub struct AsyncEncryptor<W> {
    out: W,
    state: WriteState,
    /// Plaintext not yet handed to the encryptor.
    pending: WipeOnDrop,
    /// Sealed bytes (header, frames) not yet written to `out`, from `written`.
    sealed: Vec<u8>,
    written: usize,
}

impl<W: AsyncWrite + Unpin> AsyncEncryptor<W> {
    /// Makes and wraps the data key (on the blocking pool: a KMS wrapper calls the KMS there).
    /// The header is written to `out` with the first frames. Must be called inside a tokio
    /// runtime.
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
        let wrappers = wrappers.to_vec();
        let options = options.clone();
        let encryptor = blocking(move || match cache {
            Some((cache, len)) => cache.encryptor(Vec::new(), &refs(&wrappers), &options, len),
            None => Encryptor::new(Vec::new(), &refs(&wrappers), &options),
        })
        .await??;
        Ok(Self::ready(out, encryptor))
    }

    /// [`new`](Self::new) with the data key from GenerateDataKey under the symmetric CMK
    /// `key_id`, called through `kms`'s async call on this task (no blocking thread waits on
    /// the network); `recipients` wrap copies of it, on the blocking pool.
    pub async fn with_kms(
        out: W,
        kms: &AsyncKms,
        key_id: &str,
        recipients: &[Arc<dyn KeyWrapper>],
        options: &EncryptOptions,
    ) -> Result<Self, EncryptError> {
        check_seal_options(options)?;
        let (data_key, wrapped) = kms.generate(key_id, &options.context).await?;
        let recipients = recipients.to_vec();
        let options = options.clone();
        let encryptor = blocking(move || {
            let mut wrapped_keys = vec![wrapped];
            for recipient in &recipients {
                wrapped_keys.push(recipient.wrap(&data_key, &options.context)?);
            }
            let (header, cipher) = write_header(&options, &data_key, &wrapped_keys)?;
            Encryptor::sealed(Vec::new(), &header, cipher, options.frame_size, None)
        })
        .await??;
        Ok(Self::ready(out, encryptor))
    }

    /// A stream that writes `encryptor`'s header first.
    fn ready(out: W, mut encryptor: Encryptor<Vec<u8>>) -> Self {
        let header = core::mem::take(encryptor.get_mut());
        Self {
            out,
            state: WriteState::Idle(Box::new(encryptor)),
            pending: WipeOnDrop(Vec::new()),
            sealed: header,
            written: 0,
        }
    }

    /// Seals the final frame, writes everything out, flushes `out` (without shutting it down)
    /// and returns it.
    pub async fn finish(mut self) -> Result<W, EncryptError> {
        std::future::poll_fn(|cx| self.poll_finish(cx)).await?;
        let Self { out, .. } = self;
        Ok(out)
    }

    /// Hands the pending plaintext to the encryptor: on the blocking pool, or inline when the
    /// work is small. With `last`, the final frame is sealed too.
    fn start_batch(&mut self, last: bool) -> io::Result<()> {
        let WriteState::Idle(mut encryptor) =
            core::mem::replace(&mut self.state, WriteState::Broken)
        else {
            return Err(gone());
        };
        let mut pending = core::mem::replace(&mut self.pending, WipeOnDrop(Vec::new()));
        // The drained buffer's capacity becomes the next batch's ciphertext buffer.
        self.sealed.clear();
        self.written = 0;
        *encryptor.get_mut() = core::mem::take(&mut self.sealed);
        let inline = pending.len() + encryptor.buffered() <= INLINE_MAX_BYTES;
        let work = move || -> Result<Sealed, EncryptError> {
            let result = std::io::Write::write_all(&mut *encryptor, &pending);
            pending.as_mut_slice().zeroize();
            pending.clear();
            result?;
            let (encryptor, ciphertext) = if last {
                (None, encryptor.finish()?)
            } else {
                let ciphertext = core::mem::take(encryptor.get_mut());
                (Some(encryptor), ciphertext)
            };
            Ok(Sealed {
                encryptor,
                pending,
                ciphertext,
            })
        };
        if inline {
            self.sealed_batch(work())
        } else {
            self.state = WriteState::Sealing(tokio::task::spawn_blocking(work));
            Ok(())
        }
    }

    fn sealed_batch(&mut self, result: Result<Sealed, EncryptError>) -> io::Result<()> {
        let sealed = result.map_err(to_io)?;
        self.pending = sealed.pending;
        self.sealed = sealed.ciphertext;
        self.written = 0;
        self.state = match sealed.encryptor {
            Some(encryptor) => WriteState::Idle(encryptor),
            None => WriteState::Finished,
        };
        Ok(())
    }

    /// Waits for a batch on the blocking pool, then writes out all sealed bytes. The state
    /// stays `Broken` on any failure.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let WriteState::Sealing(job) = &mut self.state {
            let result = ready!(Pin::new(job).poll(cx));
            self.state = WriteState::Broken;
            self.sealed_batch(result.map_err(job_failed)?)?;
        }
        while self.written < self.sealed.len() {
            match ready!(Pin::new(&mut self.out).poll_write(cx, &self.sealed[self.written..])) {
                Ok(0) => {
                    self.state = WriteState::Broken;
                    return Poll::Ready(Err(ErrorKind::WriteZero.into()));
                }
                Ok(n) => self.written += n,
                Err(e) => {
                    self.state = WriteState::Broken;
                    return Poll::Ready(Err(e));
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Seals the final frame, writes everything and flushes `out`.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_idle(cx))?;
            match self.state {
                WriteState::Idle(_) => self.start_batch(true)?,
                WriteState::Finished => return Pin::new(&mut self.out).poll_flush(cx),
                WriteState::Sealing(_) | WriteState::Broken => return Poll::Ready(Err(gone())),
            }
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for AsyncEncryptor<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            ready!(this.poll_idle(cx))?;
            match this.state {
                WriteState::Idle(_) => {}
                WriteState::Finished => {
                    return Poll::Ready(Err(io::Error::other(
                        "the envelope is finished; nothing more can be written",
                    )));
                }
                WriteState::Sealing(_) | WriteState::Broken => return Poll::Ready(Err(gone())),
            }
            if buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            let room = BATCH_TARGET_BYTES - this.pending.len();
            if room == 0 {
                this.start_batch(false)?;
                continue;
            }
            if this.pending.capacity() < BATCH_TARGET_BYTES {
                let missing = BATCH_TARGET_BYTES - this.pending.len();
                this.pending.reserve_exact(missing);
            }
            let take = room.min(buf.len());
            this.pending.extend_from_slice(&buf[..take]);
            if this.pending.len() == BATCH_TARGET_BYTES {
                // Start sealing now, so it overlaps with the caller gathering the next batch.
                this.start_batch(false)?;
            }
            return Poll::Ready(Ok(take));
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_idle(cx))?;
        Pin::new(&mut this.out).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_finish(cx))?;
        Pin::new(&mut this.out).poll_shutdown(cx)
    }
}

/// Ciphertext read from the async input, handed to the blocking [`Decryptor`] as its reader.
/// Running dry before the input's end is an error (`WouldBlock`), never a silent end, so the
/// decryptor cannot mistake a slow input for a truncated one.
#[derive(Default)]
struct Fed {
    data: Vec<u8>,
    /// Unread bytes are `data[pos..end]`; `data[end..]` is room to read into.
    pos: usize,
    end: usize,
    eof: bool,
}

impl Fed {
    fn available(&self) -> usize {
        self.end - self.pos
    }

    /// Reads from `input` until `want` bytes are available or the input ends.
    fn poll_fill<R: AsyncRead + Unpin>(
        &mut self,
        input: &mut R,
        cx: &mut Context<'_>,
        want: usize,
    ) -> Poll<io::Result<()>> {
        if self.available() >= want || self.eof {
            return Poll::Ready(Ok(()));
        }
        self.data.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        if self.data.len() < want {
            self.data.resize(want, 0);
        }
        while self.end < want && !self.eof {
            let mut room = ReadBuf::new(&mut self.data[self.end..]);
            ready!(Pin::new(&mut *input).poll_read(cx, &mut room))?;
            let n = room.filled().len();
            self.end += n;
            self.eof = n == 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl Read for Fed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.end && !self.eof && !buf.is_empty() {
            return Err(ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.available());
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Reads from `input` until the header parses (cheap, no key). Returns the bytes read, with
/// the position after the header, and the parsed header.
async fn read_header<R: AsyncRead + Unpin>(
    input: &mut R,
) -> Result<(Fed, VersionedHeader), DecryptError> {
    let mut fed = Fed::default();
    loop {
        fed.pos = 0;
        match read_versioned(&mut fed) {
            Ok(parsed) => return Ok((fed, parsed)),
            Err(DecryptError::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                fed.pos = 0;
                let want = fed.end + HEADER_READ;
                std::future::poll_fn(|cx| fed.poll_fill(input, cx, want)).await?;
            }
            Err(e) => return Err(e),
        }
    }
}

type Opening = JoinHandle<(Box<Decryptor<Fed>>, io::Result<()>)>;

enum ReadState {
    /// Releasing plaintext, or ready to read the next batch.
    Idle(Box<Decryptor<Fed>>),
    /// A batch is being opened on the blocking pool.
    Opening(Opening),
    /// Reading failed: the stream is unusable.
    Broken,
}

/// Opens a stream from an [`AsyncRead`]: reads yield only authenticated plaintext, exactly as
/// [`Decryptor`] does. A frame that fails is reported (as [`DecryptError::DecryptionFailed`]
/// inside an `io::Error`) once the plaintext before it is consumed, and on every read after.
pub struct AsyncDecryptor<R> {
    input: R,
    state: ReadState,
    header: Header,
}

impl<R: AsyncRead + Unpin> AsyncDecryptor<R> {
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
        mut input: R,
        unwrappers: &[Arc<dyn KeyWrapper>],
        context: &EncryptionContext,
        cache: Option<Arc<DataKeyCache>>,
    ) -> Result<Self, DecryptError> {
        // The header is read here, so the blocking pool never waits on the input.
        let (mut fed, _) = read_header(&mut input).await?;
        fed.pos = 0;
        let unwrappers = unwrappers.to_vec();
        let context = context.clone();
        let decryptor = blocking(move || match cache {
            Some(cache) => cache.decryptor(fed, &refs(&unwrappers), &context),
            None => Decryptor::new(fed, &refs(&unwrappers), &context),
        })
        .await??;
        Ok(Self::ready(input, decryptor))
    }

    /// [`new`](Self::new) with the data key unwrapped through `kms`'s async call on this task
    /// (Decrypt for a symmetric CMK; the asymmetric decrypt for a KMS RSA/SM2 CMK), for any
    /// KMS key the header names.
    pub async fn with_kms(
        mut input: R,
        kms: &AsyncKms,
        context: &EncryptionContext,
    ) -> Result<Self, DecryptError> {
        let (fed, VersionedHeader::V1(v1)) = read_header(&mut input).await?;
        // As open_header_with, but before the KMS is asked.
        if &v1.header.context != context {
            return Err(DecryptError::ContextMismatch);
        }
        let data_key = kms.unwrap(&v1.header).await?;
        let (header, cipher, _) =
            open_header_with(VersionedHeader::V1(v1), context, |_| Ok(data_key))?;
        Ok(Self::ready(input, Decryptor::opened(fed, header, cipher)))
    }

    fn ready(input: R, mut decryptor: Decryptor<Fed>) -> Self {
        decryptor.use_large_batches();
        Self {
            input,
            header: decryptor.header().clone(),
            state: ReadState::Idle(Box::new(decryptor)),
        }
    }

    /// The envelope's header.
    pub fn header(&self) -> &Header {
        &self.header
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for AsyncDecryptor<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            match &mut this.state {
                ReadState::Broken => return Poll::Ready(Err(gone())),
                ReadState::Opening(job) => {
                    let result = ready!(Pin::new(job).poll(cx));
                    this.state = ReadState::Broken;
                    let (decryptor, opened) = result.map_err(job_failed)?;
                    opened?;
                    this.state = ReadState::Idle(decryptor);
                }
                ReadState::Idle(decryptor) => {
                    let n = decryptor.copy_released(buf.initialize_unfilled());
                    if n > 0 {
                        buf.advance(n);
                        return Poll::Ready(Ok(()));
                    }
                    if decryptor.is_failed() {
                        return Poll::Ready(Err(DecryptError::DecryptionFailed.into()));
                    }
                    if decryptor.is_done() {
                        return Poll::Ready(Ok(()));
                    }
                    let want = decryptor.batch_input_len();
                    if let Err(e) = ready!(decryptor.get_mut().poll_fill(&mut this.input, cx, want))
                    {
                        this.state = ReadState::Broken;
                        return Poll::Ready(Err(e));
                    }
                    if decryptor.get_mut().available() <= INLINE_MAX_BYTES {
                        if let Err(e) = decryptor.next_batch() {
                            this.state = ReadState::Broken;
                            return Poll::Ready(Err(e));
                        }
                    } else {
                        let ReadState::Idle(mut decryptor) =
                            core::mem::replace(&mut this.state, ReadState::Broken)
                        else {
                            return Poll::Ready(Err(gone()));
                        };
                        this.state = ReadState::Opening(tokio::task::spawn_blocking(move || {
                            let opened = decryptor.next_batch();
                            (decryptor, opened)
                        }));
                    }
                }
            }
        }
    }
}

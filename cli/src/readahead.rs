//! Reading ahead on a second thread: while the calling thread seals one chunk (straight from the
//! chunk, through kms-core's rayon batches), this thread reads the next one, so reading and the
//! cipher overlap instead of taking turns (docs/performance.md, "tkms CLI at the memory-copy
//! limit").

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use zeroize::Zeroize;

/// Bytes per chunk: one kms-core batch of 64 KiB frames, so a chunk seals in one parallel pass.
pub(crate) const CHUNK: usize = 2 << 20;
/// Chunks in flight: one being consumed while the other is read. Bounds memory at
/// `BUFFERS * CHUNK` whatever the input size; every fresh MiB costs page faults, so no more.
const BUFFERS: usize = 2;
/// Inputs of known size below this are read on the calling thread (a thread costs more than
/// it saves).
const MIN_LEN: u64 = 2 * CHUNK as u64;

/// A chunk buffer; it may hold plaintext, so it is wiped when freed (each chunk overwrites the
/// previous one, and only `len` bytes of it are ever released).
struct Buffer {
    bytes: Vec<u8>,
    len: usize,
}

impl Drop for Buffer {
    fn drop(&mut self) {
        self.bytes.as_mut_slice().zeroize();
    }
}

/// The consuming end: chunks in input order, until the input ends or a read fails.
pub(crate) struct Chunks<'r> {
    source: Source<'r>,
    current: Option<Buffer>,
}

enum Source<'r> {
    /// Chunks from the reading thread; empty buffers go back to it.
    Thread {
        filled: Receiver<io::Result<Buffer>>,
        empty: SyncSender<Buffer>,
    },
    /// A small input read on the calling thread.
    Inline(&'r mut (dyn Read + Send)),
}

impl Chunks<'_> {
    /// The next chunk (never empty), or `None` at the end of the input.
    pub(crate) fn next_chunk(&mut self) -> io::Result<Option<&[u8]>> {
        let previous = self.current.take();
        let next = match &mut self.source {
            Source::Thread { filled, empty } => {
                if let Some(buffer) = previous {
                    // The reader may have stopped (end of input): then the buffer is dropped.
                    let _ = empty.send(buffer);
                }
                match filled.recv() {
                    Ok(chunk) => Some(chunk?),
                    Err(_) => None,
                }
            }
            Source::Inline(reader) => {
                let mut buffer = previous.unwrap_or_else(|| Buffer {
                    bytes: vec![0; CHUNK],
                    len: 0,
                });
                buffer.len = fill(*reader, &mut buffer.bytes)?;
                (buffer.len > 0).then_some(buffer)
            }
        };
        self.current = next;
        Ok(self.current.as_ref().map(|b| &b.bytes[..b.len]))
    }
}

/// Runs `consume` on the chunks of `reader`, read ahead on a second thread when the input is
/// large or of unknown size (`len`). The thread ends when the input ends, a read fails, or
/// `consume` returns (it then finishes its current read first).
pub(crate) fn read_ahead<T>(
    reader: &mut (dyn Read + Send),
    len: Option<u64>,
    consume: impl FnOnce(&mut Chunks<'_>) -> T,
) -> T {
    if len.is_some_and(|len| len < MIN_LEN) {
        let mut chunks = Chunks {
            source: Source::Inline(reader),
            current: None,
        };
        return consume(&mut chunks);
    }
    std::thread::scope(|scope| {
        let (filled_tx, filled_rx) = sync_channel(BUFFERS);
        let (empty_tx, empty_rx) = sync_channel(BUFFERS);
        scope.spawn(move || produce(reader, &filled_tx, &empty_rx));
        let mut chunks = Chunks {
            source: Source::Thread {
                filled: filled_rx,
                empty: empty_tx,
            },
            current: None,
        };
        // Dropping the chunks closes both channels, which stops the reader.
        consume(&mut chunks)
    })
}

/// The reading thread: fills buffers (new ones until there are [`BUFFERS`], then the ones given
/// back) and sends them in order.
fn produce(
    reader: &mut (dyn Read + Send),
    filled: &SyncSender<io::Result<Buffer>>,
    empty: &Receiver<Buffer>,
) {
    let mut made = 0;
    loop {
        let mut buffer = match empty.try_recv() {
            Ok(buffer) => buffer,
            Err(_) if made < BUFFERS => {
                made += 1;
                Buffer {
                    bytes: vec![0; CHUNK],
                    len: 0,
                }
            }
            Err(_) => match empty.recv() {
                Ok(buffer) => buffer,
                Err(_) => return,
            },
        };
        match fill(reader, &mut buffer.bytes) {
            Ok(0) => return,
            Ok(n) => {
                buffer.len = n;
                if filled.send(Ok(buffer)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = filled.send(Err(e));
                return;
            }
        }
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn fill(reader: &mut (dyn Read + Send), buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn chunks_return_the_input_in_order_on_both_paths() {
        for (len, hint) in [
            (0, Some(0)),
            (5, Some(5)),
            (3 * CHUNK + 17, None),
            (3 * CHUNK + 17, Some(3 * CHUNK as u64 + 17)),
        ] {
            let input = pattern(len);
            let mut reader = &input[..];
            let got = read_ahead(&mut reader, hint, |chunks| {
                let mut got = Vec::new();
                while let Some(chunk) = chunks.next_chunk().unwrap() {
                    assert!(!chunk.is_empty() && chunk.len() <= CHUNK);
                    got.extend_from_slice(chunk);
                }
                got
            });
            assert_eq!(got, input, "{len} bytes");
        }
    }

    struct FailAfter(usize);

    impl Read for FailAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(1);
            self.0 -= n;
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_arrives_after_the_bytes_before_it() {
        let mut reader = FailAfter(CHUNK + 5);
        let (good, err) = read_ahead(&mut reader, None, |chunks| {
            let mut good = 0;
            loop {
                match chunks.next_chunk() {
                    Ok(Some(chunk)) => good += chunk.len(),
                    Ok(None) => panic!("an error must not look like the end"),
                    Err(e) => return (good, e),
                }
            }
        });
        assert_eq!(good, CHUNK);
        assert_eq!(err.to_string(), "disk on fire");
    }

    #[test]
    fn stopping_early_ends_the_reading_thread() {
        let input = pattern(10 * CHUNK);
        let mut reader = &input[..];
        let first = read_ahead(&mut reader, None, |chunks| {
            chunks.next_chunk().unwrap().unwrap()[0]
        });
        assert_eq!(first, input[0]);
    }
}

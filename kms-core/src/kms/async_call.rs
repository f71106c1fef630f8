//! The async KMS call, and the blocking client's code run over it.
//!
//! [`AsyncKmsTransport`] is [`KmsTransport`] for async code (the HTTP client implements both).
//! [`AsyncKms`] makes and unwraps data keys with it without duplicating how requests are
//! encoded and answers decoded: it runs the blocking wrapper code over a transport that
//! records the request the code makes and replays, on the next run, the answer the async call
//! brought back. The code is deterministic given the answers (data keys come in as arguments
//! or from the KMS); a replayed request that differs from the recorded one fails closed.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{KmsError, KmsTransport};
use crate::context::EncryptionContext;
use crate::error::{DecryptError, WrapError};
use crate::format::Header;
use crate::message::unwrap_data_key;
use crate::secret::DataKey;
use crate::wrap::kms::{KmsSymmetricWrapper, KmsUnwrapper};
use crate::wrap::{KeyWrapper, WrappedKey};

/// The answer of one KMS call, as [`KmsTransport::call`] returns it.
pub type KmsAnswer = Result<Zeroizing<Vec<u8>>, KmsError>;

/// A boxed `Send` future of a KMS answer.
pub type KmsFuture<'a> = Pin<Box<dyn Future<Output = KmsAnswer> + Send + 'a>>;

/// One Tencent Cloud KMS API call for async code: the same contract as
/// [`KmsTransport::call`], without blocking the caller's thread.
pub trait AsyncKmsTransport: Send + Sync {
    /// Calls `action` with `params` (a JSON object); see [`KmsTransport::call`].
    fn call_async<'a>(&'a self, action: &'a str, params: &'a [u8]) -> KmsFuture<'a>;
}

/// Most KMS calls one replayed operation may make (unwrapping tries each wrapped key).
const MAX_CALLS: usize = 16;

/// Code of the error a recording run gets in place of an answer not fetched yet.
const NOT_FETCHED: &str = "ClientNetworkError.NotFetched";

#[derive(Default)]
struct Tape {
    /// Requests made so far, with their answers once fetched.
    calls: Vec<(String, Zeroizing<Vec<u8>>, Option<KmsAnswer>)>,
    /// Position of the next call in this run.
    next: usize,
    /// This run reached a call without an answer.
    stalled: bool,
    /// A replayed request differed from the recorded one.
    diverged: bool,
}

/// A transport that answers from [`Tape`] and records the first request it cannot answer.
#[derive(Default)]
struct Replay(Mutex<Tape>);

impl Replay {
    fn tape(&self) -> MutexGuard<'_, Tape> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn not_fetched() -> KmsError {
    KmsError::new(NOT_FETCHED, "the async KMS call has not been made yet")
}

impl KmsTransport for Replay {
    fn call(&self, action: &str, params: &[u8]) -> KmsAnswer {
        let mut tape = self.tape();
        if tape.stalled {
            return Err(not_fetched());
        }
        let at = tape.next;
        tape.next += 1;
        let replayed = tape.calls.get(at).map(|(recorded, body, answer)| {
            let same = recorded == action && bool::from(body.as_slice().ct_eq(params));
            (same, answer.clone())
        });
        match replayed {
            Some((true, Some(answer))) => return answer,
            Some((false, _)) => tape.diverged = true,
            Some((true, None)) => {}
            None => tape
                .calls
                .push((action.to_owned(), Zeroizing::new(params.to_vec()), None)),
        }
        // Later calls of this run wait for the next one.
        tape.stalled = true;
        Err(not_fetched())
    }
}

/// Runs `op` over a replaying transport until it needs no call that was not fetched with
/// `transport`, then returns its result.
async fn replayed<T>(
    transport: &dyn AsyncKmsTransport,
    op: impl Fn(Arc<dyn KmsTransport>) -> T,
) -> Result<T, KmsError> {
    let replay = Arc::new(Replay::default());
    loop {
        {
            let mut tape = replay.tape();
            tape.next = 0;
            tape.stalled = false;
        }
        let result = op(replay.clone());
        let pending = {
            let tape = replay.tape();
            if tape.diverged {
                return Err(KmsError::new(
                    "InternalError",
                    "a replayed KMS request differed from the one made",
                ));
            }
            tape.calls
                .last()
                .filter(|(_, _, answer)| answer.is_none())
                .map(|_| tape.calls.len() - 1)
        };
        let Some(at) = pending else {
            return Ok(result);
        };
        if at >= MAX_CALLS {
            return Err(KmsError::new("InternalError", "too many KMS calls"));
        }
        let (action, params) = {
            let tape = replay.tape();
            (tape.calls[at].0.clone(), tape.calls[at].1.clone())
        };
        let answer = transport.call_async(&action, &params).await;
        replay.tape().calls[at].2 = Some(answer);
    }
}

/// Data keys made and unwrapped through a KMS with async calls, on the caller's runtime.
#[derive(Clone)]
pub struct AsyncKms {
    transport: Arc<dyn AsyncKmsTransport>,
}

impl core::fmt::Debug for AsyncKms {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AsyncKms").finish_non_exhaustive()
    }
}

impl AsyncKms {
    /// A KMS over `transport`. Makes no call.
    pub fn new(transport: Arc<dyn AsyncKmsTransport>) -> Self {
        Self { transport }
    }

    /// GenerateDataKey under the symmetric CMK `key_id` (a KeyId), bound to `context`: what
    /// [`KmsSymmetricWrapper`]'s `generate` does, without blocking.
    pub async fn generate(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> Result<(DataKey, WrappedKey), WrapError> {
        let generated = replayed(&*self.transport, |t| {
            KmsSymmetricWrapper::new(t, key_id).generate(context)
        })
        .await??;
        generated.ok_or(WrapError::Unsupported("the KMS wrapper made no data key"))
    }

    /// Unwraps the data key of `header` through the KMS (Decrypt, or the asymmetric decrypt
    /// of a key wrapped for a KMS RSA/SM2 CMK), as [`KmsUnwrapper`] does, without blocking.
    /// The header is not authenticated here (that needs this key); the KMS checks the
    /// context the header names.
    pub async fn unwrap(&self, header: &Header) -> Result<DataKey, DecryptError> {
        replayed(&*self.transport, |t| {
            let unwrapper = KmsUnwrapper::new(t);
            unwrap_data_key(header, &[&unwrapper as &dyn KeyWrapper])
        })
        .await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers GenerateDataKey/Decrypt-shaped calls from a script, counting them.
    struct Scripted(Mutex<Vec<(String, KmsAnswer)>>);

    impl AsyncKmsTransport for Scripted {
        fn call_async<'a>(&'a self, action: &'a str, _params: &'a [u8]) -> KmsFuture<'a> {
            let mut script = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let (expected, answer) = script.remove(0);
            assert_eq!(expected, action);
            Box::pin(std::future::ready(answer))
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        // No runtime needed: the scripted transport answers immediately.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    #[test]
    fn one_async_call_per_request_and_divergence_fails_closed() {
        let answer = br#"{"KeyId": "k", "Plaintext": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "CiphertextBlob": "blob"}"#;
        let kms = AsyncKms::new(Arc::new(Scripted(Mutex::new(vec![(
            "GenerateDataKey".to_owned(),
            Ok(Zeroizing::new(answer.to_vec())),
        )]))));
        let (key, wrapped) = block_on(kms.generate("k", &EncryptionContext::new())).unwrap();
        assert_eq!(key.expose_secret()[31], 31);
        assert_eq!(wrapped.ciphertext, b"blob");

        // An operation whose second run asks something else is refused.
        let transport = Scripted(Mutex::new(vec![(
            "Encrypt".to_owned(),
            Ok(Zeroizing::new(b"{}".to_vec())),
        )]));
        let runs = std::sync::atomic::AtomicUsize::new(0);
        let result = block_on(replayed(&transport, |t| {
            let n = runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            t.call("Encrypt", format!("{{\"run\":{n}}}").as_bytes())
        }));
        assert_eq!(result.unwrap_err().code, "InternalError");
    }
}

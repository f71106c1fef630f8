//! GetDataKeyPlaintext and GetDataKeyCiphertextBlob: a data key read from the store's in-memory
//! cache (store/hot_secrets.rs), judged on every call as a row just read would be - its state,
//! its deletion date against the service clock, and for the plaintext its CMK's state.

use std::sync::Arc;

use kms_core::kms::KeyOperation;
use zeroize::Zeroizing;

use super::{DataKeyError, check_data_key_id, existing, not_supported};
use crate::hsm::{Hsm, HsmError, KeyState, Scope, state_refusal};
use crate::store::HotDataKey;

impl Hsm {
    /// A data key of the scope that still exists at `now`, with its key.
    fn hot_data_key(
        &self,
        scope: Scope<'_>,
        id: &str,
        now: u64,
    ) -> Result<Arc<HotDataKey>, HsmError> {
        check_data_key_id(id)?;
        let found = self.store.hot_data_key(scope.uin, scope.region, id)?;
        existing(id, found, |key| &key.row, now)
    }

    /// GetDataKeyPlaintext: the data key, when it is Enabled and its CMK allows it.
    pub(crate) fn data_key_plaintext(
        &self,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        let key = self.hot_data_key(scope, id, self.now())?;
        let row = &key.row;
        match row.key_state {
            KeyState::Enabled => {}
            KeyState::Disabled => {
                return Err(DataKeyError::Disabled(row.data_key_id.clone()).into());
            }
            KeyState::PendingDelete => {
                return Err(DataKeyError::PendingDelete(row.data_key_id.clone()).into());
            }
            _ => return Err(not_supported(row)),
        }
        let cmk = &row.key_id;
        self.with_hot_key(scope, cmk, None, |key| {
            match state_refusal(cmk, key.row.key_state, KeyOperation::GetDataKeyPlaintext) {
                Some(refusal) => Err(refusal),
                None => Ok(()),
            }
        })?;
        Ok(Zeroizing::new(key.material().expose_secret().to_vec()))
    }

    /// GetDataKeyCiphertextBlob: the blob GenerateDataKey (or ImportDataKey) made, for
    /// Decrypt. Only an Enabled data key gives it.
    pub(crate) fn data_key_blob(&self, scope: Scope<'_>, id: &str) -> Result<String, HsmError> {
        let key = self.hot_data_key(scope, id, self.now())?;
        if key.row.key_state != KeyState::Enabled {
            return Err(not_supported(&key.row));
        }
        Ok(key.row.ciphertext_blob.clone())
    }
}

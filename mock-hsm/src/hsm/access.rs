//! How an operation reaches a key: in a read or write transaction, or from the hot-key cache,
//! always after the key's due schedules (rotation, deletion, import expiry) have run.

use super::rotation::can_rotate;
use super::rules::past_deletion_date;
use super::rules::{check_key_id, not_found};
use super::types::{KeyState, Origin};
use super::{Hsm, HsmError, Maintenance, Scope};
use crate::store::{HotKey, KeyRow, Tx};

impl Hsm {
    pub(super) fn maintain_all(&self) -> Result<Maintenance, HsmError> {
        let now = self.now();
        self.store.write(|tx| {
            let mut done = Maintenance::default();
            for row in tx.keys_needing_maintenance(now)? {
                let before = row.clone();
                match self.maintain(tx, row, now)? {
                    None => done.destroyed += 1,
                    Some(after) if after.current_version != before.current_version => {
                        done.rotated += 1
                    }
                    Some(after) if after.key_state != before.key_state => done.expired += 1,
                    Some(_) => {}
                }
            }
            tx.expire_tokens(now, now.saturating_sub(super::byok::EXPIRED_TOKEN_MEMORY))?;
            done.data_keys_destroyed = tx.delete_due_data_keys(now)?;
            Ok::<_, HsmError>(done)
        })
    }

    pub(super) fn needs_maintenance(row: &KeyRow, now: u64) -> bool {
        past_deletion_date(row.key_state, row.deletion_date, now)
            || (row.key_state == KeyState::Enabled
                && row.rotation_enabled
                && row.next_rotate_time <= now
                && can_rotate(row))
            || (row.key_state == KeyState::Enabled && row.valid_to > 0 && row.valid_to <= now)
    }

    /// Applies due schedules to one key; `None` when it was destroyed.
    pub(super) fn maintain(
        &self,
        tx: &Tx<'_>,
        mut row: KeyRow,
        now: u64,
    ) -> Result<Option<KeyRow>, HsmError> {
        if past_deletion_date(row.key_state, row.deletion_date, now) {
            tx.delete_key(&row.key_id)?;
            return Ok(None);
        }
        if row.key_state == KeyState::Enabled
            && row.valid_to > 0
            && row.valid_to <= now
            && row.origin == Origin::External
        {
            // Imported material expired: it is deleted, the key waits for a new import.
            tx.delete_versions(&row.key_id)?;
            row.key_state = KeyState::PendingImport;
            row.valid_to = 0;
            tx.update_key(&row)?;
        }
        if row.key_state == KeyState::Enabled
            && row.rotation_enabled
            && row.next_rotate_time <= now
            && can_rotate(&row)
        {
            self.rotate(tx, &mut row, now)?;
        }
        Ok(Some(row))
    }

    /// Loads a key for reading, applying due schedules first (in their own write transaction).
    pub(super) fn load(
        &self,
        tx: &Tx<'_>,
        scope: Scope<'_>,
        key_id: &str,
    ) -> Result<KeyRow, HsmError> {
        check_key_id(key_id)?;
        tx.key(scope.uin, scope.region, key_id)?
            .ok_or_else(|| not_found(key_id))
    }

    /// Runs `f` on a key in a read transaction, after catching up its schedules.
    ///
    /// The common case (nothing due) is one read transaction: `f` sees the same snapshot as the
    /// schedule check. Only a key with due schedules takes a write transaction first.
    pub(super) fn with_key<T>(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        f: impl FnOnce(&Tx<'_>, &KeyRow) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        check_key_id(key_id)?;
        let now = self.now();
        let mut f = Some(f);
        let done = self.store.read(|tx| {
            let row = tx
                .key(scope.uin, scope.region, key_id)?
                .ok_or_else(|| not_found(key_id))?;
            if Self::needs_maintenance(&row, now) {
                return Ok(None);
            }
            let f = f.take().expect("f runs at most once");
            f(tx, &row).map(Some)
        })?;
        if let Some(out) = done {
            return Ok(out);
        }
        self.store
            .write(|tx| match tx.key(scope.uin, scope.region, key_id)? {
                Some(row) if Self::needs_maintenance(&row, now) => {
                    self.maintain(tx, row, now).map(|_| ())
                }
                _ => Ok(()),
            })?;
        let f = f.take().expect("f did not run in the first transaction");
        self.store.read(|tx| {
            let row = tx
                .key(scope.uin, scope.region, key_id)?
                .ok_or_else(|| not_found(key_id))?;
            f(tx, &row)
        })
    }

    /// Runs `f` on a symmetric key with its current version and `also` ready (Encrypt, Decrypt,
    /// GenerateDataKey, ReEncrypt): from the store's in-memory cache when nothing is due, else
    /// through [`Hsm::with_key`], which applies the schedules first. `f` sees asymmetric keys too
    /// (with no versions), so it reports a wrong key usage the same way on both paths.
    pub(super) fn with_hot_key<T>(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        also: Option<u32>,
        f: impl FnOnce(&HotKey) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        check_key_id(key_id)?;
        if let Some(key) = self.store.hot_key(scope.uin, scope.region, key_id, also)?
            && !Self::needs_maintenance(&key.row, self.now())
        {
            return f(&key);
        }
        self.with_key(scope, key_id, |tx, row| {
            f(&HotKey::load(tx, row.clone(), also)?)
        })
    }

    /// Runs `f` on a key in one write transaction (after due schedules) and stores the row.
    pub(super) fn mutate<T>(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        f: impl FnOnce(&Tx<'_>, &mut KeyRow, u64) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        check_key_id(key_id)?;
        let now = self.now();
        self.store.write(|tx| {
            let row = self.load(tx, scope, key_id)?;
            let mut row = self
                .maintain(tx, row, now)?
                .ok_or_else(|| not_found(key_id))?;
            let out = f(tx, &mut row, now)?;
            tx.update_key(&row)?;
            Ok(out)
        })
    }
}

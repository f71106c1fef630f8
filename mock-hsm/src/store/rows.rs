//! Reading whole rows of the key tables as typed values. CMKs, white-box keys and hosted data
//! keys are found the same ways (by id in a scope, by id alone, every one of a scope oldest
//! first); they differ only in their table, columns and mapping, which [`StoredRow`] names.

use rusqlite::{OptionalExtension, params};

use super::{Tx, internal};

/// A row type read from one table whose rows have an id, an `account_uin`, a `region` and a
/// `create_time`.
pub(super) trait StoredRow: Sized {
    const TABLE: &'static str;
    /// The id column (the primary key).
    const ID: &'static str;
    /// The columns [`StoredRow::from_row`] reads, in its order.
    const COLUMNS: &'static str;

    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

/// Reads a stored wire string as its typed value.
pub(super) fn typed<T>(
    row: &rusqlite::Row<'_>,
    column: usize,
    parse: fn(&str) -> Option<T>,
    what: &str,
) -> rusqlite::Result<T> {
    let text: String = row.get(column)?;
    parse(&text).ok_or_else(|| internal(&format!("unknown {what} {text:?} in key store")))
}

impl Tx<'_> {
    /// The row of `id` when it belongs to this account and region.
    pub(super) fn row_in_scope<R: StoredRow>(
        &self,
        account_uin: u64,
        region: &str,
        id: &str,
    ) -> rusqlite::Result<Option<R>> {
        self.tx
            .prepare_cached(&format!(
                "SELECT {} FROM {} WHERE {} = ?1 AND account_uin = ?2 AND region = ?3",
                R::COLUMNS,
                R::TABLE,
                R::ID
            ))?
            .query_row(params![id, account_uin as i64, region], R::from_row)
            .optional()
    }

    /// The row of `id`, whatever its scope (ids are unique across accounts).
    pub(super) fn row_by_id<R: StoredRow>(&self, id: &str) -> rusqlite::Result<Option<R>> {
        self.tx
            .prepare_cached(&format!(
                "SELECT {} FROM {} WHERE {} = ?1",
                R::COLUMNS,
                R::TABLE,
                R::ID
            ))?
            .query_row([id], R::from_row)
            .optional()
    }

    /// Every row of a scope, oldest first.
    pub(super) fn rows_in_scope<R: StoredRow>(
        &self,
        account_uin: u64,
        region: &str,
    ) -> rusqlite::Result<Vec<R>> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {} FROM {} WHERE account_uin = ?1 AND region = ?2 ORDER BY create_time, rowid",
            R::COLUMNS,
            R::TABLE
        ))?;
        stmt.query_map(params![account_uin as i64, region], R::from_row)?
            .collect()
    }
}

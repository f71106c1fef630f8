//! Cloud-resource bindings (BindCloudResource): which (ProductId, ResourceId) pairs use a CMK.

use rusqlite::{OptionalExtension, params};

use super::Tx;

impl Tx<'_> {
    /// The CMK a cloud resource is bound to, if any.
    pub(crate) fn bound_key(
        &self,
        product_id: &str,
        resource_id: &str,
    ) -> rusqlite::Result<Option<String>> {
        self.tx
            .query_row(
                "SELECT key_id FROM cloud_bindings WHERE product_id = ?1 AND resource_id = ?2",
                params![product_id, resource_id],
                |r| r.get(0),
            )
            .optional()
    }

    /// True when any cloud resource is bound to `key_id`.
    pub(crate) fn is_bound(&self, key_id: &str) -> rusqlite::Result<bool> {
        self.tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM cloud_bindings WHERE key_id = ?1)",
            [key_id],
            |r| r.get(0),
        )
    }

    pub(crate) fn insert_binding(
        &self,
        key_id: &str,
        product_id: &str,
        resource_id: &str,
        now: u64,
    ) -> rusqlite::Result<()> {
        self.tx.execute(
            "INSERT INTO cloud_bindings (key_id, product_id, resource_id, created) VALUES (?1, ?2, ?3, ?4)",
            params![key_id, product_id, resource_id, now as i64],
        )?;
        Ok(())
    }

    /// Removes one binding; false when it did not exist.
    pub(crate) fn delete_binding(
        &self,
        key_id: &str,
        product_id: &str,
        resource_id: &str,
    ) -> rusqlite::Result<bool> {
        let removed = self.tx.execute(
            "DELETE FROM cloud_bindings WHERE key_id = ?1 AND product_id = ?2 AND resource_id = ?3",
            params![key_id, product_id, resource_id],
        )?;
        Ok(removed > 0)
    }
}

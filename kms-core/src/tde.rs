//! Transparent data encryption on KMS keys, as TencentDB (MySQL InnoDB) does it.
//!
//! Three levels of keys: a KMS CMK wraps the instance **master key** (a GenerateDataKey data
//! key whose CiphertextBlob alone is stored); the master key wraps one **tablespace key** per
//! table, kept in the tablespace header; tablespace keys encrypt fixed-size **pages**
//! (16 KiB by default) independently with AES-256-GCM or SM4-GCM, so any page can be read or
//! written alone. Every page binds its tablespace, page number, key generation and a
//! never-repeating write counter; a MAC'd counter table records each page's latest counter, so
//! moved, swapped and rolled-back pages are detected. The on-disk format and exactly what is and
//! is not detected are in docs/tde.md.
//!
//! ```no_run
//! # fn demo(kms: &dyn kms_core::kms::KmsTransport) -> Result<(), kms_core::tde::TdeError> {
//! use kms_core::tde::{InitOptions, Instance};
//! let dir = std::path::Path::new("/var/lib/db");
//! let instance = Instance::create(dir, kms, "my-cmk-id", InitOptions::default())?;
//! let mut table = instance.create_tablespace("orders")?;
//! table.write_page(0, b"row data")?;
//! assert_eq!(&table.read_page(0)?[..8], b"row data");
//! # Ok(()) }
//! ```

mod codec;
mod crypto;
mod error;
mod fsio;
mod instance;
mod tablespace;

// The public interface is:
pub use error::TdeError;
pub use instance::{
    DEFAULT_PAGE_SIZE, InitOptions, Instance, InstanceInfo, RotationReport, TDE_PRODUCT_ID,
};
pub use tablespace::{RekeyReport, Tablespace, TablespaceInfo};

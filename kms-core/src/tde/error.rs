//! Errors of the TDE simulation. Integrity failures are opaque (`DecryptionFailed`); a page that
//! authenticates but is not the latest version says so (`StalePage`), since page counters are
//! not secret.

use std::path::PathBuf;

use crate::kms::KmsError;

/// Why a TDE operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TdeError {
    /// The KMS refused or failed a call (a Disabled or PendingDelete CMK, no permission, ...).
    #[error("the KMS refused the request: {0}")]
    Kms(#[from] KmsError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file is not a well-formed TDE file of this version.
    #[error("malformed TDE data: {0}")]
    Format(String),
    /// A header, key, counter block, journal or page failed authentication. Deliberately says
    /// nothing more.
    #[error("decryption failed: the data is corrupt, tampered with, or not for this key")]
    DecryptionFailed,
    /// A page authenticates but is not the version the counter table records: an older copy
    /// (rollback) or a page moved from elsewhere.
    #[error("page {page} is stale: it is not the latest version written (rolled back or replaced)")]
    StalePage {
        /// The page number.
        page: u64,
    },
    /// The page number is past the end of the tablespace.
    #[error("page {page} is out of range: the tablespace has {page_count} pages")]
    PageOutOfRange {
        /// The page asked for.
        page: u64,
        /// Pages in the tablespace.
        page_count: u64,
    },
    /// The directory holds no TDE instance, or the tablespace does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The instance or tablespace exists already.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// Another process has the instance open.
    #[error("the instance in {0} is in use by another process")]
    Locked(PathBuf),
    /// An argument is invalid (table name, page size, page content too long...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The instance's suite is SM4-GCM and SM4 is refused in this process (the message names the
    /// setting).
    #[error(transparent)]
    Sm4Refused(#[from] crate::aead::Sm4Refused),
}

/// Attaches a path to I/O errors.
pub(crate) trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T, TdeError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T, TdeError> {
        self.map_err(|source| TdeError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

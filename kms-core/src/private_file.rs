//! Files only their owner can read or write (mode 0600, whatever the umask): everything tkms
//! stores (key stores, audit trails, TDE instances) may be read for key metadata or worse, and
//! a data directory may be an existing shared one.

use std::fs::{OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// Owner read and write, nothing for anyone else.
pub const MODE: u32 = 0o600;

/// Options that create a file with [`MODE`] (the umask can only remove bits from it).
pub fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(MODE);
    options
}

/// Creates `path` with [`MODE`] if it is missing, and sets [`MODE`] on it either way (a file
/// left by an older version, or created by a library under the umask).
pub fn ensure(path: &Path) -> io::Result<()> {
    options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    restrict(path)
}

/// Sets [`MODE`] on `path` if it exists.
pub fn restrict(path: &Path) -> io::Result<()> {
    match std::fs::set_permissions(path, Permissions::from_mode(MODE)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

//! The cache's limits: what the caller sets, the conservative defaults, and the hard ceilings
//! that no setting can pass (docs/caching.md explains each).

use std::time::Duration;

/// How long, for how many messages and bytes a cached data key may be used, and how many
/// entries each of the two caches (sealing, opening) holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheLimits {
    /// A data key is not used for a new message, nor kept for opening, once this old
    /// (default 60 s, at most [`CacheLimits::MAX_AGE_CEILING`]). It is also how long a CMK
    /// that was disabled or scheduled for deletion can still be used through the cache.
    pub max_age: Duration,
    /// Messages sealed under one data key (default 1 000, at most
    /// [`CacheLimits::MAX_MESSAGES_CEILING`]).
    pub max_messages: u64,
    /// Plaintext bytes sealed under one data key, over all its messages (default 256 MiB, at
    /// most [`CacheLimits::MAX_BYTES_CEILING`]). A message longer than this gets a data key of
    /// its own that is not cached.
    pub max_bytes: u64,
    /// Entries in each cache; the least recently used one leaves first (default 64, at most
    /// [`CacheLimits::CAPACITY_CEILING`]).
    pub capacity: usize,
}

impl CacheLimits {
    /// Longest `max_age`: one hour.
    pub const MAX_AGE_CEILING: Duration = Duration::from_secs(3600);
    /// Most `max_messages`: 2^32.
    pub const MAX_MESSAGES_CEILING: u64 = 1 << 32;
    /// Most `max_bytes`: 2^40 (1 TiB).
    pub const MAX_BYTES_CEILING: u64 = 1 << 40;
    /// Most `capacity`: 4096 entries.
    pub const CAPACITY_CEILING: usize = 4096;

    /// Checks every limit is above zero and at most its ceiling.
    pub fn check(&self) -> Result<(), LimitError> {
        check_one(
            "max_age",
            self.max_age.as_nanos(),
            Self::MAX_AGE_CEILING.as_nanos(),
        )?;
        check_one(
            "max_messages",
            self.max_messages.into(),
            Self::MAX_MESSAGES_CEILING.into(),
        )?;
        check_one(
            "max_bytes",
            self.max_bytes.into(),
            Self::MAX_BYTES_CEILING.into(),
        )?;
        check_one(
            "capacity",
            self.capacity as u128,
            Self::CAPACITY_CEILING as u128,
        )
    }
}

fn check_one(limit: &'static str, value: u128, ceiling: u128) -> Result<(), LimitError> {
    if value == 0 {
        Err(LimitError::Zero(limit))
    } else if value > ceiling {
        Err(LimitError::AboveCeiling(limit))
    } else {
        Ok(())
    }
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(60),
            max_messages: 1000,
            max_bytes: 256 << 20,
            capacity: 64,
        }
    }
}

/// A [`CacheLimits`] value the cache refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// A limit of zero would disable the cache: don't use one instead.
    #[error("cache limit `{0}` must be above zero")]
    Zero(&'static str),
    /// A limit above its hard ceiling (docs/caching.md).
    #[error("cache limit `{0}` is above its ceiling")]
    AboveCeiling(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_ceilings_hold() {
        assert_eq!(CacheLimits::default().check(), Ok(()));
        let at_ceiling = CacheLimits {
            max_age: CacheLimits::MAX_AGE_CEILING,
            max_messages: CacheLimits::MAX_MESSAGES_CEILING,
            max_bytes: CacheLimits::MAX_BYTES_CEILING,
            capacity: CacheLimits::CAPACITY_CEILING,
        };
        assert_eq!(at_ceiling.check(), Ok(()));
        let over = [
            CacheLimits {
                max_age: CacheLimits::MAX_AGE_CEILING + Duration::from_nanos(1),
                ..at_ceiling
            },
            CacheLimits {
                max_messages: CacheLimits::MAX_MESSAGES_CEILING + 1,
                ..at_ceiling
            },
            CacheLimits {
                max_bytes: CacheLimits::MAX_BYTES_CEILING + 1,
                ..at_ceiling
            },
            CacheLimits {
                capacity: CacheLimits::CAPACITY_CEILING + 1,
                ..at_ceiling
            },
        ];
        for (limits, name) in over
            .iter()
            .zip(["max_age", "max_messages", "max_bytes", "capacity"])
        {
            assert_eq!(limits.check(), Err(LimitError::AboveCeiling(name)));
        }
        let zero = CacheLimits {
            max_messages: 0,
            ..CacheLimits::default()
        };
        assert_eq!(zero.check(), Err(LimitError::Zero("max_messages")));
    }
}

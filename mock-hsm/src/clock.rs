//! The one source of time for key schedules (rotation, deletion windows, import expiry).
//! Tests and the service's test controls move a [`MockClock`] forward deterministically.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in seconds.
pub trait Clock: Send + Sync {
    /// Now, in Unix seconds.
    fn now(&self) -> u64;
}

fn wall_clock_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        wall_clock_now()
    }
}

/// The wall clock plus an offset that only ever moves forward: time keeps passing, and tests
/// can jump ahead (a year of rotations in one call) without waiting.
#[derive(Debug, Default)]
pub struct MockClock {
    offset_secs: AtomicI64,
}

impl MockClock {
    /// A clock that starts at the wall clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `secs` seconds and returns the new time.
    pub fn advance(&self, secs: u64) -> u64 {
        let secs = i64::try_from(secs).unwrap_or(i64::MAX);
        self.offset_secs.fetch_add(secs, Ordering::SeqCst);
        self.now()
    }

    /// Seconds this clock is ahead of the wall clock.
    pub fn offset(&self) -> i64 {
        self.offset_secs.load(Ordering::SeqCst)
    }
}

impl Clock for MockClock {
    fn now(&self) -> u64 {
        wall_clock_now().saturating_add_signed(self.offset())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mock_clock_advances_from_wall_time() {
        let clock = MockClock::new();
        let before = SystemClock.now();
        let after = clock.advance(365 * 86_400);
        assert!(after >= before + 365 * 86_400);
        assert_eq!(clock.offset(), 365 * 86_400);
    }
}

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

/// The latest time a [`MockClock`] may show: 9999-12-31T23:59:59Z. Every schedule computed
/// from it (rotation in up to 365 days, deletion in up to 30, import tokens, sessions) stays
/// far inside the i64 seconds the store keeps, so no time arithmetic can overflow or wrap.
pub const MAX_TIME: u64 = 253_402_300_799;

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
    ///
    /// # Panics
    /// If the clock would pass [`MAX_TIME`]; use [`try_advance`](Self::try_advance) for
    /// untrusted input.
    pub fn advance(&self, secs: u64) -> u64 {
        self.try_advance(secs)
            .unwrap_or_else(|| panic!("the mock clock cannot pass {MAX_TIME} (advance {secs} s)"))
    }

    /// Moves the clock forward by `secs` seconds and returns the new time, or `None` (the
    /// clock unchanged) if it would pass [`MAX_TIME`]: time never goes back or wraps.
    pub fn try_advance(&self, secs: u64) -> Option<u64> {
        let wall = wall_clock_now();
        let step = i64::try_from(secs).ok()?;
        self.offset_secs
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |offset| {
                let later = wall.saturating_add_signed(offset).checked_add(secs)?;
                (later <= MAX_TIME).then_some(offset.checked_add(step)?)
            })
            .ok()?;
        Some(self.now())
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

    #[test]
    fn an_advance_past_the_last_time_is_refused_and_changes_nothing() {
        let clock = MockClock::new();
        let before = clock.offset();
        assert_eq!(clock.try_advance(i64::MAX as u64), None);
        assert_eq!(clock.try_advance(u64::MAX), None);
        assert_eq!(clock.try_advance(MAX_TIME), None);
        assert_eq!(clock.offset(), before);
        let last = clock
            .try_advance(MAX_TIME - SystemClock.now() - 10)
            .expect("up to the end");
        assert!(last <= MAX_TIME);
        assert_eq!(clock.try_advance(3600), None, "never wraps to 0");
        assert!(clock.now() >= last);
    }
}

//! Broker time: the only clock the core knows, an instant given to it by its driver.
//!
//! [`BrokerTime`] is an instant on the broker's clock, measured from the broker's start; a
//! [`Duration`] is a length of time. Keeping the two apart makes `deadline = now + timeout` type-check
//! and `now + deadline` not. The driver (tokio over TCP, or paused virtual time in the simulation)
//! makes `BrokerTime` values from its own clock; the core never reads one.
//!
//! Arithmetic saturates: a peer controls many lengths (max_wait_ms, session timeouts), and no value
//! it sends may make the broker panic.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

/// An instant on the broker's clock: the time elapsed since the broker started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BrokerTime(Duration);

impl BrokerTime {
    /// The broker's start.
    pub const ZERO: Self = Self(Duration::ZERO);

    /// The instant `elapsed` after the broker's start.
    pub const fn from_start(elapsed: Duration) -> Self {
        Self(elapsed)
    }

    /// The instant `millis` milliseconds after the broker's start.
    pub const fn from_millis(millis: u64) -> Self {
        Self(Duration::from_millis(millis))
    }

    /// The time elapsed from the broker's start to this instant.
    pub const fn since_start(self) -> Duration {
        self.0
    }

    /// The time from `earlier` to this instant, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: BrokerTime) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for BrokerTime {
    type Output = BrokerTime;

    fn add(self, length: Duration) -> BrokerTime {
        BrokerTime(self.0.saturating_add(length))
    }
}

impl AddAssign<Duration> for BrokerTime {
    fn add_assign(&mut self, length: Duration) {
        *self = *self + length;
    }
}

impl Sub<BrokerTime> for BrokerTime {
    type Output = Duration;

    /// The time from `earlier` to `self`, saturating at zero.
    fn sub(self, earlier: BrokerTime) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl fmt::Display for BrokerTime {
    /// Milliseconds since the broker's start, as the request log and traces print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        let late = BrokerTime::from_start(Duration::MAX);
        assert_eq!(late + Duration::from_secs(1), late);
        assert_eq!(BrokerTime::ZERO - late, Duration::ZERO);
        assert_eq!(
            BrokerTime::from_millis(1500) - BrokerTime::from_millis(500),
            Duration::from_secs(1)
        );
        assert_eq!(BrokerTime::from_millis(7).to_string(), "7ms");
    }
}

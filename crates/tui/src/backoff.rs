//! Reconnect delays.
//!
//! A console that lost its server retries by itself, quickly at first (a
//! restarted server is usually back within a second) and then at a steady
//! pace that does not hammer a server that stays down. A little jitter keeps
//! several consoles of one workspace from reconnecting in lockstep.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Exponential backoff: `base`, `2 * base`, ... up to `max`, plus up to 10 % jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            failures: 0,
        }
    }

    /// The delay before the next attempt; each call doubles the next one.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.delay_without_jitter();
        self.failures = self.failures.saturating_add(1);
        delay + jitter(delay / 10)
    }

    /// Forget past failures: the next delay is `base` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    fn delay_without_jitter(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(16)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// Up to `span`, taken from the clock's sub-second noise: good enough to spread
/// clients apart, and needs no random number generator.
fn jitter(span: Duration) -> Duration {
    let span_nanos = span.as_nanos() as u64;
    if span_nanos == 0 {
        return Duration::ZERO;
    }
    let noise = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0);
    Duration::from_nanos(noise % span_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset_starts_over() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let within = |d: Duration, ms: u64| {
            d >= Duration::from_millis(ms) && d <= Duration::from_millis(ms + ms / 10)
        };
        assert!(within(b.next_delay(), 100));
        assert!(within(b.next_delay(), 200));
        assert!(within(b.next_delay(), 400));
        assert!(within(b.next_delay(), 800));
        assert!(within(b.next_delay(), 1000));
        for _ in 0..100 {
            assert!(within(b.next_delay(), 1000));
        }
        b.reset();
        assert!(within(b.next_delay(), 100));
    }
}

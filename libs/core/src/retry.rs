//! The one retry policy of ghstats: exponential back-off with full jitter,
//! capped, for a bounded number of attempts. GitHub calls and broker
//! reconnects both wait by it.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub jitter: bool,
}

impl From<&ghstats_config::RetryConfig> for RetryPolicy {
    fn from(c: &ghstats_config::RetryConfig) -> Self {
        Self {
            max_attempts: c.max_attempts.max(1),
            initial_backoff: c.initial_backoff.get(),
            max_backoff: c.max_backoff.get(),
            jitter: c.jitter,
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based): uniform in
    /// `[0, min(max, initial * 2^(attempt-1))]` with jitter, the bound itself
    /// without.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max_backoff);
        if self.jitter {
            exp.mul_f64(unit_random())
        } else {
            exp
        }
    }
}

/// A number in `[0, 1)`, good enough to spread retries apart.
pub fn unit_random() -> f64 {
    use std::hash::{BuildHasher, RandomState};
    let x = RandomState::new().hash_one(std::time::SystemTime::now());
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            max_attempts: 7,
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(10),
            jitter: false,
        };
        let waits: Vec<u64> = (1..=5).map(|a| p.backoff(a).as_secs()).collect();
        assert_eq!(waits, vec![2, 4, 8, 10, 10]);
    }

    #[test]
    fn jitter_stays_within_the_bound() {
        let p = RetryPolicy {
            max_attempts: 7,
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(120),
            jitter: true,
        };
        for attempt in 1..=8 {
            let bound =
                Duration::from_secs(2 * 2u64.pow(attempt - 1)).min(Duration::from_secs(120));
            assert!(p.backoff(attempt) <= bound);
        }
    }
}

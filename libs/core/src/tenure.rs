//! The leader's tenure: how long this replica may still act as leader.
//! The election driver extends it after each successful lease attempt;
//! the GitHub client checks it right before every send, so a deposed or
//! paused leader starts nothing new even before its election loop runs.

use std::time::Instant;

/// How long this replica may still act as leader: until its last
/// successful lease attempt plus `renew_deadline` (measured on the
/// monotonic clock from before the attempt), which ends before any other
/// replica can take the lease. Work that must never overlap another
/// leader's (GitHub calls) checks it just before acting, so a leader
/// resumed after a pause stops at once, before its election loop even
/// runs. Unbounded outside an election (static roles, workers).
#[derive(Debug, Clone, Default)]
pub struct Tenure(std::sync::Arc<std::sync::Mutex<TenureState>>);

#[derive(Debug, Clone, Copy, Default)]
enum TenureState {
    #[default]
    Unbounded,
    Until(Instant),
    Ended,
}

impl Tenure {
    /// A tenure that ends only when an election says so.
    pub fn elected() -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(
            TenureState::Ended,
        )))
    }

    fn set(&self, state: TenureState) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }

    /// Extends the tenure to `deadline` (a lease attempt succeeded).
    pub fn until(&self, deadline: Instant) {
        self.set(TenureState::Until(deadline));
    }

    /// Ends the tenure (the lease was lost or given up).
    pub fn end(&self) {
        self.set(TenureState::Ended);
    }

    /// Whether this replica may act as leader now.
    pub fn valid(&self) -> bool {
        match *self.0.lock().unwrap_or_else(|p| p.into_inner()) {
            TenureState::Unbounded => true,
            TenureState::Until(t) => Instant::now() < t,
            TenureState::Ended => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn tenure_follows_its_deadline_and_ends() {
        let tenure = Tenure::elected();
        assert!(!tenure.valid(), "no tenure before an election");
        assert!(Tenure::default().valid(), "unbounded outside elections");
        tenure.until(Instant::now() + Duration::from_secs(60));
        assert!(tenure.valid());
        tenure.until(Instant::now() - Duration::from_millis(1));
        assert!(!tenure.valid(), "past its deadline");
        tenure.until(Instant::now() + Duration::from_secs(60));
        tenure.end();
        assert!(!tenure.valid(), "ended");
    }
}

//! The GitHub cooldown of one org: after `unhealthy_failure_threshold`
//! consecutive failed cycles, scheduled scraping pauses for
//! `unhealthy_cooldown` (missed windows go to the backfill with reason
//! `github_unhealthy`); afterwards cycles run again, and GitHub counts as
//! healthy after `github_recover_success_threshold` consecutive successes.
//! While cooling down, a free probe (`GET /rate_limit`) every
//! `health.github_probe_interval` ends the cooldown early after
//! `github_recover_success_threshold` successes in a row.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GithubState {
    Healthy,
    /// Scraping paused until the given time.
    CoolingDown(DateTime<Utc>),
    /// Scraping again; `successes` clean cycles so far.
    Recovering {
        successes: u32,
    },
}

#[derive(Debug, Clone)]
pub struct Cooldown {
    threshold: u32,
    cooldown: Duration,
    recover: u32,
    failures: u32,
    /// Probes in a row that succeeded during this cooldown.
    probes: u32,
    state: GithubState,
}

impl Cooldown {
    pub fn new(threshold: u32, cooldown: Duration, recover: u32) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            recover: recover.max(1),
            failures: 0,
            probes: 0,
            state: GithubState::Healthy,
        }
    }

    pub fn state(&self) -> GithubState {
        self.state
    }

    /// Whether a cycle may run at `now` (the cooldown ends by itself).
    pub fn may_scrape(&mut self, now: DateTime<Utc>) -> bool {
        match self.state {
            GithubState::CoolingDown(until) if now < until => false,
            GithubState::CoolingDown(_) => {
                self.state = GithubState::Recovering { successes: 0 };
                true
            }
            _ => true,
        }
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
        if let GithubState::Recovering { successes } = self.state {
            let successes = successes + 1;
            self.state = if successes >= self.recover {
                GithubState::Healthy
            } else {
                GithubState::Recovering { successes }
            };
        }
    }

    pub fn failed(&mut self, now: DateTime<Utc>) {
        self.failures += 1;
        let recovering = matches!(self.state, GithubState::Recovering { .. });
        if self.failures >= self.threshold || recovering {
            self.failures = 0;
            self.probes = 0;
            self.state = GithubState::CoolingDown(now + self.cooldown);
        }
    }

    /// A probe answered during a cooldown; returns whether that ended it
    /// (scraping resumes, recovering).
    pub fn probe_succeeded(&mut self) -> bool {
        if !matches!(self.state, GithubState::CoolingDown(_)) {
            return false;
        }
        self.probes += 1;
        if self.probes < self.recover {
            return false;
        }
        self.probes = 0;
        self.state = GithubState::Recovering { successes: 0 };
        true
    }

    /// A probe failed: the successes in a row start again.
    pub fn probe_failed(&mut self) {
        self.probes = 0;
    }

    pub fn is_cooling_down(&self) -> bool {
        matches!(self.state, GithubState::CoolingDown(_))
    }

    pub fn is_healthy(&self) -> bool {
        self.state == GithubState::Healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_failures_pause_and_recovery_needs_successes() {
        let t0 = Utc::now();
        let mut c = Cooldown::new(3, Duration::minutes(2), 2);
        for _ in 0..2 {
            assert!(c.may_scrape(t0));
            c.failed(t0);
        }
        assert!(c.is_healthy(), "below the threshold nothing pauses");
        c.failed(t0);
        assert_eq!(
            c.state(),
            GithubState::CoolingDown(t0 + Duration::minutes(2))
        );
        assert!(!c.may_scrape(t0 + Duration::minutes(1)));
        assert!(c.may_scrape(t0 + Duration::minutes(2)));
        c.succeeded();
        assert_eq!(c.state(), GithubState::Recovering { successes: 1 });
        c.succeeded();
        assert!(c.is_healthy());
    }

    #[test]
    fn probes_end_a_cooldown_after_the_recovery_threshold_in_a_row() {
        let t0 = Utc::now();
        let mut c = Cooldown::new(1, Duration::minutes(10), 3);
        assert!(!c.probe_succeeded(), "no cooldown, nothing to end");
        c.failed(t0);
        assert!(!c.probe_succeeded());
        assert!(!c.probe_succeeded());
        c.probe_failed();
        assert!(!c.probe_succeeded());
        assert!(!c.probe_succeeded());
        assert!(c.is_cooling_down(), "a failed probe restarts the count");
        assert!(c.probe_succeeded());
        assert_eq!(c.state(), GithubState::Recovering { successes: 0 });
        assert!(
            c.may_scrape(t0 + Duration::minutes(1)),
            "scraping resumes early"
        );
    }

    #[test]
    fn a_failure_while_recovering_cools_down_again() {
        let t0 = Utc::now();
        let mut c = Cooldown::new(1, Duration::minutes(2), 3);
        c.failed(t0);
        assert!(c.may_scrape(t0 + Duration::minutes(3)));
        c.failed(t0 + Duration::minutes(3));
        assert_eq!(
            c.state(),
            GithubState::CoolingDown(t0 + Duration::minutes(5))
        );
    }

    #[test]
    fn success_resets_the_failure_count() {
        let t0 = Utc::now();
        let mut c = Cooldown::new(2, Duration::minutes(2), 1);
        c.failed(t0);
        c.succeeded();
        c.failed(t0);
        assert!(c.is_healthy());
    }
}

//! Rate-limit state of one installation (or token), read from the headers
//! of every response: `X-RateLimit-Limit/Remaining/Used/Reset/Resource` and
//! `Retry-After`. A server that sends no rate-limit headers (GHES with
//! limits off) is unlimited, never "0 remaining".

use std::sync::Mutex;

use chrono::{DateTime, Duration, TimeZone, Utc};
use http::HeaderMap;

/// The primary limit as last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: u64,
    pub remaining: u64,
    pub used: u64,
    pub reset: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct Inner {
    budget: Option<Budget>,
    /// No request before this (secondary limit back-off).
    paused_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
pub struct RateState {
    inner: Mutex<Inner>,
}

fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `Retry-After` in seconds (GitHub sends seconds).
pub fn retry_after(h: &HeaderMap) -> Option<Duration> {
    header_u64(h, "retry-after").map(|s| Duration::seconds(s as i64))
}

impl RateState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the primary-limit headers of a response (if any).
    pub fn observe(&self, h: &HeaderMap) {
        let (Some(limit), Some(remaining), Some(reset)) = (
            header_u64(h, "x-ratelimit-limit"),
            header_u64(h, "x-ratelimit-remaining"),
            header_u64(h, "x-ratelimit-reset"),
        ) else {
            return;
        };
        if h.get("x-ratelimit-resource")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|r| r != "core")
        {
            return;
        }
        let used = header_u64(h, "x-ratelimit-used").unwrap_or(limit.saturating_sub(remaining));
        let reset = Utc
            .timestamp_opt(reset as i64, 0)
            .single()
            .unwrap_or_else(Utc::now);
        self.lock().budget = Some(Budget {
            limit,
            remaining,
            used,
            reset,
        });
    }

    /// Pauses every request until `until` (secondary limit).
    pub fn pause_until(&self, until: DateTime<Utc>) {
        let mut inner = self.lock();
        inner.paused_until = Some(inner.paused_until.map_or(until, |p| p.max(until)));
    }

    /// The last budget seen; `None` means unlimited (or not seen yet).
    pub fn budget(&self) -> Option<Budget> {
        self.lock().budget
    }

    /// When the next request may go, given the threshold and buffer:
    /// `None` = now. Below `min_remaining` the caller waits for the reset
    /// plus `reset_buffer`; a secondary pause also delays it.
    pub fn next_allowed(
        &self,
        now: DateTime<Utc>,
        min_remaining: u64,
        reset_buffer: Duration,
    ) -> Option<DateTime<Utc>> {
        let inner = self.lock();
        let primary = inner
            .budget
            .filter(|b| b.remaining == 0 || b.remaining < min_remaining)
            .map(|b| b.reset + reset_buffer)
            .filter(|t| *t > now);
        let secondary = inner.paused_until.filter(|t| *t > now);
        primary.into_iter().chain(secondary).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn no_headers_means_unlimited() {
        let s = RateState::default();
        s.observe(&HeaderMap::new());
        assert_eq!(s.budget(), None);
        assert_eq!(s.next_allowed(Utc::now(), 200, Duration::seconds(10)), None);
    }

    #[test]
    fn below_threshold_waits_for_reset_plus_buffer() {
        let s = RateState::default();
        let now = Utc.timestamp_opt(1_000_000, 0).unwrap();
        s.observe(&headers(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "150"),
            ("x-ratelimit-used", "4850"),
            ("x-ratelimit-reset", "1000600"),
            ("x-ratelimit-resource", "core"),
        ]));
        assert_eq!(s.budget().unwrap().remaining, 150);
        let at = s.next_allowed(now, 200, Duration::seconds(10)).unwrap();
        assert_eq!(at.timestamp(), 1_000_610);
        // Above the threshold nothing waits.
        assert_eq!(s.next_allowed(now, 100, Duration::seconds(10)), None);
        // After the reset nothing waits either.
        assert_eq!(s.next_allowed(at, 200, Duration::seconds(10)), None);
    }

    #[test]
    fn zero_remaining_waits_even_with_no_threshold() {
        let s = RateState::default();
        let now = Utc.timestamp_opt(1_000_000, 0).unwrap();
        s.observe(&headers(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1000060"),
        ]));
        assert_eq!(
            s.next_allowed(now, 0, Duration::zero())
                .unwrap()
                .timestamp(),
            1_000_060
        );
    }

    #[test]
    fn secondary_pause_and_other_resources() {
        let s = RateState::default();
        let now = Utc::now();
        s.pause_until(now + Duration::seconds(30));
        assert!(s.next_allowed(now, 0, Duration::zero()).is_some());
        // A search-resource header does not touch the core budget.
        s.observe(&headers(&[
            ("x-ratelimit-limit", "30"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1"),
            ("x-ratelimit-resource", "search"),
        ]));
        assert_eq!(s.budget(), None);
    }
}

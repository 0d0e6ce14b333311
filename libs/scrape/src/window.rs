//! Time windows of scrapes.

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use ghstats_proto::TimeWindow;
use ghstats_store::ACTIVITY_WINDOW;

/// Start of the week (Sunday 00:00 UTC) containing `t`, as GitHub's stats
/// count weeks.
pub fn week_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let day = t.date_naive() - Duration::days(i64::from(t.weekday().num_days_from_sunday()));
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// The window a scheduled scrape covers at `now`: from the checkpoint (a
/// little before, to overlap), but never more than the 24 hours the gauges
/// show; older missed events are the backfill's. Always at least 1 s long.
pub fn scheduled(
    checkpoint: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    overlap: Duration,
) -> TimeWindow {
    let floor = now - ACTIVITY_WINDOW;
    let start = checkpoint
        .map_or(floor, |c| (c - overlap).max(floor))
        .min(now - Duration::seconds(1));
    TimeWindow::ordered(start, now + Duration::seconds(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_never_exceed_24_hours() {
        let now = Utc.with_ymd_and_hms(2026, 3, 4, 12, 0, 0).unwrap();
        let w = scheduled(None, now, Duration::minutes(5));
        assert_eq!(w.start(), now - Duration::hours(24));
        let w = scheduled(Some(now - Duration::days(3)), now, Duration::minutes(5));
        assert_eq!(
            w.start(),
            now - Duration::hours(24),
            "an outage does not widen the window"
        );
        let w = scheduled(Some(now - Duration::minutes(5)), now, Duration::minutes(5));
        assert_eq!(w.start(), now - Duration::minutes(10));
        assert_eq!(week_start(now).weekday(), chrono::Weekday::Sun);
    }
}

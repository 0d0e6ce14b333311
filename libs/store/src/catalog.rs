//! The metric catalog: every family the store holds, with its type, help
//! text and label names. The gateway renders exactly these.

/// Gauge, counter (`*_total`, only ever increased) or histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Gauge,
    Counter,
    /// Cumulative counters: its last label (`le`) names the sample, a
    /// bucket bound (`3600`, `+Inf`) or [`HISTOGRAM_COUNT`] /
    /// [`HISTOGRAM_SUM`]; the gateway renders them as `_bucket{le}`,
    /// `_count` and `_sum`.
    Histogram,
}

/// The `le` value under which a histogram keeps its `_count`.
pub const HISTOGRAM_COUNT: &str = "count";
/// The `le` value under which a histogram keeps its `_sum`.
pub const HISTOGRAM_SUM: &str = "sum";
/// The `le` value of a histogram's last bucket.
pub const HISTOGRAM_INF: &str = "+Inf";

macro_rules! families {
    ($($variant:ident => $name:literal, $kind:ident, $help:literal, [$($label:literal),*];)*) => {
        /// A metric family of the store.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Family { $($variant),* }

        impl Family {
            /// Every family, in exposition order.
            pub const ALL: &'static [Family] = &[$(Family::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(Family::$variant => $name),* }
            }

            pub fn kind(self) -> Kind {
                match self { $(Family::$variant => Kind::$kind),* }
            }

            pub fn help(self) -> &'static str {
                match self { $(Family::$variant => $help),* }
            }

            pub fn labels(self) -> &'static [&'static str] {
                match self { $(Family::$variant => &[$($label),*]),* }
            }
        }
    };
}

families! {
    Commits24h => "gh_activity_commits_24h", Gauge,
        "Commits authored in the last 24 hours", ["org", "repo", "user"];
    PrsOpened24h => "gh_activity_prs_opened_24h", Gauge,
        "Pull requests opened in the last 24 hours", ["org", "repo", "user"];
    PrsMerged24h => "gh_activity_prs_merged_24h", Gauge,
        "Pull requests (by their author) merged in the last 24 hours", ["org", "repo", "user"];
    ReviewsSubmitted24h => "gh_activity_reviews_submitted_24h", Gauge,
        "Pull request reviews submitted in the last 24 hours", ["org", "repo", "user"];
    IssueComments24h => "gh_activity_issue_comments_24h", Gauge,
        "Issue and pull request comments written in the last 24 hours", ["org", "repo", "user"];
    LocAddedWeekly => "gh_activity_loc_added_weekly", Gauge,
        "Lines added in the most recent complete week", ["org", "repo", "user"];
    LocRemovedWeekly => "gh_activity_loc_removed_weekly", Gauge,
        "Lines removed in the most recent complete week", ["org", "repo", "user"];
    LastEvent => "gh_activity_last_event_unixtime", Gauge,
        "Time of the user's most recent activity in the repository", ["org", "repo", "user"];
    CopilotInteractions => "gh_copilot_usage_user_initiated_interaction_count", Gauge,
        "User-initiated Copilot interactions (chat prompts and chat insert/copy events)", ["org", "repo", "user", "scope", "window", "feature", "ide", "language", "model", "chat_mode", "day"];
    CopilotCodeGeneration => "gh_copilot_usage_code_generation_activity_count", Gauge,
        "Copilot code generation events (suggestions shown)", ["org", "repo", "user", "scope", "window", "feature", "ide", "language", "model", "chat_mode", "day"];
    CopilotCodeAcceptance => "gh_copilot_usage_code_acceptance_activity_count", Gauge,
        "Copilot code acceptance events", ["org", "repo", "user", "scope", "window", "feature", "ide", "language", "model", "chat_mode", "day"];
    CopilotLocSuggestedAdd => "gh_copilot_usage_loc_suggested_to_add_sum", Gauge,
        "Lines of code Copilot suggested to add", ["org", "repo", "user", "scope", "window", "feature", "ide", "language", "model", "chat_mode", "day"];
    CopilotLocSuggestedDelete => "gh_copilot_usage_loc_suggested_to_delete_sum", Gauge,
        "Lines of code Copilot suggested to delete", ["org", "repo", "user", "scope", "window", "feature", "ide", "language", "model", "chat_mode", "day"];
    CopilotLocAdded => "gh_copilot_usage_loc_added_sum", Gauge,
        "Lines of code added with Copilot", ["org", "repo", "user", "scope", "window", "feature", "ide", "language", "model", "chat_mode", "day"];
    CopilotLocDeleted => "gh_copilot_usage_loc_deleted_sum", Gauge,
        "Lines of code deleted with Copilot", ["org", "repo", "user", "scope", "window", "feature", "ide", "language", "model", "chat_mode", "day"];
    CopilotPrsCreated => "gh_copilot_usage_pull_requests_total_created", Gauge,
        "Pull requests created by Copilot users", ["org", "repo", "user", "scope", "window", "feature", "ide", "language", "model", "chat_mode", "day"];
    CopilotPrsReviewed => "gh_copilot_usage_pull_requests_total_reviewed", Gauge,
        "Pull requests reviewed by Copilot users", ["org", "repo", "user", "scope", "window", "feature", "ide", "language", "model", "chat_mode", "day"];
    CopilotPrsCreatedByCopilot => "gh_copilot_usage_pull_requests_total_created_by_copilot", Gauge,
        "Pull requests created by Copilot", ["org", "repo", "user", "scope", "window", "feature", "ide", "language", "model", "chat_mode", "day"];
    CopilotPrsReviewedByCopilot => "gh_copilot_usage_pull_requests_total_reviewed_by_copilot", Gauge,
        "Pull requests reviewed by Copilot", ["org", "repo", "user", "scope", "window", "feature", "ide", "language", "model", "chat_mode", "day"];
    ScrapeRuns => "gh_exporter_scrape_runs_total", Counter,
        "Scrape cycles per org and result", ["org", "result"];
    ScrapeDuration => "gh_exporter_scrape_duration_seconds", Gauge,
        "Duration of the org's last scrape cycle", ["org"];
    GithubRequests => "gh_exporter_github_requests_total", Counter,
        "GitHub API requests per org, endpoint and status class", ["org", "endpoint", "status_class"];
    RateLimitRemaining => "gh_exporter_github_rate_limit_remaining", Gauge,
        "Primary rate limit remaining as last seen", ["org", "installation_id"];
    RateLimitReset => "gh_exporter_github_rate_limit_reset_unixtime", Gauge,
        "When the primary rate limit resets", ["org", "installation_id"];
    AppRateLimitRemaining => "gh_app_rate_limit_remaining", Gauge,
        "Primary rate limit remaining as last seen (compatibility name)", ["org", "installation_id"];
    SecondaryLimitHits => "gh_exporter_github_secondary_limit_hits_total", Counter,
        "Secondary rate limits met", ["org"];
    BackfillJobsEnqueued => "gh_exporter_backfill_jobs_enqueued_total", Counter,
        "Backfill jobs published to the queue (broker-confirmed), per org and reason", ["org", "reason"];
    BackfillJobsDeduped => "gh_exporter_backfill_jobs_deduped_total", Counter,
        "Backfill windows not published because the same window was enqueued within dedup_ttl", ["org", "reason"];
    BackfillEnqueuesDropped => "gh_exporter_backfill_enqueues_dropped_total", Counter,
        "Backfill enqueues held back by a cap (org_rate_cap: retried next sweep; global_safety_cap: lost)", ["org", "reason"];
    QueueDepth => "gh_exporter_queue_depth", Gauge,
        "Messages waiting in each backfill queue", ["queue"];
    QueueOldestAge => "gh_exporter_queue_oldest_message_age_seconds", Gauge,
        "Age of the oldest message waiting in each backfill queue", ["queue"];
    BackfillJobsProcessed => "gh_exporter_backfill_jobs_processed_total", Counter,
        "Backfill jobs handled by workers, per org and result", ["org", "result"];
    StoreWrites => "gh_exporter_store_write_total", Counter,
        "Store writes per source and result", ["source", "result"];
    SeriesRefused => "gh_exporter_store_series_refused_total", Counter,
        "New series refused because max_series_budget was reached", ["family"];
    LocSourceMode => "gh_exporter_loc_source_mode", Gauge,
        "1 for the repository's active LOC source, 0 for the other", ["org", "repo", "mode"];
    LocFallbackIncomplete => "gh_exporter_loc_fallback_incomplete", Gauge,
        "1 when the commit-detail fallback was cut short by its budget", ["org", "repo"];
    LocFallbackBudgetExhausted => "gh_exporter_loc_fallback_budget_exhausted_total", Counter,
        "Times the per-org commit-detail budget ran out", ["org"];
    CopilotScrapeRuns => "gh_exporter_copilot_scrape_runs_total", Counter,
        "Copilot report runs per owner, scope and result", ["org", "scope", "result"];
    CopilotReportDownloads => "gh_exporter_copilot_report_download_total", Counter,
        "Copilot report downloads per owner, scope and result", ["org", "scope", "result"];
    CopilotRecordsParsed => "gh_exporter_copilot_records_parsed_total", Counter,
        "Valid NDJSON records read from Copilot reports", ["org", "scope"];
    CopilotRecordsDropped => "gh_exporter_copilot_records_dropped_total", Counter,
        "Copilot report records not turned into series, per reason", ["org", "scope", "reason"];
    CopilotLastSuccess => "gh_exporter_copilot_last_success_unixtime", Gauge,
        "Time of the last successful Copilot report download", ["org", "scope"];
    CopilotReportStaleness => "gh_exporter_copilot_report_staleness_seconds", Gauge,
        "Age of the newest Copilot report day (now minus its report_end_day, midnight UTC)", ["org", "scope"];
    CopilotLinksRefused => "gh_exporter_copilot_download_links_refused_total", Counter,
        "Copilot report links not fetched because their host is not on copilot.download_host_allowlist", ["org", "scope"];
    DependencyHealth => "gh_exporter_dependency_health", Gauge,
        "1 when a dependency is healthy, 0 when not", ["dependency"];
    LeaderCycleLastRun => "gh_exporter_leader_cycle_last_run_unixtime", Gauge,
        "Time of the leader's last scrape cycle", [];
    WebhookDeliveries => "gh_exporter_webhook_deliveries_total", Counter,
        "Webhook deliveries received by the workers, per org, event and result", ["org", "event", "result"];
    WebhookRedeliveries => "gh_exporter_webhook_redeliveries_requested_total", Counter,
        "Failed webhook deliveries the leader asked GitHub to redeliver", ["org"];
    PrLeadTime => "gh_pr_lead_time_seconds", Histogram,
        "Time from a pull request's creation to its merge, observed once per merged pull request", ["org", "repo", "le"];
    PrTimeToFirstReview => "gh_pr_time_to_first_review_seconds", Histogram,
        "Time from a pull request's creation to its first review by someone other than its author (bots excluded), observed once per pull request", ["org", "repo", "le"];
    PrOpen => "gh_pr_open", Gauge,
        "Open pull requests, drafts apart", ["org", "repo", "draft"];
    PrOldestOpenAge => "gh_pr_oldest_open_age_seconds", Gauge,
        "Age of the oldest open pull request that is not a draft (0 when there is none)", ["org", "repo"];
}

impl Family {
    /// Looks a family up by its exposition name.
    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// The Copilot usage families. Their breakdown labels are always
    /// present, empty when not broken down (an empty label is the same as
    /// no label to Prometheus, and every series of a family keeps one
    /// label set, as strict OpenMetrics parsers want).
    pub const COPILOT_USAGE: [Family; 11] = [
        Family::CopilotInteractions,
        Family::CopilotCodeGeneration,
        Family::CopilotCodeAcceptance,
        Family::CopilotLocSuggestedAdd,
        Family::CopilotLocSuggestedDelete,
        Family::CopilotLocAdded,
        Family::CopilotLocDeleted,
        Family::CopilotPrsCreated,
        Family::CopilotPrsReviewed,
        Family::CopilotPrsCreatedByCopilot,
        Family::CopilotPrsReviewedByCopilot,
    ];

    /// The 24-hour activity families, derived from stored events.
    pub const ACTIVITY_24H: [Family; 5] = [
        Family::Commits24h,
        Family::PrsOpened24h,
        Family::PrsMerged24h,
        Family::ReviewsSubmitted24h,
        Family::IssueComments24h,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_counters_end_in_total() {
        let mut names: Vec<_> = Family::ALL.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Family::ALL.len());
        for f in Family::ALL {
            assert_eq!(
                f.kind() == Kind::Counter,
                f.name().ends_with("_total"),
                "{}",
                f.name()
            );
            assert_eq!(Family::from_name(f.name()), Some(*f));
            if f.kind() == Kind::Histogram {
                assert_eq!(f.labels().last(), Some(&"le"), "{}", f.name());
            }
        }
    }
}

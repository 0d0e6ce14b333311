//! The four Copilot report scopes, their endpoints, checkpoint keys, label
//! values and health components.

use chrono::NaiveDate;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Org,
    OrgUsers,
    Enterprise,
    EnterpriseUsers,
}

/// Which report of a scope: the scheduled rolling 28 days, or one day
/// (backfill).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    Days28,
    Day(NaiveDate),
}

impl Window {
    /// The `window` label.
    pub fn label(self) -> &'static str {
        match self {
            Window::Days28 => "28d",
            Window::Day(_) => "1d",
        }
    }
}

/// Prefix of the `repo` of a Copilot backfill job (and of its checkpoint).
pub const JOB_PREFIX: &str = "__copilot__";

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::Org,
        Scope::OrgUsers,
        Scope::Enterprise,
        Scope::EnterpriseUsers,
    ];

    /// Key in checkpoints and job names.
    pub fn key(self) -> &'static str {
        match self {
            Scope::Org => "org",
            Scope::OrgUsers => "users",
            Scope::Enterprise => "enterprise",
            Scope::EnterpriseUsers => "enterprise_users",
        }
    }

    /// The `scope` label of the usage families (both user reports are
    /// `users`; the `org` label tells the enterprise's apart).
    pub fn label(self) -> &'static str {
        match self {
            Scope::Org => "org",
            Scope::OrgUsers | Scope::EnterpriseUsers => "users",
            Scope::Enterprise => "enterprise",
        }
    }

    /// Whether `copilot.include_<scope>_28d` turns this report on.
    pub fn included(self, c: &ghstats_config::CopilotConfig) -> bool {
        match self {
            Scope::Org => c.include_org_28d,
            Scope::OrgUsers => c.include_org_users_28d,
            Scope::Enterprise => c.include_enterprise_28d,
            Scope::EnterpriseUsers => c.include_enterprise_users_28d,
        }
    }

    pub fn per_user(self) -> bool {
        matches!(self, Scope::OrgUsers | Scope::EnterpriseUsers)
    }

    pub fn is_enterprise(self) -> bool {
        matches!(self, Scope::Enterprise | Scope::EnterpriseUsers)
    }

    /// The link endpoint's path for `owner` (an org or the enterprise slug).
    pub fn path(self, owner: &str, window: Window) -> String {
        let (root, report) = match self {
            Scope::Org => ("orgs", "organization"),
            Scope::OrgUsers => ("orgs", "users"),
            Scope::Enterprise => ("enterprises", "enterprise"),
            Scope::EnterpriseUsers => ("enterprises", "users"),
        };
        let tail = match window {
            Window::Days28 => "28-day/latest",
            Window::Day(_) => "1-day",
        };
        format!("/{root}/{owner}/copilot/metrics/reports/{report}-{tail}")
    }

    /// The job `repo` and report checkpoint key: `__copilot__<key>__28d`.
    pub fn job_repo(self) -> String {
        format!("{JOB_PREFIX}{}__28d", self.key())
    }

    /// The scope of a job `repo` made by [`Scope::job_repo`].
    pub fn from_job_repo(repo: &str) -> Option<Scope> {
        let key = repo.strip_prefix(JOB_PREFIX)?.strip_suffix("__28d")?;
        Scope::ALL.into_iter().find(|s| s.key() == key)
    }

    /// Checkpoint of the last scheduled attempt.
    pub fn run_key(self) -> String {
        format!("__copilot_run__{}__28d", self.key())
    }

    /// The health component (and `dependency` label) of this scope's
    /// link endpoint.
    pub fn component(self) -> &'static str {
        match self {
            Scope::Org => "github_api_copilot_org_reports",
            Scope::OrgUsers => "github_api_copilot_org_user_reports",
            Scope::Enterprise => "github_api_copilot_enterprise_reports",
            Scope::EnterpriseUsers => "github_api_copilot_enterprise_user_reports",
        }
    }
}

/// The health component of report downloads.
pub const DOWNLOAD_COMPONENT: &str = "github_copilot_report_download";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_round_trip_and_paths_follow_github() {
        for s in Scope::ALL {
            assert_eq!(Scope::from_job_repo(&s.job_repo()), Some(s));
        }
        assert_eq!(Scope::from_job_repo("repo-a"), None);
        assert_eq!(
            Scope::EnterpriseUsers.path("acme", Window::Days28),
            "/enterprises/acme/copilot/metrics/reports/users-28-day/latest"
        );
        let day = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap_or_default();
        assert_eq!(
            Scope::Org.path("org-a", Window::Day(day)),
            "/orgs/org-a/copilot/metrics/reports/organization-1-day"
        );
    }
}

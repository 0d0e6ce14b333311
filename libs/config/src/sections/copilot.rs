//! `copilot`: GitHub Copilot usage reports of orgs and an enterprise.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::github::UserLabelMode;
use crate::Duration;
use crate::check::Check;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CopilotConfig {
    pub enabled: bool,
    pub scrape_interval: Duration,
    /// Timeout of the call that returns a report's download links.
    pub request_timeout: Duration,
    /// Timeout of one report download.
    pub download_timeout: Duration,
    pub include_org_28d: bool,
    pub include_org_users_28d: bool,
    pub include_enterprise_28d: bool,
    pub include_enterprise_users_28d: bool,
    pub include_breakdown_ide: bool,
    pub include_breakdown_feature: bool,
    pub include_breakdown_language: bool,
    pub include_breakdown_model: bool,
    pub include_pull_request_activity: bool,
    pub user_label_mode: UserLabelMode,
    pub emit_day_label: bool,
    /// 0 is unlimited.
    pub max_records_per_report: u64,
    /// 0 is unlimited.
    pub max_users_per_report: u64,
    /// Download a report again even when its `report_end_day` has not moved.
    pub refresh_if_report_unchanged: bool,
    /// Host patterns report downloads may go to; `*.` matches any subdomain.
    pub download_host_allowlist: Vec<String>,
    pub enterprise: CopilotEnterpriseConfig,
}

impl Default for CopilotConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            scrape_interval: Duration::from_secs(6 * 3600),
            request_timeout: Duration::from_secs(30),
            download_timeout: Duration::from_secs(90),
            include_org_28d: true,
            include_org_users_28d: false,
            include_enterprise_28d: false,
            include_enterprise_users_28d: false,
            include_breakdown_ide: false,
            include_breakdown_feature: false,
            include_breakdown_language: false,
            include_breakdown_model: false,
            include_pull_request_activity: true,
            user_label_mode: UserLabelMode::Login,
            emit_day_label: false,
            max_records_per_report: 0,
            max_users_per_report: 0,
            refresh_if_report_unchanged: false,
            download_host_allowlist: [
                "*.github.com",
                "*.githubusercontent.com",
                "default.exp-tas.com",
                "*.githubcopilot.com",
            ]
            .map(String::from)
            .to_vec(),
            enterprise: CopilotEnterpriseConfig::default(),
        }
    }
}

/// The enterprise scope, with its own GitHub App.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CopilotEnterpriseConfig {
    pub enabled: bool,
    pub slug: String,
    pub app_id: u64,
    pub installation_id: u64,
    pub private_key_path: Option<PathBuf>,
}

impl CopilotConfig {
    pub(crate) fn check(&self, c: &mut Check) {
        if !self.enabled {
            return;
        }
        c.non_zero("copilot.scrape_interval", self.scrape_interval);
        c.non_zero("copilot.request_timeout", self.request_timeout);
        c.non_zero("copilot.download_timeout", self.download_timeout);
        if self.download_host_allowlist.is_empty() {
            c.fail(
                "copilot.download_host_allowlist",
                "must list at least one host",
            );
        }
        let e = &self.enterprise;
        if e.enabled {
            c.not_blank("copilot.enterprise.slug", &e.slug);
            c.positive("copilot.enterprise.app_id", e.app_id);
            c.positive("copilot.enterprise.installation_id", e.installation_id);
            if e.private_key_path.is_none() {
                c.fail(
                    "copilot.enterprise.private_key_path",
                    "is required when the enterprise scope is enabled",
                );
            }
        } else {
            for (key, on) in [
                (
                    "copilot.include_enterprise_28d",
                    self.include_enterprise_28d,
                ),
                (
                    "copilot.include_enterprise_users_28d",
                    self.include_enterprise_users_28d,
                ),
            ] {
                if on {
                    c.fail(key, "needs copilot.enterprise.enabled: true");
                }
            }
        }
    }
}

//! `github` and its `orgs[]`: what to scrape, with which credentials, and
//! whose activity to keep.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::net::HttpUrl;
use crate::Duration;
use crate::check::Check;
use crate::secret::{Secret, SecretConflict, SecretSource};

/// How a user appears in the `user` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserLabelMode {
    /// The GitHub login.
    Login,
    /// The numeric GitHub user id.
    Id,
    /// Lowercase hex SHA-256 of the login.
    Hashed,
    /// The literal `redacted`: per-user series collapse to one.
    None,
}

/// What happens to a commit whose author GitHub did not link to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnattributedCommits {
    /// Counted under the user label `(unattributed)`, so repository totals
    /// are right (no GitHub login contains parentheses).
    Count,
    /// Not counted at all.
    Drop,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GithubConfig {
    /// REST base URL; per-org `api_base_url` overrides it (GitHub Enterprise Server).
    pub api_base_url: HttpUrl,
    pub request_timeout: Duration,
    /// Consecutive failed cycles before scraping pauses for `unhealthy_cooldown`.
    pub unhealthy_failure_threshold: u32,
    pub unhealthy_cooldown: Duration,
    pub user_label_mode: UserLabelMode,
    /// Glob patterns of logins to keep; empty keeps everyone not denied.
    pub user_allowlist: Vec<String>,
    /// Glob patterns of logins to drop; bots by default.
    pub user_denylist: Vec<String>,
    /// Keep accounts whose GitHub `type` is `Bot` (GitHub's apps, the
    /// Copilot coding agent); they are dropped by default, whatever their login.
    pub include_bot_accounts: bool,
    pub unattributed_commits: UnattributedCommits,
    pub orgs: Vec<OrgConfig>,
}

impl Default for GithubConfig {
    fn default() -> Self {
        Self {
            api_base_url: HttpUrl::from_static("https://api.github.com"),
            request_timeout: Duration::from_secs(20),
            unhealthy_failure_threshold: 6,
            unhealthy_cooldown: Duration::from_secs(120),
            user_label_mode: UserLabelMode::Login,
            user_allowlist: Vec::new(),
            user_denylist: vec!["*[bot]".into()],
            include_bot_accounts: false,
            unattributed_commits: UnattributedCommits::Count,
            orgs: Vec::new(),
        }
    }
}

/// One organization, with its own credentials and schedule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrgConfig {
    pub org: String,
    /// GitHub App authentication: all three of these...
    pub app_id: Option<u64>,
    pub installation_id: Option<u64>,
    pub private_key_path: Option<PathBuf>,
    /// ...or a personal access token from an environment variable or a file.
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    /// GitHub Enterprise Server API root, e.g. `https://ghe.example.com/api/v3`.
    pub api_base_url: Option<HttpUrl>,
    /// Time between the org's scrape cycles: [`DEFAULT_SCRAPE_INTERVAL`]
    /// when unset, [`WEBHOOK_SCRAPE_INTERVAL`] with `webhooks.enabled`.
    pub scrape_interval: Duration,
    /// Glob patterns of repository names to scrape; `*` is all.
    pub repo_allowlist: Vec<String>,
    pub repo_denylist: Vec<String>,
    pub include_archived: bool,
    pub include_forks: bool,
    /// Repositories scraped at once within this org.
    pub per_org_concurrency: u32,
    /// The secret of the webhook that delivers this org's events (the
    /// GitHub App's webhook secret, or the org webhook's); without one the
    /// org's deliveries are refused. Inline (discouraged), `_env` or `_file`.
    pub webhook_secret: Option<Secret>,
    pub webhook_secret_env: Option<String>,
    pub webhook_secret_file: Option<PathBuf>,
    /// The secret being rotated away from, still accepted until removed.
    pub webhook_previous_secret: Option<Secret>,
    pub webhook_previous_secret_env: Option<String>,
    pub webhook_previous_secret_file: Option<PathBuf>,
}

/// `github.orgs[].scrape_interval` when unset.
pub const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(300);

/// `github.orgs[].scrape_interval` when unset and `webhooks.enabled`: the
/// deliveries keep the numbers live, the scrape reconciles what they
/// missed, and polls a third as often.
pub const WEBHOOK_SCRAPE_INTERVAL: Duration = Duration::from_secs(900);

impl GithubConfig {
    /// Gives the orgs at `unset` (indexes of orgs whose config sets no
    /// `scrape_interval`) the default interval for the webhook setting.
    pub(crate) fn default_scrape_intervals(&mut self, unset: &[usize], webhooks: bool) {
        let interval = if webhooks {
            WEBHOOK_SCRAPE_INTERVAL
        } else {
            DEFAULT_SCRAPE_INTERVAL
        };
        for &i in unset {
            if let Some(org) = self.orgs.get_mut(i) {
                org.scrape_interval = interval;
            }
        }
    }
}

impl Default for OrgConfig {
    fn default() -> Self {
        Self {
            org: String::new(),
            app_id: None,
            installation_id: None,
            private_key_path: None,
            token_env: None,
            token_file: None,
            api_base_url: None,
            scrape_interval: DEFAULT_SCRAPE_INTERVAL,
            repo_allowlist: vec!["*".into()],
            repo_denylist: Vec::new(),
            include_archived: false,
            include_forks: true,
            per_org_concurrency: 8,
            webhook_secret: None,
            webhook_secret_env: None,
            webhook_secret_file: None,
            webhook_previous_secret: None,
            webhook_previous_secret_env: None,
            webhook_previous_secret_file: None,
        }
    }
}

/// How an org authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgAuth {
    App {
        app_id: u64,
        installation_id: u64,
        private_key_path: PathBuf,
    },
    Token(SecretSource),
}

impl OrgConfig {
    /// The auth method; validation guarantees exactly one is configured.
    pub fn auth(&self) -> Option<OrgAuth> {
        if let (Some(app_id), Some(installation_id), Some(path)) =
            (self.app_id, self.installation_id, &self.private_key_path)
        {
            return Some(OrgAuth::App {
                app_id,
                installation_id,
                private_key_path: path.clone(),
            });
        }
        SecretSource::choose(
            "token",
            None,
            self.token_env.as_deref(),
            self.token_file.as_ref(),
        )
        .ok()
        .filter(SecretSource::is_set)
        .map(OrgAuth::Token)
    }

    /// The webhook secrets to accept, current first, each with its key.
    pub fn webhook_secret_sources(&self) -> Result<Vec<(String, SecretSource)>, SecretConflict> {
        let current = SecretSource::choose(
            "webhook_secret",
            self.webhook_secret.as_ref(),
            self.webhook_secret_env.as_deref(),
            self.webhook_secret_file.as_ref(),
        )?;
        let previous = SecretSource::choose(
            "webhook_previous_secret",
            self.webhook_previous_secret.as_ref(),
            self.webhook_previous_secret_env.as_deref(),
            self.webhook_previous_secret_file.as_ref(),
        )?;
        Ok([
            ("webhook_secret", current),
            ("webhook_previous_secret", previous),
        ]
        .into_iter()
        .filter(|(_, s)| s.is_set())
        .map(|(k, s)| (k.to_owned(), s))
        .collect())
    }

    fn check(&self, key: &str, c: &mut Check) {
        c.not_blank(&format!("{key}.org"), &self.org);
        if let Err(e) = self.webhook_secret_sources() {
            c.fail(format!("{key}.webhook_secret"), e.to_string());
        }
        let app_keys = [
            ("app_id", self.app_id.is_some()),
            ("installation_id", self.installation_id.is_some()),
            ("private_key_path", self.private_key_path.is_some()),
        ];
        let any_app = app_keys.iter().any(|(_, set)| *set);
        let token = SecretSource::choose(
            "token",
            None,
            self.token_env.as_deref(),
            self.token_file.as_ref(),
        );
        let any_token = !matches!(token, Ok(SecretSource::Unset));
        match (any_app, any_token) {
            (true, true) => c.fail(
                key,
                "configure either a GitHub App (app_id, installation_id, private_key_path) or a token (token_env or token_file), not both",
            ),
            (false, false) => c.fail(
                key,
                "no credentials: configure a GitHub App (app_id, installation_id, private_key_path) or a token (token_env or token_file)",
            ),
            (true, false) => {
                for (name, set) in app_keys {
                    if !set {
                        c.fail(format!("{key}.{name}"), "is required with a GitHub App");
                    }
                }
                for (name, value) in [("app_id", self.app_id), ("installation_id", self.installation_id)] {
                    if value == Some(0) {
                        c.fail(format!("{key}.{name}"), "must be greater than 0");
                    }
                }
            }
            (false, true) => {
                if let Err(e) = token {
                    c.fail(format!("{key}.token_env"), e.to_string());
                }
            }
        }
        c.non_zero(&format!("{key}.scrape_interval"), self.scrape_interval);
        c.positive(
            &format!("{key}.per_org_concurrency"),
            self.per_org_concurrency.into(),
        );
        for (list, patterns) in [
            ("repo_allowlist", &self.repo_allowlist),
            ("repo_denylist", &self.repo_denylist),
        ] {
            check_patterns(&format!("{key}.{list}"), patterns, c);
        }
    }
}

fn check_patterns(key: &str, patterns: &[String], c: &mut Check) {
    for (i, p) in patterns.iter().enumerate() {
        if p.trim().is_empty() {
            c.fail(format!("{key}[{i}]"), "empty pattern");
        }
    }
}

impl GithubConfig {
    /// The REST base URL of `org`.
    pub fn api_base_url_of<'a>(&'a self, org: &'a OrgConfig) -> &'a HttpUrl {
        org.api_base_url.as_ref().unwrap_or(&self.api_base_url)
    }

    pub(crate) fn check(&self, c: &mut Check) {
        c.non_zero("github.request_timeout", self.request_timeout);
        c.positive(
            "github.unhealthy_failure_threshold",
            self.unhealthy_failure_threshold.into(),
        );
        c.non_zero("github.unhealthy_cooldown", self.unhealthy_cooldown);
        check_patterns("github.user_allowlist", &self.user_allowlist, c);
        check_patterns("github.user_denylist", &self.user_denylist, c);
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, org) in self.orgs.iter().enumerate() {
            let key = format!("github.orgs[{i}]");
            org.check(&key, c);
            let name = org.org.to_ascii_lowercase();
            if name.is_empty() {
                continue;
            }
            if let Some(first) = seen.get(&name) {
                c.fail(
                    format!("{key}.org"),
                    format!(
                        "duplicate org {:?} (already at github.orgs[{first}])",
                        org.org
                    ),
                );
            } else {
                seen.insert(name, i);
            }
        }
    }
}

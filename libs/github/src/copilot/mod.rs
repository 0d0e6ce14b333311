//! Copilot usage reports: the call that returns a report's signed download
//! links (through the org's authenticated client, so it is rate-gated,
//! retried and counted like every API call), and the download of each link
//! ([`Downloader`]: a separate client that sends no credentials and goes
//! only to allow-listed hosts), streamed line by line.

mod download;
mod lines;

use std::time::Duration;

use chrono::NaiveDate;
use url::Url;

pub use download::{Downloaded, Downloader, HostAllowlist};
pub use lines::{Line, LineSplitter, MAX_LINE_BYTES};

use crate::{GithubClient, GithubError};

/// `gh_exporter_github_requests_total{endpoint}` of the link call.
pub const LINK_ENDPOINT: &str = "copilot_report_link";
/// `gh_exporter_github_requests_total{endpoint}` of a download.
pub const DOWNLOAD_ENDPOINT: &str = "copilot_report_download";

/// What the link call answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportLinks {
    /// Every signed link, in order (a report may be split over several files).
    pub download_links: Vec<String>,
    /// The day of a 1-day report.
    pub report_day: Option<NaiveDate>,
    pub report_start_day: Option<NaiveDate>,
    /// The last day a 28-day report covers.
    pub report_end_day: Option<NaiveDate>,
}

impl ReportLinks {
    /// Reads the link answer: `download_links` (blanks dropped), else the
    /// single `url` or `download_url`; the report days. No link is an error.
    pub fn parse(body: &[u8]) -> Result<Self, LinksError> {
        let v: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| LinksError::NotJson(e.to_string()))?;
        let text = |key: &str| {
            v.get(key)
                .and_then(|x| x.as_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let mut links: Vec<String> = v
            .get("download_links")
            .and_then(|l| l.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::trim))
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if links.is_empty()
            && let Some(single) = text("url").or_else(|| text("download_url"))
        {
            links.push(single.to_owned());
        }
        if links.is_empty() {
            return Err(LinksError::NoLink);
        }
        let day = |key: &'static str| -> Result<Option<NaiveDate>, LinksError> {
            text(key)
                .map(|d| {
                    NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|e| LinksError::BadDay {
                        key,
                        value: d.to_owned(),
                        reason: e.to_string(),
                    })
                })
                .transpose()
        };
        Ok(Self {
            download_links: links,
            report_day: day("report_day")?,
            report_start_day: day("report_start_day")?,
            report_end_day: day("report_end_day")?,
        })
    }

    /// The newest day the report covers.
    pub fn newest_day(&self) -> Option<NaiveDate> {
        self.report_end_day.or(self.report_day)
    }
}

/// Why a report link answer is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinksError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("the answer has no download link")]
    NoLink,
    #[error("{link:?}: {reason}")]
    BadUrl { link: String, reason: String },
    #[error("{key} {value:?} is not YYYY-MM-DD: {reason}")]
    BadDay {
        key: &'static str,
        value: String,
        reason: String,
    },
}

/// Why a report could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("report link call failed: {0}")]
    Link(GithubError),
    /// A 2xx other than 200, e.g. 202 while GitHub prepares the report.
    #[error("report link call answered {status} (report not ready)")]
    LinkStatus { status: u16 },
    #[error("report link call timed out after {0:?}")]
    LinkTimeout(Duration),
    #[error("report link answer unusable: {0}")]
    BadLinks(LinksError),
    #[error("download link host {host:?} is not on copilot.download_host_allowlist")]
    HostRefused { host: String },
    #[error("download failed: {0}")]
    Download(String),
    #[error("download answered {status}")]
    DownloadStatus { status: u16 },
}

impl ReportError {
    /// The `result` label of `gh_exporter_copilot_scrape_runs_total`.
    pub fn result_label(&self) -> &'static str {
        match self {
            Self::Link(
                GithubError::NotFound { .. }
                | GithubError::Forbidden { .. }
                | GithubError::Refused { .. }
                | GithubError::Server { .. }
                | GithubError::Unauthorized { .. },
            )
            | Self::LinkStatus { .. } => "fetch_status_error",
            Self::Link(_) | Self::LinkTimeout(_) | Self::BadLinks(_) => "fetch_error",
            Self::HostRefused { .. } => "download_refused",
            Self::Download(_) => "download_error",
            Self::DownloadStatus { .. } => "download_status_error",
        }
    }

    /// A link call failure, as opposed to a download failure.
    pub fn is_fetch(&self) -> bool {
        matches!(
            self,
            Self::Link(_) | Self::LinkStatus { .. } | Self::LinkTimeout(_) | Self::BadLinks(_)
        )
    }

    /// Whether asking again later may succeed (a backfill is worth it):
    /// not for a missing report, a permission GitHub refused, or a host
    /// the operator did not allow.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Link(e) => e.is_transient(),
            Self::LinkStatus { .. } | Self::LinkTimeout(_) | Self::Download(_) => true,
            Self::DownloadStatus { status } => *status >= 500 || *status == 403,
            Self::BadLinks(_) | Self::HostRefused { .. } => false,
        }
    }
}

impl GithubClient {
    /// Asks for a report's download links: `path` under the API base
    /// (`/orgs/{org}/copilot/metrics/reports/...`), with `day` as the
    /// `day=YYYY-MM-DD` query of the 1-day reports. Runs under `timeout`.
    pub async fn copilot_report_links(
        &self,
        path: &str,
        day: Option<NaiveDate>,
        timeout: Duration,
    ) -> Result<ReportLinks, ReportError> {
        let query = day
            .map(|d| format!("?day={}", d.format("%Y-%m-%d")))
            .unwrap_or_default();
        let url = self
            .url(&format!("{path}{query}"))
            .map_err(ReportError::Link)?;
        let fetched = tokio::time::timeout(timeout, self.get_keeping_body(LINK_ENDPOINT, url))
            .await
            .map_err(|_| ReportError::LinkTimeout(timeout))?
            .map_err(ReportError::Link)?;
        if fetched.status != 200 && fetched.status != 304 {
            return Err(ReportError::LinkStatus {
                status: fetched.status,
            });
        }
        ReportLinks::parse(&fetched.body).map_err(ReportError::BadLinks)
    }

    /// Downloads `link` through `downloader` (no credentials), handing each
    /// line to `on_line`; the request is counted under this org's client.
    pub async fn copilot_download(
        &self,
        downloader: &Downloader,
        link: &str,
        on_line: &mut (dyn FnMut(Line<'_>) + Send),
    ) -> Result<Downloaded, ReportError> {
        let url = Url::parse(link).map_err(|e| {
            ReportError::BadLinks(LinksError::BadUrl {
                link: link.to_owned(),
                reason: e.to_string(),
            })
        })?;
        let outcome = downloader.fetch(&url, on_line).await;
        let status = match &outcome {
            Ok(d) => Some(d.status),
            Err(ReportError::DownloadStatus { status }) => Some(*status),
            Err(ReportError::HostRefused { .. }) => return outcome,
            Err(_) => None,
        };
        self.accounting()
            .record_unbudgeted(DOWNLOAD_ENDPOINT, status);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_link_and_the_days() {
        let r = ReportLinks::parse(
            br#"{"download_links":[" https://a.example/1 ","","https://b.example/2"],
                 "report_start_day":"2026-10-01","report_end_day":"2026-10-28"}"#,
        )
        .unwrap();
        assert_eq!(
            r.download_links,
            ["https://a.example/1", "https://b.example/2"]
        );
        assert_eq!(r.newest_day(), NaiveDate::from_ymd_opt(2026, 10, 28));
        let single =
            ReportLinks::parse(br#"{"url":"https://c.example/x","report_day":"2026-10-02"}"#)
                .unwrap();
        assert_eq!(single.download_links, ["https://c.example/x"]);
        assert_eq!(single.newest_day(), NaiveDate::from_ymd_opt(2026, 10, 2));
    }

    #[test]
    fn refuses_answers_without_links_or_with_bad_days() {
        assert!(
            ReportLinks::parse(br#"{"download_links":[]}"#)
                .unwrap_err()
                .to_string()
                .contains("no download link")
        );
        assert!(
            ReportLinks::parse(br#"{"url":"https://x","report_end_day":"28/10/2026"}"#)
                .unwrap_err()
                .to_string()
                .contains("report_end_day")
        );
        assert!(
            ReportLinks::parse(b"<html>")
                .unwrap_err()
                .to_string()
                .contains("not JSON")
        );
    }
}

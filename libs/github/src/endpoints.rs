//! The typed endpoints the scrape engine uses, with pagination
//! (`per_page=100`, `Link: rel="next"`) and early stops.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;

use crate::client::{Fetched, GithubClient};
use crate::models::*;
use crate::{GithubError, link};

/// A paginated listing.
#[derive(Debug, Clone)]
pub struct Listed<T> {
    pub items: Vec<T>,
    /// Every page came back 304: nothing changed since the last listing.
    pub unchanged: bool,
    pub pages: u32,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn decode<T: DeserializeOwned>(endpoint: &'static str, f: &Fetched) -> Result<T, GithubError> {
    serde_json::from_slice(&f.body).map_err(|e| GithubError::Decode {
        endpoint,
        message: e.to_string(),
    })
}

impl GithubClient {
    /// Follows `rel="next"` from `path` while `more` says the last page is
    /// worth continuing from.
    async fn pages<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path: &str,
        mut more: impl FnMut(&[T]) -> bool,
    ) -> Result<Listed<T>, GithubError> {
        let mut url = self.url(path)?;
        let mut out = Listed {
            items: Vec::new(),
            unchanged: true,
            pages: 0,
        };
        loop {
            let fetched = self.get(endpoint, url).await?;
            let page: Vec<T> = decode(endpoint, &fetched)?;
            out.pages += 1;
            out.unchanged &= fetched.not_modified;
            let go_on = !page.is_empty() && more(&page);
            out.items.extend(page);
            let next = fetched.link.as_deref().and_then(link::next);
            match next {
                Some(n) if go_on => {
                    url = url::Url::parse(n).map_err(|e| GithubError::Decode {
                        endpoint,
                        message: format!("bad Link URL: {e}"),
                    })?;
                    self.check_origin(endpoint, &url)?;
                }
                _ => return Ok(out),
            }
        }
    }

    /// Every repository of the org (`/orgs/{org}/repos`; for a user account
    /// `/users/{org}/repos`).
    pub async fn list_org_repos(&self) -> Result<Listed<Repository>, GithubError> {
        let org = self.org().to_owned();
        match self
            .pages(
                "list_org_repos",
                &format!("/orgs/{org}/repos?type=all&per_page=100"),
                |_| true,
            )
            .await
        {
            Err(GithubError::NotFound { .. }) => {
                self.pages(
                    "list_org_repos",
                    &format!("/users/{org}/repos?type=all&per_page=100"),
                    |_| true,
                )
                .await
            }
            other => other,
        }
    }

    /// Commits of the default branch with committer dates in
    /// `[since, until]` (GitHub filters on the committer date).
    pub async fn list_commits(
        &self,
        repo: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Listed<Commit>, GithubError> {
        let path = format!(
            "/repos/{}/{repo}/commits?since={}&until={}&per_page=100",
            self.org(),
            rfc3339(since),
            rfc3339(until)
        );
        self.commit_pages(&path, |_| true).await
    }

    /// Commits of the default branch committed at or after `since`: every
    /// commit authored since then (a commit is committed after it is
    /// written), however late it was rebased or pushed.
    pub async fn list_commits_committed_since(
        &self,
        repo: &str,
        since: DateTime<Utc>,
    ) -> Result<Listed<Commit>, GithubError> {
        let path = format!(
            "/repos/{}/{repo}/commits?since={}&per_page=100",
            self.org(),
            rfc3339(since)
        );
        self.commit_pages(&path, |_| true).await
    }

    /// Default-branch commits as GitHub lists them (newest committer date
    /// first), down to the first page that reaches commits committed
    /// before `since`, from the stable first-page URL (so an unchanged
    /// repository answers 304). The stop looks at committer dates, the
    /// listing's order: author dates of rebased commits are older and
    /// would stop it early.
    pub async fn list_commits_newest(
        &self,
        repo: &str,
        since: DateTime<Utc>,
    ) -> Result<Listed<Commit>, GithubError> {
        let path = format!("/repos/{}/{repo}/commits?per_page=100", self.org());
        self.commit_pages(&path, |page: &[Commit]| {
            page.last()
                .and_then(Commit::committer_date)
                .is_some_and(|d| d >= since)
        })
        .await
    }

    /// Commit pages; an empty repository (409) has none.
    async fn commit_pages(
        &self,
        path: &str,
        more: impl FnMut(&[Commit]) -> bool,
    ) -> Result<Listed<Commit>, GithubError> {
        match self.pages("list_commits", path, more).await {
            Err(GithubError::Refused { status: 409, .. }) => Ok(Listed {
                items: Vec::new(),
                unchanged: false,
                pages: 1,
            }),
            other => other,
        }
    }

    /// Issue comments newest update first, down to `since`, from a stable URL.
    pub async fn list_issue_comments_newest(
        &self,
        repo: &str,
        since: DateTime<Utc>,
    ) -> Result<Listed<IssueComment>, GithubError> {
        let path = format!(
            "/repos/{}/{repo}/issues/comments?sort=updated&direction=desc&per_page=100",
            self.org()
        );
        self.pages("list_issue_comments", &path, |page: &[IssueComment]| {
            page.last().is_some_and(|c| c.updated_at >= since)
        })
        .await
    }

    /// Pull requests updated at or after `since`, newest update first;
    /// stops paginating at the first page that reaches older ones.
    pub async fn list_pulls_updated_since(
        &self,
        repo: &str,
        since: DateTime<Utc>,
    ) -> Result<Listed<PullRequest>, GithubError> {
        let path = format!(
            "/repos/{}/{repo}/pulls?state=all&sort=updated&direction=desc&per_page=100",
            self.org()
        );
        let mut listed = self
            .pages("list_pulls", &path, |page: &[PullRequest]| {
                page.last().is_some_and(|p| p.updated_at >= since)
            })
            .await?;
        listed.items.retain(|p| p.updated_at >= since);
        Ok(listed)
    }

    pub async fn list_reviews(
        &self,
        repo: &str,
        number: u64,
    ) -> Result<Listed<Review>, GithubError> {
        let path = format!(
            "/repos/{}/{repo}/pulls/{number}/reviews?per_page=100",
            self.org()
        );
        self.pages("list_reviews", &path, |_| true).await
    }

    /// Issue and pull-request conversation comments updated at or after `since`.
    pub async fn list_issue_comments(
        &self,
        repo: &str,
        since: DateTime<Utc>,
    ) -> Result<Listed<IssueComment>, GithubError> {
        let path = format!(
            "/repos/{}/{repo}/issues/comments?since={}&per_page=100",
            self.org(),
            rfc3339(since)
        );
        self.pages("list_issue_comments", &path, |_| true).await
    }

    /// `/stats/contributors`; 202 (computing) and 204 (empty) are answers,
    /// not errors, and are never retried here.
    pub async fn contributor_stats(&self, repo: &str) -> Result<(StatsAnswer, bool), GithubError> {
        const ENDPOINT: &str = "contributor_stats";
        let url = self.url(&format!("/repos/{}/{repo}/stats/contributors", self.org()))?;
        let fetched = self.get(ENDPOINT, url).await?;
        let answer = match fetched.status {
            202 => StatsAnswer::Computing,
            204 => StatsAnswer::Empty,
            _ => StatsAnswer::Ready(decode(ENDPOINT, &fetched)?),
        };
        Ok((answer, fetched.not_modified))
    }

    pub async fn commit_detail(&self, repo: &str, sha: &str) -> Result<CommitDetail, GithubError> {
        const ENDPOINT: &str = "get_commit";
        let url = self.url(&format!("/repos/{}/{repo}/commits/{sha}", self.org()))?;
        decode(ENDPOINT, &self.get(ENDPOINT, url).await?)
    }

    /// `/rate_limit` (free of budget on GitHub); `None` when the server has
    /// rate limiting disabled.
    pub async fn rate_limit(&self) -> Result<Option<RateLimitEntry>, GithubError> {
        const ENDPOINT: &str = "rate_limit";
        let url = self.url("/rate_limit")?;
        match self.get(ENDPOINT, url).await {
            Ok(f) => Ok(Some(
                decode::<RateLimitResponse>(ENDPOINT, &f)?.resources.core,
            )),
            Err(GithubError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

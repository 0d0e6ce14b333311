//! The typed endpoints the scrape engine uses, with pagination
//! (`per_page=100`, `Link: rel="next"`) and early stops.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::{Fetched, GithubClient};
use crate::models::*;
use crate::{GithubError, Pending, Unkept, link};

/// A paginated listing.
#[derive(Debug, Clone)]
pub struct Listed<T> {
    pub items: Vec<T>,
    /// Every page came back 304: nothing changed since the last listing.
    pub unchanged: bool,
    pub pages: u32,
    /// Validators of the pages that answered 200, to keep (through
    /// [`GithubClient::keep`]) once what was derived from `items` is
    /// stored: a later 304 of such a page returns no items.
    pub unkept: Unkept,
}

impl<T> Listed<T> {
    fn empty() -> Self {
        Self {
            items: Vec::new(),
            unchanged: true,
            pages: 0,
            unkept: Unkept::default(),
        }
    }
}

/// A conditional answer whose memo the caller writes.
#[derive(Debug, Clone)]
pub enum Conditional<T, R> {
    /// A fresh answer; `pending` (when GitHub sent an ETag) is kept with
    /// the caller's memo once it stored what it derived.
    Fresh { value: T, pending: Option<Pending> },
    /// A 304: the memo the caller kept with the validator, read back.
    Unchanged(R),
}

/// What a conditional GET gave: the caller's memo read back from a 304
/// (with the kept `Link`), or a fresh answer.
enum Answered<R> {
    Memo(R, Option<String>),
    Fresh(Fetched),
}

/// What a listing keeps of each page for its 304.
enum PageMemo<T> {
    /// Every item, compacted to the fields ghstats reads: a 304 returns
    /// them, so the validator is kept at once (the repository list, a
    /// fixed week of commits).
    Items,
    /// Where the page ends (its length and the sort key of its last
    /// item) and the `since` its items were derived for: a 304 returns no
    /// items, since they were derived from when the page was a 200 (the
    /// caller keeps the validator only after storing that). A 304 is taken
    /// only when the memo's `since` is at or before this listing's (an
    /// older window, such as a backfill's, asks for the page whole). With
    /// `stop`, the listing goes on while the last key is at or after
    /// `since`.
    Cursor {
        key: fn(&T) -> Option<DateTime<Utc>>,
        since: DateTime<Utc>,
        stop: bool,
    },
}

/// One page as the listing uses it.
struct Page<T> {
    len: usize,
    last: Option<DateTime<Utc>>,
    items: Vec<T>,
}

impl<T: Serialize + DeserializeOwned> PageMemo<T> {
    fn encode(&self, page: &[T]) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            PageMemo::Items => serde_json::to_vec(page),
            PageMemo::Cursor { key, since, .. } => {
                // Unix seconds: the sort keys GitHub gives have whole seconds.
                let last = page
                    .last()
                    .and_then(key)
                    .map_or("-".to_owned(), |t| t.timestamp().to_string());
                Ok(format!("{} {last} {}", page.len(), since.timestamp()).into_bytes())
            }
        }
    }

    /// The page a 304 stands for; `None` when the memo cannot be read.
    fn restore(&self, memo: &[u8]) -> Option<Page<T>> {
        match self {
            PageMemo::Items => {
                let items: Vec<T> = serde_json::from_slice(memo).ok()?;
                Some(Page {
                    len: items.len(),
                    last: None,
                    items,
                })
            }
            PageMemo::Cursor { since, .. } => {
                let mut fields = std::str::from_utf8(memo).ok()?.split(' ');
                let (len, last, derived) = (fields.next()?, fields.next()?, fields.next()?);
                let at = |t: &str| DateTime::from_timestamp(t.parse().ok()?, 0);
                if at(derived)? > *since {
                    return None;
                }
                let last = match last {
                    "-" => None,
                    t => Some(at(t)?),
                };
                Some(Page {
                    len: len.parse().ok()?,
                    last,
                    items: Vec::new(),
                })
            }
        }
    }

    fn go_on(&self, page: &Page<T>) -> bool {
        match self {
            PageMemo::Cursor {
                since, stop: true, ..
            } => page.len > 0 && page.last.is_some_and(|d| d >= *since),
            _ => page.len > 0,
        }
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn decode<T: DeserializeOwned>(endpoint: &'static str, body: &[u8]) -> Result<T, GithubError> {
    serde_json::from_slice(body).map_err(|e| GithubError::Decode {
        endpoint,
        message: e.to_string(),
    })
}

/// A repository's open pull requests as the caller counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenTally {
    /// Counted open pull requests that are not drafts.
    pub ready: u64,
    pub draft: u64,
    /// `created_at` of the oldest counted one that is not a draft.
    pub oldest_ready: Option<DateTime<Utc>>,
}

impl OpenTally {
    fn add(&mut self, other: OpenTally) {
        self.ready += other.ready;
        self.draft += other.draft;
        self.oldest_ready = match (self.oldest_ready, other.oldest_ready) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// The page memo: `o1 <rules> <len> <ready> <draft> <oldest|->`.
    fn memo(&self, rules: u64, len: usize) -> Vec<u8> {
        let oldest = self
            .oldest_ready
            .map_or("-".to_owned(), |t| t.timestamp().to_string());
        format!("o1 {rules} {len} {} {} {oldest}", self.ready, self.draft).into_bytes()
    }

    /// A page memo read back, if it was derived under `rules`.
    fn restore(memo: &[u8], rules: u64) -> Option<(usize, OpenTally)> {
        let mut f = std::str::from_utf8(memo).ok()?.split(' ');
        if f.next()? != "o1" || f.next()?.parse::<u64>().ok()? != rules {
            return None;
        }
        let len = f.next()?.parse().ok()?;
        let ready = f.next()?.parse().ok()?;
        let draft = f.next()?.parse().ok()?;
        let oldest_ready = match f.next()? {
            "-" => None,
            t => Some(DateTime::from_timestamp(t.parse().ok()?, 0)?),
        };
        Some((
            len,
            OpenTally {
                ready,
                draft,
                oldest_ready,
            },
        ))
    }
}

/// What [`GithubClient::open_pulls`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenPullsListed {
    pub tally: OpenTally,
    /// Every page came back 304.
    pub unchanged: bool,
    pub pages: u32,
}

impl GithubClient {
    /// The next page's URL from a `Link` header, checked to stay on GitHub.
    pub(crate) fn next_page(
        &self,
        endpoint: &'static str,
        link: Option<&str>,
    ) -> Result<Option<url::Url>, GithubError> {
        let Some(next) = link.and_then(link::next) else {
            return Ok(None);
        };
        let url = url::Url::parse(next).map_err(|e| GithubError::Decode {
            endpoint,
            message: format!("bad Link URL: {e}"),
        })?;
        self.check_origin(endpoint, &url)?;
        Ok(Some(url))
    }

    /// Follows `rel="next"` from `path` while the last page is worth
    /// continuing from.
    async fn pages<T: Serialize + DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path: &str,
        memo: PageMemo<T>,
    ) -> Result<Listed<T>, GithubError> {
        let mut url = self.url(path)?;
        let mut out = Listed::empty();
        loop {
            let (page, link) = self.page(endpoint, url, &memo, &mut out).await?;
            out.pages += 1;
            let go_on = memo.go_on(&page);
            out.items.extend(page.items);
            match self.next_page(endpoint, link.as_deref())? {
                Some(next) if go_on => url = next,
                _ => return Ok(out),
            }
        }
    }

    /// One page and its `Link` header: restored from the memo on a 304,
    /// else decoded, with its validator kept or handed to the caller.
    async fn page<T: Serialize + DeserializeOwned>(
        &self,
        endpoint: &'static str,
        url: url::Url,
        memo: &PageMemo<T>,
        out: &mut Listed<T>,
    ) -> Result<(Page<T>, Option<String>), GithubError> {
        let mut fetched = match self.get_or_memo(endpoint, url, |m| memo.restore(m)).await? {
            Answered::Memo(page, link) => return Ok((page, link)),
            Answered::Fresh(fetched) => fetched,
        };
        out.unchanged = false;
        let items: Vec<T> = decode(endpoint, &fetched.body)?;
        let page = Page {
            len: items.len(),
            last: match memo {
                PageMemo::Cursor { key, .. } => items.last().and_then(key),
                PageMemo::Items => None,
            },
            items,
        };
        if let Some(pending) = fetched.pending.take() {
            match memo.encode(&page.items) {
                Ok(bytes) => {
                    let unkept = pending.with_memo(bytes);
                    match memo {
                        PageMemo::Items => self.keep(unkept).await,
                        PageMemo::Cursor { .. } => out.unkept.extend(unkept),
                    }
                }
                Err(e) => tracing::warn!(endpoint, error = %e, "cannot encode a page memo"),
            }
        }
        Ok((page, fetched.link))
    }

    /// A conditional GET whose 304 is read by `restore`; a memo it cannot
    /// read (an older form, or one derived for a later window) has the
    /// answer asked for whole.
    async fn get_or_memo<R>(
        &self,
        endpoint: &'static str,
        url: url::Url,
        restore: impl FnOnce(&[u8]) -> Option<R>,
    ) -> Result<Answered<R>, GithubError> {
        let fetched = self.get(endpoint, url.clone()).await?;
        if !fetched.not_modified {
            return Ok(Answered::Fresh(fetched));
        }
        if let Some(read) = restore(&fetched.memo) {
            return Ok(Answered::Memo(read, fetched.link));
        }
        tracing::debug!(
            endpoint,
            "memo unreadable or for a later window: asking for the answer whole"
        );
        Ok(Answered::Fresh(self.get_with(endpoint, url, false).await?))
    }

    /// A single object kept whole (compacted) as its memo: a 304 returns
    /// it. For answers that do not change once given (a commit's detail).
    async fn object_kept<T: Serialize + DeserializeOwned>(
        &self,
        endpoint: &'static str,
        url: url::Url,
    ) -> Result<T, GithubError> {
        let restore = |m: &[u8]| serde_json::from_slice(m).ok();
        let mut fetched = match self.get_or_memo(endpoint, url, restore).await? {
            Answered::Memo(value, _) => return Ok(value),
            Answered::Fresh(fetched) => fetched,
        };
        let value: T = decode(endpoint, &fetched.body)?;
        if let Some(pending) = fetched.pending.take() {
            match serde_json::to_vec(&value) {
                Ok(bytes) => self.keep(pending.with_memo(bytes)).await,
                Err(e) => tracing::warn!(endpoint, error = %e, "cannot encode a memo"),
            }
        }
        Ok(value)
    }

    /// Every repository of the org (`/orgs/{org}/repos`; for a user account
    /// `/users/{org}/repos`).
    pub async fn list_org_repos(&self) -> Result<Listed<Repository>, GithubError> {
        let org = self.org().to_owned();
        match self
            .pages(
                "list_org_repos",
                &format!("/orgs/{org}/repos?type=all&per_page=100"),
                PageMemo::Items,
            )
            .await
        {
            Err(GithubError::NotFound { .. }) => {
                self.pages(
                    "list_org_repos",
                    &format!("/users/{org}/repos?type=all&per_page=100"),
                    PageMemo::Items,
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
        self.commit_pages(&path, PageMemo::Items).await
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
        self.commit_pages(
            &path,
            PageMemo::Cursor {
                key: Commit::committer_date,
                since,
                stop: false,
            },
        )
        .await
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
        self.commit_pages(
            &path,
            PageMemo::Cursor {
                key: Commit::committer_date,
                since,
                stop: true,
            },
        )
        .await
    }

    /// Commit pages; an empty repository (409) has none.
    async fn commit_pages(
        &self,
        path: &str,
        memo: PageMemo<Commit>,
    ) -> Result<Listed<Commit>, GithubError> {
        match self.pages("list_commits", path, memo).await {
            Err(GithubError::Refused { status: 409, .. }) => Ok(Listed {
                unchanged: false,
                pages: 1,
                ..Listed::empty()
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
        self.comment_pages(&path, since, true).await
    }

    /// Comment pages by last update, derived for a window from `since`
    /// (with `stop`, down to the first page reaching older ones).
    async fn comment_pages(
        &self,
        path: &str,
        since: DateTime<Utc>,
        stop: bool,
    ) -> Result<Listed<IssueComment>, GithubError> {
        let memo = PageMemo::Cursor {
            key: |c: &IssueComment| Some(c.updated_at),
            since,
            stop,
        };
        self.pages("list_issue_comments", path, memo).await
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
            .pages(
                "list_pulls",
                &path,
                PageMemo::Cursor {
                    key: |p: &PullRequest| Some(p.updated_at),
                    since,
                    stop: true,
                },
            )
            .await?;
        listed.items.retain(|p| p.updated_at >= since);
        Ok(listed)
    }

    /// The open pull requests (`state=open`, every page), tallied by
    /// `counted` (the caller's rules, fingerprinted by `rules`). Each page
    /// keeps its tally as its memo at once, so an unchanged repository is
    /// answered by 304s alone; a memo derived under other rules is not read.
    pub async fn open_pulls(
        &self,
        repo: &str,
        rules: u64,
        counted: impl Fn(&PullRequest) -> bool,
    ) -> Result<OpenPullsListed, GithubError> {
        const ENDPOINT: &str = "list_open_pulls";
        let path = format!("/repos/{}/{repo}/pulls?state=open&per_page=100", self.org());
        let mut url = self.url(&path)?;
        let mut out = OpenPullsListed {
            unchanged: true,
            ..OpenPullsListed::default()
        };
        loop {
            out.pages += 1;
            let restore = |m: &[u8]| OpenTally::restore(m, rules);
            let (len, link) = match self.get_or_memo(ENDPOINT, url, restore).await? {
                Answered::Memo((len, tally), link) => {
                    out.tally.add(tally);
                    (len, link)
                }
                Answered::Fresh(mut fetched) => {
                    out.unchanged = false;
                    let page: Vec<PullRequest> = decode(ENDPOINT, &fetched.body)?;
                    let mut tally = OpenTally::default();
                    for p in page.iter().filter(|p| p.closed_at.is_none() && counted(p)) {
                        if p.draft {
                            tally.draft += 1;
                        } else {
                            tally.ready += 1;
                            tally.oldest_ready = Some(
                                tally
                                    .oldest_ready
                                    .map_or(p.created_at, |o| o.min(p.created_at)),
                            );
                        }
                    }
                    if let Some(pending) = fetched.pending.take() {
                        self.keep(pending.with_memo(tally.memo(rules, page.len())))
                            .await;
                    }
                    out.tally.add(tally);
                    (page.len(), fetched.link)
                }
            };
            match self.next_page(ENDPOINT, link.as_deref())? {
                Some(next) if len > 0 => url = next,
                _ => return Ok(out),
            }
        }
    }

    /// The reviews of pull request `number`, derived from for a window
    /// starting at `since` (see [`PageMemo::Cursor`]).
    pub async fn list_reviews(
        &self,
        repo: &str,
        number: u64,
        since: DateTime<Utc>,
    ) -> Result<Listed<Review>, GithubError> {
        let path = format!(
            "/repos/{}/{repo}/pulls/{number}/reviews?per_page=100",
            self.org()
        );
        self.pages(
            "list_reviews",
            &path,
            PageMemo::Cursor {
                key: |r: &Review| r.submitted_at,
                since,
                stop: false,
            },
        )
        .await
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
        self.comment_pages(&path, since, false).await
    }

    /// `/stats/contributors`; 202 (computing) and 204 (empty) are answers,
    /// not errors, and are never retried here. A 304 is read back by
    /// `restore` from the caller's memo (asked whole when it cannot be).
    pub async fn contributor_stats<R>(
        &self,
        repo: &str,
        restore: impl FnOnce(&[u8]) -> Option<R>,
    ) -> Result<Conditional<StatsAnswer, R>, GithubError> {
        const ENDPOINT: &str = "contributor_stats";
        let url = self.url(&format!("/repos/{}/{repo}/stats/contributors", self.org()))?;
        let fetched = match self.get_or_memo(ENDPOINT, url, restore).await? {
            Answered::Memo(read, _) => return Ok(Conditional::Unchanged(read)),
            Answered::Fresh(fetched) => fetched,
        };
        let value = match fetched.status {
            202 => StatsAnswer::Computing,
            204 => StatsAnswer::Empty,
            _ => StatsAnswer::Ready(decode(ENDPOINT, &fetched.body)?),
        };
        Ok(Conditional::Fresh {
            value,
            pending: fetched.pending,
        })
    }

    /// A commit with its stats (immutable, so its compact copy is the
    /// memo and a 304 returns it).
    pub async fn commit_detail(&self, repo: &str, sha: &str) -> Result<CommitDetail, GithubError> {
        let url = self.url(&format!("/repos/{}/{repo}/commits/{sha}", self.org()))?;
        self.object_kept("get_commit", url).await
    }

    /// `/rate_limit` (free of budget on GitHub); `None` when the server has
    /// rate limiting disabled.
    pub async fn rate_limit(&self) -> Result<Option<RateLimitEntry>, GithubError> {
        const ENDPOINT: &str = "rate_limit";
        let url = self.url("/rate_limit")?;
        match self.get_with(ENDPOINT, url, false).await {
            Ok(f) => Ok(Some(
                decode::<RateLimitResponse>(ENDPOINT, &f.body)?
                    .resources
                    .core,
            )),
            Err(GithubError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

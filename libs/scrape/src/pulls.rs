//! Pull-request flow: what a read of a repository's pull requests adds to
//! `gh_pr_lead_time_seconds` and `gh_pr_time_to_first_review_seconds`, and
//! the open pull requests behind `gh_pr_open` and
//! `gh_pr_oldest_open_age_seconds`, by the rules of `docs/metrics.md`.
//!
//! A pull request counts when its author is counted (the bot, allow and
//! deny rules of the activity families), so the lead-time histogram
//! observes exactly the merges `gh_activity_prs_merged_24h` counts. Its
//! first review is the earliest submitted review in a counted state by
//! someone other than the author who is counted and is not a bot, whatever
//! `github.include_bot_accounts` says.

use chrono::{DateTime, Utc};
use ghstats_github::models::{PullRequest, Review};
use ghstats_github::{GithubClient, GithubError};
use ghstats_store::{FlowHistogram, OpenPulls, PullObservation};
use sha2::{Digest, Sha256};

use crate::activity::COUNTED_REVIEW_STATES;
use crate::attribution::{Attribution, Person, person, same_account};

/// Whether `author`'s pull requests count.
pub fn counted_author(attribution: &Attribution, author: Option<&Person>) -> bool {
    author.is_some_and(|a| attribution.label(a).is_some())
}

/// When the first review of a pull request by `author` was submitted.
pub fn first_review(
    attribution: &Attribution,
    author: Option<&Person>,
    reviews: &[Review],
) -> Option<DateTime<Utc>> {
    reviews
        .iter()
        .filter(|r| COUNTED_REVIEW_STATES.contains(&r.state.as_str()))
        .filter_map(|r| {
            let at = r.submitted_at?;
            let reviewer = person(r.user.as_ref())?;
            let counts = !reviewer.bot
                && !same_account(Some(&reviewer), author)
                && attribution.label(&reviewer).is_some();
            counts.then_some(at)
        })
        .min()
}

/// The observations of one listed pull request whose merge or first
/// review falls in `[from, until)`.
pub fn observations(
    attribution: &Attribution,
    pr: &PullRequest,
    reviews: &[Review],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<PullObservation> {
    let author = person(pr.user.as_ref());
    if !counted_author(attribution, author.as_ref()) {
        return Vec::new();
    }
    let since_created = |at: DateTime<Utc>| (at - pr.created_at).num_seconds().max(0) as u64;
    let merged = pr.merged_at.map(|at| (FlowHistogram::LeadTime, at));
    let reviewed = first_review(attribution, author.as_ref(), reviews)
        .map(|at| (FlowHistogram::FirstReview, at));
    merged
        .into_iter()
        .chain(reviewed)
        .filter(|(_, at)| *at >= from && *at < until)
        .map(|(histogram, at)| PullObservation {
            histogram,
            number: pr.number,
            at,
            seconds: since_created(at),
        })
        .collect()
}

/// A fingerprint of the rules that decide which pull requests count, kept
/// in the open listing's memos (a memo made under other rules is not read).
pub fn rules_fingerprint(attribution: &Attribution) -> u64 {
    let digest = Sha256::digest(attribution.rules_text().as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) >> 1
}

/// The repository's open pull requests now, by counted authors.
pub async fn open_pulls(
    client: &GithubClient,
    attribution: &Attribution,
    repo: &str,
) -> Result<OpenPulls, GithubError> {
    let listed = client
        .open_pulls(repo, rules_fingerprint(attribution), |p| {
            counted_author(attribution, person(p.user.as_ref()).as_ref())
        })
        .await?;
    Ok(OpenPulls {
        ready: listed.tally.ready,
        draft: listed.tally.draft,
        oldest_ready: listed.tally.oldest_ready,
    })
}

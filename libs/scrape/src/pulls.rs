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

/// [`open_pulls`], or `None` when the listing fails (logged): the stored
/// counts stay and the oldest one's age keeps growing until a later read
/// (a backfill cannot make up for it: the counts are of now).
pub async fn open_pulls_now(
    client: &GithubClient,
    attribution: &Attribution,
    org: &str,
    repo: &str,
) -> Option<OpenPulls> {
    match open_pulls(client, attribution, repo).await {
        Ok(open) => Some(open),
        Err(e) => {
            tracing::warn!(org, repo, error = %e, "listing open pull requests failed");
            None
        }
    }
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use ghstats_config::GithubConfig;
    use ghstats_github::models::Account;

    use super::*;

    fn account(login: &str, id: u64, bot: bool) -> Option<Account> {
        Some(Account {
            login: Some(login.into()),
            id: Some(id),
            kind: Some(if bot { "Bot" } else { "User" }.into()),
        })
    }

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 12, minute, 0).unwrap()
    }

    fn review(id: u64, user: Option<Account>, state: &str, minute: Option<u32>) -> Review {
        Review {
            id,
            user,
            state: state.into(),
            submitted_at: minute.map(at),
        }
    }

    #[test]
    fn the_first_review_is_the_earliest_counted_one_by_someone_else_and_no_bot() {
        let author = person(account("alice", 1, false).as_ref());
        let reviews = [
            review(1, account("alice", 1, false), "COMMENTED", Some(1)),
            review(2, account("Copilot", 9, true), "COMMENTED", Some(2)),
            review(3, account("bob", 2, false), "PENDING", None),
            review(4, account("carol", 3, false), "DISMISSED", Some(3)),
            review(5, account("bob", 2, false), "APPROVED", Some(5)),
            review(6, account("dave", 4, false), "CHANGES_REQUESTED", Some(4)),
        ];
        // Bots count in the activity families with include_bot_accounts,
        // never as a first review.
        for include_bot_accounts in [false, true] {
            let rules = Attribution::from_config(&GithubConfig {
                include_bot_accounts,
                ..GithubConfig::default()
            });
            // Carol's review was dismissed later: it still ended the wait.
            assert_eq!(
                first_review(&rules, author.as_ref(), &reviews),
                Some(at(3)),
                "bots: {include_bot_accounts}"
            );
        }
        let deny = |logins: &[&str]| {
            Attribution::new(
                ghstats_config::UserLabelMode::Login,
                vec![],
                logins.iter().map(|l| (*l).to_owned()).collect(),
            )
        };
        assert_eq!(
            first_review(&deny(&["carol"]), author.as_ref(), &reviews),
            Some(at(4))
        );
        assert_eq!(
            first_review(&deny(&["carol", "dave"]), author.as_ref(), &reviews),
            Some(at(5))
        );
    }

    #[test]
    fn a_bot_authored_pull_request_is_not_observed() {
        let rules = Attribution::from_config(&GithubConfig::default());
        let pr = PullRequest {
            number: 7,
            user: account("dependabot[bot]", 5, true),
            state: "closed".into(),
            created_at: at(0),
            updated_at: at(30),
            closed_at: Some(at(30)),
            merged_at: Some(at(30)),
            draft: false,
        };
        assert!(observations(&rules, &pr, &[], at(0), at(59)).is_empty());
        let human = PullRequest {
            user: account("alice", 1, false),
            ..pr
        };
        let seen = observations(&rules, &human, &[], at(0), at(59));
        assert_eq!(seen.len(), 1);
        assert_eq!(
            (seen[0].histogram, seen[0].seconds),
            (FlowHistogram::LeadTime, 1800)
        );
        assert!(
            observations(&rules, &human, &[], at(31), at(59)).is_empty(),
            "a merge outside the window is not this read's"
        );
    }
}

//! What happens to pull requests after they are opened, as on GitHub: a
//! review (by someone else, a bot, or the author answering in a thread),
//! a draft marked ready, a merge, a close and a reopen. Each one bumps the
//! pull request's `updated_at`, as GitHub does. An action with no pull
//! request to act on opens one instead.

use chrono::{DateTime, Utc};

use crate::rng::Rng;
use crate::world::{Pull, Repo, Review, World, touch};

/// Which pull requests an action picks from.
fn pick<'r>(
    rng: &mut Rng,
    repo: &'r mut Repo,
    wanted: impl Fn(&Pull) -> bool,
) -> Option<&'r mut Pull> {
    let candidates: Vec<usize> = (0..repo.pulls.len())
        .filter(|i| wanted(&repo.pulls[*i]))
        .collect();
    let chosen = *candidates.get(rng.below(candidates.len().max(1) as u64) as usize)?;
    repo.pulls.get_mut(chosen)
}

impl World {
    /// Opens a pull request now, without reviews (a draft with `draft`).
    pub fn open_pull(&mut self, rng: &mut Rng, repo: &mut Repo, now: DateTime<Utc>, draft: bool) {
        let number = repo.pulls.len() as u64 + repo.comments.len() as u64 + 1;
        let user = self.pick_user(rng);
        let id = self.fresh_id();
        repo.pulls.push(Pull {
            id,
            number,
            user,
            title: format!("Change {number}"),
            created_at: now,
            updated_at: now,
            closed_at: None,
            merged_at: None,
            draft,
            reviews: Vec::new(),
        });
        touch(repo, now);
    }

    /// A review submitted now on an open pull request, by a random account
    /// (a bot now and then, the author now and then, as a reply).
    pub fn review_pull(&mut self, rng: &mut Rng, repo: &mut Repo, now: DateTime<Utc>) {
        let id = self.fresh_id();
        let reviewer = self.pick_user(rng);
        let by_author = self.actor.is_none() && rng.chance(0.2);
        let state = ["APPROVED", "COMMENTED", "CHANGES_REQUESTED"][rng.below(3) as usize];
        let Some(p) = pick(rng, repo, |p| p.closed_at.is_none()) else {
            return self.open_pull(rng, repo, now, false);
        };
        let user = if by_author { p.user.clone() } else { reviewer };
        p.reviews.push(Review {
            id,
            user,
            state: if by_author { "COMMENTED" } else { state },
            submitted_at: now,
        });
        p.updated_at = now;
        touch(repo, now);
    }

    /// A review dismissed now: an approval or a change request of an open
    /// pull request becomes `DISMISSED`, as when its author pushes new
    /// commits under "dismiss stale pull request approvals", or someone
    /// with write access dismisses it (GitHub keeps its `submitted_at`).
    pub fn dismiss_review(&mut self, rng: &mut Rng, repo: &mut Repo, now: DateTime<Utc>) {
        let Some(p) = pick(rng, repo, |p| {
            p.closed_at.is_none()
                && p.reviews
                    .iter()
                    .any(|r| ["APPROVED", "CHANGES_REQUESTED"].contains(&r.state))
        }) else {
            return self.review_pull(rng, repo, now);
        };
        if let Some(r) = p
            .reviews
            .iter_mut()
            .find(|r| ["APPROVED", "CHANGES_REQUESTED"].contains(&r.state))
        {
            r.state = "DISMISSED";
        }
        p.updated_at = now;
        touch(repo, now);
    }

    /// A draft marked ready for review now.
    pub fn ready_pull(&mut self, rng: &mut Rng, repo: &mut Repo, now: DateTime<Utc>) {
        let Some(p) = pick(rng, repo, |p| p.closed_at.is_none() && p.draft) else {
            return self.open_pull(rng, repo, now, true);
        };
        p.draft = false;
        p.updated_at = now;
        touch(repo, now);
    }

    /// An open pull request that is not a draft merged now.
    pub fn merge_pull(&mut self, rng: &mut Rng, repo: &mut Repo, now: DateTime<Utc>) {
        let Some(p) = pick(rng, repo, |p| p.closed_at.is_none() && !p.draft) else {
            return self.open_pull(rng, repo, now, false);
        };
        p.merged_at = Some(now);
        p.closed_at = Some(now);
        p.updated_at = now;
        touch(repo, now);
    }

    /// An open pull request closed now without merging.
    pub fn close_pull(&mut self, rng: &mut Rng, repo: &mut Repo, now: DateTime<Utc>) {
        let Some(p) = pick(rng, repo, |p| p.closed_at.is_none()) else {
            return self.open_pull(rng, repo, now, false);
        };
        p.closed_at = Some(now);
        p.updated_at = now;
        touch(repo, now);
    }

    /// A pull request closed without merging reopened now.
    pub fn reopen_pull(&mut self, rng: &mut Rng, repo: &mut Repo, now: DateTime<Utc>) {
        let Some(p) = pick(rng, repo, |p| {
            p.closed_at.is_some() && p.merged_at.is_none()
        }) else {
            return self.open_pull(rng, repo, now, false);
        };
        p.closed_at = None;
        p.updated_at = now;
        touch(repo, now);
    }
}

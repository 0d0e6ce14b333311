//! The simulated GitHub world: orgs, repositories, users, and their
//! commits, pull requests, reviews and issue comments, generated from a seed.
//!
//! Every org has, besides its ordinary repositories, the awkward cases a
//! scraper must survive: an archived repository, a fork, an empty one, a
//! large one whose contributor stats report zero lines (GitHub's large-repo
//! limit), and one whose stats never finish computing.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::SimError;
use crate::rng::Rng;

/// The size and shape of a world.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WorldSpec {
    pub seed: u64,
    pub orgs: u32,
    /// Ordinary repositories per org (the special ones come on top).
    pub repos_per_org: u32,
    pub users: u32,
    /// Days of history before "now".
    pub days: u32,
    /// Commits of the large repository whose stats are zeroed.
    pub large_repo_commits: u32,
    /// Whether to add the special repositories (archived, fork, empty,
    /// large, warming).
    pub special_repos: bool,
}

impl Default for WorldSpec {
    fn default() -> Self {
        Self {
            seed: 42,
            orgs: 2,
            repos_per_org: 4,
            users: 8,
            days: 14,
            large_repo_commits: 1200,
            special_repos: true,
        }
    }
}

impl WorldSpec {
    /// One org of `repos` ordinary repositories (none of the special
    /// ones), `users` contributors and `days` days of history.
    pub fn one_org(repos: u32, users: u32, days: u32) -> Self {
        Self {
            orgs: 1,
            repos_per_org: repos,
            users,
            days,
            special_repos: false,
            ..Self::default()
        }
    }
}

/// How `/stats/contributors` behaves for a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatsBehaviour {
    /// 202 on the first request after a change, then 200.
    Normal,
    /// 202 forever.
    AlwaysWarming,
    /// 200 with commit counts but zero additions and deletions.
    Zeroed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub login: String,
    pub id: u64,
    /// GitHub's account `type` is `Bot` (whatever the login looks like:
    /// `dependabot[bot]`, but also the Copilot coding agent's `Copilot`).
    pub bot: bool,
}

impl User {
    pub fn person(login: &str, id: u64) -> Self {
        Self {
            login: login.to_owned(),
            id,
            bot: false,
        }
    }

    pub fn bot(login: &str, id: u64) -> Self {
        Self {
            bot: true,
            ..Self::person(login, id)
        }
    }
}

/// The account GitHub commits web merges as (`committer` of squash and
/// rebase merges made in the web UI).
pub fn web_flow() -> User {
    User::person("web-flow", 19_864_447)
}

/// A commit on the default branch. GitHub lists them by committer date,
/// newest first, and filters `since`/`until` on it; the author date is
/// when the change was written, often hours earlier (a rebase, a late
/// push, a merged branch).
#[derive(Debug, Clone)]
pub struct Commit {
    pub sha: String,
    /// The GitHub account linked to the author, if any.
    pub author: Option<User>,
    pub author_name: String,
    pub author_email: String,
    /// The author date.
    pub date: DateTime<Utc>,
    /// The GitHub account linked to the committer, if any.
    pub committer: Option<User>,
    pub committer_name: String,
    pub committer_email: String,
    /// The committer date.
    pub committed_at: DateTime<Utc>,
    /// Number of parents: 2 or more for a merge commit.
    pub parents: u32,
    pub additions: u64,
    pub deletions: u64,
}

/// A repository that left its org (renamed away, deleted, archived):
/// what it held when it left, so the truth can say what an exporter that
/// watched it until then still shows while those events age out.
#[derive(Debug, Clone)]
pub struct Departed {
    pub org: String,
    pub repo: Repo,
    pub at: DateTime<Utc>,
    pub how: Departure,
}

#[derive(Debug, Clone)]
pub struct Review {
    pub id: u64,
    pub user: User,
    pub state: &'static str,
    pub submitted_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Pull {
    pub id: u64,
    pub number: u64,
    pub user: User,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub merged_at: Option<DateTime<Utc>>,
    /// A draft (GitHub's `draft`; the REST pull request does not say when
    /// it left draft).
    pub draft: bool,
    pub reviews: Vec<Review>,
}

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    pub issue_number: u64,
    pub user: User,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Repo {
    pub id: u64,
    pub name: String,
    pub archived: bool,
    pub fork: bool,
    pub created_at: DateTime<Utc>,
    pub pushed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub stats: StatsBehaviour,
    /// Newest first, as GitHub lists them.
    pub commits: Vec<Commit>,
    pub pulls: Vec<Pull>,
    pub comments: Vec<Comment>,
    /// Bumped on every change; `/stats/contributors` answers 202 once per
    /// generation (for `Normal` repositories).
    pub generation: u64,
    pub stats_served_generation: u64,
}

#[derive(Debug, Clone)]
pub struct Org {
    pub login: String,
    pub id: u64,
    pub installation_id: u64,
    pub repos: Vec<Repo>,
}

impl Org {
    /// The org without its repositories (for payloads).
    pub fn clone_shallow(&self) -> Org {
        Org {
            login: self.login.clone(),
            id: self.id,
            installation_id: self.installation_id,
            repos: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct World {
    pub orgs: Vec<Org>,
    pub users: Vec<User>,
    pub bots: Vec<User>,
    pub departed: Vec<Departed>,
    /// While set, every new event is this account's.
    pub actor: Option<User>,
    pub(crate) next_id: u64,
}

/// The demo App's installations are numbered from here, one per org.
pub const FIRST_INSTALLATION_ID: u64 = 2000;

impl World {
    /// Generates the world of `spec`, its history ending at `now`.
    pub fn generate(spec: &WorldSpec, now: DateTime<Utc>) -> Self {
        let users = (0..spec.users.max(2))
            .map(|i| User::person(&format!("user-{i:03}"), 10_000 + u64::from(i)))
            .collect();
        // GitHub's own bots; the Copilot coding agent has no `[bot]` suffix.
        let bots = vec![
            User::bot("dependabot[bot]", 49_699_333),
            User::bot("github-actions[bot]", 41_898_282),
            User::bot("Copilot", 198_982_749),
        ];
        let mut world = World {
            orgs: Vec::new(),
            users,
            bots,
            departed: Vec::new(),
            actor: None,
            next_id: 1_000_000,
        };
        for o in 0..spec.orgs {
            let login = format!("org-{}", (b'a' + (o % 26) as u8) as char)
                + &if o >= 26 {
                    (o / 26).to_string()
                } else {
                    String::new()
                };
            let mut org = Org {
                login,
                id: 5_000 + u64::from(o),
                installation_id: FIRST_INSTALLATION_ID + u64::from(o),
                repos: Vec::new(),
            };
            let mut names: Vec<(String, RepoKind)> = (0..spec.repos_per_org)
                .map(|r| (format!("repo-{r:03}"), RepoKind::Ordinary))
                .collect();
            if spec.special_repos {
                names.extend([
                    ("old-archive".to_owned(), RepoKind::Archived),
                    ("forked-lib".to_owned(), RepoKind::Fork),
                    ("empty-repo".to_owned(), RepoKind::Empty),
                    ("monorepo".to_owned(), RepoKind::Large),
                    ("slow-stats".to_owned(), RepoKind::Warming),
                ]);
            }
            for (r, (name, kind)) in names.into_iter().enumerate() {
                let mut rng = Rng::derive(spec.seed, &[u64::from(o), r as u64]);
                let repo =
                    world.make_repo(&mut rng, spec, now, org.id * 1000 + r as u64, name, kind);
                org.repos.push(repo);
            }
            world.orgs.push(org);
        }
        world
    }

    pub(crate) fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(crate) fn pick_user(&self, rng: &mut Rng) -> User {
        if let Some(actor) = &self.actor {
            return actor.clone();
        }
        if rng.chance(0.08) {
            self.bots[rng.below(self.bots.len() as u64) as usize].clone()
        } else {
            self.users[rng.below(self.users.len() as u64) as usize].clone()
        }
    }

    fn make_repo(
        &mut self,
        rng: &mut Rng,
        spec: &WorldSpec,
        now: DateTime<Utc>,
        id: u64,
        name: String,
        kind: RepoKind,
    ) -> Repo {
        let start = now - Duration::days(i64::from(spec.days));
        let created_at = start - Duration::days(30);
        let mut repo = Repo {
            id,
            name,
            archived: kind == RepoKind::Archived,
            fork: kind == RepoKind::Fork,
            created_at,
            pushed_at: created_at,
            updated_at: created_at,
            stats: match kind {
                RepoKind::Large => StatsBehaviour::Zeroed,
                RepoKind::Warming => StatsBehaviour::AlwaysWarming,
                _ => StatsBehaviour::Normal,
            },
            commits: Vec::new(),
            pulls: Vec::new(),
            comments: Vec::new(),
            generation: 1,
            stats_served_generation: 0,
        };
        if kind == RepoKind::Empty {
            return repo;
        }
        // Archived repositories went quiet before the window we look at.
        let (from, to) = if kind == RepoKind::Archived {
            (start - Duration::days(20), start - Duration::days(10))
        } else {
            (start, now)
        };
        let span = (to - from).num_seconds().max(1) as u64;
        let at = |rng: &mut Rng| from + Duration::seconds(rng.below(span) as i64);
        let commits = if kind == RepoKind::Large {
            u64::from(spec.large_repo_commits)
        } else {
            rng.range(u64::from(spec.days), 3 * u64::from(spec.days))
        };
        for _ in 0..commits {
            let date = at(rng);
            // Some commits were rebased (or pushed late): committed hours
            // after they were written.
            let committed = if rng.chance(0.2) {
                (date + Duration::minutes(rng.range(30, 30 * 60) as i64)).min(to)
            } else {
                date
            };
            self.add_commit_at(rng, &mut repo, date, committed);
        }
        for _ in 0..rng.range(u64::from(spec.days) / 3, u64::from(spec.days)) {
            let created = at(rng);
            self.add_pull(rng, &mut repo, created, now);
        }
        for _ in 0..rng.range(u64::from(spec.days) / 2, 2 * u64::from(spec.days)) {
            let created = at(rng);
            self.add_comment(rng, &mut repo, created);
        }
        repo
    }

    /// Adds a commit authored at `date` and committed (and pushed) at
    /// `committed`, by a random author: most are linked to an account
    /// (GitHub links `users.noreply.github.com` addresses too), some carry
    /// an address nobody can map. The committer is the author, except for
    /// unlinked authors whose commits a member committed.
    pub fn add_commit_at(
        &mut self,
        rng: &mut Rng,
        repo: &mut Repo,
        date: DateTime<Utc>,
        committed: DateTime<Utc>,
    ) {
        let user = self.pick_user(rng);
        let roll = rng.below(100);
        let (author, email) = match roll {
            0..=84 => (
                Some(user.clone()),
                format!("{}@users.example.com", user.login),
            ),
            85..=92 => (
                Some(user.clone()),
                format!("{}+{}@users.noreply.github.com", user.id, user.login),
            ),
            _ => (None, format!("dev{}@contractor.example.com", rng.below(3))),
        };
        let committer = match &author {
            Some(a) => a.clone(),
            None => self.pick_person(rng),
        };
        let commit = Commit {
            sha: rng.sha(),
            author,
            author_name: user.login.replace('-', " "),
            author_email: email,
            date,
            committer_name: committer.login.replace('-', " "),
            committer_email: format!("{}@users.example.com", committer.login),
            committer: Some(committer),
            committed_at: committed,
            parents: 1,
            additions: rng.range(1, 120),
            deletions: rng.range(0, 60),
        };
        push_commit(repo, commit);
    }

    /// A member merges a branch now: the branch's `count` commits, written
    /// and committed hours ago, arrive with a merge commit (two parents).
    pub fn add_merge(&mut self, rng: &mut Rng, repo: &mut Repo, now: DateTime<Utc>, count: u64) {
        for _ in 0..count {
            let written = now - Duration::minutes(rng.range(60, 20 * 60) as i64);
            self.add_commit_at(rng, repo, written, written);
        }
        let merger = self.pick_person(rng);
        let commit = Commit {
            sha: rng.sha(),
            author_name: merger.login.clone(),
            author_email: format!("{}@users.example.com", merger.login),
            author: Some(merger.clone()),
            date: now,
            committer_name: merger.login.clone(),
            committer_email: format!("{}@users.example.com", merger.login),
            committer: Some(merger),
            committed_at: now,
            parents: 2,
            additions: 0,
            deletions: 0,
        };
        push_commit(repo, commit);
    }

    /// A pull request squash-merged in the web UI now: one commit authored
    /// by the PR's author (linked, or an unlinked address), committed by
    /// `web-flow`.
    pub fn add_squash(&mut self, rng: &mut Rng, repo: &mut Repo, now: DateTime<Utc>, linked: bool) {
        let user = self.pick_person(rng);
        let commit = Commit {
            sha: rng.sha(),
            author: linked.then(|| user.clone()),
            author_name: user.login.clone(),
            author_email: if linked {
                format!("{}+{}@users.noreply.github.com", user.id, user.login)
            } else {
                format!("{}@laptop.local", user.login)
            },
            date: now,
            committer: Some(web_flow()),
            committer_name: "GitHub".into(),
            committer_email: "noreply@github.com".into(),
            committed_at: now,
            parents: 1,
            additions: rng.range(1, 200),
            deletions: rng.range(0, 80),
        };
        push_commit(repo, commit);
    }

    /// `count` commits rebased onto the default branch now: written over
    /// the last hours, committed now (new shas, as a rebase makes).
    pub fn add_rebased(&mut self, rng: &mut Rng, repo: &mut Repo, now: DateTime<Utc>, count: u64) {
        for _ in 0..count {
            let written = now - Duration::minutes(rng.range(10, 20 * 60) as i64);
            self.add_commit_at(rng, repo, written, now);
        }
    }

    /// A random person (no bot).
    fn pick_person(&self, rng: &mut Rng) -> User {
        if let Some(actor) = self.actor.as_ref().filter(|a| !a.bot) {
            return actor.clone();
        }
        self.users[rng.below(self.users.len() as u64) as usize].clone()
    }

    /// Adds a pull request opened at `created`, maybe reviewed and merged
    /// before `now`.
    pub fn add_pull(
        &mut self,
        rng: &mut Rng,
        repo: &mut Repo,
        created: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        let number = repo.pulls.len() as u64 + repo.comments.len() as u64 + 1;
        let user = self.pick_user(rng);
        let mut reviews = Vec::new();
        let mut last = created;
        for _ in 0..rng.below(3) {
            let reviewer = self.pick_user(rng);
            let submitted_at = (created + Duration::minutes(rng.range(5, 600) as i64)).min(now);
            last = last.max(submitted_at);
            let state = ["APPROVED", "COMMENTED", "CHANGES_REQUESTED"][rng.below(3) as usize];
            reviews.push(Review {
                id: self.fresh_id(),
                user: reviewer,
                state,
                submitted_at,
            });
            // The author answers in the review thread: GitHub records that
            // as a `COMMENTED` review by the author.
            if rng.chance(0.3) {
                let replied = (submitted_at + Duration::minutes(rng.range(1, 60) as i64)).min(now);
                last = last.max(replied);
                reviews.push(Review {
                    id: self.fresh_id(),
                    user: user.clone(),
                    state: "COMMENTED",
                    submitted_at: replied,
                });
            }
        }
        let outcome = rng.below(10);
        let end = (last + Duration::minutes(rng.range(10, 900) as i64)).min(now);
        let (merged_at, closed_at) = match outcome {
            0..=5 => (Some(end), Some(end)),
            6 => (None, Some(end)),
            _ => (None, None),
        };
        last = last.max(closed_at.unwrap_or(created));
        let id = self.fresh_id();
        repo.pulls.push(Pull {
            id,
            number,
            user,
            title: format!("Change {number}"),
            created_at: created,
            updated_at: last,
            closed_at,
            merged_at,
            // Some of those still open are drafts.
            draft: closed_at.is_none() && number.is_multiple_of(3),
            reviews,
        });
        touch(repo, last);
    }

    /// Adds an issue comment written at `created`.
    pub fn add_comment(&mut self, rng: &mut Rng, repo: &mut Repo, created: DateTime<Utc>) {
        let user = self.pick_user(rng);
        let issue_number = rng.range(1, 50);
        let id = self.fresh_id();
        repo.comments.push(Comment {
            id,
            issue_number,
            user,
            created_at: created,
            updated_at: created,
        });
        touch(repo, created);
    }

    pub fn org(&self, login: &str) -> Option<&Org> {
        self.orgs
            .iter()
            .find(|o| o.login.eq_ignore_ascii_case(login))
    }

    pub fn repo(&self, owner: &str, name: &str) -> Option<&Repo> {
        self.org(owner)?
            .repos
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
    }

    pub fn repo_mut(&mut self, owner: &str, name: &str) -> Option<&mut Repo> {
        self.orgs
            .iter_mut()
            .find(|o| o.login.eq_ignore_ascii_case(owner))?
            .repos
            .iter_mut()
            .find(|r| r.name.eq_ignore_ascii_case(name))
    }

    /// Removes repo `index` of org `org` to work on it beside the world.
    pub fn take_repo(&mut self, org: usize, index: usize) -> Repo {
        self.orgs[org].repos.swap_remove(index)
    }

    pub fn put_repo(&mut self, org: usize, repo: Repo) {
        let repos = &mut self.orgs[org].repos;
        repos.push(repo);
        repos.sort_by_key(|r| r.id);
    }
}

/// Puts `commit` where GitHub lists it (newest committer date first) and
/// marks the push.
fn push_commit(repo: &mut Repo, commit: Commit) {
    let at = commit.committed_at;
    repo.commits.insert(
        repo.commits.partition_point(|c| c.committed_at > at),
        commit,
    );
    touch(repo, at);
    repo.pushed_at = repo.pushed_at.max(at);
}

pub(crate) fn touch(repo: &mut Repo, at: DateTime<Utc>) {
    repo.updated_at = repo.updated_at.max(at);
    repo.generation += 1;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RepoKind {
    Ordinary,
    Archived,
    Fork,
    Empty,
    Large,
    Warming,
}

/// Why a repository left its org's listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Departure {
    /// Still listed, but archived (out of a selection without archives).
    Archived,
    /// Listed under a new name from now on.
    Renamed,
    /// Deleted (or transferred to another owner).
    Deleted,
}

impl World {
    /// Archives, renames (to `new_name`) or deletes a repository at `now`,
    /// remembering what it held.
    pub fn depart(
        &mut self,
        org: &str,
        name: &str,
        how: Departure,
        new_name: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), SimError> {
        let o = self
            .orgs
            .iter()
            .position(|o| o.login.eq_ignore_ascii_case(org))
            .ok_or_else(|| SimError::NoOrg(org.to_owned()))?;
        let r = self.orgs[o]
            .repos
            .iter()
            .position(|r| r.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| SimError::NoRepo(name.to_owned()))?;
        let login = self.orgs[o].login.clone();
        if how == Departure::Renamed {
            let to = new_name
                .filter(|n| !n.is_empty())
                .ok_or(SimError::NeedsNewName)?;
            if self.orgs[o]
                .repos
                .iter()
                .any(|r| r.name.eq_ignore_ascii_case(to))
            {
                return Err(SimError::Exists(format!("{login}/{to}")));
            }
        }
        let snapshot = self.orgs[o].repos[r].clone();
        self.departed.push(Departed {
            org: login,
            repo: snapshot,
            at: now,
            how,
        });
        match how {
            Departure::Deleted => {
                self.orgs[o].repos.remove(r);
            }
            Departure::Renamed => {
                let repo = &mut self.orgs[o].repos[r];
                repo.name = new_name.unwrap_or_default().to_owned();
                touch(repo, now);
            }
            Departure::Archived => {
                let repo = &mut self.orgs[o].repos[r];
                repo.archived = true;
                touch(repo, now);
            }
        }
        Ok(())
    }

    /// The account (user or bot) with login `login`.
    pub fn account(&self, login: &str) -> Option<User> {
        self.users
            .iter()
            .chain(&self.bots)
            .find(|u| u.login == login)
            .cloned()
    }

    /// Renames a user account: GitHub shows the new login on everything
    /// the account ever did.
    pub fn rename_user(&mut self, old: &str, new: &str) -> Result<(), SimError> {
        let id = self
            .users
            .iter()
            .find(|u| u.login == old)
            .map(|u| u.id)
            .ok_or_else(|| SimError::NoUser(old.to_owned()))?;
        if self.users.iter().any(|u| u.login == new) {
            return Err(SimError::Exists(format!("user {new}")));
        }
        let rename = |u: &mut User| {
            if u.id == id {
                u.login = new.to_owned();
            }
        };
        for u in &mut self.users {
            rename(u);
        }
        let repos = self
            .orgs
            .iter_mut()
            .flat_map(|o| o.repos.iter_mut())
            .chain(self.departed.iter_mut().map(|d| &mut d.repo));
        for repo in repos {
            for c in &mut repo.commits {
                c.author
                    .iter_mut()
                    .chain(c.committer.iter_mut())
                    .for_each(rename);
            }
            for p in &mut repo.pulls {
                rename(&mut p.user);
                p.reviews.iter_mut().for_each(|r| rename(&mut r.user));
            }
            repo.comments.iter_mut().for_each(|c| rename(&mut c.user));
            repo.generation += 1;
        }
        Ok(())
    }
}

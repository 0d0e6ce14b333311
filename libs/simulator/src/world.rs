//! The simulated GitHub world: orgs, repositories, users, and their
//! commits, pull requests, reviews and issue comments, generated from a seed.
//!
//! Every org has, besides its ordinary repositories, the awkward cases a
//! scraper must survive: an archived repository, a fork, an empty one, a
//! large one whose contributor stats report zero lines (GitHub's large-repo
//! limit), and one whose stats never finish computing.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

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
}

#[derive(Debug, Clone)]
pub struct Commit {
    pub sha: String,
    /// The GitHub account linked to the author, if any.
    pub author: Option<User>,
    pub author_name: String,
    pub author_email: String,
    pub date: DateTime<Utc>,
    pub additions: u64,
    pub deletions: u64,
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

#[derive(Debug, Clone)]
pub struct World {
    pub orgs: Vec<Org>,
    pub users: Vec<User>,
    pub bots: Vec<User>,
    next_id: u64,
}

/// The demo App's installations are numbered from here, one per org.
pub const FIRST_INSTALLATION_ID: u64 = 2000;

impl World {
    /// Generates the world of `spec`, its history ending at `now`.
    pub fn generate(spec: &WorldSpec, now: DateTime<Utc>) -> Self {
        let users = (0..spec.users.max(2))
            .map(|i| User {
                login: format!("user-{i:03}"),
                id: 10_000 + u64::from(i),
            })
            .collect();
        let bots = ["dependabot[bot]", "github-actions[bot]"]
            .iter()
            .enumerate()
            .map(|(i, l)| User {
                login: (*l).to_owned(),
                id: 49_000_000 + i as u64,
            })
            .collect();
        let mut world = World {
            orgs: Vec::new(),
            users,
            bots,
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

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn pick_user(&self, rng: &mut Rng) -> User {
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
            self.add_commit(rng, &mut repo, date);
        }
        for _ in 0..rng.range(u64::from(spec.days) / 3, u64::from(spec.days)) {
            let created = at(rng);
            self.add_pull(rng, &mut repo, created, now);
        }
        for _ in 0..rng.range(u64::from(spec.days) / 2, 2 * u64::from(spec.days)) {
            let created = at(rng);
            self.add_comment(rng, &mut repo, created);
        }
        repo.commits.sort_by_key(|c| std::cmp::Reverse(c.date));
        repo
    }

    /// Adds a commit authored at `date` (live activity uses this too).
    pub fn add_commit(&mut self, rng: &mut Rng, repo: &mut Repo, date: DateTime<Utc>) {
        let user = self.pick_user(rng);
        // Most commits are linked to an account; some carry only a noreply
        // address GitHub did not link, some an address nobody can map.
        let roll = rng.below(100);
        let (author, email) = match roll {
            0..=89 => (
                Some(user.clone()),
                format!("{}@users.example.com", user.login),
            ),
            90..=94 => (
                None,
                format!("{}+{}@users.noreply.github.com", user.id, user.login),
            ),
            _ => (None, format!("dev{}@contractor.example.com", rng.below(3))),
        };
        let sha = rng.sha();
        repo.commits.insert(
            repo.commits.partition_point(|c| c.date > date),
            Commit {
                sha,
                author,
                author_name: user.login.replace('-', " "),
                author_email: email,
                date,
                additions: rng.range(1, 120),
                deletions: rng.range(0, 60),
            },
        );
        touch(repo, date);
        repo.pushed_at = repo.pushed_at.max(date);
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

fn touch(repo: &mut Repo, at: DateTime<Utc>) {
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

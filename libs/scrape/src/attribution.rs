//! Who an event belongs to, and how they appear in the `user` label:
//! commits go to their linked author only (never to the committer, which
//! on GitHub is often `web-flow`); a commit without a linked author counts
//! under [`UNATTRIBUTED`] or not at all (`github.unattributed_commits`).
//! Accounts of type `Bot` are dropped unless `github.include_bot_accounts`;
//! then the allow and deny lists (`*[bot]` denied by default), then
//! `user_label_mode`. The rules are those of `docs/metrics.md`.

use ghstats_config::{GithubConfig, UnattributedCommits, UserLabelMode};
use ghstats_github::models::Account;
use sha2::{Digest, Sha256};

use crate::glob;

/// The `user` label of commits whose author GitHub did not link to an
/// account: no GitHub login can contain parentheses.
pub const UNATTRIBUTED: &str = "(unattributed)";

#[derive(Debug, Clone)]
pub struct Attribution {
    mode: UserLabelMode,
    allow: Vec<String>,
    deny: Vec<String>,
    include_bots: bool,
    unattributed: UnattributedCommits,
}

/// A GitHub identity before labelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub login: String,
    pub id: Option<u64>,
    /// GitHub's account type is `Bot`.
    pub bot: bool,
}

/// Whom an event is credited to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credit {
    Person(Person),
    /// A commit without a linked author.
    Unattributed,
}

/// What the rules make of a credit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Labelled {
    User(String),
    /// A bot, or a user the allow/deny lists drop.
    Filtered,
    /// An unattributed commit that `unattributed_commits: drop` drops.
    Dropped,
}

impl Attribution {
    pub fn new(mode: UserLabelMode, allow: Vec<String>, deny: Vec<String>) -> Self {
        Self {
            mode,
            allow,
            deny,
            include_bots: false,
            unattributed: UnattributedCommits::Count,
        }
    }

    pub fn from_config(c: &GithubConfig) -> Self {
        Self {
            include_bots: c.include_bot_accounts,
            unattributed: c.unattributed_commits,
            ..Self::new(
                c.user_label_mode,
                c.user_allowlist.clone(),
                c.user_denylist.clone(),
            )
        }
    }

    /// The `user` label of `person`, or `None` when the rules drop them.
    pub fn label(&self, person: &Person) -> Option<String> {
        if (person.bot && !self.include_bots)
            || glob::any(&self.deny, &person.login)
            || (!self.allow.is_empty() && !glob::any(&self.allow, &person.login))
        {
            return None;
        }
        Some(match self.mode {
            UserLabelMode::Login => person.login.clone(),
            UserLabelMode::Id => person
                .id
                .map_or_else(|| person.login.clone(), |id| id.to_string()),
            UserLabelMode::Hashed => {
                let digest = Sha256::digest(person.login.as_bytes());
                digest.iter().map(|b| format!("{b:02x}")).collect()
            }
            UserLabelMode::None => "redacted".to_owned(),
        })
    }

    /// The rules that decide who counts, as text (for fingerprints of
    /// what was derived under them).
    pub fn rules_text(&self) -> String {
        format!(
            "bots={} allow={:?} deny={:?}",
            self.include_bots, self.allow, self.deny
        )
    }

    /// The label of a credit.
    pub fn credit(&self, credit: &Credit) -> Labelled {
        match credit {
            Credit::Person(p) => self.label(p).map_or(Labelled::Filtered, Labelled::User),
            Credit::Unattributed => match self.unattributed {
                UnattributedCommits::Count => Labelled::User(UNATTRIBUTED.to_owned()),
                UnattributedCommits::Drop => Labelled::Dropped,
            },
        }
    }
}

/// The person of an embedded account, when it has a login.
pub fn person(account: Option<&Account>) -> Option<Person> {
    let a = account?;
    Some(Person {
        login: a.login.clone().filter(|l| !l.is_empty())?,
        id: a.id,
        bot: a.is_bot(),
    })
}

/// Whether two accounts are the same (by id when both have one).
pub fn same_account(a: Option<&Person>, b: Option<&Person>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => match (a.id, b.id) {
            (Some(x), Some(y)) => x == y,
            _ => a.login.eq_ignore_ascii_case(&b.login),
        },
        _ => false,
    }
}

/// Whom a commit is credited to: its linked author, whoever committed it.
pub fn commit_credit(author: Option<&Account>) -> Credit {
    person(author).map_or(Credit::Unattributed, Credit::Person)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(login: &str) -> Person {
        Person {
            login: login.into(),
            id: Some(7),
            bot: false,
        }
    }

    #[test]
    fn bots_are_denied_by_default_and_modes_apply() {
        let a = Attribution::from_config(&GithubConfig::default());
        assert_eq!(a.label(&p("dependabot[bot]")), None);
        assert_eq!(a.label(&p("alice")).as_deref(), Some("alice"));
        let id = Attribution::new(UserLabelMode::Id, vec![], vec![]);
        assert_eq!(id.label(&p("alice")).as_deref(), Some("7"));
        let hashed = Attribution::new(UserLabelMode::Hashed, vec![], vec![])
            .label(&p("alice"))
            .unwrap();
        assert_eq!(hashed.len(), 64);
        assert_eq!(
            Attribution::new(UserLabelMode::None, vec![], vec![])
                .label(&p("x"))
                .as_deref(),
            Some("redacted")
        );
        let only = Attribution::new(UserLabelMode::Login, vec!["team-*".into()], vec![]);
        assert_eq!(only.label(&p("alice")), None);
        assert!(only.label(&p("team-bob")).is_some());
    }

    #[test]
    fn bot_accounts_are_dropped_by_type_unless_kept() {
        let copilot = Person {
            login: "Copilot".into(),
            id: Some(198_982_749),
            bot: true,
        };
        let a = Attribution::from_config(&GithubConfig::default());
        assert_eq!(a.label(&copilot), None, "no [bot] suffix, still a bot");
        let keep = Attribution::from_config(&GithubConfig {
            include_bot_accounts: true,
            ..GithubConfig::default()
        });
        assert_eq!(keep.label(&copilot).as_deref(), Some("Copilot"));
    }

    #[test]
    fn unattributed_commits_count_under_their_label_or_are_dropped() {
        let a = Attribution::from_config(&GithubConfig::default());
        assert_eq!(
            a.credit(&commit_credit(None)),
            Labelled::User(UNATTRIBUTED.into())
        );
        let drop = Attribution::from_config(&GithubConfig {
            unattributed_commits: UnattributedCommits::Drop,
            ..GithubConfig::default()
        });
        assert_eq!(drop.credit(&commit_credit(None)), Labelled::Dropped);
        assert_eq!(
            drop.credit(&Credit::Person(p("alice"))),
            Labelled::User("alice".into())
        );
    }
}

//! Who an event belongs to, and how they appear in the `user` label:
//! commit attribution (linked author, else committer, else the login in a
//! `users.noreply.github.com` address, else unattributed), the allow and
//! deny lists (bots denied by default), and `user_label_mode`.

use ghstats_config::{GithubConfig, UserLabelMode};
use ghstats_github::models::{Account, Commit, CommitDetail, GitCommit};
use sha2::{Digest, Sha256};

use crate::glob;

#[derive(Debug, Clone)]
pub struct Attribution {
    mode: UserLabelMode,
    allow: Vec<String>,
    deny: Vec<String>,
}

/// A GitHub identity before labelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub login: String,
    pub id: Option<u64>,
}

impl Attribution {
    pub fn new(mode: UserLabelMode, allow: Vec<String>, deny: Vec<String>) -> Self {
        Self { mode, allow, deny }
    }

    pub fn from_config(c: &GithubConfig) -> Self {
        Self::new(
            c.user_label_mode,
            c.user_allowlist.clone(),
            c.user_denylist.clone(),
        )
    }

    /// The `user` label of `person`, or `None` when the lists filter them out.
    pub fn label(&self, person: &Person) -> Option<String> {
        if glob::any(&self.deny, &person.login)
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
}

/// The person of an embedded account, when it has a login.
pub fn person(account: Option<&Account>) -> Option<Person> {
    let a = account?;
    Some(Person {
        login: a.login.clone().filter(|l| !l.is_empty())?,
        id: a.id,
    })
}

/// `12345+login@users.noreply.github.com` (or `login@users.noreply...`).
fn noreply(email: Option<&str>) -> Option<Person> {
    let local = email?.strip_suffix("@users.noreply.github.com")?;
    let (id, login) = match local.split_once('+') {
        Some((id, login)) => (id.parse().ok(), login),
        None => (None, local),
    };
    (!login.is_empty()).then(|| Person {
        login: login.to_owned(),
        id,
    })
}

fn commit_person(
    author: Option<&Account>,
    committer: Option<&Account>,
    git: &GitCommit,
) -> Option<Person> {
    person(author)
        .or_else(|| person(committer))
        .or_else(|| noreply(git.author.as_ref().and_then(|a| a.email.as_deref())))
        .or_else(|| noreply(git.committer.as_ref().and_then(|c| c.email.as_deref())))
}

/// The person a listed commit is attributed to, if any.
pub fn commit_author(c: &Commit) -> Option<Person> {
    commit_person(c.author.as_ref(), c.committer.as_ref(), &c.commit)
}

/// The same rule for a commit detail.
pub fn commit_detail_author(c: &CommitDetail) -> Option<Person> {
    commit_person(c.author.as_ref(), c.committer.as_ref(), &c.commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(login: &str) -> Person {
        Person {
            login: login.into(),
            id: Some(7),
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
    fn noreply_addresses_name_the_login() {
        assert_eq!(
            noreply(Some("10001+user-001@users.noreply.github.com")),
            Some(Person {
                login: "user-001".into(),
                id: Some(10001)
            })
        );
        assert_eq!(noreply(Some("someone@example.com")), None);
    }
}

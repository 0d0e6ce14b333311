//! The static role of a scheduler, from `GITHUB_STATS_INITIAL_ROLE`, for
//! deployments that elect no leader (`leader_election.enabled: false`).

use ghstats_proto::Role;

pub const INITIAL_ROLE_ENV: &str = "GITHUB_STATS_INITIAL_ROLE";

/// A `GITHUB_STATS_INITIAL_ROLE` that names no role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{INITIAL_ROLE_ENV} must be `leader` or `follower`, got {0:?}")]
pub struct InvalidRole(pub String);

/// `leader` when unset; `leader` or `follower` (any case) when set.
pub fn static_role(value: Option<&str>) -> Result<Role, InvalidRole> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("leader") => Ok(Role::Leader),
        Some("follower") => Ok(Role::Follower),
        Some(other) => Err(InvalidRole(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_roles_and_refuses_others() {
        assert_eq!(static_role(None), Ok(Role::Leader));
        assert_eq!(static_role(Some("Follower")), Ok(Role::Follower));
        assert_eq!(static_role(Some("leader")), Ok(Role::Leader));
        assert!(
            static_role(Some("boss"))
                .unwrap_err()
                .to_string()
                .contains("got \"boss\"")
        );
    }
}

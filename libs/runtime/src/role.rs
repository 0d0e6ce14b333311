//! The static role of a scheduler replica, from `GITHUB_STATS_INITIAL_ROLE`.

use ghstats_proto::Role;

pub const INITIAL_ROLE_ENV: &str = "GITHUB_STATS_INITIAL_ROLE";

/// `leader` when unset; `leader` or `follower` (any case) when set.
pub fn static_role(value: Option<&str>) -> Result<Role, String> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("leader") => Ok(Role::Leader),
        Some("follower") => Ok(Role::Follower),
        Some(other) => Err(format!(
            "{INITIAL_ROLE_ENV} must be `leader` or `follower`, got {other:?}"
        )),
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
                .contains("got \"boss\"")
        );
    }
}

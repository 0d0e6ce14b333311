//! Who a replica is: the static role of a scheduler, from
//! `GITHUB_STATS_INITIAL_ROLE`, and the identity every service reports.

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

/// This process's identity in status calls: `$HOSTNAME` (the pod name in
/// Kubernetes), or `ghstats-<service>-<pid>`.
pub fn instance_identity(service: &str) -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("ghstats-{service}-{}", std::process::id()))
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

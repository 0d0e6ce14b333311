//! The identity every service reports in status calls and leases.

/// `$HOSTNAME` (the pod name in Kubernetes), or `ghstats-<service>-<pid>`.
pub fn instance_identity(service: &str) -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("ghstats-{service}-{}", std::process::id()))
}

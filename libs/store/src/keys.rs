//! The one place that builds Redis keys. Every key starts with the
//! configured prefix (`store.key_prefix`, default `ghm:`); see
//! `docs/store-schema.md` for each key's type, TTL, writers and readers.

/// Key builder for one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Hash: series field -> value, for the series of shard `shard`.
    pub fn series_shard(&self, shard: u32) -> String {
        format!("{}series:{shard}", self.prefix)
    }

    /// Sorted set: series field -> last write (Unix seconds), per shard.
    pub fn seen_shard(&self, shard: u32) -> String {
        format!("{}seen:{shard}", self.prefix)
    }

    /// String: number of series stored (for `max_series_budget`).
    pub fn series_count(&self) -> String {
        format!("{}series_count", self.prefix)
    }

    /// Stream: the change log gateways follow.
    pub fn changes(&self) -> String {
        format!("{}changes", self.prefix)
    }

    /// String: id of the newest change-log entry (each entry names its
    /// predecessor, so readers detect trimming).
    pub fn changes_last(&self) -> String {
        format!("{}changes:last", self.prefix)
    }

    /// Sorted set: activity events of a repository, scored by time.
    pub fn events(&self, org: &str, repo: &str) -> String {
        format!("{}events:{org}/{repo}", self.prefix)
    }

    /// Hash: stored event (`code SEP id`) -> its user label, per repository.
    pub fn event_users(&self, org: &str, repo: &str) -> String {
        format!("{}eventusers:{org}/{repo}", self.prefix)
    }

    /// Sorted set: `org SEP repo` -> when its 24h gauges next change
    /// without a write (an event leaves or enters the window); the aging
    /// pass pops what is due.
    pub fn activity_expiry(&self) -> String {
        format!("{}activity:expiry", self.prefix)
    }

    /// Set: users with a non-zero 24h series in a repository.
    pub fn active_users(&self, org: &str, repo: &str) -> String {
        format!("{}active:{org}/{repo}", self.prefix)
    }

    /// Set: users with LOC series in a repository.
    pub fn loc_users(&self, org: &str, repo: &str) -> String {
        format!("{}locusers:{org}/{repo}", self.prefix)
    }

    /// String: the last processed time of a repository (Unix seconds).
    pub fn checkpoint(&self, org: &str, repo: &str) -> String {
        format!("{}checkpoint:{org}/{repo}", self.prefix)
    }

    /// String with TTL: the identity holding the leader lease `name`.
    pub fn lease(&self, name: &str) -> String {
        format!("{}leader:lease:{name}", self.prefix)
    }

    /// String: the current leader's fencing term.
    pub fn leader_term(&self) -> String {
        format!("{}leader:term", self.prefix)
    }

    /// String: an opaque value in namespace `ns` (LOC state, ETags, budgets).
    pub fn blob(&self, ns: &str, key: &str) -> String {
        format!("{}{ns}:{key}", self.prefix)
    }

    /// String with TTL: a claim (dedup key, job lock).
    pub fn claim(&self, ns: &str, key: &str) -> String {
        format!("{}{ns}:{key}", self.prefix)
    }
}

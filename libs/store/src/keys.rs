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

    /// The `SCAN MATCH` pattern of every key under this prefix.
    pub fn all_keys_pattern(&self) -> String {
        format!("{}*", self.prefix.replace('*', "\\*"))
    }

    /// What the series shards' names start with (the shard number follows).
    pub fn series_shard_base(&self) -> String {
        format!("{}series:", self.prefix)
    }

    /// What the seen-time shards' names start with.
    pub fn seen_shard_base(&self) -> String {
        format!("{}seen:", self.prefix)
    }

    /// The store-wide key names every write script takes as ARGV 1..6, in
    /// this order: series base, seen base, series count, change log, last
    /// change id, leader term.
    pub fn script_keys(&self) -> [String; 6] {
        [
            self.series_shard_base(),
            self.seen_shard_base(),
            self.series_count(),
            self.changes(),
            self.changes_last(),
            self.leader_term(),
        ]
    }

    /// Hash: series field -> value, for the series of shard `shard`.
    pub fn series_shard(&self, shard: u32) -> String {
        format!("{}{shard}", self.series_shard_base())
    }

    /// Sorted set: series field -> last write (Unix seconds), per shard.
    pub fn seen_shard(&self, shard: u32) -> String {
        format!("{}{shard}", self.seen_shard_base())
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

    /// Sorted set: a repository's pull-request observations (`code:number`,
    /// scored by when it happened), kept for the retention.
    pub fn pull_observations(&self, org: &str, repo: &str) -> String {
        format!("{}prseen:{org}/{repo}", self.prefix)
    }

    /// Hash: a repository's pull-request flow state (`first`, `oldest`).
    pub fn pull_flow(&self, org: &str, repo: &str) -> String {
        format!("{}prflow:{org}/{repo}", self.prefix)
    }

    /// Sorted set: `org SEP repo` -> when the age of its oldest open pull
    /// request is next rewritten by the aging pass.
    pub fn open_age_due(&self) -> String {
        format!("{}prflow:age_due", self.prefix)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_get_the_names_the_readers_use() {
        let keys = Keys::new("t:");
        let [series, seen, count, changes, last, term] = keys.script_keys();
        assert_eq!(format!("{series}7"), keys.series_shard(7));
        assert_eq!(format!("{seen}7"), keys.seen_shard(7));
        assert_eq!(count, keys.series_count());
        assert_eq!(changes, keys.changes());
        assert_eq!(last, keys.changes_last());
        assert_eq!(term, keys.leader_term());
        assert!(keys.script_keys().iter().all(|k| k.starts_with("t:")));
        assert_eq!(Keys::new("a*b:").all_keys_pattern(), "a\\*b:*");
    }
}

//! The store's side of the Redis leader lease (compose and bare metal):
//! `SET NX PX` with the holder's identity, renewed with `PEXPIRE` only by
//! its holder, and a term incremented on every new holder, which is the
//! fencing token the store's write scripts check. The election crate
//! drives it through these three calls; the keys and the Lua stay here.

use std::time::Duration;

use super::RedisStore;
use crate::Result;

pub(super) const ACQUIRE: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return redis.call('INCR', KEYS[2])
end
return 0
";

pub(super) const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

impl RedisStore {
    /// Takes lease `name` for `identity` if it is free, renews it if it is
    /// already theirs, for `duration`: the fencing term it is held under,
    /// or `None` when another identity holds it.
    pub async fn lease_acquire(
        &self,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Result<Option<u64>> {
        let keys = self.keys();
        let term: u64 = self
            .invoke(
                self.scripts
                    .lease_acquire
                    .key(keys.lease(name))
                    .key(keys.leader_term())
                    .arg(identity)
                    .arg(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)),
            )
            .await?;
        Ok((term != 0).then_some(term))
    }

    /// Gives lease `name` up, if `identity` holds it.
    pub async fn lease_release(&self, name: &str, identity: &str) -> Result<()> {
        let _: i64 = self
            .invoke(
                self.scripts
                    .lease_release
                    .key(self.keys().lease(name))
                    .arg(identity),
            )
            .await?;
        Ok(())
    }

    /// Who holds lease `name`, if anyone.
    pub async fn lease_holder(&self, name: &str) -> Result<Option<String>> {
        self.get_string(&self.keys().lease(name)).await
    }
}

//! The leader lease on Redis (compose and bare metal): `SET NX PX` with the
//! holder's identity, renewed with `PEXPIRE` only by its holder, and a term
//! incremented on every new holder, which is the fencing token the store's
//! write scripts check.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ghstats_runtime::election::{LeaseBackend, LeaseState};
use redis::Script;

use crate::RedisStore;

const ACQUIRE: &str = r"
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

const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

#[derive(Debug)]
pub struct RedisLease {
    store: Arc<RedisStore>,
    name: String,
    identity: String,
    duration: Duration,
    acquire: Script,
    release: Script,
}

impl RedisLease {
    pub fn new(store: Arc<RedisStore>, name: &str, identity: &str, duration: Duration) -> Self {
        Self {
            store,
            name: name.to_owned(),
            identity: identity.to_owned(),
            duration,
            acquire: Script::new(ACQUIRE),
            release: Script::new(RELEASE),
        }
    }
}

#[async_trait]
impl LeaseBackend for RedisLease {
    async fn acquire_or_renew(&self) -> Result<LeaseState, String> {
        let keys = self.store.keys();
        let term: u64 = self
            .store
            .invoke(
                self.acquire
                    .key(keys.lease(&self.name))
                    .key(keys.leader_term())
                    .arg(&self.identity)
                    .arg(self.duration.as_millis() as u64),
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(if term == 0 {
            LeaseState::Other
        } else {
            LeaseState::Held { term }
        })
    }

    async fn release(&self) -> Result<(), String> {
        let key = self.store.keys().lease(&self.name);
        let _: i64 = self
            .store
            .invoke(self.release.key(key).arg(&self.identity))
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    async fn holder(&self) -> Result<Option<String>, String> {
        let key = self.store.keys().lease(&self.name);
        self.store.get_string(&key).await.map_err(|e| e.to_string())
    }
}

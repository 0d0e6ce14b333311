//! The Redis backend (standalone or Sentinel). See `docs/store-schema.md`
//! for the key model; every key is built by [`Keys`].

mod conn;
mod lease;
mod scripts;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use redis::{AsyncCommands, Script, Value};

use conn::Conn;
pub use conn::{RedisAuth, RedisTarget};

use crate::model::*;
use crate::series::SeriesKey;
use crate::{Keys, Result, Store, StoreError};

#[derive(Debug)]
pub struct RedisStore {
    settings: StoreSettings,
    keys: Keys,
    conn: Conn,
    scripts: Scripts,
}

#[derive(Debug)]
struct Scripts {
    record_activity: Script,
    record_pull_flow: Script,
    replace_loc: Script,
    write_series: Script,
    advance_checkpoint: Script,
    raise_term: Script,
    gc_shard: Script,
    hold: Script,
    swap_blob: Script,
    release_held: Script,
    lease_acquire: Script,
    lease_release: Script,
}

/// Index shards read per round trip by a snapshot.
const SNAPSHOT_SHARDS_PER_TRIP: usize = 4;

impl RedisStore {
    pub async fn connect(
        target: &RedisTarget,
        auth: &RedisAuth,
        settings: StoreSettings,
    ) -> Result<Self> {
        let conn = Conn::open(target, auth).await?;
        Ok(Self {
            keys: Keys::new(&settings.prefix),
            settings,
            conn,
            scripts: Scripts {
                record_activity: Script::new(&scripts::record_activity()),
                record_pull_flow: Script::new(&scripts::record_pull_flow()),
                replace_loc: Script::new(&scripts::replace_loc()),
                write_series: Script::new(&scripts::write_series()),
                advance_checkpoint: Script::new(&scripts::advance_checkpoint()),
                raise_term: Script::new(scripts::RAISE_TERM),
                gc_shard: Script::new(&scripts::gc_shard()),
                hold: Script::new(scripts::HOLD),
                swap_blob: Script::new(scripts::SWAP_BLOB),
                release_held: Script::new(scripts::RELEASE_HELD),
                lease_acquire: Script::new(lease::ACQUIRE),
                lease_release: Script::new(lease::RELEASE),
            },
        })
    }

    /// Connects as `store.*` of the config says.
    pub async fn from_config(c: &ghstats_config::StoreConfig) -> Result<Self> {
        let target = match c.redis_mode {
            ghstats_config::RedisMode::Standalone => RedisTarget::Standalone {
                addr: c.redis_addr.to_string(),
                tls: c.redis_tls,
            },
            ghstats_config::RedisMode::Sentinel => RedisTarget::Sentinel {
                sentinels: c
                    .redis_sentinel_addrs
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                master: c.redis_master_set.clone(),
                tls: c.redis_tls,
            },
        };
        let password = c
            .redis_password_source()
            .resolve("store.redis_password")
            .map_err(|e| StoreError::Connect(e.to_string()))?
            .map(|s| s.expose().to_owned());
        let auth = RedisAuth {
            password,
            db: i64::from(c.redis_db),
        };
        Self::connect(&target, &auth, StoreSettings::from_config(c)).await
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Runs a prepared script invocation.
    async fn invoke<T: redis::FromRedisValue>(
        &self,
        inv: &redis::ScriptInvocation<'_>,
    ) -> Result<T> {
        let mut conn = self.conn.get().await?;
        match inv.invoke_async(&mut conn).await {
            Ok(v) => Ok(v),
            Err(e) => {
                self.conn.reset_on(&e).await;
                Err(e.into())
            }
        }
    }

    async fn get_string(&self, key: &str) -> Result<Option<String>> {
        self.with_conn(async |c| c.get(key).await).await
    }

    /// Deletes every key under this store's prefix (SCAN, not KEYS);
    /// for tearing down a test's or a tenant's data. Returns the count.
    pub async fn delete_all_keys(&self) -> Result<u64> {
        let pattern = self.keys.all_keys_pattern();
        self.with_conn(async |c| {
            let mut cursor: u64 = 0;
            let mut deleted = 0;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(c)
                    .await?;
                if !keys.is_empty() {
                    deleted += c.del::<_, u64>(&keys).await?;
                }
                if next == 0 {
                    return Ok(deleted);
                }
                cursor = next;
            }
        })
        .await
    }

    /// Runs a write script with the common arguments first.
    async fn run_write(
        &self,
        script: &Script,
        keys: &[String],
        ctx: WriteCtx,
        now: DateTime<Utc>,
        args: Vec<String>,
    ) -> Result<(i64, i64)> {
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(k);
        }
        for name in self.keys.script_keys() {
            inv.arg(name);
        }
        inv.arg(self.settings.shards)
            .arg(now.timestamp())
            .arg(ctx.source.as_str())
            .arg(ctx.term)
            .arg(self.settings.max_series)
            .arg(self.settings.change_log_len);
        for a in args {
            inv.arg(a);
        }
        let mut conn = self.conn.get().await?;
        let reply: Vec<Value> = match inv.invoke_async(&mut conn).await {
            Ok(r) => r,
            Err(e) => {
                self.conn.reset_on(&e).await;
                return Err(e.into());
            }
        };
        let text = |v: &Value| match v {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            Value::SimpleString(s) => s.clone(),
            _ => String::new(),
        };
        let int = |v: Option<&Value>| match v {
            Some(Value::Int(n)) => *n,
            _ => 0,
        };
        match reply.first().map(text).as_deref() {
            Some("ok") => Ok((int(reply.get(1)), int(reply.get(2)))),
            Some("fenced") => Err(StoreError::Fenced {
                term: ctx.term,
                current: int(reply.get(1)) as u64,
            }),
            other => Err(StoreError::Malformed(format!(
                "unexpected script reply {other:?}"
            ))),
        }
    }

    /// One run of the pull-flow script; `flow` `None` only rewrites the age.
    async fn pull_flow(
        &self,
        ctx: WriteCtx,
        org: &str,
        repo: &str,
        flow: Option<PullFlow<'_>>,
        now: DateTime<Utc>,
    ) -> Result<WriteReport> {
        let open = flow.and_then(|f| f.open);
        let lookback = flow.map_or(0, |f| f.rules.lookback.as_secs());
        let mut args = vec![
            org.to_owned(),
            repo.to_owned(),
            self.settings.retention.as_secs().to_string(),
            lookback.to_string(),
            u8::from(open.is_some()).to_string(),
        ];
        let open = open.unwrap_or_default();
        args.extend([
            open.ready.to_string(),
            open.draft.to_string(),
            open.oldest_ready
                .map_or("-".to_owned(), |t| t.timestamp().to_string()),
        ]);
        for h in FlowHistogram::ALL {
            let bounds = flow.map_or(&[][..], |f| f.rules.buckets(h));
            args.push(bounds.len().to_string());
            args.extend(bounds.iter().map(|b| bucket_label(*b)));
        }
        for o in flow.map_or(&[][..], |f| f.observations) {
            args.extend([
                o.histogram.code().to_owned(),
                o.number.to_string(),
                o.at.timestamp().to_string(),
                o.seconds.to_string(),
            ]);
        }
        let keys = [
            self.keys.pull_observations(org, repo),
            self.keys.pull_flow(org, repo),
            self.keys.open_age_due(),
        ];
        self.run_write(&self.scripts.record_pull_flow, &keys, ctx, now, args)
            .await
            .map(report)
    }

    async fn with_conn<T>(
        &self,
        f: impl AsyncFnOnce(&mut conn::ConnHandle) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let mut conn = self.conn.get().await?;
        match f(&mut conn).await {
            Ok(v) => Ok(v),
            Err(e) => {
                self.conn.reset_on(&e).await;
                Err(e.into())
            }
        }
    }
}

fn report((changed, refused): (i64, i64)) -> WriteReport {
    WriteReport {
        changed: changed.max(0) as u64,
        refused: refused.max(0) as u64,
    }
}

fn parse_value(field: &str, raw: &str) -> Result<f64> {
    raw.parse()
        .map_err(|_| StoreError::Malformed(format!("series {field:?} holds {raw:?}")))
}

#[async_trait]
impl Store for RedisStore {
    async fn record_activity(
        &self,
        ctx: WriteCtx,
        org: &str,
        repo: &str,
        events: &[ActivityEvent],
        now: DateTime<Utc>,
    ) -> Result<WriteReport> {
        let mut args = vec![org.to_owned(), repo.to_owned()];
        for e in events {
            args.extend([
                e.kind.code().to_owned(),
                e.id.replace(crate::series::SEP, "_"),
                e.user.replace(crate::series::SEP, "_"),
                e.at.timestamp().to_string(),
            ]);
        }
        let keys = [
            self.keys.events(org, repo),
            self.keys.active_users(org, repo),
            self.keys.event_users(org, repo),
            self.keys.activity_expiry(),
        ];
        self.run_write(&self.scripts.record_activity, &keys, ctx, now, args)
            .await
            .map(report)
    }

    async fn age_activity(
        &self,
        ctx: WriteCtx,
        now: DateTime<Utc>,
        max_repos: usize,
    ) -> Result<AgingReport> {
        let index = self.keys.activity_expiry();
        let ages = self.keys.open_age_due();
        let ts = now.timestamp();
        let term_key = self.keys.leader_term();
        type Due = (Option<u64>, Vec<String>, u64, Vec<String>, u64);
        let (current, due, total, due_ages, total_ages): Due = self
            .with_conn(async |c| {
                let mut pipe = redis::pipe();
                pipe.get(&term_key);
                for key in [&index, &ages] {
                    pipe.cmd("ZRANGEBYSCORE")
                        .arg(key)
                        .arg("-inf")
                        .arg(ts)
                        .arg("LIMIT")
                        .arg(0)
                        .arg(max_repos)
                        .cmd("ZCOUNT")
                        .arg(key)
                        .arg("-inf")
                        .arg(ts);
                }
                pipe.query_async(c).await
            })
            .await?;
        let current = current.unwrap_or(0);
        if ctx.source == WriteSource::LeaderScrape && ctx.term < current {
            return Err(StoreError::Fenced {
                term: ctx.term,
                current,
            });
        }
        let mut out = AgingReport {
            remaining: total.saturating_sub(due.len() as u64)
                + total_ages.saturating_sub(due_ages.len() as u64),
            ..AgingReport::default()
        };
        for (index, members, activity) in [(&index, due, true), (&ages, due_ages, false)] {
            for member in members {
                let Some((org, repo)) = member.split_once(crate::series::SEP) else {
                    // Not written by this store: drop it from the index.
                    self.with_conn(async |c| c.zrem::<_, _, ()>(index, &member).await)
                        .await?;
                    continue;
                };
                let written = if activity {
                    self.record_activity(ctx, org, repo, &[], now).await?
                } else {
                    self.pull_flow(ctx, org, repo, None, now).await?
                };
                out.repos += 1;
                out.changed += written.changed;
            }
        }
        Ok(out)
    }

    async fn record_pull_flow(
        &self,
        ctx: WriteCtx,
        org: &str,
        repo: &str,
        flow: PullFlow<'_>,
        now: DateTime<Utc>,
    ) -> Result<WriteReport> {
        self.pull_flow(ctx, org, repo, Some(flow), now).await
    }

    async fn replace_loc(
        &self,
        ctx: WriteCtx,
        org: &str,
        repo: &str,
        loc: &[UserLoc],
        now: DateTime<Utc>,
    ) -> Result<WriteReport> {
        let mut args = vec![org.to_owned(), repo.to_owned()];
        for l in loc.iter().filter(|l| l.has_lines()) {
            args.extend([
                l.user.replace(crate::series::SEP, "_"),
                l.added.to_string(),
                l.removed.to_string(),
            ]);
        }
        let keys = [self.keys.loc_users(org, repo)];
        self.run_write(&self.scripts.replace_loc, &keys, ctx, now, args)
            .await
            .map(report)
    }

    async fn set_gauges(
        &self,
        ctx: WriteCtx,
        values: &[(SeriesKey, f64)],
        now: DateTime<Utc>,
    ) -> Result<WriteReport> {
        let mut args = vec!["set".to_owned()];
        for (k, v) in values {
            args.extend([k.family.name().to_owned(), k.field(), v.to_string()]);
        }
        self.run_write(&self.scripts.write_series, &[], ctx, now, args)
            .await
            .map(report)
    }

    async fn add_counters(
        &self,
        ctx: WriteCtx,
        increments: &[(SeriesKey, u64)],
        now: DateTime<Utc>,
    ) -> Result<WriteReport> {
        let mut args = vec!["add".to_owned()];
        for (k, by) in increments {
            args.extend([k.family.name().to_owned(), k.field(), by.to_string()]);
        }
        self.run_write(&self.scripts.write_series, &[], ctx, now, args)
            .await
            .map(report)
    }

    async fn snapshot(&self) -> Result<Snapshot> {
        let mut series = Vec::new();
        let cursor = self
            .snapshot_batches(&mut |batch| series.extend(batch))
            .await?;
        series.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Snapshot { series, cursor })
    }

    async fn snapshot_batches(
        &self,
        batch: &mut (dyn FnMut(Vec<(SeriesKey, f64)>) + Send),
    ) -> Result<Cursor> {
        // The cursor first: changes after it are re-applied on top of what
        // the shards hold, which is harmless (values are absolute).
        let stream = self.keys.changes();
        let last: redis::streams::StreamRangeReply = self
            .with_conn(async |c| c.xrevrange_count(&stream, "+", "-", 1).await)
            .await?;
        let cursor = Cursor(
            last.ids
                .first()
                .map_or_else(|| "0-0".to_owned(), |e| e.id.clone()),
        );
        // A few shards per round trip: the raw replies of one group at a
        // time, never of the whole store.
        let shards: Vec<String> = (0..self.settings.shards)
            .map(|s| self.keys.series_shard(s))
            .collect();
        for group in shards.chunks(SNAPSHOT_SHARDS_PER_TRIP) {
            let hashes: Vec<Vec<(String, String)>> = self
                .with_conn(async |c| {
                    let mut pipe = redis::pipe();
                    for key in group {
                        pipe.hgetall(key);
                    }
                    pipe.query_async(c).await
                })
                .await?;
            let mut out = Vec::with_capacity(hashes.iter().map(Vec::len).sum());
            for (field, raw) in hashes.into_iter().flatten() {
                let key =
                    SeriesKey::parse(&field).map_err(|e| StoreError::Malformed(e.to_string()))?;
                out.push((key, parse_value(&field, &raw)?));
            }
            batch(out);
        }
        Ok(cursor)
    }

    async fn changes_since(&self, cursor: &Cursor, max: usize) -> Result<Changes> {
        let stream = self.keys.changes();
        let after = cursor.0.clone();
        let entries: redis::streams::StreamRangeReply = self
            .with_conn(async |c| c.xrange_count(&stream, format!("({after}"), "+", max).await)
            .await?;
        // Entries name their predecessor: a gap means the log was trimmed
        // past the cursor.
        if let Some(first) = entries.ids.first() {
            let previous: String = first.get("p").unwrap_or_default();
            if previous != after {
                return Ok(Changes::Behind);
            }
        }
        let mut changes = Vec::with_capacity(entries.ids.len());
        let mut last = after;
        for entry in entries.ids {
            let field: String = entry.get("f").unwrap_or_default();
            let raw: String = entry.get("v").unwrap_or_default();
            let series =
                SeriesKey::parse(&field).map_err(|e| StoreError::Malformed(e.to_string()))?;
            let value = if raw.is_empty() {
                None
            } else {
                Some(parse_value(&field, &raw)?)
            };
            changes.push(Change { series, value });
            last = entry.id;
        }
        Ok(Changes::Delta {
            changes,
            cursor: Cursor(last),
        })
    }

    async fn checkpoint(&self, org: &str, repo: &str) -> Result<Option<DateTime<Utc>>> {
        let key = self.keys.checkpoint(org, repo);
        let v: Option<i64> = self.with_conn(async |c| c.get(&key).await).await?;
        Ok(v.and_then(|t| Utc.timestamp_opt(t, 0).single()))
    }

    async fn advance_checkpoint(
        &self,
        ctx: WriteCtx,
        org: &str,
        repo: &str,
        to: DateTime<Utc>,
    ) -> Result<DateTime<Utc>> {
        let keys = [self.keys.checkpoint(org, repo)];
        let args = vec![
            to.timestamp().to_string(),
            self.settings.retention.as_secs().max(1).to_string(),
        ];
        let (t, _) = self
            .run_write(
                &self.scripts.advance_checkpoint,
                &keys,
                ctx,
                Utc::now(),
                args,
            )
            .await?;
        Ok(Utc.timestamp_opt(t, 0).single().unwrap_or(to))
    }

    async fn get_blob(&self, kind: BlobKind, key: &str) -> Result<Option<Vec<u8>>> {
        let key = self.keys.blob(kind.ns(), key);
        self.with_conn(async |c| c.get(&key).await).await
    }

    async fn put_blob(&self, kind: BlobKind, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let key = self.keys.blob(kind.ns(), key);
        let ms = ttl.as_millis().max(1) as u64;
        self.with_conn(async |c| c.pset_ex(&key, value, ms).await)
            .await
    }

    async fn swap_blob(
        &self,
        kind: BlobKind,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool> {
        let mut inv = self.scripts.swap_blob.prepare_invoke();
        inv.key(self.keys.blob(kind.ns(), key))
            .arg(if expected.is_some() { "1" } else { "0" })
            .arg(expected.unwrap_or_default())
            .arg(value)
            .arg(ttl.as_millis().max(1) as u64);
        let swapped: i64 = self.invoke(&inv).await?;
        Ok(swapped == 1)
    }

    async fn claim(&self, kind: ClaimKind, key: &str, ttl: Duration) -> Result<bool> {
        let key = self.keys.claim(kind.ns(), key);
        let ms = ttl.as_millis().max(1) as u64;
        let reply: Option<String> = self
            .with_conn(async |c| {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ms)
                    .query_async(c)
                    .await
            })
            .await?;
        Ok(reply.is_some())
    }

    async fn release(&self, kind: ClaimKind, key: &str) -> Result<()> {
        let key = self.keys.claim(kind.ns(), key);
        self.with_conn(async |c| c.del(&key).await).await
    }

    async fn hold(&self, kind: ClaimKind, key: &str, owner: &str, ttl: Duration) -> Result<bool> {
        let mut inv = self.scripts.hold.prepare_invoke();
        inv.key(self.keys.claim(kind.ns(), key))
            .arg(owner)
            .arg(ttl.as_millis().max(1) as u64);
        let held: i64 = self.invoke(&inv).await?;
        Ok(held == 1)
    }

    async fn release_held(&self, kind: ClaimKind, key: &str, owner: &str) -> Result<()> {
        let mut inv = self.scripts.release_held.prepare_invoke();
        inv.key(self.keys.claim(kind.ns(), key)).arg(owner);
        let _: i64 = self.invoke(&inv).await?;
        Ok(())
    }

    async fn is_claimed(&self, kind: ClaimKind, key: &str) -> Result<bool> {
        let key = self.keys.claim(kind.ns(), key);
        self.with_conn(async |c| c.exists(&key).await).await
    }

    async fn raise_term(&self, term: u64) -> Result<u64> {
        let key = self.keys.leader_term();
        let mut conn = self.conn.get().await?;
        let t: u64 = self
            .scripts
            .raise_term
            .key(key)
            .arg(term)
            .invoke_async(&mut conn)
            .await?;
        Ok(t)
    }

    async fn current_term(&self) -> Result<u64> {
        let key = self.keys.leader_term();
        let v: Option<u64> = self.with_conn(async |c| c.get(&key).await).await?;
        Ok(v.unwrap_or(0))
    }

    async fn gc(&self, now: DateTime<Utc>) -> Result<GcReport> {
        let cutoff = now.timestamp() - self.settings.retention.as_secs() as i64;
        let mut expired = 0;
        for shard in 0..self.settings.shards {
            loop {
                let args = vec![shard.to_string(), cutoff.to_string()];
                let (n, _) = self
                    .run_write(&self.scripts.gc_shard, &[], WriteCtx::worker(), now, args)
                    .await?;
                expired += n.max(0) as u64;
                if n < 1000 {
                    break;
                }
            }
        }
        Ok(GcReport {
            expired_series: expired,
        })
    }

    async fn ping(&self) -> Result<()> {
        let _: String = self
            .with_conn(async |c| redis::cmd("PING").query_async(c).await)
            .await?;
        Ok(())
    }
}

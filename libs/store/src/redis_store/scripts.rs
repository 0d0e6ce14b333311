//! The Lua scripts of the Redis backend. Each repository write is one
//! script run (one round trip, atomic). The scripts encode series and pick
//! shards exactly like `series.rs`.

use crate::catalog::{Family, HISTOGRAM_COUNT, HISTOGRAM_INF, HISTOGRAM_SUM};
use crate::model::{ActivityKind, FlowHistogram, OPEN_AGE_STEP};

/// Helpers shared by every script: fencing, sharding, writing a series
/// (with the budget, the seen-time for retention and the change log).
const PRELUDE: &str = r#"
local SEP = '\31'
-- ARGV 1..6: the store-wide key names, built by `Keys::script_keys`.
local series_base, seen_base, series_count_key = ARGV[1], ARGV[2], ARGV[3]
local changes_key, changes_last_key, term_key = ARGV[4], ARGV[5], ARGV[6]
local shards, now = tonumber(ARGV[7]), tonumber(ARGV[8])
local source, term, max_series, maxlen = ARGV[9], tonumber(ARGV[10]), tonumber(ARGV[11]), ARGV[12]
local changed, refused = 0, 0
if source == 'leader_scrape' then
  local current = tonumber(redis.call('GET', term_key) or '0')
  if term < current then return {'fenced', current} end
end
local function shard(field)
  local h = 0
  for i = 1, #field do h = (h * 31 + string.byte(field, i)) % 2147483648 end
  return h % shards
end
-- Each entry names its predecessor (`p`), so a reader can tell that
-- entries after its cursor were trimmed away.
local function log(field, value)
  local last = redis.call('GET', changes_last_key) or '0-0'
  local id = redis.call('XADD', changes_key, 'MAXLEN', '~', maxlen, '*', 'p', last, 'f', field, 'v', value)
  redis.call('SET', changes_last_key, id)
end
local function refuse(family)
  refused = refused + 1
  local field = '__REFUSED__' .. SEP .. family
  local sh = shard(field)
  local v = redis.call('HINCRBY', series_base .. sh, field, 1)
  if v == 1 then redis.call('INCR', series_count_key) end
  redis.call('ZADD', seen_base .. sh, now, field)
  log(field, tostring(v))
end
-- Writes `value` (a number) unless unchanged; `skip_absent` leaves a
-- missing series missing (a zero nobody had).
local function write(family, field, value, skip_absent)
  local sh = shard(field)
  local hkey = series_base .. sh
  local old = redis.call('HGET', hkey, field)
  if old == false then
    if skip_absent then return end
    if tonumber(redis.call('GET', series_count_key) or '0') >= max_series then
      refuse(family)
      return
    end
    redis.call('INCR', series_count_key)
  end
  redis.call('ZADD', seen_base .. sh, now, field)
  if old ~= false and tonumber(old) == value then return end
  local text = string.format('%.17g', value)
  if value == math.floor(value) and math.abs(value) < 1e15 then text = string.format('%d', value) end
  redis.call('HSET', hkey, field, text)
  log(field, text)
  changed = changed + 1
end
"#;

fn with_prelude(body: &str) -> String {
    PRELUDE.replace("__REFUSED__", Family::SeriesRefused.name()) + body
}

/// ARGV 13.. = org, repo, then (code, id, user, at) per event.
/// KEYS[1] events (member `code SEP id`, scored by time), KEYS[2] active
/// users, KEYS[3] event users (member -> user label), KEYS[4] the expiry
/// index (`org SEP repo` -> when the repository's gauges next change by
/// themselves).
///
/// An event is identified by its kind and GitHub id: seen again under
/// another label it moves to that label (the old label's count falls).
pub fn record_activity() -> String {
    let families: String = ActivityKind::ALL
        .iter()
        .map(|k| format!("{{'{}', '{}'}}, ", k.code(), k.family().name()))
        .collect();
    with_prelude(&format!(
        r#"
local FAMILIES = {{ {families} }}
local LAST = '{last}'
local org, repo = ARGV[13], ARGV[14]
local cutoff = now - 86400
local latest = {{}}
local function chunks(list, f)
  for i = 1, #list, 500 do f({{unpack(list, i, math.min(i + 499, #list))}}) end
end
-- Events already out of the window are not kept (nor do they move the
-- last-event series): what a replay of an older window finds changes nothing.
for i = 15, #ARGV, 4 do
  local at = tonumber(ARGV[i + 3])
  if at > cutoff then
    local user = ARGV[i + 2]
    local member = ARGV[i] .. SEP .. ARGV[i + 1]
    redis.call('ZADD', KEYS[1], at, member)
    redis.call('HSET', KEYS[3], member, user)
    if latest[user] == nil or at > latest[user] then latest[user] = at end
  end
end
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff)
if #old > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
  chunks(old, function(part) redis.call('HDEL', KEYS[3], unpack(part)) end)
end
local counts = {{}}
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. cutoff, now)
chunks(members, function(part)
  local owners = redis.call('HMGET', KEYS[3], unpack(part))
  for j, m in ipairs(part) do
    local code = string.match(m, '^([^\31]*)\31')
    -- (members written before events had their own user hash carry the
    -- user as a third part)
    local user = owners[j] or string.match(m, '^[^\31]*\31[^\31]*\31(.*)$') or ''
    counts[user] = counts[user] or {{}}
    counts[user][code] = (counts[user][code] or 0) + 1
  end
end)
local users = {{}}
for _, u in ipairs(redis.call('SMEMBERS', KEYS[2])) do users[u] = true end
for u, _ in pairs(counts) do users[u] = true end
for u, _ in pairs(users) do
  local any = false
  for _, pair in ipairs(FAMILIES) do
    local n = (counts[u] and counts[u][pair[1]]) or 0
    if n > 0 then any = true end
    write(pair[2], pair[2] .. SEP .. org .. SEP .. repo .. SEP .. u, n, n == 0)
  end
  if any then redis.call('SADD', KEYS[2], u) else redis.call('SREM', KEYS[2], u) end
end
for u, at in pairs(latest) do
  local field = LAST .. SEP .. org .. SEP .. repo .. SEP .. u
  local old = redis.call('HGET', series_base .. shard(field), field)
  if old == false or at > tonumber(old) then write(LAST, field, at, false) end
end
-- When the gauges change next without a write: the oldest counted event
-- leaves the window, or a future-dated one enters it.
local due = nil
local first = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. cutoff, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
if #first > 0 then
  local at = tonumber(first[2])
  if at > now then due = at else due = at + 86400 end
  local future = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #future > 0 and tonumber(future[2]) < due then due = tonumber(future[2]) end
end
local indexed = org .. SEP .. repo
if due == nil then
  redis.call('ZREM', KEYS[4], indexed)
else
  redis.call('ZADD', KEYS[4], due, indexed)
end
redis.call('EXPIRE', KEYS[1], 172800)
redis.call('EXPIRE', KEYS[3], 172800)
return {{'ok', changed, refused}}
"#,
        last = Family::LastEvent.name(),
    ))
}

/// KEYS[1] the repository's observation records (member `code:number`,
/// scored by when it happened), KEYS[2] its flow state (`first`: when
/// first seen, `oldest`: the oldest ready open pull request), KEYS[3] the
/// open-age index (`org SEP repo` -> when its age is next rewritten).
/// ARGV 13.. = org, repo, retention and look-back (seconds), `open` (1
/// when the open pull requests were read, 0 to only rewrite the age),
/// ready, draft, oldest (`-` for none), the lead-time bucket count and
/// bounds, the first-review bucket count and bounds, then (code, number,
/// at, seconds) per observation.
pub fn record_pull_flow() -> String {
    let histograms: String = FlowHistogram::ALL
        .iter()
        .map(|h| format!("['{}'] = '{}', ", h.code(), h.family().name()))
        .collect();
    with_prelude(&format!(
        r#"
local FAMILY = {{ {histograms} }}
local OPEN, AGE = '{open}', '{age}'
local INF, COUNT, SUM = '{inf}', '{count}', '{sum}'
local org, repo = ARGV[13], ARGV[14]
local retention, lookback = tonumber(ARGV[15]), tonumber(ARGV[16])
local open_read = ARGV[17] == '1'
local ready, draft, oldest_arg = tonumber(ARGV[18]), tonumber(ARGV[19]), ARGV[20]
local bounds, i = {{}}, 21
for _, code in ipairs({{'{lead}', '{first}'}}) do
  local n = tonumber(ARGV[i])
  bounds[code] = {{unpack(ARGV, i + 1, i + n)}}
  i = i + n + 1
end
local first = tonumber(redis.call('HGET', KEYS[2], 'first') or '')
if first == nil then
  first = now
  redis.call('HSET', KEYS[2], 'first', now)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - retention)
local labels = SEP .. org .. SEP .. repo .. SEP
local function add(family, le, by)
  local field = family .. labels .. le
  local old = redis.call('HGET', series_base .. shard(field), field)
  write(family, field, (tonumber(old) or 0) + by, false)
end
for j = i, #ARGV, 4 do
  local code, number, at, seconds = ARGV[j], ARGV[j + 1], tonumber(ARGV[j + 2]), tonumber(ARGV[j + 3])
  if at >= first - lookback and at > now - retention
    and redis.call('ZADD', KEYS[1], 'NX', at, code .. ':' .. number) == 1 then
    local family = FAMILY[code]
    for _, b in ipairs(bounds[code]) do
      if seconds <= tonumber(b) then add(family, b, 1) else add(family, b, 0) end
    end
    add(family, INF, 1)
    add(family, COUNT, 1)
    add(family, SUM, seconds)
  end
end
local function gauge(family, field, value)
  write(family, field, value, value == 0)
end
if open_read then
  gauge(OPEN, OPEN .. labels .. 'false', ready)
  gauge(OPEN, OPEN .. labels .. 'true', draft)
  if oldest_arg == '-' then
    redis.call('HDEL', KEYS[2], 'oldest')
  else
    redis.call('HSET', KEYS[2], 'oldest', oldest_arg)
  end
end
local oldest = tonumber(redis.call('HGET', KEYS[2], 'oldest') or '')
local indexed = org .. SEP .. repo
local age = 0
if oldest == nil then
  redis.call('ZREM', KEYS[3], indexed)
else
  age = math.max(0, now - oldest)
  redis.call('ZADD', KEYS[3], now + {step}, indexed)
end
gauge(AGE, AGE .. SEP .. org .. SEP .. repo, age)
redis.call('EXPIRE', KEYS[1], retention)
redis.call('EXPIRE', KEYS[2], retention)
return {{'ok', changed, refused}}
"#,
        open = Family::PrOpen.name(),
        age = Family::PrOldestOpenAge.name(),
        inf = HISTOGRAM_INF,
        count = HISTOGRAM_COUNT,
        sum = HISTOGRAM_SUM,
        lead = FlowHistogram::LeadTime.code(),
        first = FlowHistogram::FirstReview.code(),
        step = OPEN_AGE_STEP.num_seconds(),
    ))
}

/// ARGV 13.. = org, repo, then (user, added, removed). KEYS[1] LOC users.
pub fn replace_loc() -> String {
    with_prelude(&format!(
        r#"
local ADDED, REMOVED = '{added}', '{removed}'
local org, repo = ARGV[13], ARGV[14]
local previous = {{}}
for _, u in ipairs(redis.call('SMEMBERS', KEYS[1])) do previous[u] = true end
redis.call('DEL', KEYS[1])
for i = 15, #ARGV, 3 do
  local u = ARGV[i]
  write(ADDED, ADDED .. SEP .. org .. SEP .. repo .. SEP .. u, tonumber(ARGV[i + 1]), false)
  write(REMOVED, REMOVED .. SEP .. org .. SEP .. repo .. SEP .. u, tonumber(ARGV[i + 2]), false)
  redis.call('SADD', KEYS[1], u)
  previous[u] = nil
end
for u, _ in pairs(previous) do
  write(ADDED, ADDED .. SEP .. org .. SEP .. repo .. SEP .. u, 0, false)
  write(REMOVED, REMOVED .. SEP .. org .. SEP .. repo .. SEP .. u, 0, false)
end
return {{'ok', changed, refused}}
"#,
        added = Family::LocAddedWeekly.name(),
        removed = Family::LocRemovedWeekly.name(),
    ))
}

/// ARGV 13 = `set` or `add`, then (family, field, value).
pub fn write_series() -> String {
    with_prelude(
        r#"
local add = ARGV[13] == 'add'
for i = 14, #ARGV, 3 do
  local family, field, value = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  if add then
    local old = redis.call('HGET', series_base .. shard(field), field)
    value = value + (tonumber(old) or 0)
  end
  write(family, field, value, false)
end
return {'ok', changed, refused}
"#,
    )
}

/// KEYS[1] checkpoint; ARGV 13 = time, 14 = TTL seconds.
pub fn advance_checkpoint() -> String {
    with_prelude(
        r#"
local to = tonumber(ARGV[13])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if to > current then current = to end
redis.call('SET', KEYS[1], current, 'EX', ARGV[14])
return {'ok', current, 0}
"#,
    )
}

/// KEYS[1] the claim; ARGV[1] owner, ARGV[2] TTL in ms. Takes a free
/// claim or renews one `owner` holds; 1 when it is `owner`'s after the call.
pub const HOLD: &str = r#"
local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"#;

/// KEYS[1] the blob; ARGV[1] `1` when a value is expected (ARGV[2]), `0`
/// when none is; ARGV[3] the new value, ARGV[4] its TTL in ms. Sets it
/// only if the blob is still what was expected; 1 when set.
pub const SWAP_BLOB: &str = r#"
local current = redis.call('GET', KEYS[1])
local expected = false
if ARGV[1] == '1' then expected = ARGV[2] end
if current == expected then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  return 1
end
return 0
"#;

/// KEYS[1] the claim; ARGV[1] owner. Deletes it only if `owner` holds it.
pub const RELEASE_HELD: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"#;

/// KEYS[1] term; ARGV[1] term. Returns the term after the call.
pub const RAISE_TERM: &str = r#"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local term = tonumber(ARGV[1])
if term > current then
  redis.call('SET', KEYS[1], term)
  return term
end
return current
"#;

/// Removes the series of one shard not written since a cutoff: ARGV 13 = the shard, 14 = the cutoff.
pub fn gc_shard() -> String {
    with_prelude(
        r#"
local sh = tonumber(ARGV[13])
local cutoff = tonumber(ARGV[14])
local seen = seen_base .. sh
local expired = redis.call('ZRANGEBYSCORE', seen, '-inf', '(' .. cutoff, 'LIMIT', 0, 1000)
for _, field in ipairs(expired) do
  if redis.call('HDEL', series_base .. sh, field) == 1 then
    redis.call('DECR', series_count_key)
  end
  redis.call('ZREM', seen, field)
  log(field, '')
end
return {'ok', #expired, 0}
"#,
    )
}

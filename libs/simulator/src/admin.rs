//! `/_sim/*`: the simulator's own endpoints, outside GitHub's surface:
//! ground truth, request log and counters, faults, clock, rate budget, new
//! activity, and a summary of the world.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use ghstats_core::{Cadence, Resumed, Shutdown};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::SimError;
use crate::rng::Rng;
use crate::state::FaultRule;
use crate::{SimState, truth};

type St = State<Arc<SimState>>;

pub fn routes(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/_sim/truth", get(get_truth))
        .route("/_sim/requests", get(get_requests).delete(clear_requests))
        .route("/_sim/stats", get(get_stats))
        .route("/_sim/faults", post(set_fault).delete(clear_faults))
        .route("/_sim/clock", get(get_clock).post(advance_clock))
        .route("/_sim/rate_limit", post(set_rate_limit))
        .route("/_sim/activity", post(add_activity))
        .route("/_sim/repos", post(change_repo))
        .route("/_sim/users", post(rename_user))
        .route("/_sim/world", get(get_world))
        .route("/_sim/copilot", get(get_copilot).post(set_copilot))
        .route("/_sim/hooks", get(get_hooks).post(set_hooks))
        .route("/_sim/hooks/deliveries", get(get_hook_deliveries))
        .with_state(state)
}

fn bad_request(msg: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": msg.to_string() })),
    )
        .into_response()
}

fn parse_time(
    q: &HashMap<String, String>,
    key: &str,
    default: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    match q.get(key) {
        None => Ok(default),
        Some(v) => DateTime::parse_from_rfc3339(v)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| format!("{key}: {e}")),
    }
}

fn parse_flag(q: &HashMap<String, String>, key: &str) -> Result<bool, String> {
    match q.get(key).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(format!("{key}: {other:?} is not true or false")),
    }
}

/// The truth options of a query (see [`truth::TruthOptions`]).
fn truth_options(
    q: &HashMap<String, String>,
    since: DateTime<Utc>,
) -> Result<truth::TruthOptions, String> {
    Ok(truth::TruthOptions {
        org: q.get("org").cloned(),
        include_bots: parse_flag(q, "include_bots")?,
        drop_unattributed: parse_flag(q, "drop_unattributed")?,
        include_archived: parse_flag(q, "include_archived")?,
        include_forks: parse_flag(q, "include_forks")?,
        label_by_id: parse_flag(q, "label_by_id")?,
        observed_since: Some(parse_time(q, "observed_since", since)?),
    })
}

/// `GET /_sim/truth?since=&until=&org=&include_bots=&drop_unattributed=
/// &include_archived=&include_forks=&label_by_id=&observed_since=`:
/// activity in `[since, until)` (default: the last 24 hours), LOC of the
/// last complete week, and the pull-request flow observed from
/// `observed_since` (default `since`) to `until` with the pull requests
/// open at `until`, by the rules of `docs/metrics.md`.
async fn get_truth(State(state): St, Query(q): Query<HashMap<String, String>>) -> Response {
    let now = state.clock.now();
    let (since, until) = match (
        parse_time(&q, "since", now - Duration::hours(24)),
        parse_time(&q, "until", now),
    ) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(r), _) | (_, Err(r)) => return bad_request(r),
    };
    let options = match truth_options(&q, since) {
        Ok(o) => o,
        Err(r) => return bad_request(r),
    };
    let world = state.world.read().unwrap_or_else(|p| p.into_inner());
    Json(json!({
        "since": since, "until": until, "now": now,
        "activity": truth::activity(&world, since, until, &options),
        "loc": truth::loc(&world, now, &options),
        "pull_flow": truth::pull_flow(&world, until, now, &options),
    }))
    .into_response()
}

async fn get_requests(State(state): St) -> Response {
    Json(state.log.snapshot()).into_response()
}

async fn clear_requests(State(state): St) -> StatusCode {
    state.log.clear();
    StatusCode::NO_CONTENT
}

/// `GET /_sim/stats`: requests per endpoint and status, and how many cost
/// rate budget.
async fn get_stats(State(state): St) -> Response {
    let mut by_endpoint: BTreeMap<String, BTreeMap<u16, u64>> = BTreeMap::new();
    let (mut counted, mut free) = (0u64, 0u64);
    for r in state.log.snapshot() {
        *by_endpoint
            .entry(r.endpoint)
            .or_default()
            .entry(r.status)
            .or_default() += 1;
        if r.counted { counted += 1 } else { free += 1 }
    }
    Json(json!({
        "by_endpoint": by_endpoint,
        "counted": counted,
        "not_counted": free,
        "installation_tokens_minted": state.auth.mint_counts(),
    }))
    .into_response()
}

async fn set_fault(State(state): St, Json(rule): Json<FaultRule>) -> StatusCode {
    state.faults.set(rule);
    StatusCode::NO_CONTENT
}

async fn get_copilot(State(state): St) -> Response {
    Json(state.copilot.knobs()).into_response()
}

async fn set_copilot(State(state): St, Json(knobs): Json<crate::copilot::Knobs>) -> StatusCode {
    state.copilot.set_knobs(|k| *k = knobs);
    StatusCode::NO_CONTENT
}

async fn get_hooks(State(state): St) -> Response {
    Json(state.hooks.knobs()).into_response()
}

/// `POST /_sim/hooks {urls, secret, drop_every, duplicate_every,
/// missign_every, delay_ms, reorder}`: the App's webhook.
async fn set_hooks(State(state): St, Json(knobs): Json<crate::hooks::HookKnobs>) -> StatusCode {
    state.hooks.set_knobs(knobs);
    StatusCode::NO_CONTENT
}

async fn get_hook_deliveries(State(state): St) -> Response {
    Json(state.hooks.deliveries()).into_response()
}

async fn clear_faults(State(state): St) -> StatusCode {
    state.faults.clear();
    StatusCode::NO_CONTENT
}

async fn get_clock(State(state): St) -> Response {
    Json(json!({ "now": state.clock.now() })).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    advance_seconds: i64,
}

async fn advance_clock(State(state): St, Json(a): Json<Advance>) -> Response {
    state.clock.advance(Duration::seconds(a.advance_seconds));
    get_clock(State(state)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetRemaining {
    remaining: u64,
    bucket: Option<String>,
    /// Moves the reset to this many seconds from now.
    reset_in_seconds: Option<i64>,
}

async fn set_rate_limit(State(state): St, Json(s): Json<SetRemaining>) -> StatusCode {
    let reset = s
        .reset_in_seconds
        .map(|r| state.clock.now().timestamp() + r);
    state
        .buckets
        .set_remaining(s.bucket.as_deref(), s.remaining, reset);
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RepoChange {
    org: String,
    repo: String,
    action: crate::world::Departure,
    #[serde(default)]
    new_name: Option<String>,
}

/// `POST /_sim/repos {org, repo, action: archived|renamed|deleted, new_name}`.
async fn change_repo(State(state): St, Json(c): Json<RepoChange>) -> Response {
    let now = state.clock.now();
    match depart(
        &state,
        &c.org,
        &c.repo,
        c.action,
        c.new_name.as_deref(),
        now,
    ) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => bad_request(e),
    }
}

/// A repository leaves its org now, and the App's webhook says so
/// (`repository` archived, renamed with the old name, deleted).
pub(crate) fn depart(
    state: &SimState,
    org: &str,
    repo: &str,
    how: crate::world::Departure,
    new_name: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), SimError> {
    let mut world = state.world.write().unwrap_or_else(|p| p.into_inner());
    let before = world
        .orgs
        .iter()
        .find(|o| o.login.eq_ignore_ascii_case(org))
        .and_then(|o| {
            let r = o.repos.iter().find(|r| r.name.eq_ignore_ascii_case(repo))?;
            Some((o.clone_shallow(), r.clone()))
        });
    world.depart(org, repo, how, new_name, now)?;
    if let Some((org, mut repo)) = before {
        let action = match how {
            crate::world::Departure::Archived => "archived",
            crate::world::Departure::Renamed => "renamed",
            crate::world::Departure::Deleted => "deleted",
        };
        let old_name = repo.name.clone();
        if let Some(new) = new_name {
            repo.name = new.to_owned();
        }
        repo.archived |= action == "archived";
        let mut payload = crate::hooks::envelope(&state.links, &org, &repo, Some(action));
        if action == "renamed" {
            payload["changes"] = json!({ "repository": { "name": { "from": old_name } } });
        }
        state.hooks.emit(now, &org, &repo, "repository", payload);
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserRename {
    login: String,
    new_login: String,
}

/// `POST /_sim/users {login, new_login}`: renames an account.
async fn rename_user(State(state): St, Json(r): Json<UserRename>) -> Response {
    let mut world = state.world.write().unwrap_or_else(|p| p.into_inner());
    match world.rename_user(&r.login, &r.new_login) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => bad_request(e),
    }
}

/// The kinds `POST /_sim/activity` adds.
pub const ACTIVITY_KINDS: [&str; 16] = [
    "commit",
    "late_commit",
    "rebase",
    "merge",
    "squash",
    "squash_unlinked",
    "pull",
    "comment",
    "open_pull",
    "draft_pull",
    "review",
    "ready_pull",
    "merge_pull",
    "close_pull",
    "reopen_pull",
    "dismiss_review",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewActivity {
    org: String,
    repo: String,
    /// One of [`ACTIVITY_KINDS`].
    kind: String,
    #[serde(default)]
    seed: u64,
    /// Whose event it is (a login of the world, bots included); random
    /// when absent.
    #[serde(default)]
    user: Option<String>,
    /// For `commit`: written this long ago, committed and pushed now.
    #[serde(default)]
    authored_seconds_ago: Option<i64>,
}

/// `POST /_sim/activity`: adds one event, dated now, to a repository.
async fn add_activity(State(state): St, Json(a): Json<NewActivity>) -> Response {
    let now = state.clock.now();
    let mut rng = Rng::new(a.seed ^ now.timestamp_nanos_opt().unwrap_or_default() as u64);
    let event = Event {
        org: &a.org,
        repo: &a.repo,
        kind: &a.kind,
        user: a.user.as_deref(),
        authored_seconds_ago: a.authored_seconds_ago,
    };
    match add_event(&state, &event, &mut rng, now) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => bad_request(e),
    }
}

/// One event to add.
#[derive(Debug, Clone, Copy, Default)]
pub struct Event<'a> {
    pub org: &'a str,
    pub repo: &'a str,
    /// One of [`ACTIVITY_KINDS`].
    pub kind: &'a str,
    /// Whose event it is; random when `None`.
    pub user: Option<&'a str>,
    /// For `commit`: written this long ago, committed now.
    pub authored_seconds_ago: Option<i64>,
}

pub(crate) fn add_event(
    state: &SimState,
    event: &Event<'_>,
    rng: &mut Rng,
    now: DateTime<Utc>,
) -> Result<(), SimError> {
    let mut world = state.world.write().unwrap_or_else(|p| p.into_inner());
    world.actor = match event.user {
        Some(login) => Some(
            world
                .account(login)
                .ok_or_else(|| SimError::NoUser(login.to_owned()))?,
        ),
        None => None,
    };
    let result = add_to_world(state, &mut world, event, rng, now);
    world.actor = None;
    result
}

fn add_to_world(
    state: &SimState,
    world: &mut crate::world::World,
    event: &Event<'_>,
    rng: &mut Rng,
    now: DateTime<Utc>,
) -> Result<(), SimError> {
    let (org, repo, kind) = (event.org, event.repo, event.kind);
    let o = world
        .orgs
        .iter()
        .position(|o| o.login.eq_ignore_ascii_case(org))
        .ok_or_else(|| SimError::NoOrg(org.to_owned()))?;
    let r = world.orgs[o]
        .repos
        .iter()
        .position(|r| r.name.eq_ignore_ascii_case(repo))
        .ok_or_else(|| SimError::NoRepo(repo.to_owned()))?;
    let mut target = world.take_repo(o, r);
    let before = target.clone();
    match kind {
        "commit" => {
            let written = now - Duration::seconds(event.authored_seconds_ago.unwrap_or(0));
            world.add_commit_at(rng, &mut target, written, now);
        }
        // Written three hours ago, committed and pushed now.
        "late_commit" => world.add_commit_at(rng, &mut target, now - Duration::hours(3), now),
        "rebase" => world.add_rebased(rng, &mut target, now, 3),
        "merge" => world.add_merge(rng, &mut target, now, 2),
        "squash" => world.add_squash(rng, &mut target, now, true),
        "squash_unlinked" => world.add_squash(rng, &mut target, now, false),
        "pull" => world.add_pull(rng, &mut target, now, now),
        "comment" => world.add_comment(rng, &mut target, now),
        "open_pull" => world.open_pull(rng, &mut target, now, false),
        "draft_pull" => world.open_pull(rng, &mut target, now, true),
        "review" => world.review_pull(rng, &mut target, now),
        "ready_pull" => world.ready_pull(rng, &mut target, now),
        "merge_pull" => world.merge_pull(rng, &mut target, now),
        "close_pull" => world.close_pull(rng, &mut target, now),
        "reopen_pull" => world.reopen_pull(rng, &mut target, now),
        "dismiss_review" => world.dismiss_review(rng, &mut target, now),
        other => {
            world.put_repo(o, target);
            return Err(SimError::UnknownKind(other.to_owned()));
        }
    }
    for (event, payload) in crate::hooks::changes(&state.links, &world.orgs[o], &before, &target) {
        state
            .hooks
            .emit(now, &world.orgs[o], &target, event, payload);
    }
    world.put_repo(o, target);
    Ok(())
}

/// `GET /_sim/world`: orgs, installations and repositories.
async fn get_world(State(state): St) -> Response {
    let world = state.world.read().unwrap_or_else(|p| p.into_inner());
    let orgs: Vec<Value> = world
        .orgs
        .iter()
        .map(|o| {
            json!({
                "login": o.login, "installation_id": o.installation_id, "app_id": crate::DEMO_APP_ID,
                "repos": o.repos.iter().map(|r| json!({
                    "name": r.name, "archived": r.archived, "fork": r.fork, "stats": r.stats,
                    "commits": r.commits.len(), "pulls": r.pulls.len(), "comments": r.comments.len(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "orgs": orgs, "api_base": state.links.api })).into_response()
}

/// Adds a random event to a random non-archived repository every `every`.
pub fn spawn_live_activity(state: Arc<SimState>, every: StdDuration, shutdown: &Shutdown) {
    let stop = shutdown.clone();
    shutdown.spawn("simulator_live_activity", async move {
        let mut rng = Rng::new(state.config.world.seed ^ 0x11FE);
        let mut cadence = Cadence::starting_after(every);
        loop {
            if cadence.next(&stop, None).await == Resumed::ShutDown {
                return Ok::<(), SimError>(());
            }
            let target = {
                let world = state.world.read().unwrap_or_else(|p| p.into_inner());
                let org = &world.orgs[rng.below(world.orgs.len() as u64) as usize];
                let live: Vec<_> = org
                    .repos
                    .iter()
                    .filter(|r| !r.archived && !r.commits.is_empty())
                    .collect();
                live.get(rng.below(live.len() as u64) as usize)
                    .map(|r| (org.login.clone(), r.name.clone()))
            };
            if let Some((org, repo)) = target {
                let kind = [
                    "commit",
                    "commit",
                    "late_commit",
                    "merge",
                    "squash",
                    "pull",
                    "comment",
                ][rng.below(7) as usize];
                let event = Event {
                    org: &org,
                    repo: &repo,
                    kind,
                    ..Event::default()
                };
                add_event(&state, &event, &mut rng, state.clock.now())?;
            }
        }
    });
}

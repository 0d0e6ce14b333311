//! The GitHub REST endpoints. Every call goes through [`begin`] (auth,
//! rate limit, injected faults) and [`finish`] (ETag and 304, rate-limit
//! headers, logging, budget).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::SimState;
use crate::auth::Caller;
use crate::shapes;
use crate::state::{Bucket, Injected, LoggedRequest};
use crate::world::{Org, Repo, StatsBehaviour};

type St = State<Arc<SimState>>;
type Q = Query<HashMap<String, String>>;

pub fn routes(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/orgs/{org}/repos", get(list_org_repos))
        .route("/repos/{owner}/{repo}/commits", get(list_commits))
        .route("/repos/{owner}/{repo}/commits/{sha}", get(get_commit))
        .route("/repos/{owner}/{repo}/pulls", get(list_pulls))
        .route(
            "/repos/{owner}/{repo}/pulls/{number}/reviews",
            get(list_reviews),
        )
        .route(
            "/repos/{owner}/{repo}/issues/comments",
            get(list_issue_comments),
        )
        .route(
            "/repos/{owner}/{repo}/stats/contributors",
            get(contributor_stats),
        )
        .route("/rate_limit", get(rate_limit))
        .merge(crate::copilot::link_routes())
        .route(
            "/app/installations/{id}/access_tokens",
            post(create_installation_token),
        )
        .route("/app/hook/deliveries", get(list_hook_deliveries))
        .route(
            "/app/hook/deliveries/{id}/attempts",
            post(redeliver_hook_delivery),
        )
        .with_state(state)
}

/// What a handler answers, before the common headers.
pub(crate) enum Answer {
    Json(Value),
    Page(Value, Option<String>),
    Accepted,
    NoContent,
    Error(u16, String),
}

pub(crate) struct Call {
    endpoint: &'static str,
    pub(crate) caller: Caller,
    bucket: Option<Bucket>,
}

pub(crate) fn message(status: u16, msg: &str) -> Response {
    let body = json!({ "message": msg, "documentation_url": "https://docs.github.com/rest", "status": status.to_string() });
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

pub async fn not_found() -> Response {
    message(404, "Not Found")
}

fn rate_headers(resp: &mut Response, b: &Bucket) {
    let h = resp.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", b.limit.to_string()),
        ("x-ratelimit-remaining", b.remaining.to_string()),
        ("x-ratelimit-used", b.used().to_string()),
        ("x-ratelimit-reset", b.reset.to_string()),
        ("x-ratelimit-resource", "core".to_owned()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
}

pub(crate) fn log(
    state: &SimState,
    endpoint: &str,
    uri: &Uri,
    headers: &HeaderMap,
    status: u16,
    bucket: &str,
    counted: bool,
) {
    state.log.push(LoggedRequest {
        at: state.clock.now(),
        method: if ["create_installation_token", "redeliver_hook_delivery"].contains(&endpoint) {
            Method::POST
        } else {
            Method::GET
        }
        .to_string(),
        endpoint: endpoint.to_owned(),
        path: uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        status,
        bucket: bucket.to_owned(),
        counted,
        authorized: headers.contains_key("authorization"),
        user_agent: headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
    });
}

/// Authenticates, refuses an exhausted budget, applies injected faults.
pub(crate) async fn begin(
    state: &SimState,
    endpoint: &'static str,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Call, Response> {
    let now = state.clock.now();
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    let caller = match state.auth.authenticate(authorization, now) {
        Ok(c) => c,
        Err((status, msg)) => {
            log(state, endpoint, uri, headers, status, "", false);
            return Err(message(status, msg));
        }
    };
    let key = caller.bucket();
    let bucket = state
        .config
        .rate_limit
        .map(|limit| state.buckets.get(&key, limit, now));
    if let Some(b) = bucket.filter(|b| b.remaining == 0) {
        log(state, endpoint, uri, headers, 403, &key, false);
        let mut resp = message(
            403,
            "API rate limit exceeded for installation. Check out the documentation for more information.",
        );
        rate_headers(&mut resp, &b);
        return Err(resp);
    }
    for fault in state.faults.decide(endpoint, uri.path()) {
        match fault {
            Injected::Delay(d) => tokio::time::sleep(d).await,
            Injected::Error(status) => {
                let b = charge(state, &key);
                log(state, endpoint, uri, headers, status, &key, b.is_some());
                let mut resp = message(status, "Server Error");
                if let Some(b) = b {
                    rate_headers(&mut resp, &b);
                }
                return Err(resp);
            }
            Injected::SecondaryLimit { retry_after } => {
                log(state, endpoint, uri, headers, 403, &key, false);
                let mut resp = message(
                    403,
                    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                );
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    resp.headers_mut().insert("retry-after", v);
                }
                if let Some(b) = bucket {
                    rate_headers(&mut resp, &b);
                }
                return Err(resp);
            }
        }
    }
    Ok(Call {
        endpoint,
        caller,
        bucket,
    })
}

fn charge(state: &SimState, key: &str) -> Option<Bucket> {
    let limit = state.config.rate_limit?;
    Some(state.buckets.charge(key, limit, state.clock.now()))
}

fn etag_of(body: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    body.hash(&mut h);
    format!("W/\"{:016x}\"", h.finish())
}

/// Renders the answer: 304 when the ETag matches (free), else the body,
/// charged to the caller's budget.
pub(crate) fn finish(
    state: &SimState,
    call: Call,
    headers: &HeaderMap,
    uri: &Uri,
    answer: Answer,
) -> Response {
    let key = call.caller.bucket();
    let (status, body, link) = match answer {
        Answer::Json(v) => (200, Some(v), None),
        Answer::Page(v, link) => (200, Some(v), link),
        Answer::Accepted => (202, Some(json!({})), None),
        Answer::NoContent => (204, None, None),
        Answer::Error(status, msg) => {
            let b = charge(state, &key);
            log(
                state,
                call.endpoint,
                uri,
                headers,
                status,
                &key,
                b.is_some(),
            );
            let mut resp = message(status, &msg);
            if let Some(b) = b {
                rate_headers(&mut resp, &b);
            }
            return resp;
        }
    };
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let etag = (status == 200).then(|| etag_of(&bytes));
    let not_modified = etag.as_deref().is_some_and(|tag| {
        headers
            .get("if-none-match")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|sent| sent == tag)
    });
    let (mut resp, bucket, counted) = if not_modified {
        (StatusCode::NOT_MODIFIED.into_response(), call.bucket, false)
    } else {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        let resp = if status == 204 {
            code.into_response()
        } else {
            (
                code,
                [("content-type", "application/json; charset=utf-8")],
                bytes,
            )
                .into_response()
        };
        let b = charge(state, &key);
        (resp, b, b.is_some())
    };
    log(
        state,
        call.endpoint,
        uri,
        headers,
        resp.status().as_u16(),
        &key,
        counted,
    );
    if let Some(b) = bucket {
        rate_headers(&mut resp, &b);
    }
    let h = resp.headers_mut();
    if let Some(tag) = etag.and_then(|t| HeaderValue::from_str(&t).ok()) {
        h.insert("etag", tag);
    }
    if let Some(link) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert("link", link);
    }
    resp
}

/// Slices `items` by `page` / `per_page` and builds the `Link` header.
fn paginate(
    state: &SimState,
    path: &str,
    q: &HashMap<String, String>,
    items: Vec<Value>,
) -> Answer {
    let per_page = q
        .get("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = q
        .get("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let url = |p: usize| {
        let mut params: Vec<(String, String)> = q
            .iter()
            .filter(|(k, _)| k.as_str() != "page")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        params.sort();
        params.push(("page".into(), p.to_string()));
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        format!("{}{path}?{}", state.links.api, query.join("&"))
    };
    let mut rels = Vec::new();
    if page < last {
        rels.push(format!("<{}>; rel=\"next\"", url(page + 1)));
        rels.push(format!("<{}>; rel=\"last\"", url(last)));
    }
    if page > 1 {
        rels.push(format!("<{}>; rel=\"first\"", url(1)));
        rels.push(format!("<{}>; rel=\"prev\"", url(page - 1)));
    }
    Answer::Page(
        Value::Array(slice),
        (!rels.is_empty()).then(|| rels.join(", ")),
    )
}

fn urlencode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

fn time_param(q: &HashMap<String, String>, key: &str) -> Result<Option<DateTime<Utc>>, Answer> {
    match q.get(key) {
        None => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(v)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| Answer::Error(422, format!("Invalid value for parameter '{key}': {v}"))),
    }
}

/// Runs `f` on the repository, or answers 404 when it does not exist or the
/// caller cannot see it.
fn with_repo(
    state: &SimState,
    call: &Call,
    owner: &str,
    name: &str,
    f: impl FnOnce(&Org, &Repo) -> Answer,
) -> Answer {
    let world = state.world.read().unwrap_or_else(|p| p.into_inner());
    match (world.org(owner), world.repo(owner, name)) {
        (Some(org), Some(repo)) if call.caller.may_read(&org.login) => f(org, repo),
        _ => Answer::Error(404, "Not Found".into()),
    }
}

macro_rules! api_handler {
    ($state:ident, $headers:ident, $uri:ident, $endpoint:literal, $call:ident => $body:expr) => {{
        let $call = match begin(&$state, $endpoint, &$headers, &$uri).await {
            Ok(c) => c,
            Err(resp) => return resp,
        };
        let answer = $body;
        finish(&$state, $call, &$headers, &$uri, answer)
    }};
}
pub(crate) use api_handler;

async fn list_org_repos(
    State(state): St,
    Path(org): Path<String>,
    Query(q): Q,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    api_handler!(state, headers, uri, "list_org_repos", call => {
        let world = state.world.read().unwrap_or_else(|p| p.into_inner());
        match world.org(&org) {
            Some(o) if call.caller.may_read(&o.login) => {
                let items = o.repos.iter().map(|r| shapes::repo(&state.links, o, r)).collect();
                paginate(&state, &format!("/orgs/{org}/repos"), &q, items)
            }
            _ => Answer::Error(404, "Not Found".into()),
        }
    })
}

async fn list_commits(
    State(state): St,
    Path((owner, name)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    api_handler!(state, headers, uri, "list_commits", call => {
        match (time_param(&q, "since"), time_param(&q, "until")) {
            (Err(a), _) | (_, Err(a)) => a,
            (Ok(since), Ok(until)) => with_repo(&state, &call, &owner, &name, |org, repo| {
                if repo.commits.is_empty() {
                    return Answer::Error(409, "Git Repository is empty.".into());
                }
                let items = repo
                    .commits
                    .iter()
                    // GitHub orders and filters the listing by committer date.
                    .filter(|c| since.is_none_or(|s| c.committed_at >= s) && until.is_none_or(|u| c.committed_at <= u))
                    .map(|c| shapes::commit(&state.links, org, repo, c))
                    .collect();
                paginate(&state, &format!("/repos/{owner}/{name}/commits"), &q, items)
            }),
        }
    })
}

async fn get_commit(
    State(state): St,
    Path((owner, name, sha)): Path<(String, String, String)>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    api_handler!(state, headers, uri, "get_commit", call => {
        with_repo(&state, &call, &owner, &name, |org, repo| {
            match repo.commits.iter().find(|c| sha.len() >= 7 && c.sha.starts_with(&sha)) {
                Some(c) => Answer::Json(shapes::commit_detail(&state.links, org, repo, c)),
                None => Answer::Error(422, format!("No commit found for SHA: {sha}")),
            }
        })
    })
}

async fn list_pulls(
    State(state): St,
    Path((owner, name)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    api_handler!(state, headers, uri, "list_pulls", call => {
        with_repo(&state, &call, &owner, &name, |org, repo| {
            let want = q.get("state").map(String::as_str).unwrap_or("open");
            let by_updated = q.get("sort").map(String::as_str) == Some("updated");
            let ascending = q.get("direction").map(String::as_str) == Some("asc");
            let mut pulls: Vec<_> = repo
                .pulls
                .iter()
                .filter(|p| match want {
                    "all" => true,
                    "closed" => p.closed_at.is_some(),
                    _ => p.closed_at.is_none(),
                })
                .collect();
            pulls.sort_by_key(|p| (if by_updated { p.updated_at } else { p.created_at }, p.number));
            if !ascending {
                pulls.reverse();
            }
            let items = pulls.into_iter().map(|p| shapes::pull(&state.links, org, repo, p)).collect();
            paginate(&state, &format!("/repos/{owner}/{name}/pulls"), &q, items)
        })
    })
}

async fn list_reviews(
    State(state): St,
    Path((owner, name, number)): Path<(String, String, u64)>,
    Query(q): Q,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    api_handler!(state, headers, uri, "list_reviews", call => {
        with_repo(&state, &call, &owner, &name, |org, repo| match repo.pulls.iter().find(|p| p.number == number) {
            Some(p) => {
                let items = p.reviews.iter().map(|r| shapes::review(&state.links, org, repo, p, r)).collect();
                paginate(&state, &format!("/repos/{owner}/{name}/pulls/{number}/reviews"), &q, items)
            }
            None => Answer::Error(404, "Not Found".into()),
        })
    })
}

async fn list_issue_comments(
    State(state): St,
    Path((owner, name)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    api_handler!(state, headers, uri, "list_issue_comments", call => {
        match time_param(&q, "since") {
            Err(a) => a,
            Ok(since) => with_repo(&state, &call, &owner, &name, |org, repo| {
                let by_updated = q.get("sort").map(String::as_str) == Some("updated");
                let descending = q.get("direction").map(String::as_str) == Some("desc");
                let mut comments: Vec<_> =
                    repo.comments.iter().filter(|c| since.is_none_or(|s| c.updated_at >= s)).collect();
                comments.sort_by_key(|c| (if by_updated { c.updated_at } else { c.created_at }, c.id));
                if descending {
                    comments.reverse();
                }
                let items = comments.into_iter().map(|c| shapes::comment(&state.links, org, repo, c)).collect();
                paginate(&state, &format!("/repos/{owner}/{name}/issues/comments"), &q, items)
            }),
        }
    })
}

async fn contributor_stats(
    State(state): St,
    Path((owner, name)): Path<(String, String)>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    api_handler!(state, headers, uri, "contributor_stats", call => {
        let now = state.clock.now();
        let mut world = state.world.write().unwrap_or_else(|p| p.into_inner());
        let visible = world.org(&owner).is_some_and(|o| call.caller.may_read(&o.login));
        match world.repo_mut(&owner, &name) {
            Some(repo) if visible => {
                if repo.commits.is_empty() {
                    Answer::NoContent
                } else if repo.stats == StatsBehaviour::AlwaysWarming || repo.stats_served_generation != repo.generation {
                    // GitHub computes stats in the background after a change.
                    repo.stats_served_generation = repo.generation;
                    Answer::Accepted
                } else {
                    Answer::Json(crate::stats::contributors(&state.links, repo, now))
                }
            }
            _ => Answer::Error(404, "Not Found".into()),
        }
    })
}

async fn rate_limit(
    State(state): St,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let now = state.clock.now();
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    let caller = match state.auth.authenticate(authorization, now) {
        Ok(c) => c,
        Err((status, msg)) => return message(status, msg),
    };
    let key = caller.bucket();
    // Free like GitHub's, but down with the rest of it.
    for fault in state.faults.decide("rate_limit", uri.path()) {
        match fault {
            Injected::Delay(d) => tokio::time::sleep(d).await,
            Injected::Error(status) => {
                log(&state, "rate_limit", &uri, &headers, status, &key, false);
                return message(status, "Server Error");
            }
            Injected::SecondaryLimit { .. } => {}
        }
    }
    log(&state, "rate_limit", &uri, &headers, 200, &key, false);
    let Some(limit) = state.config.rate_limit else {
        return message(404, "Rate limiting is not enabled.");
    };
    let b = state.buckets.get(&key, limit, now);
    let core =
        json!({ "limit": b.limit, "remaining": b.remaining, "reset": b.reset, "used": b.used() });
    let other = json!({ "limit": 30, "remaining": 30, "reset": now.timestamp() + 60, "used": 0 });
    let mut resp = axum::Json(json!({
        "resources": { "core": core, "search": other, "graphql": core },
        "rate": core,
    }))
    .into_response();
    rate_headers(&mut resp, &b);
    resp
}

/// `GET /app/hook/deliveries?per_page=&cursor=` (App JWT): the App's
/// delivery attempts, newest first, `Link: rel="next"` with a cursor.
async fn list_hook_deliveries(
    State(state): St,
    Query(q): Q,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    const ENDPOINT: &str = "list_hook_deliveries";
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    if let Err((status, msg)) = state.auth.app_of(authorization) {
        log(&state, ENDPOINT, &uri, &headers, status, "", false);
        return message(status, msg);
    }
    let per_page: usize = q
        .get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let from: usize = q.get("cursor").and_then(|v| v.parse().ok()).unwrap_or(0);
    let all = state.hooks.deliveries();
    let page: Vec<_> = all.iter().skip(from).take(per_page).cloned().collect();
    log(&state, ENDPOINT, &uri, &headers, 200, "", false);
    let mut response = axum::Json(Value::Array(page)).into_response();
    if from + per_page < all.len() {
        let next = format!(
            "<{}/app/hook/deliveries?per_page={per_page}&cursor={}>; rel=\"next\"",
            state.links.api,
            from + per_page
        );
        if let Ok(v) = axum::http::HeaderValue::from_str(&next) {
            response.headers_mut().insert(axum::http::header::LINK, v);
        }
    }
    response
}

/// `POST /app/hook/deliveries/{id}/attempts` (App JWT): delivers it again.
async fn redeliver_hook_delivery(
    State(state): St,
    Path(id): Path<u64>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    const ENDPOINT: &str = "redeliver_hook_delivery";
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    if let Err((status, msg)) = state.auth.app_of(authorization) {
        log(&state, ENDPOINT, &uri, &headers, status, "", false);
        return message(status, msg);
    }
    match state.hooks.redeliver(id, state.clock.now()) {
        Some(_) => {
            log(&state, ENDPOINT, &uri, &headers, 202, "", false);
            (StatusCode::ACCEPTED, axum::Json(json!({}))).into_response()
        }
        None => {
            log(&state, ENDPOINT, &uri, &headers, 404, "", false);
            message(404, "Not Found")
        }
    }
}

async fn create_installation_token(
    State(state): St,
    Path(id): Path<u64>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    match state.auth.mint(authorization, id, state.clock.now()) {
        Ok((token, expires_at)) => {
            log(
                &state,
                "create_installation_token",
                &uri,
                &headers,
                201,
                "",
                false,
            );
            (
                StatusCode::CREATED,
                axum::Json(json!({
                    "token": token,
                    "expires_at": shapes::time(expires_at),
                    "permissions": { "contents": "read", "metadata": "read", "pull_requests": "read", "issues": "read" },
                    "repository_selection": "all",
                })),
            )
                .into_response()
        }
        Err((status, msg)) => {
            log(
                &state,
                "create_installation_token",
                &uri,
                &headers,
                status,
                "",
                false,
            );
            message(status, msg)
        }
    }
}

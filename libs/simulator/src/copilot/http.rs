//! The Copilot HTTP surface: link endpoints (API) and the download
//! listener's signed URLs.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Duration, NaiveDate};
use serde_json::json;

use super::report::{self, ReportKind};
use super::{ENTERPRISE_SLUG, report_days};
use crate::SimState;
use crate::api::{Answer, api_handler, begin, finish, log, message};

type St = State<Arc<SimState>>;
type Q = Query<HashMap<String, String>>;

/// Records per download file (a report is split over several links).
const FILES: usize = 2;

pub(crate) fn link_routes() -> Router<Arc<SimState>> {
    let base = "/copilot/metrics/reports";
    // (path root, enterprise, latest)
    let mut router = Router::new();
    for (root, enterprise) in [("orgs", false), ("enterprises", true)] {
        for latest in [true, false] {
            let tail = if latest { "/latest" } else { "" };
            router = router.route(
                &format!("/{root}/{{owner}}{base}/{{report}}{tail}"),
                get(move |st: St, p, q: Q, h: HeaderMap, u| {
                    links(st, p, q, h, u, enterprise, latest)
                }),
            );
        }
    }
    router
}

fn kind_of(enterprise: bool, report: &str, latest: bool) -> Option<ReportKind> {
    let suffix = if latest { "-28-day" } else { "-1-day" };
    let name = report.strip_suffix(suffix)?;
    match (enterprise, name) {
        (false, "organization") => Some(ReportKind::Organization),
        (false, "users") => Some(ReportKind::OrgUsers),
        (true, "enterprise") => Some(ReportKind::Enterprise),
        (true, "users") => Some(ReportKind::EnterpriseUsers),
        _ => None,
    }
}

async fn links(
    State(state): St,
    Path((owner, report)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    enterprise: bool,
    latest: bool,
) -> Response {
    api_handler!(state, headers, uri, "copilot_report_link", call => {
        let known = if enterprise {
            owner == ENTERPRISE_SLUG
        } else {
            state.world.read().unwrap_or_else(|p| p.into_inner()).org(&owner).is_some()
        };
        match kind_of(enterprise, &report, latest) {
            Some(kind) if known && call.caller.may_read(&owner) => {
                link_answer(&state, &owner, kind, latest, q.get("day").map(String::as_str))
            }
            _ => Answer::Error(404, "Not Found".into()),
        }
    })
}

fn link_answer(
    state: &SimState,
    owner: &str,
    kind: ReportKind,
    latest: bool,
    day: Option<&str>,
) -> Answer {
    let now = state.clock.now();
    let newest = now.date_naive() - Duration::days(1);
    let day = match (latest, day) {
        (true, _) => None,
        (false, None) => return Answer::Error(422, "day is required (YYYY-MM-DD)".into()),
        (false, Some(d)) => match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
            Ok(d) if d <= newest => Some(d),
            Ok(_) => return Answer::Error(404, "No report is available for this day yet".into()),
            Err(_) => return Answer::Error(422, format!("day {d:?} is not YYYY-MM-DD")),
        },
    };
    let cp = &state.copilot;
    let knobs = cp.knobs();
    let expires = if knobs.expired_links {
        now - Duration::minutes(1)
    } else {
        now + Duration::hours(1)
    }
    .timestamp();
    let base = match &knobs.link_host {
        Some(host) => format!("http://{host}"),
        None => cp.download_base.clone(),
    };
    let day_part = day.map_or_else(|| "latest".to_owned(), |d| d.format("%Y-%m-%d").to_string());
    let download_links: Vec<String> = (0..FILES)
        .map(|file| {
            let path = format!("/reports/{owner}/{}/{day_part}/{file}", kind.code());
            let sig = cp.sign(&path, expires);
            format!("{base}{path}?expires={expires}&sig={sig}")
        })
        .collect();
    let days = report_days(now, day);
    let fmt = |d: &NaiveDate| d.format("%Y-%m-%d").to_string();
    Answer::Json(match day {
        Some(d) => json!({ "download_links": download_links, "report_day": fmt(&d) }),
        None => json!({
            "download_links": download_links,
            "report_start_day": days.first().map(fmt),
            "report_end_day": days.last().map(fmt),
        }),
    })
}

pub(crate) fn download_routes(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/reports/{owner}/{kind}/{day}/{file}", get(download))
        .fallback(crate::api::not_found)
        .with_state(state)
}

const DOWNLOAD: &str = "copilot_report_download";

async fn download(
    State(state): St,
    Path((owner, kind, day, file)): Path<(String, u64, String, usize)>,
    Query(q): Q,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let refuse = |status: u16, msg: &str| {
        log(&state, DOWNLOAD, &uri, &headers, status, "", false);
        message(status, msg)
    };
    // Like a signed object-store URL: a second auth mechanism is an error.
    if headers.contains_key("authorization") {
        return refuse(
            400,
            "Only one auth mechanism allowed; an Authorization header was sent with a signed URL",
        );
    }
    let expires: i64 = q.get("expires").and_then(|e| e.parse().ok()).unwrap_or(0);
    let path = uri.path().to_owned();
    if q.get("sig").map(String::as_str) != Some(state.copilot.sign(&path, expires).as_str()) {
        return refuse(403, "Signature does not match");
    }
    if expires <= state.clock.now().timestamp() {
        return refuse(403, "Request has expired");
    }
    for fault in state.faults.decide(DOWNLOAD, "") {
        if let crate::state::Injected::Error(status) = fault {
            return refuse(status, "Server Error");
        }
    }
    let (Some(kind), Ok(day)) = (
        ReportKind::from_code(kind),
        (day != "latest")
            .then(|| NaiveDate::parse_from_str(&day, "%Y-%m-%d"))
            .transpose(),
    ) else {
        return refuse(404, "Not Found");
    };
    let users = Arc::new(report_users(&state, kind));
    let days = report_days(state.clock.now(), day);
    let records = report::records(state.config.world.seed, owner, kind, days, users)
        .enumerate()
        .filter(move |(i, _)| i % FILES == file)
        .map(|(_, r)| r.to_string());
    let extra = if file == FILES - 1 {
        state.copilot.knobs().extra_lines
    } else {
        Vec::new()
    };
    let gzip = file == 0
        && headers
            .get("accept-encoding")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("gzip"));
    log(&state, DOWNLOAD, &uri, &headers, 200, "", false);
    let mut lines = records.chain(extra);
    // Streamed in chunks of lines (each chunk its own gzip member when
    // compressed), so a large report never sits in memory whole.
    let chunks = std::iter::from_fn(move || {
        let mut chunk = String::new();
        for line in lines.by_ref().take(CHUNK_LINES) {
            chunk.push_str(&line);
            chunk.push('\n');
        }
        if chunk.is_empty() {
            return None;
        }
        Some(if gzip {
            gzip_member(chunk.as_bytes())
        } else {
            Ok(chunk.into_bytes())
        })
    });
    let body = Body::from_stream(futures::stream::iter(chunks));
    let mut response = (
        StatusCode::OK,
        [("content-type", "application/x-ndjson")],
        body,
    )
        .into_response();
    if gzip {
        response.headers_mut().insert(
            "content-encoding",
            axum::http::HeaderValue::from_static("gzip"),
        );
    }
    response
}

const CHUNK_LINES: usize = 256;

fn gzip_member(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data)?;
    enc.finish()
}

/// The users of a report: the world's users and the synthetic ones.
pub(crate) fn report_users(state: &SimState, kind: ReportKind) -> Vec<(String, u64)> {
    if !kind.per_user() {
        return Vec::new();
    }
    let world = state.world.read().unwrap_or_else(|p| p.into_inner());
    let mut users: Vec<(String, u64)> = world
        .users
        .iter()
        .map(|u| (u.login.clone(), u.id))
        .collect();
    users.extend(
        (0..state.copilot.extra_users).map(|i| (format!("cp-user-{i:06}"), 900_000 + u64::from(i))),
    );
    users
}

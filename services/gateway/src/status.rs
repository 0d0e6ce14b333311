//! The status page at `/` of the gateway, for people: every scheduler
//! (role, term), every org as the leader sees it (last cycle, result, next
//! run, cooldown or pause, rate budget and reset, LOC modes), every worker
//! (consumers, in flight, processed, failed, drained), the backfill queue
//! (depth, oldest age, dead letters), the series against their budget, the
//! cache lag, and small charts of the recent cycles and of the rate budget.
//! One self-contained HTML document (inline CSS and SVG, nothing fetched
//! from anywhere), refreshing itself, read-only, every value escaped (org,
//! repository and host names are user data).

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::Html;
use chrono::{DateTime, Utc};
use ghstats_config::Config;
use ghstats_core::Shutdown;
use ghstats_proto::v1::{OrgStatus, Role};

use crate::cache::Published;
use crate::fleet::{Fleet, FleetStatus};
use crate::refresh::CacheControl;

/// A protobuf timestamp field as a time.
macro_rules! at {
    ($t:expr) => {
        time_of($t.as_ref().map(|t| (t.seconds, t.nanos)))
    };
}

/// How often the page reloads itself, and the charts take a sample.
pub const REFRESH: Duration = Duration::from_secs(15);
/// Samples the charts keep (an hour at [`REFRESH`]).
const SAMPLES: usize = 240;

/// What the page reads.
#[derive(Debug)]
pub struct StatusPage {
    pub identity: String,
    pub fleet: Fleet,
    pub published: Published,
    pub control: Arc<CacheControl>,
    /// `store.max_series_budget`.
    pub series_budget: u64,
    /// Each org's `scrape_interval`, for its next run.
    pub intervals: BTreeMap<String, Duration>,
    pub history: History,
}

impl StatusPage {
    pub fn new(
        config: &Config,
        identity: String,
        fleet: Fleet,
        published: Published,
        control: Arc<CacheControl>,
    ) -> Self {
        Self {
            identity,
            fleet,
            published,
            control,
            series_budget: config.store.max_series_budget,
            intervals: config
                .github
                .orgs
                .iter()
                .map(|o| (o.org.clone(), o.scrape_interval.get()))
                .collect(),
            history: History::default(),
        }
    }

    /// Samples the leader's orgs every [`REFRESH`] for the charts (task
    /// `status_history`).
    pub fn start_sampling(self: &Arc<Self>, shutdown: &Shutdown) {
        let page = self.clone();
        shutdown.spawn_every("status_history", REFRESH, move || {
            let page = page.clone();
            async move {
                let status = page.fleet.status().await;
                page.history.record(&status, Utc::now());
            }
        });
    }
}

/// One org at one sample.
#[derive(Debug, Clone, PartialEq)]
struct OrgSample {
    org: String,
    remaining: Option<i64>,
    last_run: Option<(DateTime<Utc>, String)>,
}

/// Recent samples of the leader's orgs.
#[derive(Debug, Default)]
pub struct History {
    samples: Mutex<VecDeque<(DateTime<Utc>, Vec<OrgSample>)>>,
}

fn org_samples(orgs: &[OrgStatus]) -> Vec<OrgSample> {
    orgs.iter()
        .map(|o| OrgSample {
            org: o.org.clone(),
            remaining: o.rate_limit_remaining,
            last_run: at!(o.last_run_at).map(|t| (t, o.last_result.clone())),
        })
        .collect()
}

impl History {
    pub fn record(&self, status: &FleetStatus, now: DateTime<Utc>) {
        let Some(leader) = status.leader() else {
            return;
        };
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.push_back((now, org_samples(&leader.orgs)));
        while samples.len() > SAMPLES {
            samples.pop_front();
        }
    }

    fn snapshot(&self) -> Vec<(DateTime<Utc>, Vec<OrgSample>)> {
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.iter().cloned().collect()
    }
}

/// HTML-escapes `s` (text and attribute values).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn ago(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        None => "never".into(),
        Some(t) => {
            let s = (now - t).num_seconds();
            if s < 0 {
                format!("in {}", human(-s))
            } else {
                format!("{} ago", human(s))
            }
        }
    }
}

fn human(s: i64) -> String {
    match s {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}

/// A protobuf timestamp, given as its seconds and nanoseconds.
fn time_of(t: Option<(i64, i32)>) -> Option<DateTime<Utc>> {
    t.and_then(|(s, n)| DateTime::from_timestamp(s, u32::try_from(n).unwrap_or(0)))
}

/// `GET /`.
pub async fn page(State(page): State<Arc<StatusPage>>) -> Html<String> {
    let status = page.fleet.status().await;
    page.history.record(&status, Utc::now());
    Html(render(&page, &status, Utc::now()))
}

/// The document for `status` at `now`.
pub fn render(page: &StatusPage, status: &FleetStatus, now: DateTime<Utc>) -> String {
    let mut h = String::new();
    let exposition = page.published.current();
    let series: u64 = exposition.series_loaded.values().map(|n| *n as u64).sum();
    let lag = page.control.caught_up_at().map(|t| (now - t).num_seconds());
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"{}\"><title>ghstats status</title><style>{CSS}</style></head><body>\
         <h1>ghstats</h1><p class=\"sub\">gateway <b id=\"gateway\">{}</b> · {} UTC · refreshes every {} s</p>",
        REFRESH.as_secs(),
        esc(&page.identity),
        now.format("%Y-%m-%d %H:%M:%S"),
        REFRESH.as_secs()
    );
    let share = if page.series_budget > 0 {
        series as f64 * 100.0 / page.series_budget as f64
    } else {
        0.0
    };
    let _ = write!(
        h,
        "<section><h2>Exposition</h2><dl><dt>series</dt><dd id=\"series\">{series}</dd>\
         <dt>budget</dt><dd>{} ({share:.1}% used)</dd><dt>cache lag</dt><dd id=\"lag\">{}</dd></dl></section>",
        page.series_budget,
        lag.map_or("not caught up yet".into(), |s| format!("{s} s")),
    );
    schedulers(&mut h, status);
    orgs(&mut h, page, status, now);
    workers(&mut h, status);
    queue(&mut h, &exposition);
    charts(&mut h, &page.history.snapshot(), now);
    h.push_str("<p class=\"sub\">Read-only. JSON: <code>/healthz?full=1</code>.</p></body></html>");
    h
}

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:64em;padding:0 1em;color:#222}\
h1{margin:.6em 0 0}h2{font-size:1.1em;margin:1.2em 0 .4em}.sub{color:#666;margin:.2em 0}\
table{border-collapse:collapse;width:100%;display:block;overflow-x:auto}\
th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #ddd;white-space:nowrap}\
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;margin:0}dt{color:#666}dd{margin:0}\
.ok{color:#176f2c}.bad{color:#b3261e}.warn{color:#8a5a00}svg{width:100%;height:auto;background:#fafafa}";

fn health_class(mode: &str) -> &'static str {
    match mode {
        "" | "healthy" => "ok",
        "degraded" => "warn",
        _ => "bad",
    }
}

fn schedulers(h: &mut String, status: &FleetStatus) {
    h.push_str("<section><h2>Schedulers</h2><table id=\"schedulers\"><tr><th>replica</th><th>identity</th><th>role</th><th>term</th><th>health</th></tr>");
    for (endpoint, answer) in &status.schedulers {
        match answer {
            Ok(s) => {
                let role = if s.role == Role::Leader as i32 {
                    "leader"
                } else {
                    "follower"
                };
                let mode = if s.health_mode.is_empty() {
                    "healthy"
                } else {
                    &s.health_mode
                };
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{role}</td><td>{}</td><td class=\"{}\">{} {}</td></tr>",
                    esc(endpoint),
                    esc(&s.identity),
                    s.lease_term,
                    health_class(mode),
                    esc(mode),
                    esc(&s.health_reason)
                );
            }
            Err(reason) => {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td colspan=\"3\"></td><td class=\"bad\">unreachable: {}</td></tr>",
                    esc(endpoint),
                    esc(reason)
                );
            }
        }
    }
    h.push_str("</table></section>");
}

fn orgs(h: &mut String, page: &StatusPage, status: &FleetStatus, now: DateTime<Utc>) {
    h.push_str("<section><h2>Orgs</h2>");
    let Some(leader) = status.leader() else {
        h.push_str("<p class=\"bad\">No scheduler leads: no org is scraped.</p></section>");
        return;
    };
    h.push_str("<table id=\"orgs\"><tr><th>org</th><th>last cycle</th><th>result</th><th>next run</th><th>state</th><th>rate budget</th><th>reset</th><th>LOC sources</th></tr>");
    for o in &leader.orgs {
        let last = at!(o.last_run_at);
        let next = last
            .zip(page.intervals.get(&o.org))
            .map(|(t, i)| t + chrono::Duration::from_std(*i).unwrap_or_default());
        let cooldown = at!(o.cooldown_until);
        let state = match (o.paused, cooldown) {
            (true, _) => "<span class=\"warn\">paused</span>".to_owned(),
            (false, Some(until)) => format!(
                "<span class=\"bad\">cooling down until {}</span>",
                until.format("%H:%M:%S")
            ),
            (false, None) => "<span class=\"ok\">scraping</span>".to_owned(),
        };
        let result_class = match o.last_result.as_str() {
            "success" => "ok",
            "" | "partial" => "warn",
            _ => "bad",
        };
        let loc = o
            .loc_modes
            .iter()
            .map(|(mode, n)| format!("{} {n}", esc(mode)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"{result_class}\">{}</td><td>{}</td><td>{state}</td><td>{}</td><td>{}</td><td>{loc}</td></tr>",
            esc(&o.org),
            ago(last, now),
            esc(if o.last_result.is_empty() {
                "not run yet"
            } else {
                &o.last_result
            }),
            if o.paused {
                "paused".into()
            } else {
                ago(next, now)
            },
            o.rate_limit_remaining
                .map_or("unlimited".into(), |r| r.to_string()),
            ago(at!(o.rate_limit_reset_at), now),
        );
    }
    h.push_str("</table></section>");
}

fn workers(h: &mut String, status: &FleetStatus) {
    h.push_str("<section><h2>Workers</h2><table id=\"workers\"><tr><th>replica</th><th>identity</th><th>consumers</th><th>in flight</th><th>processed</th><th>failed</th><th>state</th><th>webhooks</th><th>health</th></tr>");
    for (endpoint, answer) in &status.workers {
        match answer {
            Ok(w) => {
                let mode = if w.health_mode.is_empty() {
                    "healthy"
                } else {
                    &w.health_mode
                };
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{} {}</td></tr>",
                    esc(endpoint),
                    esc(&w.identity),
                    w.consumers,
                    w.in_flight,
                    w.processed,
                    w.failed,
                    if w.draining { "drained" } else { "consuming" },
                    if w.webhook_listen.is_empty() {
                        "off".to_owned()
                    } else {
                        format!("{} accepted", w.webhook_accepted)
                    },
                    health_class(mode),
                    esc(mode),
                    esc(&w.health_reason)
                );
            }
            Err(reason) => {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td colspan=\"7\"></td><td class=\"bad\">unreachable: {}</td></tr>",
                    esc(endpoint),
                    esc(reason)
                );
            }
        }
    }
    h.push_str("</table></section>");
}

fn queue(h: &mut String, exposition: &crate::cache::Exposition) {
    let depth = exposition.samples("gh_exporter_queue_depth");
    let age: BTreeMap<String, f64> = exposition
        .samples("gh_exporter_queue_oldest_message_age_seconds")
        .into_iter()
        .collect();
    h.push_str("<section><h2>Backfill queue</h2>");
    if depth.is_empty() {
        h.push_str(
            "<p class=\"sub\">No queue measured (memory queue, or no leader yet).</p></section>",
        );
        return;
    }
    h.push_str("<table id=\"queue\"><tr><th>queue</th><th>depth</th><th>oldest</th></tr>");
    for (labels, value) in depth {
        let dead = labels.contains("dlq");
        let name = labels
            .strip_prefix("queue=\"")
            .and_then(|l| l.strip_suffix('"'))
            .unwrap_or(&labels);
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"{}\">{value}</td><td>{}</td></tr>",
            esc(name),
            if dead && value > 0.0 { "bad" } else { "" },
            age.get(&labels).map_or(String::new(), |a| human(*a as i64)),
        );
    }
    h.push_str("</table></section>");
}

/// The rate budget of each org over the samples, and the cycles seen.
fn charts(h: &mut String, samples: &[(DateTime<Utc>, Vec<OrgSample>)], now: DateTime<Utc>) {
    h.push_str("<section><h2>Recent cycles and rate budget</h2>");
    if samples.len() < 2 {
        h.push_str("<p class=\"sub\">Charts start after two samples.</p></section>");
        return;
    }
    let (w, ht) = (600.0, 120.0);
    let start = samples[0].0;
    let span = (now - start).num_seconds().max(1) as f64;
    let x = |t: DateTime<Utc>| ((t - start).num_seconds() as f64 / span * w).clamp(0.0, w);
    let max = samples
        .iter()
        .flat_map(|(_, orgs)| orgs.iter().filter_map(|o| o.remaining))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let colors = ["#1a73e8", "#e8710a", "#188038", "#a142f4", "#d01884"];
    let mut orgs: Vec<&str> = samples
        .iter()
        .flat_map(|(_, o)| o.iter().map(|s| s.org.as_str()))
        .collect();
    orgs.sort_unstable();
    orgs.dedup();
    let _ = write!(
        h,
        "<svg id=\"rate\" viewBox=\"0 0 {w} {ht}\" role=\"img\" aria-label=\"rate budget remaining\">"
    );
    let mut cycles: Vec<(String, DateTime<Utc>, String)> = Vec::new();
    for (i, org) in orgs.iter().enumerate() {
        let points: Vec<String> = samples
            .iter()
            .filter_map(|(t, o)| {
                let r = o.iter().find(|s| s.org == *org)?.remaining?;
                Some(format!(
                    "{:.1},{:.1}",
                    x(*t),
                    ht - r as f64 / max * (ht - 10.0) - 5.0
                ))
            })
            .collect();
        let _ = write!(
            h,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>",
            colors[i % colors.len()],
            points.join(" "),
            esc(org)
        );
        for (_, o) in samples {
            if let Some(s) = o.iter().find(|s| s.org == *org)
                && let Some((t, result)) = &s.last_run
                && !cycles.iter().any(|(c, ct, _)| c == org && ct == t)
            {
                cycles.push(((*org).to_owned(), *t, result.clone()));
            }
        }
    }
    h.push_str("</svg><svg id=\"cycles\" viewBox=\"0 0 600 40\" role=\"img\" aria-label=\"recent cycles\">");
    for (org, t, result) in &cycles {
        let row = orgs.iter().position(|o| o == org).unwrap_or(0) % 4;
        let color = if result == "success" {
            "#188038"
        } else {
            "#b3261e"
        };
        let _ = write!(
            h,
            "<circle cx=\"{:.1}\" cy=\"{}\" r=\"4\" fill=\"{color}\"><title>{} {} {}</title></circle>",
            x(*t),
            8 + row * 8,
            esc(org),
            t.format("%H:%M:%S"),
            esc(result)
        );
    }
    h.push_str("</svg><p class=\"sub\">");
    for (i, org) in orgs.iter().enumerate() {
        let _ = write!(
            h,
            "<span style=\"color:{}\">■ {}</span> ",
            colors[i % colors.len()],
            esc(org)
        );
    }
    let _ = write!(h, "· since {} UTC</p></section>", start.format("%H:%M"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_is_escaped() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn durations_read_as_people_say_them() {
        let now = Utc::now();
        assert_eq!(ago(None, now), "never");
        assert_eq!(
            ago(Some(now - chrono::Duration::seconds(30)), now),
            "30 s ago"
        );
        assert_eq!(
            ago(Some(now + chrono::Duration::minutes(5)), now),
            "in 5 min"
        );
        assert_eq!(human(3 * 3600), "3 h");
    }
}

//! The simulated GitHub App's webhook: every change to the world (new
//! activity, a repository leaving) becomes the deliveries GitHub would
//! send (`push`, `pull_request`, `pull_request_review`, `issue_comment`,
//! `repository`), signed with `X-Hub-Signature-256` and posted to the
//! configured URLs by the named task `simulator_webhooks`. Knobs drop,
//! duplicate, delay, reorder and mis-sign deliveries. Every attempt is in
//! the deliveries log the App API serves (`GET /app/hook/deliveries`),
//! and `POST /app/hook/deliveries/{id}/attempts` sends one again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use ghstats_core::Shutdown;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::SimState;
use crate::shapes::{self, Links};
use crate::world::{Org, Repo};

/// How the webhook behaves (`POST /_sim/hooks`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HookKnobs {
    /// Where deliveries are posted; none: no webhook is configured.
    pub urls: Vec<String>,
    /// The webhook secret the signatures use.
    pub secret: String,
    /// Every Nth delivery is lost (logged as failed, never sent); 0: none.
    pub drop_every: u64,
    /// Every Nth delivery is sent twice (same `X-GitHub-Delivery`).
    pub duplicate_every: u64,
    /// Every Nth delivery is signed with a wrong secret.
    pub missign_every: u64,
    /// Each delivery waits this long before it is sent.
    pub delay_ms: u64,
    /// Deliveries are held until this many are waiting, then sent newest
    /// first (a merge can arrive before its pull request's opening).
    pub reorder: u32,
}

/// One delivery attempt, as the App API lists it.
#[derive(Debug, Clone)]
struct Attempt {
    id: u64,
    guid: String,
    delivered_at: DateTime<Utc>,
    redelivery: bool,
    status: String,
    status_code: u16,
    event: String,
    action: Option<String>,
    installation_id: u64,
    repository_id: u64,
    body: Arc<Vec<u8>>,
}

impl Attempt {
    fn json(&self) -> Value {
        json!({
            "id": self.id, "guid": self.guid, "delivered_at": shapes::time(self.delivered_at),
            "redelivery": self.redelivery, "duration": 0.05, "status": self.status,
            "status_code": self.status_code, "event": self.event, "action": self.action,
            "installation_id": self.installation_id, "repository_id": self.repository_id,
            "throttled_at": null,
        })
    }
}

/// The webhook's state.
#[derive(Debug)]
pub struct Hooks {
    knobs: Mutex<HookKnobs>,
    log: Mutex<Vec<Attempt>>,
    next_id: AtomicU64,
    sent: AtomicU64,
    queue: tokio::sync::mpsc::UnboundedSender<u64>,
    pending: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<u64>>>,
}

impl Default for Hooks {
    fn default() -> Self {
        let (queue, pending) = tokio::sync::mpsc::unbounded_channel();
        Self {
            knobs: Mutex::default(),
            log: Mutex::default(),
            next_id: AtomicU64::new(1),
            sent: AtomicU64::new(0),
            queue,
            pending: Mutex::new(Some(pending)),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hooks {
    pub fn knobs(&self) -> HookKnobs {
        lock(&self.knobs).clone()
    }

    pub fn set_knobs(&self, knobs: HookKnobs) {
        *lock(&self.knobs) = knobs;
    }

    /// Queues a delivery of `event` (nothing without a configured URL).
    pub fn emit(&self, now: DateTime<Utc>, org: &Org, repo: &Repo, event: &str, payload: Value) {
        if lock(&self.knobs).urls.is_empty() {
            return;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let action = payload["action"].as_str().map(str::to_owned);
        let attempt = Attempt {
            id,
            guid: format!("{:08x}-0000-4000-8000-{id:012x}", org.id as u32),
            delivered_at: now,
            redelivery: false,
            status: "pending".into(),
            status_code: 0,
            event: event.to_owned(),
            action,
            installation_id: org.installation_id,
            repository_id: repo.id,
            body: Arc::new(payload.to_string().into_bytes()),
        };
        lock(&self.log).push(attempt);
        let _ = self.queue.send(id);
    }

    /// Sends attempt `id` again as a redelivery; the new attempt's id.
    pub fn redeliver(&self, id: u64, now: DateTime<Utc>) -> Option<u64> {
        let mut log = lock(&self.log);
        let original = log.iter().find(|a| a.id == id)?.clone();
        let new_id = self.next_id.fetch_add(1, Ordering::Relaxed);
        log.push(Attempt {
            id: new_id,
            delivered_at: now,
            redelivery: true,
            status: "pending".into(),
            status_code: 0,
            ..original
        });
        let _ = self.queue.send(new_id);
        Some(new_id)
    }

    /// Every attempt, newest first (`GET /app/hook/deliveries`).
    /// (Attempts still being sent are not listed yet, as on GitHub.)
    pub fn deliveries(&self) -> Vec<Value> {
        lock(&self.log)
            .iter()
            .rev()
            .filter(|a| a.status != "pending")
            .map(Attempt::json)
            .collect()
    }

    fn settle(&self, id: u64, status: &str, code: u16, at: DateTime<Utc>) {
        if let Some(a) = lock(&self.log).iter_mut().find(|a| a.id == id) {
            a.status = status.to_owned();
            a.status_code = code;
            a.delivered_at = at;
        }
    }

    fn attempt(&self, id: u64) -> Option<Attempt> {
        lock(&self.log).iter().find(|a| a.id == id).cloned()
    }
}

/// The common part of a payload: action, repository, organization,
/// installation, sender.
pub fn envelope(l: &Links, org: &Org, repo: &Repo, action: Option<&str>) -> Value {
    let mut v = json!({
        "repository": shapes::repo(l, org, repo),
        "organization": { "login": org.login, "id": org.id },
        "installation": { "id": org.installation_id },
        "sender": { "login": "simulator", "id": 1, "type": "User" },
    });
    if let Some(a) = action {
        v["action"] = json!(a);
    }
    v
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

/// The deliveries for what changed in `repo` from `before` to `after`.
pub fn changes(l: &Links, org: &Org, before: &Repo, after: &Repo) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    let pushed: Vec<_> = after
        .commits
        .iter()
        .filter(|c| !before.commits.iter().any(|b| b.sha == c.sha))
        .collect();
    if let Some(head) = pushed.first() {
        let commits: Vec<Value> = pushed
            .iter()
            .rev()
            .map(|c| {
                json!({
                    "id": c.sha, "timestamp": shapes::time(c.date), "distinct": true,
                    "author": { "name": c.author_name, "email": c.author_email,
                                "username": c.author.as_ref().map(|a| a.login.clone()) },
                })
            })
            .collect();
        out.push((
            "push",
            merge(
                envelope(l, org, after, None),
                json!({
                    "ref": "refs/heads/main", "before": "0".repeat(40), "after": head.sha,
                    "commits": commits, "head_commit": commits.last(),
                }),
            ),
        ));
    }
    for p in &after.pulls {
        let old = before.pulls.iter().find(|b| b.number == p.number);
        let pull = |action: &str| {
            merge(
                envelope(l, org, after, Some(action)),
                json!({ "number": p.number, "pull_request": shapes::pull(l, org, after, p) }),
            )
        };
        if old.is_none() {
            out.push(("pull_request", pull("opened")));
        }
        let review = |action: &str, r: &crate::world::Review| {
            let mut review = shapes::review(l, org, after, p, r);
            review["state"] = json!(r.state.to_ascii_lowercase());
            merge(
                envelope(l, org, after, Some(action)),
                json!({ "review": review, "pull_request": shapes::pull(l, org, after, p) }),
            )
        };
        for r in &p.reviews {
            let before = old.and_then(|o| o.reviews.iter().find(|x| x.id == r.id));
            match before {
                None => out.push(("pull_request_review", review("submitted", r))),
                Some(b) if r.state == "DISMISSED" && b.state != r.state => {
                    out.push(("pull_request_review", review("dismissed", r)));
                }
                Some(_) => {}
            }
        }
        match (old.and_then(|o| o.closed_at), p.closed_at) {
            (None, Some(_)) => out.push(("pull_request", pull("closed"))),
            (Some(_), None) => out.push(("pull_request", pull("reopened"))),
            _ => {}
        }
        if old.is_some_and(|o| o.draft && !p.draft) {
            out.push(("pull_request", pull("ready_for_review")));
        }
    }
    for c in after
        .comments
        .iter()
        .filter(|c| !before.comments.iter().any(|b| b.id == c.id))
    {
        out.push((
            "issue_comment",
            merge(
                envelope(l, org, after, Some("created")),
                json!({
                    "comment": shapes::comment(l, org, after, c),
                    "issue": { "number": c.issue_number },
                }),
            ),
        ));
    }
    out
}

/// Posts queued deliveries until `shutdown`, by the knobs.
pub(crate) fn spawn_sender(state: Arc<SimState>, shutdown: &Shutdown) {
    let Some(mut queue) = lock(&state.hooks.pending).take() else {
        return;
    };
    let stop = shutdown.clone();
    shutdown.spawn("simulator_webhooks", async move {
        let client = reqwest::Client::builder()
            .timeout(StdDuration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        let mut held: Vec<u64> = Vec::new();
        loop {
            let next = tokio::select! {
                id = queue.recv() => id,
                () = stop.token().cancelled() => return Ok::<(), String>(()),
                // A partial reorder batch goes out when nothing more comes.
                () = tokio::time::sleep(StdDuration::from_millis(300)), if !held.is_empty() => None,
            };
            let reorder = state.hooks.knobs().reorder as usize;
            match next {
                Some(id) if reorder > 1 => {
                    held.push(id);
                    if held.len() < reorder {
                        continue;
                    }
                }
                Some(id) => held.push(id),
                None if held.is_empty() => return Ok(()),
                None => {}
            }
            for id in held.drain(..).rev() {
                send(&state, &client, id).await;
            }
        }
    });
}

async fn send(state: &SimState, client: &reqwest::Client, id: u64) {
    let hooks = &state.hooks;
    let Some(attempt) = hooks.attempt(id) else {
        return;
    };
    let knobs = hooks.knobs();
    let n = hooks.sent.fetch_add(1, Ordering::Relaxed) + 1;
    let every = |k: u64| k > 0 && n.is_multiple_of(k);
    if knobs.delay_ms > 0 {
        tokio::time::sleep(StdDuration::from_millis(knobs.delay_ms)).await;
    }
    if every(knobs.drop_every) {
        hooks.settle(id, "timed out", 0, state.clock.now());
        return;
    }
    let secret = if every(knobs.missign_every) {
        "not the secret"
    } else {
        knobs.secret.as_str()
    };
    let signature = sign(secret, &attempt.body);
    let copies = if every(knobs.duplicate_every) { 2 } else { 1 };
    let mut last = (String::from("no URL"), 0u16);
    for _ in 0..copies {
        for url in &knobs.urls {
            let sent = client
                .post(url)
                .header("content-type", "application/json")
                .header("user-agent", "GitHub-Hookshot/simulator")
                .header("x-github-event", &attempt.event)
                .header("x-github-delivery", &attempt.guid)
                .header("x-github-hook-id", "1")
                .header("x-github-hook-installation-target-type", "integration")
                .header(
                    "x-github-hook-installation-target-id",
                    crate::DEMO_APP_ID.to_string(),
                )
                .header("x-hub-signature-256", &signature)
                .body(attempt.body.as_ref().clone())
                .send()
                .await;
            last = match sent {
                Ok(r) if r.status().is_success() => ("OK".into(), r.status().as_u16()),
                Ok(r) => (
                    format!("Invalid HTTP Response: {}", r.status().as_u16()),
                    r.status().as_u16(),
                ),
                Err(e) => (format!("failed to connect: {e}"), 0),
            };
        }
    }
    hooks.settle(id, &last.0, last.1, state.clock.now());
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`, as GitHub
/// signs deliveries.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

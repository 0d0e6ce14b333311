//! The Copilot usage reports' content: one record per day (org and
//! enterprise aggregates) or per user and day (user reports), with the
//! nested `totals_by_*` breakdowns. Every breakdown of a record sums to the
//! record's top-level value, so tests can check that the exporter's
//! breakdown series add up. Deterministic in (seed, owner, kind, day, user).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use serde_json::{Map, Value, json};

use crate::rng::Rng;

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportKind {
    Organization,
    OrgUsers,
    Enterprise,
    EnterpriseUsers,
}

impl ReportKind {
    pub fn per_user(self) -> bool {
        matches!(self, Self::OrgUsers | Self::EnterpriseUsers)
    }

    pub fn code(self) -> u64 {
        match self {
            Self::Organization => 1,
            Self::OrgUsers => 2,
            Self::Enterprise => 3,
            Self::EnterpriseUsers => 4,
        }
    }

    pub fn from_code(code: u64) -> Option<Self> {
        [
            Self::Organization,
            Self::OrgUsers,
            Self::Enterprise,
            Self::EnterpriseUsers,
        ]
        .into_iter()
        .find(|k| k.code() == code)
    }
}

/// The seven activity values every breakdown entry carries.
pub const BREAKDOWN_KEYS: [&str; 7] = [
    "user_initiated_interaction_count",
    "code_generation_activity_count",
    "code_acceptance_activity_count",
    "loc_suggested_to_add_sum",
    "loc_suggested_to_delete_sum",
    "loc_added_sum",
    "loc_deleted_sum",
];

/// Only at the top level of a record.
pub const PULL_REQUEST_KEYS: [&str; 4] = [
    "pull_requests_total_created",
    "pull_requests_total_reviewed",
    "pull_requests_total_created_by_copilot",
    "pull_requests_total_reviewed_by_copilot",
];

const IDES: [&str; 3] = ["vscode", "jetbrains", "neovim"];
const FEATURES: [&str; 3] = ["code_completion", "chat_panel_ask_mode", "agent_edit"];
const LANGUAGES: [&str; 3] = ["rust", "python", "typescript"];
const MODELS: [&str; 2] = ["gpt-4.1", "claude-sonnet-4"];

fn hash_of(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// Splits `total` into `parts` random shares that add up to it.
fn split(rng: &mut Rng, total: u64, parts: usize) -> Vec<u64> {
    let weights: Vec<u64> = (0..parts).map(|_| rng.range(1, 10)).collect();
    let sum: u64 = weights.iter().sum();
    let mut out: Vec<u64> = weights.iter().map(|w| total * w / sum).collect();
    let rest = total - out.iter().sum::<u64>();
    out[0] += rest;
    out
}

/// A breakdown array: one entry per `names` (label key `key`, plus extra
/// fixed keys), each the share of every activity value.
fn breakdown(rng: &mut Rng, totals: &[u64; 7], labels: &[Vec<(&str, &str)>]) -> Value {
    let shares: Vec<Vec<u64>> = totals
        .iter()
        .map(|t| split(rng, *t, labels.len()))
        .collect();
    let entries: Vec<Value> = labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let mut m = Map::new();
            for (k, v) in label {
                m.insert((*k).to_owned(), json!(v));
            }
            for (k, s) in BREAKDOWN_KEYS.iter().zip(&shares) {
                m.insert((*k).to_owned(), json!(s[i]));
            }
            Value::Object(m)
        })
        .collect();
    Value::Array(entries)
}

/// The record of `user` (or the aggregate, `None`) on `day`, or `None`
/// when that user was not active that day.
pub fn record(
    seed: u64,
    owner: &str,
    kind: ReportKind,
    day: NaiveDate,
    user: Option<(&str, u64)>,
) -> Option<Value> {
    let day_code = u64::try_from(day.num_days_from_ce()).unwrap_or(0);
    let who = user.map_or(0, |(_, id)| id);
    let mut rng = Rng::derive(seed, &[hash_of(owner), kind.code(), day_code, who]);
    if user.is_some() && !rng.chance(0.7) {
        return None;
    }
    let scale = if user.is_some() { 1 } else { 25 };
    let generated = rng.range(5, 60) * scale;
    let totals = [
        rng.range(0, 20) * scale,
        generated,
        generated * rng.range(20, 60) / 100,
        rng.range(10, 400) * scale,
        rng.range(0, 80) * scale,
        rng.range(5, 250) * scale,
        rng.range(0, 50) * scale,
    ];
    let mut m = Map::new();
    m.insert("day".into(), json!(day.format("%Y-%m-%d").to_string()));
    match user {
        Some((login, id)) => {
            m.insert("user_login".into(), json!(login));
            m.insert("user_id".into(), json!(id));
        }
        None => {
            let key = if matches!(kind, ReportKind::Enterprise) {
                "enterprise_id"
            } else {
                "organization_id"
            };
            m.insert(key.into(), json!((hash_of(owner) % 100_000).to_string()));
        }
    }
    for (k, v) in BREAKDOWN_KEYS.iter().zip(totals) {
        m.insert((*k).to_owned(), json!(v));
    }
    for k in PULL_REQUEST_KEYS {
        m.insert(k.to_owned(), json!(rng.range(0, 6) * scale));
    }
    let one =
        |key: &'static str, names: &[&'static str]| -> Vec<Vec<(&'static str, &'static str)>> {
            names.iter().map(|n| vec![(key, *n)]).collect()
        };
    let pairs =
        |key: &'static str, names: &[&'static str]| -> Vec<Vec<(&'static str, &'static str)>> {
            names
                .iter()
                .flat_map(|n| {
                    FEATURES[..2]
                        .iter()
                        .map(move |f| vec![(key, *n), ("feature", *f)])
                })
                .collect()
        };
    m.insert(
        "totals_by_ide".into(),
        breakdown(&mut rng, &totals, &one("ide", &IDES)),
    );
    m.insert(
        "totals_by_feature".into(),
        breakdown(&mut rng, &totals, &one("feature", &FEATURES)),
    );
    m.insert(
        "totals_by_language_feature".into(),
        breakdown(&mut rng, &totals, &pairs("language", &LANGUAGES)),
    );
    m.insert(
        "totals_by_model_feature".into(),
        breakdown(&mut rng, &totals, &pairs("model", &MODELS)),
    );
    Some(Value::Object(m))
}

/// Every record of a report covering `days`, users in order, day by day.
pub fn records(
    seed: u64,
    owner: String,
    kind: ReportKind,
    days: Vec<NaiveDate>,
    users: Arc<Vec<(String, u64)>>,
) -> impl Iterator<Item = Value> + Send + 'static {
    let people = if kind.per_user() { users.len() } else { 1 };
    days.into_iter()
        .flat_map(move |day| (0..people).map(move |i| (day, i)))
        .filter_map(move |(day, i)| {
            let user = kind
                .per_user()
                .then(|| users.get(i).map(|(l, id)| (l.as_str(), *id)))
                .flatten();
            record(seed, &owner, kind, day, user)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breakdowns_add_up_to_the_record() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let r = record(7, "org-a", ReportKind::Organization, day, None).unwrap();
        for array in [
            "totals_by_ide",
            "totals_by_feature",
            "totals_by_language_feature",
            "totals_by_model_feature",
        ] {
            for key in BREAKDOWN_KEYS {
                let sum: u64 = r[array]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e[key].as_u64().unwrap())
                    .sum();
                assert_eq!(sum, r[key].as_u64().unwrap(), "{array} {key}");
            }
        }
        assert_eq!(
            r,
            record(7, "org-a", ReportKind::Organization, day, None).unwrap()
        );
    }
}

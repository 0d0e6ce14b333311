//! Turns a report's lines into series: resolves each record's labels,
//! applies the record and user caps, expands enabled breakdowns into their
//! own series, and sums records that share a label set (the days of a
//! 28-day report without the `day` label add up to the window's total).
//! Memory grows with the number of distinct label sets, never with lines.

use std::collections::{HashMap, HashSet};

use ghstats_config::{CopilotConfig, UserLabelMode};
use ghstats_github::copilot::Line;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::record::{self, Dimension, PULL_REQUEST_FAMILIES};

/// Optional label slots after `user`: feature, ide, language, model (the
/// [`Dimension`] slots), chat_mode, day.
const CHAT_MODE: usize = 4;
const DAY: usize = 5;

/// A series' labels besides the fixed `org`, `repo`, `scope`, `window`:
/// `user` then the six optional ones ("" when absent).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelSet {
    pub user: Box<str>,
    pub optional: [Box<str>; 6],
}

impl LabelSet {
    fn new(user: &str) -> Self {
        Self {
            user: user.into(),
            optional: Default::default(),
        }
    }

    /// One line of the remembered label sets.
    pub fn encode(&self) -> String {
        let mut out = self.user.to_string();
        for o in &self.optional {
            out.push('\u{1f}');
            out.push_str(o);
        }
        out
    }

    pub fn decode(s: &str) -> Option<Self> {
        let mut parts = s.split('\u{1f}');
        let user = parts.next()?.into();
        let mut optional: [Box<str>; 6] = Default::default();
        for slot in &mut optional {
            *slot = parts.next()?.into();
        }
        parts.next().is_none().then_some(Self { user, optional })
    }
}

/// Summed values of one label set; `present` has bit `i` for family `i`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sums {
    pub values: [f64; 11],
    pub present: u16,
}

/// What shapes the series (from `copilot.*`).
#[derive(Debug, Clone)]
pub struct Shape {
    pub per_user: bool,
    pub user_label_mode: UserLabelMode,
    pub breakdowns: Vec<Dimension>,
    pub day_label: bool,
    pub pull_requests: bool,
    pub max_records: u64,
    pub max_users: u64,
}

impl Shape {
    pub fn new(c: &CopilotConfig, per_user: bool) -> Self {
        let breakdowns = [
            (Dimension::Feature, c.include_breakdown_feature),
            (Dimension::Ide, c.include_breakdown_ide),
            (Dimension::Language, c.include_breakdown_language),
            (Dimension::Model, c.include_breakdown_model),
        ]
        .into_iter()
        .filter_map(|(d, on)| on.then_some(d))
        .collect();
        Self {
            per_user,
            user_label_mode: c.user_label_mode,
            breakdowns,
            day_label: c.emit_day_label,
            pull_requests: c.include_pull_request_activity,
            max_records: c.max_records_per_report,
            max_users: if per_user { c.max_users_per_report } else { 0 },
        }
    }
}

/// The report being read.
#[derive(Debug)]
pub struct Aggregator {
    shape: Shape,
    /// `day` of records that carry none (the link's report day).
    fallback_day: Option<String>,
    pub series: HashMap<LabelSet, Sums>,
    users: HashSet<Box<str>>,
    /// Valid records (JSON objects).
    pub parsed: u64,
    /// Lines that were not a JSON object, or too long.
    pub malformed: u64,
    pub dropped_max_records: u64,
    pub dropped_max_users: u64,
}

impl Aggregator {
    pub fn new(shape: Shape, fallback_day: Option<String>) -> Self {
        Self {
            shape,
            fallback_day,
            series: HashMap::new(),
            users: HashSet::new(),
            parsed: 0,
            malformed: 0,
            dropped_max_records: 0,
            dropped_max_users: 0,
        }
    }

    pub fn add_line(&mut self, line: Line<'_>) {
        let text = match line {
            Line::TooLong => {
                self.malformed += 1;
                return;
            }
            Line::Text(t) => t,
        };
        if text.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match serde_json::from_slice::<Value>(text) {
            Ok(Value::Object(o)) => self.add_record(&o),
            _ => self.malformed += 1,
        }
    }

    fn add_record(&mut self, o: &Map<String, Value>) {
        self.parsed += 1;
        let shape = &self.shape;
        if shape.max_records > 0 && self.parsed > shape.max_records {
            self.dropped_max_records += 1;
            return;
        }
        let user = if shape.per_user {
            user_label(o, shape.user_label_mode)
        } else {
            "all".to_owned()
        };
        if shape.max_users > 0 && !self.users.contains(user.as_str()) {
            if self.users.len() as u64 >= shape.max_users {
                self.dropped_max_users += 1;
                return;
            }
            self.users.insert(user.as_str().into());
        }
        let mut base = LabelSet::new(&user);
        let mut expand = Vec::new();
        for d in &shape.breakdowns {
            match d.scalar(o) {
                // A record of one IDE (say) is that IDE's share already.
                Some(v) => base.optional[d.slot()] = v.into(),
                None => expand.push(*d),
            }
        }
        if let Some(mode) = record::text(o, &["chat_mode"]) {
            base.optional[CHAT_MODE] = mode.into();
        }
        if shape.day_label
            && let Some(day) = record::text(o, &["day", "report_day"]).or(self.fallback_day.clone())
        {
            base.optional[DAY] = day.into();
        }
        let pull_requests = shape.pull_requests;
        self.add(base.clone(), record::values(o), pull_requests);
        for d in expand {
            for (name, values) in d.entries(o) {
                let mut labels = base.clone();
                labels.optional[d.slot()] = name.into();
                self.add(labels, values, pull_requests);
            }
        }
    }

    fn add(&mut self, labels: LabelSet, values: record::Values, pull_requests: bool) {
        if values.iter().all(Option::is_none) {
            return;
        }
        let sums = self.series.entry(labels).or_default();
        for (i, v) in values.iter().enumerate() {
            if let Some(v) = v
                && (pull_requests || !PULL_REQUEST_FAMILIES.contains(&i))
            {
                sums.values[i] += v;
                sums.present |= 1 << i;
            }
        }
    }
}

/// The `user` label of a per-user record under `mode`.
fn user_label(o: &Map<String, Value>, mode: UserLabelMode) -> String {
    let login = record::text(o, &["user_login", "user", "login", "username"]);
    let id = record::text(o, &["user_id", "id"]);
    let label = match mode {
        UserLabelMode::Login => login.or(id),
        UserLabelMode::Id => id.or(login),
        UserLabelMode::Hashed => login.or(id).map(|s| {
            Sha256::digest(s.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        }),
        UserLabelMode::None => Some("redacted".to_owned()),
    };
    label.unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shape() -> Shape {
        Shape::new(&CopilotConfig::default(), true)
    }

    fn feed(a: &mut Aggregator, records: &[Value]) {
        for r in records {
            a.add_line(Line::Text(r.to_string().as_bytes()));
        }
    }

    #[test]
    fn days_of_one_user_add_up_and_malformed_lines_are_counted() {
        let mut a = Aggregator::new(shape(), None);
        feed(
            &mut a,
            &[
                json!({"user_login": "ann", "day": "2026-11-01", "loc_added_sum": 3}),
                json!({"user_login": "ann", "day": "2026-11-02", "loc_added_sum": 4}),
                json!({"user_id": 7, "loc_added_sum": 1}),
            ],
        );
        a.add_line(Line::Text(b"{not json"));
        a.add_line(Line::Text(b"[1,2]"));
        a.add_line(Line::Text(b"   "));
        a.add_line(Line::TooLong);
        assert_eq!((a.parsed, a.malformed), (3, 3));
        let ann = &a.series[&LabelSet::new("ann")];
        assert_eq!(ann.values[5], 7.0);
        assert_eq!(ann.present, 1 << 5);
        assert!(
            a.series.contains_key(&LabelSet::new("7")),
            "id when no login"
        );
    }

    #[test]
    fn caps_drop_records_and_new_users() {
        let mut s = shape();
        s.max_users = 1;
        let mut a = Aggregator::new(s, None);
        feed(
            &mut a,
            &[
                json!({"user_login": "ann", "loc_added_sum": 1}),
                json!({"user_login": "bob", "loc_added_sum": 1}),
                json!({"user_login": "ann", "loc_added_sum": 1}),
            ],
        );
        assert_eq!(a.dropped_max_users, 1);
        assert_eq!(a.series.len(), 1);
        let mut s = shape();
        s.max_records = 2;
        let mut a = Aggregator::new(s, None);
        feed(
            &mut a,
            &vec![json!({"user_login": "a", "loc_added_sum": 1}); 5],
        );
        assert_eq!((a.parsed, a.dropped_max_records), (5, 3));
    }

    #[test]
    fn breakdowns_get_their_own_series_and_pull_requests_can_be_off() {
        let mut s = shape();
        s.per_user = false;
        s.breakdowns = vec![Dimension::Ide];
        s.pull_requests = false;
        let mut a = Aggregator::new(s, None);
        feed(
            &mut a,
            &[json!({
                "code_generation_activity_count": 10, "pull_requests_total_created": 2,
                "totals_by_ide": [{"ide": "vscode", "code_generation_activity_count": 6},
                                  {"ide": "neovim", "code_generation_activity_count": 4}],
            })],
        );
        let total = &a.series[&LabelSet::new("all")];
        assert_eq!(total.values[1], 10.0);
        assert_eq!(total.present, 1 << 1, "no pull request family");
        let mut vscode = LabelSet::new("all");
        vscode.optional[Dimension::Ide.slot()] = "vscode".into();
        assert_eq!(a.series[&vscode].values[1], 6.0);
        assert_eq!(a.series.len(), 3);
    }

    #[test]
    fn user_label_modes() {
        let o = json!({"user_login": "ann", "user_id": 5});
        let o = o.as_object().unwrap();
        assert_eq!(user_label(o, UserLabelMode::Login), "ann");
        assert_eq!(user_label(o, UserLabelMode::Id), "5");
        assert_eq!(user_label(o, UserLabelMode::None), "redacted");
        let h = user_label(o, UserLabelMode::Hashed);
        assert_eq!(h.len(), 64);
        assert!(
            h.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(user_label(&Map::new(), UserLabelMode::Login), "unknown");
    }

    #[test]
    fn label_sets_survive_encoding() {
        let mut l = LabelSet::new("ann");
        l.optional[DAY] = "2026-11-01".into();
        assert_eq!(LabelSet::decode(&l.encode()), Some(l));
        assert_eq!(LabelSet::decode("too\u{1f}short"), None);
    }
}

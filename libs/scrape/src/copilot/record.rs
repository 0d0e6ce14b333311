//! One NDJSON record of a Copilot report, read into the values of the
//! eleven `gh_copilot_usage_*` families (by the source-key priorities of
//! the original exporter) and its labels, with the nested `totals_by_*`
//! breakdowns read the same way.

use ghstats_store::Family;
use serde_json::{Map, Value};

/// Values of the eleven families, in the order of [`Family::COPILOT_USAGE`];
/// `None` where the record has none of the family's keys.
pub type Values = [Option<f64>; 11];

/// Source keys of each family, in the order of [`Family::COPILOT_USAGE`].
/// The first family sums the keys present; the others take the first.
const SOURCES: [&[&str]; 11] = [
    &[
        "user_initiated_interaction_count",
        "total_chats",
        "total_chat_copy_events",
        "total_chat_insertion_events",
    ],
    &["code_generation_activity_count", "total_code_suggestions"],
    &["code_acceptance_activity_count", "total_code_acceptances"],
    &[
        "loc_suggested_to_add_sum",
        "total_code_lines_suggested",
        "total_code_lines_suggested_to_add",
    ],
    &[
        "loc_suggested_to_delete_sum",
        "total_code_lines_suggested_to_delete",
    ],
    &[
        "loc_added_sum",
        "total_code_lines_accepted",
        "total_code_lines_added",
    ],
    &[
        "loc_deleted_sum",
        "total_code_lines_deleted",
        "total_code_lines_removed",
    ],
    &["pull_requests_total_created", "total_pull_requests_created"],
    &[
        "pull_requests_total_reviewed",
        "total_pull_requests_reviewed",
    ],
    &[
        "pull_requests_total_created_by_copilot",
        "total_pull_requests_created_by_copilot",
        "total_pr_summaries_created",
    ],
    &[
        "pull_requests_total_reviewed_by_copilot",
        "total_pull_requests_reviewed_by_copilot",
        "total_pr_summaries_created_users",
    ],
];

/// The families that need `include_pull_request_activity`.
pub const PULL_REQUEST_FAMILIES: std::ops::Range<usize> = 7..11;

/// A breakdown dimension and where a record keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    Feature,
    Ide,
    Language,
    Model,
}

impl Dimension {
    pub const ALL: [Dimension; 4] = [Self::Feature, Self::Ide, Self::Language, Self::Model];

    /// Index of its label among the optional labels (feature, ide,
    /// language, model).
    pub fn slot(self) -> usize {
        self as usize
    }

    /// The key naming the value in a record or a breakdown entry.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Self::Feature => &["feature"],
            Self::Ide => &["ide", "editor_name"],
            Self::Language => &["language"],
            Self::Model => &["model"],
        }
    }

    /// The arrays that break a record down by this dimension, preferred first.
    fn arrays(self) -> &'static [&'static str] {
        match self {
            Self::Feature => &["totals_by_feature"],
            Self::Ide => &["totals_by_ide"],
            Self::Language => &["totals_by_language", "totals_by_language_feature"],
            Self::Model => &["totals_by_model", "totals_by_model_feature"],
        }
    }

    /// The record's own value of this dimension (older per-IDE records).
    pub fn scalar(self, record: &Map<String, Value>) -> Option<String> {
        self.keys().iter().find_map(|k| label_text(record.get(*k)?))
    }

    /// The breakdown entries: (dimension value, values), one per entry.
    pub fn entries(self, record: &Map<String, Value>) -> Vec<(String, Values)> {
        let Some(array) = self
            .arrays()
            .iter()
            .find_map(|a| record.get(*a).and_then(Value::as_array))
        else {
            return Vec::new();
        };
        array
            .iter()
            .filter_map(Value::as_object)
            .filter_map(|e| Some((self.scalar(e)?, values(e))))
            .collect()
    }
}

/// A number, or a string holding one.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n: &f64| n.is_finite())
}

/// A string, or a number rendered as an integer.
pub fn label_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => n
            .as_i64()
            .map(|i| i.to_string())
            .or_else(|| n.as_f64().map(|f| format!("{f:.0}"))),
        _ => None,
    }
}

/// The eleven values of an object's top-level scalars.
pub fn values(o: &Map<String, Value>) -> Values {
    let mut out: Values = [None; 11];
    for (i, keys) in SOURCES.iter().enumerate() {
        let mut present = keys.iter().filter_map(|k| o.get(*k).and_then(number));
        out[i] = if i == 0 {
            present.fold(None, |acc, n| Some(acc.unwrap_or(0.0) + n))
        } else {
            present.next()
        };
    }
    out
}

/// The first non-blank of `keys`.
pub fn text(o: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| label_text(o.get(*k)?))
}

/// The family at index `i`.
pub fn family(i: usize) -> Family {
    Family::COPILOT_USAGE[i]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_by_priority_and_sums_interactions() {
        let r = json!({
            "total_chats": 3, "total_chat_copy_events": "2", "total_code_suggestions": 9,
            "code_generation_activity_count": 7, "loc_added_sum": "x", "total_code_lines_added": 4,
        });
        let v = values(r.as_object().unwrap());
        assert_eq!(v[0], Some(5.0));
        assert_eq!(v[1], Some(7.0), "the first key present wins");
        assert_eq!(v[5], Some(4.0), "a non-numeric key is skipped");
        assert_eq!(v[2], None);
    }

    #[test]
    fn breakdown_entries_come_from_the_preferred_array() {
        let r = json!({
            "totals_by_ide": [{"ide": "vscode", "code_generation_activity_count": 2},
                              {"code_generation_activity_count": 5}],
            "totals_by_language_feature": [{"language": "rust", "feature": "a", "loc_added_sum": 1}],
        });
        let o = r.as_object().unwrap();
        let ide = Dimension::Ide.entries(o);
        assert_eq!(ide.len(), 1, "an entry without its name is skipped");
        assert_eq!(ide[0].0, "vscode");
        assert_eq!(ide[0].1[1], Some(2.0));
        assert_eq!(Dimension::Language.entries(o)[0].0, "rust");
        assert!(Dimension::Model.entries(o).is_empty());
    }
}

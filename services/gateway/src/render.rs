//! Renders families in OpenMetrics 1.0.0 and Prometheus text 0.0.4: each
//! family's metadata, then its samples, series sorted by their labels, label values
//! escaped, so two gateways render byte-identical bodies for the same data.
//! A histogram's samples are kept under keys that sort each label set's
//! buckets by bound, then `+Inf`, `_count` and `_sum`, and are read back
//! from their rendered lines by [`parse_block`].

use std::collections::BTreeMap;
use std::fmt::Write;

use ghstats_store::{Family, HISTOGRAM_COUNT, HISTOGRAM_INF, HISTOGRAM_SUM, Kind};

/// Separates a histogram key's label prefix, sort key and `le` value.
const HISTOGRAM_SEP: char = '\u{1f}';

/// Series of one family: the rendered label set (`{org="a",...}`, empty
/// for a family without labels) -> value. Keeping the rendered form keeps
/// the cache small and rendering a matter of concatenation.
pub type FamilySeries = BTreeMap<Box<str>, f64>;

/// The rendered label set of `values` (in the family's label order).
///
/// For a histogram it is its sample's key: the other labels' set without
/// its closing brace, the sample's sort key and its `le` value.
pub fn label_set(family: Family, values: &[String]) -> Box<str> {
    let labels = family.labels();
    if labels.is_empty() {
        return Box::from("");
    }
    let histogram = family.kind() == Kind::Histogram;
    let shown = labels.len() - usize::from(histogram);
    let mut out = String::with_capacity(values.iter().map(|v| v.len() + 12).sum::<usize>() + 2);
    out.push('{');
    for (i, (k, val)) in labels[..shown].iter().zip(values).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        escape_into(&mut out, val);
        out.push('"');
    }
    if histogram {
        let le = values.get(shown).map_or("", String::as_str);
        return histogram_key(out, le);
    }
    out.push('}');
    out.into_boxed_str()
}

/// A histogram sample's key from its label prefix (`{org="a",repo="r"`)
/// and `le` value.
fn histogram_key(mut prefix: String, le: &str) -> Box<str> {
    let order = match le {
        HISTOGRAM_INF => "c".to_owned(),
        HISTOGRAM_COUNT => "d".to_owned(),
        HISTOGRAM_SUM => "e".to_owned(),
        bound => match bound.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => format!("b{v:030.9}"),
            _ => format!("f{bound}"),
        },
    };
    prefix.push(HISTOGRAM_SEP);
    prefix.push_str(&order);
    prefix.push(HISTOGRAM_SEP);
    prefix.push_str(le);
    prefix.into_boxed_str()
}

/// The sample line of a histogram key: its name suffix and label set.
fn histogram_sample(out: &mut String, name: &str, key: &str) {
    let mut parts = key.splitn(3, HISTOGRAM_SEP);
    let (prefix, _, le) = (
        parts.next().unwrap_or(""),
        parts.next(),
        parts.next().unwrap_or(""),
    );
    let bare = prefix == "{";
    out.push_str(name);
    match le {
        HISTOGRAM_COUNT | HISTOGRAM_SUM => {
            out.push_str(if le == HISTOGRAM_COUNT {
                "_count"
            } else {
                "_sum"
            });
            if !bare {
                out.push_str(prefix);
                out.push('}');
            }
        }
        bound => {
            out.push_str("_bucket");
            out.push_str(prefix);
            if !bare {
                out.push(',');
            }
            out.push_str("le=\"");
            out.push_str(bound);
            out.push_str("\"}");
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Integers without a fraction, other numbers in their shortest form.
pub fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// The family's base name: counters lose `_total` in OpenMetrics metadata.
fn base_name(family: Family, format: Format) -> &'static str {
    let name = family.name();
    match (family.kind(), format) {
        (Kind::Counter, Format::OpenMetrics) => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    }
}

/// The metadata lines of a family (`# TYPE`, `# UNIT`, `# HELP`).
pub fn family_header(family: Family, format: Format) -> String {
    let base = base_name(family, format);
    let kind = match family.kind() {
        Kind::Gauge => "gauge",
        Kind::Counter => "counter",
        Kind::Histogram => "histogram",
    };
    let mut out = String::new();
    match format {
        Format::OpenMetrics => {
            let _ = writeln!(out, "# TYPE {base} {kind}");
            // (strict parsers refuse a unit on a histogram)
            if base.ends_with("_seconds") && family.kind() != Kind::Histogram {
                let _ = writeln!(out, "# UNIT {base} seconds");
            }
            let _ = writeln!(out, "# HELP {base} {}.", family.help());
        }
        Format::Text => {
            let _ = writeln!(out, "# HELP {base} {}.", family.help());
            let _ = writeln!(out, "# TYPE {base} {kind}");
        }
    }
    out
}

/// The sample lines of `series` (sorted by their rendered labels).
pub fn family_block(family: Family, series: &FamilySeries) -> String {
    let mut out = String::with_capacity(series.len() * (family.name().len() + 64));
    let histogram = family.kind() == Kind::Histogram;
    for (labels, v) in series {
        if histogram {
            histogram_sample(&mut out, family.name(), labels);
        } else {
            out.push_str(family.name());
            out.push_str(labels);
        }
        out.push(' ');
        write_value(&mut out, *v);
        out.push('\n');
    }
    out
}

/// The series of sample lines rendered by [`family_block`].
pub fn parse_block(family: Family, block: &[u8]) -> FamilySeries {
    let name = family.name().len();
    let histogram = family.kind() == Kind::Histogram;
    String::from_utf8_lossy(block)
        .lines()
        .filter_map(|line| {
            let (head, value) = line.rsplit_once(' ')?;
            let value = match value {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().ok()?,
            };
            let labels = head.get(name..)?;
            let key = if histogram {
                parse_histogram_sample(labels)?
            } else {
                Box::from(labels)
            };
            Some((key, value))
        })
        .collect()
}

/// The key of a histogram sample line after the family name
/// (`_bucket{org="a",le="60"}`, `_count{org="a"}`, `_sum`).
fn parse_histogram_sample(rest: &str) -> Option<Box<str>> {
    let braces = |labels: &str| -> String {
        match labels.strip_suffix('}') {
            Some(inner) => inner.to_owned(),
            None => "{".to_owned(),
        }
    };
    if let Some(labels) = rest.strip_prefix("_bucket") {
        let at = labels.rfind("le=\"")?;
        let le = labels.get(at + 4..)?.strip_suffix("\"}")?;
        let prefix = labels[..at].trim_end_matches(',');
        return Some(histogram_key(prefix.to_owned(), le));
    }
    if let Some(labels) = rest.strip_prefix("_count") {
        return Some(histogram_key(braces(labels), HISTOGRAM_COUNT));
    }
    let labels = rest.strip_prefix("_sum")?;
    Some(histogram_key(braces(labels), HISTOGRAM_SUM))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_escaped_sorted_blocks_in_both_formats() {
        let mut s = FamilySeries::new();
        s.insert(
            label_set(Family::Commits24h, &["b".into(), "r".into(), "zed".into()]),
            2.0,
        );
        s.insert(
            label_set(
                Family::Commits24h,
                &["a".into(), "r\"x".into(), "a\\b\nc".into()],
            ),
            1.5,
        );
        let om = family_header(Family::Commits24h, Format::OpenMetrics)
            + &family_block(Family::Commits24h, &s);
        assert_eq!(
            om,
            "# TYPE gh_activity_commits_24h gauge\n# HELP gh_activity_commits_24h Commits authored in the last 24 hours.\n\
             gh_activity_commits_24h{org=\"a\",repo=\"r\\\"x\",user=\"a\\\\b\\nc\"} 1.5\n\
             gh_activity_commits_24h{org=\"b\",repo=\"r\",user=\"zed\"} 2\n"
        );
        let mut c = FamilySeries::new();
        c.insert(
            label_set(Family::ScrapeRuns, &["o".into(), "success".into()]),
            3.0,
        );
        let om = family_header(Family::ScrapeRuns, Format::OpenMetrics)
            + &family_block(Family::ScrapeRuns, &c);
        assert!(
            om.starts_with("# TYPE gh_exporter_scrape_runs counter\n"),
            "{om}"
        );
        assert!(om.contains("gh_exporter_scrape_runs_total{org=\"o\",result=\"success\"} 3\n"));
        let text =
            family_header(Family::ScrapeRuns, Format::Text) + &family_block(Family::ScrapeRuns, &c);
        assert!(
            text.contains("# TYPE gh_exporter_scrape_runs_total counter\n"),
            "{text}"
        );
        assert_eq!(family_block(Family::Commits24h, &FamilySeries::new()), "");
    }

    #[test]
    fn histograms_render_buckets_in_order_and_read_back() {
        let mut s = FamilySeries::new();
        for (repo, le, v) in [
            ("r", "86400", 2.0),
            ("r", "+Inf", 3.0),
            ("r", "sum", 109000.0),
            ("r", "3600", 1.0),
            ("r", "count", 3.0),
            ("r2", "3600", 0.0),
            ("r2", "+Inf", 1.0),
            ("r2", "count", 1.0),
            ("r2", "sum", 7200.0),
            ("r2", "86400", 1.0),
        ] {
            let labels = ["o".to_owned(), repo.to_owned(), le.to_owned()];
            s.insert(label_set(Family::PrLeadTime, &labels), v);
        }
        let block = family_block(Family::PrLeadTime, &s);
        assert_eq!(
            block,
            "gh_pr_lead_time_seconds_bucket{org=\"o\",repo=\"r\",le=\"3600\"} 1\n\
             gh_pr_lead_time_seconds_bucket{org=\"o\",repo=\"r\",le=\"86400\"} 2\n\
             gh_pr_lead_time_seconds_bucket{org=\"o\",repo=\"r\",le=\"+Inf\"} 3\n\
             gh_pr_lead_time_seconds_count{org=\"o\",repo=\"r\"} 3\n\
             gh_pr_lead_time_seconds_sum{org=\"o\",repo=\"r\"} 109000\n\
             gh_pr_lead_time_seconds_bucket{org=\"o\",repo=\"r2\",le=\"3600\"} 0\n\
             gh_pr_lead_time_seconds_bucket{org=\"o\",repo=\"r2\",le=\"86400\"} 1\n\
             gh_pr_lead_time_seconds_bucket{org=\"o\",repo=\"r2\",le=\"+Inf\"} 1\n\
             gh_pr_lead_time_seconds_count{org=\"o\",repo=\"r2\"} 1\n\
             gh_pr_lead_time_seconds_sum{org=\"o\",repo=\"r2\"} 7200\n"
        );
        assert_eq!(parse_block(Family::PrLeadTime, block.as_bytes()), s);
        assert!(
            family_header(Family::PrLeadTime, Format::OpenMetrics)
                .starts_with("# TYPE gh_pr_lead_time_seconds histogram\n# HELP ")
        );
    }
}

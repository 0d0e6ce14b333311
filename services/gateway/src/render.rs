//! Renders families in OpenMetrics 1.0.0 and Prometheus text 0.0.4: each
//! family's metadata, then its samples, series sorted by their labels, label values
//! escaped, so two gateways render byte-identical bodies for the same data.

use std::collections::BTreeMap;
use std::fmt::Write;

use ghstats_store::{Family, Kind};

/// Series of one family: the rendered label set (`{org="a",...}`, empty
/// for a family without labels) -> value. Keeping the rendered form keeps
/// the cache small and rendering a matter of concatenation.
pub type FamilySeries = BTreeMap<Box<str>, f64>;

/// The rendered label set of `values` (in the family's label order).
pub fn label_set(family: Family, values: &[String]) -> Box<str> {
    let labels = family.labels();
    if labels.is_empty() {
        return Box::from("");
    }
    let mut out = String::with_capacity(values.iter().map(|v| v.len() + 12).sum::<usize>() + 2);
    out.push('{');
    for (i, (k, val)) in labels.iter().zip(values).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        escape_into(&mut out, val);
        out.push('"');
    }
    out.push('}');
    out.into_boxed_str()
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
    };
    let mut out = String::new();
    match format {
        Format::OpenMetrics => {
            let _ = writeln!(out, "# TYPE {base} {kind}");
            if base.ends_with("_seconds") {
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
    for (labels, v) in series {
        out.push_str(family.name());
        out.push_str(labels);
        out.push(' ');
        write_value(&mut out, *v);
        out.push('\n');
    }
    out
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
}

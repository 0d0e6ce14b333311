//! A series: a family and its label values, encoded as one string (the
//! field under which the store keeps its value) and assigned to an index
//! shard. The Lua scripts compute the same encoding and shard.

use std::fmt;

use crate::catalog::Family;

/// Separates the parts of an encoded series (never a label character).
pub const SEP: char = '\u{1f}';

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub family: Family,
    /// Values in the order of `family.labels()`.
    pub labels: Vec<String>,
}

/// Why an encoded series could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed series field {0:?}")]
pub struct MalformedSeries(pub String);

impl SeriesKey {
    pub fn new(family: Family, labels: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let labels: Vec<String> = labels
            .into_iter()
            .map(|l| l.into().replace(SEP, "_"))
            .collect();
        debug_assert_eq!(labels.len(), family.labels().len(), "{}", family.name());
        Self { family, labels }
    }

    /// The store field: `name SEP value SEP value ...`.
    pub fn field(&self) -> String {
        let mut out = self.family.name().to_owned();
        for l in &self.labels {
            out.push(SEP);
            out.push_str(l);
        }
        out
    }

    pub fn parse(field: &str) -> Result<Self, MalformedSeries> {
        let mut parts = field.split(SEP);
        let family = parts
            .next()
            .and_then(Family::from_name)
            .ok_or_else(|| MalformedSeries(field.to_owned()))?;
        let labels: Vec<String> = parts.map(str::to_owned).collect();
        if labels.len() != family.labels().len() {
            return Err(MalformedSeries(field.to_owned()));
        }
        Ok(Self { family, labels })
    }

    /// The label pairs, for rendering.
    pub fn label_pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.family
            .labels()
            .iter()
            .copied()
            .zip(self.labels.iter().map(String::as_str))
    }
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{{", self.family.name())?;
        for (i, (k, v)) in self.label_pairs().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}

/// The index shard of an encoded series: `h = (h * 31 + byte) mod 2^31`
/// over its bytes, then `h mod shards`. Exact in Lua's doubles too.
pub fn shard_of(field: &str, shards: u32) -> u32 {
    let h = field
        .bytes()
        .fold(0u64, |h, b| (h * 31 + u64::from(b)) % 2_147_483_648);
    (h % u64::from(shards.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_parses_back() {
        let key = SeriesKey::new(
            Family::Commits24h,
            ["org-a", "repo\u{1f}x", "dependabot[bot]"],
        );
        let field = key.field();
        assert_eq!(SeriesKey::parse(&field).unwrap(), key);
        assert_eq!(key.labels[1], "repo_x");
        assert!(SeriesKey::parse("nope\u{1f}a").is_err());
        assert!(SeriesKey::parse("gh_activity_commits_24h\u{1f}only-one").is_err());
    }

    #[test]
    fn shards_spread_and_stay_in_range() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..1000 {
            let s = shard_of(
                &format!("gh_activity_commits_24h\u{1f}org\u{1f}repo-{i}\u{1f}u"),
                16,
            );
            assert!(s < 16);
            seen.insert(s);
        }
        assert_eq!(seen.len(), 16);
        assert_eq!(shard_of("abc", 1000), ((97 * 31 + 98) * 31 + 99) % 1000);
    }
}

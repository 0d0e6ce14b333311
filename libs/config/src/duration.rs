//! Human durations in config files: `300ms`, `30s`, `5m`, `2h`, `7d`, `2w`,
//! and sums of them such as `1h30m`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration written the way operators write them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(std::time::Duration);

const UNITS: [(&str, u64); 6] = [
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

impl Duration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }

    pub const fn from_millis(ms: u64) -> Self {
        Self(std::time::Duration::from_millis(ms))
    }

    pub fn get(self) -> std::time::Duration {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Self(d)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {input:?}: {reason} (write a number and a unit: ms, s, m, h, d, w; e.g. 30s, 5m, 1h30m, 7d)"
)]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |reason| DurationError {
            input: input.to_owned(),
            reason,
        };
        let text = input.trim();
        if text.is_empty() {
            return Err(fail("it is empty"));
        }
        if text == "0" {
            return Ok(Self::default());
        }
        let mut total_ms: u64 = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .ok_or_else(|| fail("a number has no unit"))?;
            if digits == 0 {
                return Err(fail("expected a number"));
            }
            let value: u64 = rest[..digits]
                .parse()
                .map_err(|_| fail("number too large"))?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            let (_, ms) = UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .ok_or_else(|| fail("unknown unit"))?;
            total_ms = value
                .checked_mul(*ms)
                .and_then(|v| total_ms.checked_add(v))
                .ok_or_else(|| fail("duration too large"))?;
            rest = &rest[unit_len..];
        }
        Ok(Self::from_millis(total_ms))
    }
}

impl fmt::Display for Duration {
    /// The shortest exact rendering, e.g. `90s` as `1m30s`, `0` for zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in UNITS {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 30s, 5m or 7d")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                if v == 0 {
                    Ok(Duration::default())
                } else {
                    Err(E::custom(format!(
                        "invalid duration {v}: a bare number has no unit (write e.g. {v}s)"
                    )))
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_sums() {
        let cases = [
            ("300ms", 300),
            ("30s", 30_000),
            ("5m", 300_000),
            ("2h", 7_200_000),
            ("7d", 604_800_000),
            ("2w", 1_209_600_000),
            ("1h30m", 5_400_000),
            ("0", 0),
        ];
        for (text, ms) in cases {
            assert_eq!(
                text.parse::<Duration>().unwrap(),
                Duration::from_millis(ms),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_garbage_with_the_reason() {
        for (text, reason) in [
            ("", "it is empty"),
            ("5", "a number has no unit"),
            ("5 minutes", "unknown unit"),
            ("m5", "expected a number"),
            ("5y", "unknown unit"),
            ("-5s", "expected a number"),
        ] {
            let err = text.parse::<Duration>().unwrap_err();
            assert_eq!(err.reason, reason, "{text}");
        }
    }

    #[test]
    fn displays_the_shortest_exact_form() {
        for (ms, text) in [
            (0, "0s"),
            (90_000, "1m30s"),
            (604_800_000, "1w"),
            (1500, "1s500ms"),
        ] {
            let d = Duration::from_millis(ms);
            assert_eq!(d.to_string(), text);
            assert_eq!(text.parse::<Duration>().unwrap(), d);
        }
    }
}

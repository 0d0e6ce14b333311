//! Secrets in config: written inline (discouraged), named by an environment
//! variable (`*_env`), or read from a file (`*_file`). Resolved values never
//! show in `Debug`, in `--dump-config` or in error messages.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ConfigError;

/// A secret value. `Debug` and `Serialize` print `<redacted>` (or an empty
/// string when unset), so a secret cannot leak through logs or dumps.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

pub const REDACTED: &str = "<redacted>";

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str(REDACTED)
        }
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { REDACTED })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Where a secret comes from, once the config said which one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Not configured.
    Unset,
    Inline(Secret),
    Env(String),
    File(PathBuf),
}

/// Two or more sources were given for one secret: the keys set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("set only one of {}", .0.join(", "))]
pub struct SecretConflict(pub Vec<String>);

impl SecretSource {
    /// Picks the one configured source of `key`; two at once is an error
    /// naming both keys.
    pub fn choose(
        key: &str,
        inline: Option<&Secret>,
        env: Option<&str>,
        file: Option<&PathBuf>,
    ) -> Result<Self, SecretConflict> {
        let inline = inline.filter(|s| !s.is_empty());
        let env = env.filter(|s| !s.is_empty());
        let mut set = Vec::new();
        if inline.is_some() {
            set.push(key.to_owned());
        }
        if env.is_some() {
            set.push(format!("{key}_env"));
        }
        if file.is_some() {
            set.push(format!("{key}_file"));
        }
        if set.len() > 1 {
            return Err(SecretConflict(set));
        }
        Ok(match (inline, env, file) {
            (Some(s), _, _) => Self::Inline(s.clone()),
            (_, Some(e), _) => Self::Env(e.to_owned()),
            (_, _, Some(f)) => Self::File(f.clone()),
            _ => Self::Unset,
        })
    }

    pub fn is_set(&self) -> bool {
        !matches!(self, Self::Unset)
    }

    /// Reads the secret. `key` names the config key in the error.
    pub fn resolve(&self, key: &str) -> Result<Option<Secret>, ConfigError> {
        let fail = |reason: String| ConfigError::Secret {
            key: key.to_owned(),
            reason,
        };
        match self {
            Self::Unset => Ok(None),
            Self::Inline(s) => Ok(Some(s.clone())),
            Self::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(Some(Secret(v))),
                Ok(_) => Err(fail(format!("environment variable {name} is empty"))),
                Err(_) => Err(fail(format!("environment variable {name} is not set"))),
            },
            Self::File(path) => match std::fs::read_to_string(path) {
                Ok(v) if !v.trim().is_empty() => Ok(Some(Secret(v.trim_end().to_owned()))),
                Ok(_) => Err(fail(format!("file {} is empty", path.display()))),
                Err(e) => Err(fail(format!("cannot read {}: {e}", path.display()))),
            },
        }
    }
}

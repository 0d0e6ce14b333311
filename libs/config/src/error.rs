//! The config errors an operator sees: each names the key, and the file line
//! or the environment variable it came from.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `github.orgs[1].org`.
    pub key: String,
    /// 1-based line in the file, when the key is written there.
    pub line: Option<usize>,
    /// The `GHSTATS__...` variable that set the key, when one did.
    pub env_var: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)?;
        match (&self.env_var, self.line) {
            (Some(var), _) => write!(f, " (from environment variable {var})")?,
            (None, Some(line)) => write!(f, " (line {line})")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.message)
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{source_name}: YAML syntax error: {message}")]
    Syntax {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: {}", render_problems(problems))]
    Invalid {
        source_name: String,
        problems: Vec<Problem>,
    },
    #[error("secret {key}: {reason}")]
    Secret { key: String, reason: String },
}

fn render_problems(problems: &[Problem]) -> String {
    match problems {
        [one] => one.to_string(),
        many => {
            let mut out = format!("{} problems:", many.len());
            for p in many {
                out.push_str("\n  - ");
                out.push_str(&p.to_string());
            }
            out
        }
    }
}

impl ConfigError {
    /// The problems of an invalid config (empty for other errors).
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

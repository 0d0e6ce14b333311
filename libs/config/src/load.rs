//! Reading a config: YAML text, environment overrides, typed parse, checks.

use std::path::Path;

use serde_yaml_ng::{Mapping, Value};

use crate::env::{self, EnvOverride};
use crate::error::Problem;
use crate::locate::LineIndex;
use crate::{Config, ConfigError};

/// Loads `path` with the process environment's overrides.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    load_str(&text, &path.display().to_string(), std::env::vars())
}

/// Loads a config from `text` (empty means all defaults) with the
/// `GHSTATS__*` variables among `env`. `source_name` names the text in errors.
pub fn load_str(
    text: &str,
    source_name: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let invalid = |problems| ConfigError::Invalid {
        source_name: source_name.to_owned(),
        problems,
    };
    let mut doc: Value = serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Syntax {
        source_name: source_name.to_owned(),
        message: e.to_string(),
    })?;
    if doc.is_null() {
        doc = Value::Mapping(Mapping::new());
    }
    if !doc.is_mapping() {
        return Err(invalid(vec![Problem {
            key: "(top level)".into(),
            line: Some(1),
            env_var: None,
            message: "the config must be a mapping of sections (server:, github:, ...)".into(),
        }]));
    }
    let overrides = env::apply(&mut doc, env).map_err(|p| invalid(vec![p]))?;
    let lines = LineIndex::build(text);
    let locate = |key: String, message: String| {
        let env_var = overrides
            .iter()
            .find(|o| covers(&o.path, &key))
            .map(|o| o.var.clone());
        let line = if env_var.is_some() {
            None
        } else {
            lines.line_of(&key)
        };
        Problem {
            key,
            line,
            env_var,
            message,
        }
    };
    let unset_intervals = orgs_without(&doc, "scrape_interval");
    let mut config =
        parse(doc, &overrides).map_err(|(key, msg)| invalid(vec![locate(key, msg)]))?;
    let webhooks = config.webhooks.enabled;
    config
        .github
        .default_scrape_intervals(&unset_intervals, webhooks);
    let problems: Vec<Problem> = config
        .check()
        .into_iter()
        .map(|(key, msg)| locate(key, msg))
        .collect();
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(invalid(problems))
    }
}

/// The indexes of the orgs under `github.orgs` whose entry (after the
/// environment's overrides) sets no `key`.
fn orgs_without(doc: &Value, key: &str) -> Vec<usize> {
    (0..)
        .take_while(|i| get(doc, &format!("github.orgs[{i}]")).is_some())
        .filter(|i| get(doc, &format!("github.orgs[{i}].{key}")).is_none())
        .collect()
}

/// Whether `key` is `path` or lies under it.
fn covers(path: &str, key: &str) -> bool {
    key == path
        || key
            .strip_prefix(path)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// Typed parse. An environment value that YAML read as a number or boolean
/// is retried as text when the key turns out to want text.
fn parse(mut doc: Value, overrides: &[EnvOverride]) -> Result<Config, (String, String)> {
    loop {
        match serde_path_to_error::deserialize::<_, Config>(doc.clone()) {
            Ok(config) => return Ok(config),
            Err(err) => {
                let key = render_path(err.path());
                let message = err.inner().to_string();
                let retry = overrides
                    .iter()
                    .find(|o| o.path == key)
                    .filter(|o| matches!(get(&doc, &o.path), Some(v) if !v.is_string()));
                match retry {
                    Some(o) => set_string(&mut doc, &o.path, &o.raw),
                    None => return Err((key, clean_message(&message))),
                }
            }
        }
    }
}

fn render_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    if out.is_empty() {
        "(top level)".into()
    } else {
        out
    }
}

/// serde_yaml appends positions that mean nothing for a re-parsed value.
fn clean_message(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

fn get<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    let mut node = doc;
    for seg in split_path(path) {
        node = match seg {
            PathSeg::Key(k) => node.get(k)?,
            PathSeg::Index(i) => node.get(i)?,
        };
    }
    Some(node)
}

fn set_string(doc: &mut Value, path: &str, raw: &str) {
    let mut node = doc;
    for seg in split_path(path) {
        let next = match seg {
            PathSeg::Key(k) => node.get_mut(k),
            PathSeg::Index(i) => node.get_mut(i),
        };
        match next {
            Some(n) => node = n,
            None => return,
        }
    }
    *node = Value::String(raw.to_owned());
}

enum PathSeg<'a> {
    Key(&'a str),
    Index(usize),
}

fn split_path(path: &str) -> Vec<PathSeg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, rest) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            out.push(PathSeg::Key(key));
        }
        for idx in rest.split('[') {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(PathSeg::Index(i));
            }
        }
    }
    out
}

//! `GHSTATS__SECTION__KEY=value` environment overrides, applied to the parsed
//! YAML before it is checked. `__` separates keys; a number selects a list
//! item (`GHSTATS__GITHUB__ORGS__0__SCRAPE_INTERVAL=10m`). Values are read as
//! YAML scalars or flow lists (`true`, `8`, `[1m, 5m]`).

use serde_yaml_ng::{Mapping, Value};

use crate::error::Problem;

pub const ENV_PREFIX: &str = "GHSTATS__";

/// One override that was applied.
#[derive(Debug, Clone)]
pub struct EnvOverride {
    pub var: String,
    pub path: String,
    pub raw: String,
}

/// Applies every `GHSTATS__*` variable of `vars` to `doc`.
pub fn apply(
    doc: &mut Value,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<EnvOverride>, Problem> {
    let mut vars: Vec<_> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    vars.sort();
    let mut applied = Vec::new();
    for (var, raw) in vars {
        let segments: Vec<String> = var[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        let problem = |message: String| Problem {
            key: segments.join("."),
            line: None,
            env_var: Some(var.clone()),
            message,
        };
        if segments.iter().any(String::is_empty) {
            return Err(problem("empty key segment in variable name".into()));
        }
        let value = parse_value(&raw);
        let path = set_path(doc, &segments, value).map_err(problem)?;
        applied.push(EnvOverride { var, path, raw });
    }
    Ok(applied)
}

/// An empty value is the empty string; anything else is read as YAML.
pub fn parse_value(raw: &str) -> Value {
    if raw.is_empty() {
        return Value::String(String::new());
    }
    serde_yaml_ng::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

fn set_path(doc: &mut Value, segments: &[String], value: Value) -> Result<String, String> {
    let mut path = String::new();
    let mut node = doc;
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if let Value::Sequence(items) = node {
            let index: usize = seg
                .parse()
                .map_err(|_| format!("`{path}` is a list: use a number, not `{seg}`"))?;
            let len = items.len();
            path.push_str(&format!("[{index}]"));
            node = items
                .get_mut(index)
                .ok_or_else(|| format!("`{path}` is out of range: the list has {len} items"))?;
        } else {
            if node.is_null() {
                *node = Value::Mapping(Mapping::new());
            }
            let Value::Mapping(map) = node else {
                return Err(format!("`{path}` is a single value, it has no key `{seg}`"));
            };
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(seg);
            let key = Value::String(seg.clone());
            if !map.contains_key(&key) {
                map.insert(key.clone(), Value::Null);
            }
            node = map
                .get_mut(&key)
                .ok_or_else(|| format!("`{path}` could not be set"))?;
        }
        if last {
            *node = value;
            return Ok(path);
        }
    }
    Err("no key named".into())
}

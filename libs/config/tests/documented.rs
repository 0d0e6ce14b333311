//! `docs/configuration.md` documents every key of the schema, and only keys
//! that exist.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use ghstats_config::{Config, OrgConfig};
use serde_yaml_ng::Value;

/// Every leaf key of the schema, list items written `[]`.
fn schema_keys() -> BTreeSet<String> {
    let mut config = Config::default();
    config.github.orgs.push(OrgConfig::default());
    let doc = serde_yaml_ng::to_value(&config).unwrap();
    let mut keys = BTreeSet::new();
    walk(&doc, String::new(), &mut keys);
    keys
}

fn walk(node: &Value, path: String, keys: &mut BTreeSet<String>) {
    match node {
        Value::Mapping(map) => {
            for (k, v) in map {
                let k = k.as_str().unwrap();
                let child = if path.is_empty() {
                    k.to_owned()
                } else {
                    format!("{path}.{k}")
                };
                walk(v, child, keys);
            }
        }
        Value::Sequence(items) if items.first().is_some_and(Value::is_mapping) => {
            walk(&items[0], format!("{path}[]"), keys);
        }
        _ => {
            keys.insert(path);
        }
    }
}

/// Keys named in the first column of the doc's tables.
fn documented_keys() -> BTreeSet<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(k, _)| k.to_owned()))
        .filter(|k| k.starts_with(|c: char| c.is_ascii_lowercase()))
        .collect()
}

#[test]
fn every_key_is_documented() {
    let missing: Vec<_> = schema_keys()
        .difference(&documented_keys())
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "keys missing from docs/configuration.md: {missing:#?}"
    );
}

#[test]
fn every_documented_key_exists() {
    let schema = schema_keys();
    // A documented container (`github.orgs`) is fine when keys lie under it.
    let exists = |key: &String| {
        schema.contains(key)
            || schema
                .iter()
                .any(|k| k.starts_with(&format!("{key}.")) || k.starts_with(&format!("{key}[]")))
    };
    let unknown: Vec<_> = documented_keys()
        .into_iter()
        .filter(|k| !exists(k))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/configuration.md documents unknown keys: {unknown:#?}"
    );
}

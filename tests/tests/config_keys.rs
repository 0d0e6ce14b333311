//! No inert setting: every field of a config section (`libs/config/src/
//! sections`) is read by the product outside the config crate, directly
//! (`.field`) or through functions of the config crate that read it (an
//! accessor such as `AmqpConfig::resolved_url` for `password_env`). The
//! validation (`check`) and the defaults do not count as reading. Names
//! are matched as words, so a field sharing its name with another that is
//! read (`enabled`) passes: the test catches the names nothing reads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

mod source_tree;

use source_tree::{read, root, rust_files};

/// `pub name:` fields of every `pub struct` in `text`.
fn fields(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("pub struct ") {
            current = rest.split([' ', '{', '(']).next().map(str::to_owned);
        } else if line.starts_with('}') {
            current = None;
        } else if let (Some(s), Some(rest)) = (&current, line.trim().strip_prefix("pub "))
            && let Some((name, _)) = rest.split_once(':')
            && !name.contains(' ')
        {
            out.push((s.clone(), name.to_owned()));
        }
    }
    out
}

/// Each function of the config crate with the `.names` its body reads
/// (a body runs to the next `fn`).
fn functions(config_sources: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for text in config_sources {
        for chunk in text.split("fn ").skip(1) {
            let name: String = chunk
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let read: BTreeSet<String> = chunk
                .split('.')
                .skip(1)
                .filter_map(|after| {
                    let w: String = after
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    (!w.is_empty()).then_some(w)
                })
                .collect();
            out.entry(name).or_default().extend(read);
        }
    }
    out
}

#[test]
fn every_config_field_is_read_outside_the_config_crate() {
    let config_files = rust_files(&root().join("libs/config/src"));
    let config_sources: Vec<String> = config_files.iter().map(|p| read(p)).collect();
    let section_files = rust_files(&root().join("libs/config/src/sections"));
    let mut product = Vec::new();
    for group in ["libs", "services"] {
        for entry in std::fs::read_dir(root().join(group)).unwrap() {
            let dir = entry.unwrap().path();
            if dir.ends_with("config") || dir.ends_with("testkit") || !dir.join("src").exists() {
                continue;
            }
            product.extend(rust_files(&dir.join("src")));
        }
    }
    let outside: String = product
        .iter()
        .map(|p| read(p))
        .collect::<Vec<_>>()
        .join("\n");
    let used_outside = |name: &str| {
        outside.contains(&format!(".{name}"))
            || outside.contains(&format!("::{name}("))
            || outside.contains(&format!("{name}!("))
    };
    let functions = functions(&config_sources);
    let not_reading = ["check", "default", "fmt", "fail", "not_blank", "non_zero"];
    let mut inert = Vec::new();
    let mut checked = 0;
    for file in &section_files {
        let text = read(file);
        for (section, field) in fields(&text) {
            checked += 1;
            // The field, then every config function that reads something
            // already reached, until one is used outside.
            let mut reached = BTreeSet::from([field.clone()]);
            let read = loop {
                if reached.iter().any(|n| used_outside(n)) {
                    break true;
                }
                let more: BTreeSet<String> = functions
                    .iter()
                    .filter(|(name, _)| !not_reading.contains(&name.as_str()))
                    .filter(|(name, reads)| {
                        !reached.contains(*name) && reads.iter().any(|r| reached.contains(r))
                    })
                    .map(|(name, _)| name.clone())
                    .collect();
                if more.is_empty() {
                    break false;
                }
                reached.extend(more);
            };
            if !read {
                inert.push(format!("{section}::{field}"));
            }
        }
    }
    assert!(checked > 100, "the section reader found {checked} fields");
    assert!(
        inert.is_empty(),
        "config fields nothing outside the config crate reads: {inert:?}"
    );
}

#[test]
fn the_field_reader_sees_section_fields() {
    let text = "pub struct A {\n    /// doc\n    pub one: u32,\n    pub two: Option<String>,\n}\n\
                struct Private {\n    pub three: u8,\n}\n";
    assert_eq!(
        fields(text),
        [
            ("A".to_owned(), "one".to_owned()),
            ("A".to_owned(), "two".to_owned())
        ]
    );
}

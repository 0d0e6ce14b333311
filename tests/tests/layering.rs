//! The layout rules of the workspace, checked on its files: the crate
//! graph drawn in `docs/architecture.md` is the one the `Cargo.toml`s
//! declare and points one way; every `path::item` the behaviour table
//! names exists; no public function returns `Result<_, String>`; no
//! Redis key is built from the prefix outside `Keys`; no serialization
//! falls back to a default; conformance suites stay behind `testsuite`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

mod source_tree;

use source_tree::{read, root, rust_files};

/// The product crates: short name (without `ghstats-`) -> directory.
fn crates() -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for group in ["libs", "services"] {
        for entry in std::fs::read_dir(root().join(group)).unwrap() {
            let dir = entry.unwrap().path();
            let manifest = dir.join("Cargo.toml");
            if !manifest.exists() {
                continue;
            }
            let name = read(&manifest)
                .lines()
                .find_map(|l| l.strip_prefix("name = \""))
                .and_then(|l| l.strip_suffix('"'))
                .unwrap()
                .to_owned();
            out.insert(name.trim_start_matches("ghstats-").to_owned(), dir);
        }
    }
    out
}

/// The `ghstats-*` entries of a manifest's `[dependencies]`.
fn declared_edges(manifest: &str) -> BTreeSet<String> {
    let mut inside = false;
    let mut out = BTreeSet::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[dependencies]";
            continue;
        }
        if inside && let Some(rest) = line.strip_prefix("ghstats-") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            out.insert(name);
        }
    }
    out
}

/// The edges of the first mermaid block after `heading`: `a --> b & c`.
fn drawn_edges(doc: &str, heading: &str) -> BTreeSet<(String, String)> {
    let section = doc.split_once(heading).expect("the crate-graph heading").1;
    let block = section
        .split_once("```mermaid")
        .expect("a mermaid block")
        .1
        .split_once("```")
        .unwrap()
        .0;
    let mut out = BTreeSet::new();
    for line in block.lines() {
        let Some((from, to)) = line.split_once("-->") else {
            continue;
        };
        for target in to.split('&') {
            out.insert((from.trim().to_owned(), target.trim().to_owned()));
        }
    }
    out
}

#[test]
fn the_drawn_crate_graph_is_the_declared_one_and_points_one_way() {
    let crates = crates();
    let mut declared = BTreeSet::new();
    for (name, dir) in &crates {
        for dep in declared_edges(&read(&dir.join("Cargo.toml"))) {
            declared.insert((name.clone(), dep));
        }
    }
    let doc = read(&root().join("docs/architecture.md"));
    let drawn = drawn_edges(&doc, "## Crates and the direction of dependencies");
    let missing: Vec<_> = declared.difference(&drawn).collect();
    let extra: Vec<_> = drawn.difference(&declared).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/architecture.md and the Cargo.tomls disagree:\n  not drawn: {missing:?}\n  drawn, not declared: {extra:?}"
    );
    for (from, to) in &declared {
        let lib = crates[from].starts_with(root().join("libs"));
        assert!(
            !(lib && to == "runtime"),
            "the lib {from} depends on ghstats-runtime, which hosts HTTP and gRPC"
        );
    }
    // One way: a topological order exists.
    let mut left: BTreeSet<&String> = crates.keys().collect();
    while !left.is_empty() {
        let ready: Vec<&String> = left
            .iter()
            .copied()
            .filter(|c| {
                declared
                    .iter()
                    .filter(|(f, _)| f == *c)
                    .all(|(_, t)| !left.contains(t))
            })
            .collect();
        assert!(
            !ready.is_empty(),
            "the crate graph has a cycle among {left:?}"
        );
        for c in ready {
            left.remove(c);
        }
    }
}

/// Every `.rs` file under the product crates' `src`.
fn product_sources() -> Vec<PathBuf> {
    crates()
        .values()
        .flat_map(|dir| rust_files(&dir.join("src")))
        .collect()
}

/// Whether `item` is defined in `source`, or re-exported by a `pub use`.
fn defines(source: &str, item: &str) -> bool {
    let words = |text: &str| -> Vec<String> {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let kinds = [
        "fn", "struct", "enum", "trait", "const", "static", "type", "mod",
    ];
    let defined = words(source)
        .windows(2)
        .any(|w| kinds.contains(&w[0].as_str()) && w[1] == item);
    let reexported = source
        .split("pub use ")
        .skip(1)
        .filter_map(|rest| rest.split_once(';'))
        .any(|(names, _)| words(names).iter().any(|w| w == item));
    defined || reexported
}

/// Resolves `ghstats_x::module::Item[::member]` against the files.
fn resolve(path: &str) -> Result<(), String> {
    let mut segments: Vec<&str> = path.split("::").collect();
    let krate = segments.remove(0);
    let short = krate
        .strip_prefix("ghstats_")
        .ok_or(format!("{path}: not a ghstats crate"))?
        .replace('_', "-");
    let dir = crates()
        .get(&short)
        .cloned()
        .ok_or(format!("{path}: no crate {krate}"))?;
    let src = dir.join("src");
    // The longest module prefix that is a file.
    for split in (0..segments.len()).rev() {
        let (modules, items) = segments.split_at(split);
        let file = if modules.is_empty() {
            ["lib.rs", "main.rs"]
                .iter()
                .map(|f| src.join(f))
                .find(|f| f.exists())
        } else {
            let base = src.join(modules.join("/"));
            [base.with_extension("rs"), base.join("mod.rs")]
                .into_iter()
                .find(|f| f.exists())
        };
        let Some(file) = file else { continue };
        if items.is_empty() || items.len() > 2 {
            continue;
        }
        let text = read(&file);
        let found = defines(&text, items[0]) && items.get(1).is_none_or(|m| defines(&text, m));
        return if found {
            Ok(())
        } else {
            Err(format!("{path}: {} does not define it", file.display()))
        };
    }
    Err(format!("{path}: no module file"))
}

#[test]
fn every_path_of_the_behaviour_table_exists() {
    let doc = read(&root().join("docs/architecture.md"));
    let table = doc
        .split_once("## Where each behaviour lives")
        .expect("the behaviour table")
        .1
        .split("\n## ")
        .next()
        .unwrap();
    let paths: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with('|'))
        .flat_map(|l| l.split('`').skip(1).step_by(2))
        .filter(|p| p.starts_with("ghstats_"))
        .collect();
    assert!(paths.len() > 40, "the table names {} paths", paths.len());
    let broken: Vec<String> = paths.iter().filter_map(|p| resolve(p).err()).collect();
    assert!(
        broken.is_empty(),
        "paths that do not exist:\n{}",
        broken.join("\n")
    );
    assert!(
        resolve("ghstats_store::keys::Keys::no_such_item").is_err(),
        "the checker tells a missing item"
    );
}

/// `pub fn` signatures (up to their body or `;`), with where they are.
fn pub_signatures(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(at) = rest.find("pub ") {
        let tail = &rest[at..];
        let head = tail.trim_start_matches("pub ").trim_start_matches("async ");
        if head.starts_with("fn ") {
            let end = tail.find(['{', ';']).unwrap_or(tail.len());
            let line = text[..offset + at].lines().count() + 1;
            out.push((
                line,
                tail[..end].split_whitespace().collect::<Vec<_>>().join(" "),
            ));
        }
        offset += at + 4;
        rest = &rest[at + 4..];
    }
    out
}

#[test]
fn the_seams_keep_their_rules() {
    let mut broken = Vec::new();
    for file in product_sources() {
        let text = read(&file);
        let name = file.display().to_string();
        for (line, sig) in pub_signatures(&text) {
            let ret = sig.rsplit_once("->").map_or("", |(_, r)| r);
            if ret.contains("Result<") && ret.replace(' ', "").ends_with(",String>") {
                broken.push(format!("{name}:{line}: returns Result<_, String>: {sig}"));
            }
        }
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("unwrap_or_default()")
                && ["to_vec(", "to_string(", "to_writer", "finish()", "encode("]
                    .iter()
                    .any(|s| code.contains(s))
                && (code.contains("serde_json") || code.contains("finish()"))
            {
                broken.push(format!(
                    "{name}:{}: a serialization falls back to a default",
                    i + 1
                ));
            }
            if code.trim_start().starts_with("pub mod conformance") {
                let previous = text.lines().nth(i.saturating_sub(1)).unwrap_or("");
                if !previous.contains("feature = \"testsuite\"") {
                    broken.push(format!(
                        "{name}:{}: conformance outside the testsuite feature",
                        i + 1
                    ));
                }
            }
        }
        let schedules = name.ends_with("core/src/shutdown.rs");
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if !schedules && (code.contains("time::interval(") || code.contains("interval_at(")) {
                broken.push(format!(
                    "{name}:{}: a hand-made ticker (loops wait through Cadence or Shutdown::pause)",
                    i + 1
                ));
            }
        }
        let in_store = name.contains("libs/store/src");
        if in_store && !name.ends_with("keys.rs") {
            for (i, line) in text.lines().enumerate() {
                if line.contains("prefix ..") || line.contains(".prefix()") {
                    broken.push(format!(
                        "{name}:{}: a key built from the prefix outside Keys",
                        i + 1
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_signature_reader_sees_multi_line_signatures() {
    let text = "pub async fn connect(\n    a: u8,\n) -> Result<(), String> {\n}\n";
    let sigs = pub_signatures(text);
    assert_eq!(sigs.len(), 1);
    assert!(sigs[0].1.ends_with("Result<(), String>"), "{:?}", sigs[0]);
}

//! The gateway's cache: every series of the store, per family, split into
//! sorted chunks of about `CHUNK` series. Each chunk keeps its rendered
//! bytes (OpenMetrics, text, and gzip of each) until one of its series
//! changes, so a change re-renders one chunk, not the family. A body is
//! the list of those shared byte buffers, streamed to each request without
//! copying; the gzip body is the chunks' gzip members one after the other,
//! which is a valid gzip stream (RFC 1952, section 2.2). A reload builds a
//! complete new cache and swaps it in, so a request never sees a half-built
//! body.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use flate2::write::GzEncoder;
use ghstats_store::{Change, Cursor, Family, SeriesKey, Snapshot};

use crate::render::{FamilySeries, Format, family_block, family_header, label_set};

/// Target series per chunk; a chunk splits at twice this.
pub const CHUNK: usize = 4096;

/// One rendering of a chunk (or header) in every format and encoding.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub om: Bytes,
    pub om_gz: Bytes,
    pub text: Bytes,
    pub text_gz: Bytes,
}

impl Rendered {
    /// Samples read the same in both formats: render and compress once.
    fn samples(text: String) -> Self {
        let plain = Bytes::from(text);
        let gz = gzip(&plain);
        Self {
            om: plain.clone(),
            om_gz: gz.clone(),
            text: plain,
            text_gz: gz,
        }
    }

    fn new(om: String, text: String) -> Self {
        Self {
            om_gz: gzip(om.as_bytes()),
            text_gz: gzip(text.as_bytes()),
            om: Bytes::from(om),
            text: Bytes::from(text),
        }
    }

    fn part(&self, format: Format, gz: bool) -> &Bytes {
        match (format, gz) {
            (Format::OpenMetrics, false) => &self.om,
            (Format::OpenMetrics, true) => &self.om_gz,
            (Format::Text, false) => &self.text,
            (Format::Text, true) => &self.text_gz,
        }
    }
}

/// The bodies requests read: the parts in order.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    pub parts: Vec<Arc<Rendered>>,
    /// Series per family, for `gh_exporter_metrics_series_loaded`.
    pub series_loaded: BTreeMap<&'static str, usize>,
}

impl Exposition {
    /// Whether anything was published yet.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The parts of one body (shared buffers, no copy).
    pub fn body(&self, format: Format, gzip: bool) -> Vec<Bytes> {
        self.parts
            .iter()
            .map(|p| p.part(format, gzip).clone())
            .collect()
    }

    /// The whole body in one buffer (tests, small tools).
    pub fn concat(&self, format: Format, gzip: bool) -> Vec<u8> {
        self.body(format, gzip)
            .iter()
            .flat_map(|b| b.iter().copied())
            .collect()
    }
}

#[derive(Debug, Default)]
struct Chunk {
    series: FamilySeries,
    rendered: Option<Arc<Rendered>>,
}

#[derive(Debug, Default)]
struct FamilyState {
    chunks: Vec<Chunk>,
    header: Option<Arc<Rendered>>,
}

impl FamilyState {
    fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.series.len()).sum()
    }

    /// The chunk that holds (or would hold) `key`.
    fn chunk_of(&self, key: &str) -> usize {
        let after = self
            .chunks
            .partition_point(|c| c.series.first_key_value().is_some_and(|(k, _)| &**k <= key));
        after.saturating_sub(1)
    }

    fn set(&mut self, key: Box<str>, value: Option<f64>) {
        if self.chunks.is_empty() {
            self.chunks.push(Chunk::default());
        }
        let i = self.chunk_of(&key);
        let chunk = &mut self.chunks[i];
        chunk.rendered = None;
        match value {
            Some(v) => {
                chunk.series.insert(key, v);
                if chunk.series.len() > 2 * CHUNK {
                    let middle = chunk.series.keys().nth(CHUNK).cloned().unwrap_or_default();
                    let upper = chunk.series.split_off(&middle);
                    self.chunks.insert(
                        i + 1,
                        Chunk {
                            series: upper,
                            rendered: None,
                        },
                    );
                }
            }
            None => {
                chunk.series.remove(&key);
                if chunk.series.is_empty() && self.chunks.len() > 1 {
                    self.chunks.remove(i);
                }
            }
        }
    }
}

/// The series and rendered parts; owned by the refresher.
#[derive(Debug, Default)]
pub struct Series {
    families: BTreeMap<Family, FamilyState>,
    pub cursor: Cursor,
}

impl Series {
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        let mut grouped: BTreeMap<Family, FamilySeries> = BTreeMap::new();
        for (key, v) in snapshot.series {
            grouped
                .entry(key.family)
                .or_default()
                .insert(label_set(key.family, &key.labels), v);
        }
        let families = grouped
            .into_iter()
            .map(|(family, all)| {
                // One pass: consecutive runs of CHUNK sorted series.
                let mut chunks = vec![Chunk::default()];
                for (k, v) in all {
                    if chunks.last().is_some_and(|c| c.series.len() >= CHUNK) {
                        chunks.push(Chunk::default());
                    }
                    if let Some(c) = chunks.last_mut() {
                        c.series.insert(k, v);
                    }
                }
                (
                    family,
                    FamilyState {
                        chunks,
                        header: None,
                    },
                )
            })
            .collect();
        Series {
            families,
            cursor: snapshot.cursor,
        }
    }

    pub fn apply(&mut self, changes: Vec<Change>) {
        for Change {
            series: SeriesKey { family, labels },
            value,
        } in changes
        {
            self.families
                .entry(family)
                .or_default()
                .set(label_set(family, &labels), value);
        }
    }

    pub fn len(&self) -> usize {
        self.families.values().map(FamilyState::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Renders the chunks that changed and lists the parts of the body,
    /// with the gateway's deterministic own family and `# EOF` last.
    pub fn exposition(&mut self) -> Exposition {
        let mut parts = Vec::new();
        let mut series_loaded = BTreeMap::new();
        for family in Family::ALL {
            let Some(state) = self.families.get_mut(family) else {
                continue;
            };
            let n = state.len();
            if n == 0 {
                continue;
            }
            series_loaded.insert(family.name(), n);
            let header = state.header.get_or_insert_with(|| {
                Arc::new(Rendered::new(
                    family_header(*family, Format::OpenMetrics),
                    family_header(*family, Format::Text),
                ))
            });
            parts.push(header.clone());
            for chunk in state.chunks.iter_mut().filter(|c| !c.series.is_empty()) {
                let rendered = chunk.rendered.get_or_insert_with(|| {
                    Arc::new(Rendered::samples(family_block(*family, &chunk.series)))
                });
                parts.push(rendered.clone());
            }
        }
        let (om, text) = loaded_block(&series_loaded);
        parts.push(Arc::new(Rendered::new(om + "# EOF\n", text)));
        Exposition {
            parts,
            series_loaded,
        }
    }
}

const LOADED: &str = "gh_exporter_metrics_series_loaded";

fn loaded_block(loaded: &BTreeMap<&'static str, usize>) -> (String, String) {
    if loaded.is_empty() {
        return (String::new(), String::new());
    }
    let help = "Series per family in the gateway's cache";
    let mut samples = String::new();
    for (family, n) in loaded {
        samples.push_str(&format!("{LOADED}{{metric=\"{family}\"}} {n}\n"));
    }
    (
        format!("# TYPE {LOADED} gauge\n# HELP {LOADED} {help}.\n{samples}"),
        format!("# HELP {LOADED} {help}.\n# TYPE {LOADED} gauge\n{samples}"),
    )
}

fn gzip(data: &[u8]) -> Bytes {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(data.len() / 8 + 32),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    Bytes::from(enc.finish().unwrap_or_default())
}

/// What requests read: the current exposition, swapped whole.
#[derive(Debug, Clone, Default)]
pub struct Published {
    inner: Arc<RwLock<Arc<Exposition>>>,
}

impl Published {
    pub fn current(&self) -> Arc<Exposition> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn publish(&self, e: Exposition) {
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> SeriesKey {
        SeriesKey::new(
            Family::Commits24h,
            ["org".to_owned(), format!("repo-{i:06}"), "u".to_owned()],
        )
    }

    /// Chunked rendering equals rendering the whole family at once, after
    /// loads, inserts that split chunks, and removals.
    #[test]
    fn chunks_render_like_one_block() {
        let snapshot = Snapshot {
            series: (0..20000).step_by(2).map(|i| (key(i), i as f64)).collect(),
            cursor: Cursor::default(),
        };
        let mut s = Series::from_snapshot(snapshot);
        s.apply(
            (1..20000)
                .step_by(2)
                .map(|i| Change {
                    series: key(i),
                    value: Some(1.0),
                })
                .collect(),
        );
        s.apply(
            (0..20000)
                .step_by(7)
                .map(|i| Change {
                    series: key(i),
                    value: None,
                })
                .collect(),
        );
        let body = String::from_utf8(s.exposition().concat(Format::OpenMetrics, false)).unwrap();
        let mut all = FamilySeries::new();
        for i in 0..20000usize {
            if i % 7 != 0 {
                all.insert(
                    label_set(Family::Commits24h, &key(i).labels),
                    if i % 2 == 0 { i as f64 } else { 1.0 },
                );
            }
        }
        let expected = family_header(Family::Commits24h, Format::OpenMetrics)
            + &family_block(Family::Commits24h, &all);
        assert!(body.starts_with(&expected), "chunked body differs");
        assert!(
            s.families[&Family::Commits24h].chunks.len() > 2,
            "the family was split"
        );
        assert!(body.ends_with("# EOF\n"));
    }

    #[test]
    fn gzip_members_concatenate_to_the_plain_body() {
        let snapshot = Snapshot {
            series: (0..3000).map(|i| (key(i), 1.0)).collect(),
            cursor: Cursor::default(),
        };
        let mut s = Series::from_snapshot(snapshot);
        let e = s.exposition();
        let gz = e.concat(Format::Text, true);
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&gz[..]), &mut plain)
            .unwrap();
        assert_eq!(plain, e.concat(Format::Text, false));
    }
}

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
use ghstats_store::{Change, Cursor, Family, SeriesKey, Snapshot, Store};

use crate::render::{FamilySeries, Format, family_block, family_header, label_set, parse_block};

/// Target series per chunk; a chunk splits at twice this.
pub const CHUNK: usize = 4096;

/// One rendering of a chunk (or header) in every format and encoding;
/// no gzip member when compressing failed (the body is then served plain).
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub om: Bytes,
    pub om_gz: Option<Bytes>,
    pub text: Bytes,
    pub text_gz: Option<Bytes>,
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

    fn plain(&self, format: Format) -> &Bytes {
        match format {
            Format::OpenMetrics => &self.om,
            Format::Text => &self.text,
        }
    }

    fn gzipped(&self, format: Format) -> Option<&Bytes> {
        match format {
            Format::OpenMetrics => self.om_gz.as_ref(),
            Format::Text => self.text_gz.as_ref(),
        }
    }
}

/// The bodies requests read: the parts in order.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    pub parts: Vec<Arc<Rendered>>,
    /// Series per family, for `gh_exporter_metrics_series_loaded`.
    pub series_loaded: BTreeMap<&'static str, usize>,
    /// `# EOF` (OpenMetrics; empty in text), after every other part.
    end: Arc<Rendered>,
    /// The gzip bodies joined into one buffer, built by the first gzip
    /// request of each format (about a sixteenth of the plain body): one
    /// write per request instead of one per chunk member.
    whole_gzip: [Arc<std::sync::OnceLock<Option<Bytes>>>; 2],
}

impl Exposition {
    /// Whether anything was published yet.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The parts of one body (shared buffers, no copy per request), gzip
    /// when asked for and every part has its gzip member; the flag says
    /// whether the body is gzip.
    pub fn body(&self, format: Format, gzip: bool) -> (Vec<Bytes>, bool) {
        self.body_with(format, gzip, None)
    }

    /// [`body`](Self::body) with this replica's own block before the end.
    pub fn body_with(
        &self,
        format: Format,
        gzip: bool,
        replica: Option<&Rendered>,
    ) -> (Vec<Bytes>, bool) {
        let end = (format == Format::OpenMetrics).then_some(&*self.end);
        let tail = || replica.into_iter().chain(end);
        if gzip {
            let slot = &self.whole_gzip[usize::from(format == Format::Text)];
            let whole = slot.get_or_init(|| {
                let members: Option<Vec<&Bytes>> =
                    self.parts.iter().map(|p| p.gzipped(format)).collect();
                members.map(|m| Bytes::from(Self::joined(m.into_iter())))
            });
            let tail_gz: Option<Vec<Bytes>> = tail().map(|p| p.gzipped(format).cloned()).collect();
            if let (Some(whole), Some(tail_gz)) = (whole, tail_gz) {
                let mut body = vec![whole.clone()];
                body.extend(tail_gz.into_iter().filter(|b| !b.is_empty()));
                return (body, true);
            }
        }
        let parts = self
            .parts
            .iter()
            .map(|p| p.plain(format).clone())
            .chain(tail().map(|p| p.plain(format).clone()))
            .filter(|b| !b.is_empty())
            .collect();
        (parts, false)
    }

    fn joined<'a>(parts: impl Iterator<Item = &'a Bytes> + Clone) -> Vec<u8> {
        let mut out = Vec::with_capacity(parts.clone().map(Bytes::len).sum());
        for p in parts {
            out.extend_from_slice(p);
        }
        out
    }

    /// The samples of `family` (labels as written, value), read from its
    /// header part and the chunk parts after it: for the few small
    /// families the status page shows, never for a scrape.
    pub fn samples(&self, family: &str) -> Vec<(String, f64)> {
        let help = format!("# HELP {family} ");
        let mut out = Vec::new();
        // A family is its header part, then its chunk parts.
        let mut inside = false;
        for part in &self.parts {
            let text = part.plain(Format::Text);
            if text.starts_with(b"# HELP ") {
                inside = text.starts_with(help.as_bytes());
            }
            if !inside {
                continue;
            }
            for line in String::from_utf8_lossy(text).lines() {
                let Some(rest) = line.strip_prefix(family) else {
                    continue;
                };
                let (labels, value) = match rest.rsplit_once(' ') {
                    Some((labels, value)) => (labels.trim(), value),
                    None => continue,
                };
                if let Ok(v) = value.parse::<f64>() {
                    let labels = labels.trim_start_matches('{').trim_end_matches('}');
                    out.push((labels.to_owned(), v));
                }
            }
        }
        out
    }

    /// The plain body in one buffer (tests, small tools).
    pub fn concat(&self, format: Format) -> Vec<u8> {
        Self::joined(
            self.parts
                .iter()
                .chain(std::iter::once(&self.end))
                .map(|p| p.plain(format)),
        )
    }

    /// The gzip body in one buffer; `None` when a part could not be
    /// compressed.
    pub fn gzipped(&self, format: Format) -> Option<Vec<u8>> {
        let members: Option<Vec<&Bytes>> = self
            .parts
            .iter()
            .chain(std::iter::once(&self.end))
            .map(|p| p.gzipped(format))
            .collect();
        Some(Self::joined(members?.into_iter()))
    }
}

/// A sorted run of a family's series. Once rendered, a chunk is *packed*:
/// its rendered samples are the only copy of its series (a series is held
/// once, as its sample line, not again as a map entry); a change unpacks
/// it by reading those lines back, and the next exposition renders and
/// packs it again.
#[derive(Debug, Default)]
struct Chunk {
    /// Label set of its first series (where the chunk starts).
    first: Box<str>,
    len: usize,
    /// The series while the chunk changes; `None` when packed.
    series: Option<FamilySeries>,
    rendered: Option<Arc<Rendered>>,
}

impl Chunk {
    fn unpacked(series: FamilySeries) -> Self {
        let mut c = Chunk {
            series: Some(series),
            ..Chunk::default()
        };
        c.measure();
        c
    }

    fn measure(&mut self) {
        if let Some(series) = &self.series {
            self.len = series.len();
            self.first = series
                .first_key_value()
                .map(|(k, _)| k.clone())
                .unwrap_or_default();
        }
    }

    /// The chunk's series, read back from its rendered samples if packed.
    fn series_mut(&mut self, family: Family) -> &mut FamilySeries {
        let rendered = self.rendered.take();
        self.series.get_or_insert_with(|| {
            rendered.map_or_else(FamilySeries::new, |r| parse_block(family, &r.text))
        })
    }

    /// Renders the chunk if it changed, and packs it.
    fn render(&mut self, family: Family) -> Arc<Rendered> {
        if let Some(series) = self.series.take() {
            self.rendered = Some(Arc::new(Rendered::samples(family_block(family, &series))));
        }
        self.rendered.clone().unwrap_or_default()
    }
}

#[derive(Debug, Default)]
struct FamilyState {
    chunks: Vec<Chunk>,
    header: Option<Arc<Rendered>>,
}

impl FamilyState {
    fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.len).sum()
    }

    /// The chunk that holds (or would hold) `key`.
    fn chunk_of(&self, key: &str) -> usize {
        let after = self
            .chunks
            .partition_point(|c| c.len > 0 && &*c.first <= key);
        after.saturating_sub(1)
    }

    fn set(&mut self, family: Family, key: Box<str>, value: Option<f64>) {
        if self.chunks.is_empty() {
            self.chunks.push(Chunk::unpacked(FamilySeries::new()));
        }
        let i = self.chunk_of(&key);
        let chunk = &mut self.chunks[i];
        let series = chunk.series_mut(family);
        match value {
            Some(v) => {
                series.insert(key, v);
                if series.len() > 2 * CHUNK {
                    let middle = series.keys().nth(CHUNK).cloned().unwrap_or_default();
                    let upper = series.split_off(&middle);
                    chunk.measure();
                    self.chunks.insert(i + 1, Chunk::unpacked(upper));
                    return;
                }
            }
            None => {
                series.remove(&key);
            }
        }
        chunk.measure();
        if chunk.len == 0 && self.chunks.len() > 1 {
            self.chunks.remove(i);
        }
    }
}

/// Series per family by rendered label set, as a load collects them.
#[derive(Debug, Default)]
struct Grouped(BTreeMap<Family, FamilySeries>);

impl Grouped {
    fn add(&mut self, batch: Vec<(SeriesKey, f64)>) {
        for (key, v) in batch {
            self.0
                .entry(key.family)
                .or_default()
                .insert(label_set(key.family, &key.labels), v);
        }
    }
}

/// The gateway's cache of the store: every series and its rendered parts;
/// owned by the refresher.
#[derive(Debug, Default)]
pub struct MetricsCache {
    families: BTreeMap<Family, FamilyState>,
    pub cursor: Cursor,
}

impl MetricsCache {
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        let mut grouped = Grouped::default();
        grouped.add(snapshot.series);
        Self::from_grouped(grouped, snapshot.cursor)
    }

    /// A full load from `store`, batch by batch: only the rendered label
    /// sets are kept while loading, never the store's whole snapshot.
    pub async fn load(store: &dyn Store) -> Result<Self, ghstats_store::StoreError> {
        let mut grouped = Grouped::default();
        let cursor = store
            .snapshot_batches(&mut |batch| grouped.add(batch))
            .await?;
        Ok(Self::from_grouped(grouped, cursor))
    }

    fn from_grouped(Grouped(grouped): Grouped, cursor: Cursor) -> Self {
        let families = grouped
            .into_iter()
            .map(|(family, all)| {
                // One pass: consecutive runs of CHUNK sorted series,
                // rendered and packed as they are cut.
                let mut chunks = Vec::new();
                let mut run = FamilySeries::new();
                for (k, v) in all {
                    run.insert(k, v);
                    if run.len() >= CHUNK {
                        let mut c = Chunk::unpacked(std::mem::take(&mut run));
                        c.render(family);
                        chunks.push(c);
                    }
                }
                if !run.is_empty() || chunks.is_empty() {
                    chunks.push(Chunk::unpacked(run));
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
        MetricsCache { families, cursor }
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
                .set(family, label_set(family, &labels), value);
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
            for chunk in state.chunks.iter_mut().filter(|c| c.len > 0) {
                parts.push(chunk.render(*family));
            }
        }
        let (om, text) = loaded_block(&series_loaded);
        if !om.is_empty() {
            parts.push(Arc::new(Rendered::new(om, text)));
        }
        Exposition {
            parts,
            series_loaded,
            end: Arc::new(Rendered::new("# EOF\n".into(), String::new())),
            whole_gzip: Default::default(),
        }
    }
}

const LOADED: &str = "gh_exporter_metrics_series_loaded";
/// The family of `/metrics` that is each gateway's own.
pub const REFRESH_DURATION: &str = "gh_exporter_metrics_cache_refresh_duration_seconds";

/// The one family of `/metrics` that differs between gateways: this
/// replica's last cache refresh duration, rendered once per refresh and
/// put before `# EOF` of every body it serves (every other byte is the
/// same on every replica).
#[derive(Debug, Clone, Default)]
pub struct ReplicaBlock {
    current: Arc<RwLock<Option<Arc<Rendered>>>>,
}

impl ReplicaBlock {
    pub fn set_refresh_duration(&self, seconds: f64) {
        let help = "Duration of this gateway's last cache refresh";
        let sample = format!("{REFRESH_DURATION} {seconds}\n");
        let om = format!(
            "# TYPE {REFRESH_DURATION} gauge\n# UNIT {REFRESH_DURATION} seconds\n# HELP {REFRESH_DURATION} {help}.\n{sample}"
        );
        let text =
            format!("# HELP {REFRESH_DURATION} {help}.\n# TYPE {REFRESH_DURATION} gauge\n{sample}");
        *self.current.write().unwrap_or_else(|p| p.into_inner()) =
            Some(Arc::new(Rendered::new(om, text)));
    }

    pub fn current(&self) -> Option<Arc<Rendered>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

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

/// One gzip member of `data`; `None` (logged) when compressing failed,
/// and the bodies holding it are then served plain.
fn gzip(data: &[u8]) -> Option<Bytes> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(data.len() / 8 + 32),
        flate2::Compression::fast(),
    );
    match enc.write_all(data).and_then(|()| enc.finish()) {
        Ok(member) => Some(Bytes::from(member)),
        Err(e) => {
            tracing::error!(error = %e, "cannot gzip a part of the exposition: serving it plain");
            None
        }
    }
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
        let mut s = MetricsCache::from_snapshot(snapshot);
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
        let body = String::from_utf8(s.exposition().concat(Format::OpenMetrics)).unwrap();
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

    /// A packed chunk read back for a change keeps every other series
    /// exactly: odd values, spaces and escapes in labels.
    #[test]
    fn packed_chunks_unpack_exactly() {
        let odd = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1.5,
            1e20,
            -3.0,
            0.1 + 0.2,
        ];
        let key = |i: usize| {
            SeriesKey::new(
                Family::Commits24h,
                [
                    "o r\"g".to_owned(),
                    format!("repo {i}\n"),
                    "u\\x".to_owned(),
                ],
            )
        };
        let snapshot = Snapshot {
            series: odd.iter().enumerate().map(|(i, v)| (key(i), *v)).collect(),
            cursor: Cursor::default(),
        };
        let mut s = MetricsCache::from_snapshot(snapshot);
        let before = String::from_utf8(s.exposition().concat(Format::Text)).unwrap();
        s.apply(vec![Change {
            series: key(3),
            value: Some(2.5),
        }]);
        let after = String::from_utf8(s.exposition().concat(Format::Text)).unwrap();
        let changed: Vec<_> = before
            .lines()
            .zip(after.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert!(changed[0].1.ends_with(" 2.5"));
        assert!(after.contains(" NaN\n") && after.contains(" +Inf\n") && after.contains(" -Inf\n"));
        assert!(after.contains(" 0.30000000000000004\n"));
    }

    #[test]
    fn a_familys_samples_are_read_from_its_chunks() {
        let mut series: Vec<(SeriesKey, f64)> = (0..10).map(|i| (key(i), 1.0)).collect();
        series.push((
            SeriesKey::new(Family::QueueDepth, ["gh.backfill.jobs"]),
            3.0,
        ));
        series.push((SeriesKey::new(Family::QueueDepth, ["gh.backfill.dlq"]), 1.0));
        let mut s = MetricsCache::from_snapshot(Snapshot {
            series,
            cursor: Cursor::default(),
        });
        let mut depth = s.exposition().samples("gh_exporter_queue_depth");
        depth.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            depth,
            [
                ("queue=\"gh.backfill.dlq\"".to_owned(), 1.0),
                ("queue=\"gh.backfill.jobs\"".to_owned(), 3.0)
            ]
        );
        assert!(
            s.exposition()
                .samples("gh_exporter_no_such_family")
                .is_empty()
        );
    }

    #[test]
    fn gzip_members_concatenate_to_the_plain_body() {
        let snapshot = Snapshot {
            series: (0..3000).map(|i| (key(i), 1.0)).collect(),
            cursor: Cursor::default(),
        };
        let mut s = MetricsCache::from_snapshot(snapshot);
        let e = s.exposition();
        let gz = e.gzipped(Format::Text).unwrap();
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&gz[..]), &mut plain)
            .unwrap();
        assert_eq!(plain, e.concat(Format::Text));
    }
}

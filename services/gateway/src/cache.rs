//! The gateway's cache: every series of the store, grouped by family, with
//! each family's rendered blocks kept until one of its series changes, and
//! the assembled bodies (plain and gzip, both formats) shared by every
//! request without copying. A reload builds a complete new cache and swaps
//! it in, so a request never sees a half-built body.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use flate2::write::GzEncoder;
use ghstats_store::{Change, Cursor, Family, SeriesKey, Snapshot};

use crate::render::{FamilySeries, Format, family_block};

/// Bodies for every format and encoding.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    pub openmetrics: Bytes,
    pub openmetrics_gzip: Bytes,
    pub text: Bytes,
    pub text_gzip: Bytes,
    /// Series per family, for `gh_exporter_metrics_series_loaded`.
    pub series_loaded: BTreeMap<&'static str, usize>,
}

impl Exposition {
    pub fn body(&self, format: Format, gzip: bool) -> Bytes {
        match (format, gzip) {
            (Format::OpenMetrics, false) => self.openmetrics.clone(),
            (Format::OpenMetrics, true) => self.openmetrics_gzip.clone(),
            (Format::Text, false) => self.text.clone(),
            (Format::Text, true) => self.text_gzip.clone(),
        }
    }
}

#[derive(Debug, Default)]
struct FamilyState {
    series: FamilySeries,
    blocks: Option<(String, String)>,
}

/// The series and rendered blocks; owned by the refresher.
#[derive(Debug, Default)]
pub struct Series {
    families: BTreeMap<Family, FamilyState>,
    pub cursor: Cursor,
}

impl Series {
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        let mut s = Series {
            cursor: snapshot.cursor,
            ..Series::default()
        };
        for (key, v) in snapshot.series {
            s.families
                .entry(key.family)
                .or_default()
                .series
                .insert(key.labels, v);
        }
        s
    }

    pub fn apply(&mut self, changes: Vec<Change>) {
        for Change {
            series: SeriesKey { family, labels },
            value,
        } in changes
        {
            let f = self.families.entry(family).or_default();
            match value {
                Some(v) => {
                    f.series.insert(labels, v);
                }
                None => {
                    f.series.remove(&labels);
                }
            }
            f.blocks = None;
        }
    }

    pub fn len(&self) -> usize {
        self.families.values().map(|f| f.series.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Renders changed families and assembles the bodies, with the
    /// gateway's deterministic own family appended.
    pub fn exposition(&mut self) -> Exposition {
        let mut om = String::new();
        let mut text = String::new();
        let mut series_loaded = BTreeMap::new();
        for family in Family::ALL {
            let Some(state) = self.families.get_mut(family) else {
                continue;
            };
            if state.series.is_empty() {
                continue;
            }
            series_loaded.insert(family.name(), state.series.len());
            let (o, t) = state.blocks.get_or_insert_with(|| {
                (
                    family_block(*family, &state.series, Format::OpenMetrics),
                    family_block(*family, &state.series, Format::Text),
                )
            });
            om.push_str(o);
            text.push_str(t);
        }
        let loaded = loaded_block(&series_loaded);
        om.push_str(&loaded.0);
        text.push_str(&loaded.1);
        om.push_str("# EOF\n");
        Exposition {
            openmetrics_gzip: gzip(om.as_bytes()),
            text_gzip: gzip(text.as_bytes()),
            openmetrics: Bytes::from(om),
            text: Bytes::from(text),
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
        Vec::with_capacity(data.len() / 8),
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

//! The GitHub client's conditional-request validators kept in the shared
//! store, so every replica (and the next leader) gets 304s for what another
//! one already fetched. A validator holds the ETag, the next-page link and
//! the caller's memo, never a body.
//!
//! The validators of one repository (its commits, pull requests, comments,
//! stats, and the reviews of each pull request listed) share one store
//! entry, `etag:{host}/repos/{org}/{repo}`: one key per repository instead
//! of one per URL, about 150 bytes per validator. An entry not kept again
//! within the store's retention is dropped at the next write of its
//! repository, and the whole entry expires with the retention. Writers of
//! one repository at once (the leader's scrape, a backfill, webhook
//! deliveries) merge into the entry they read and swap it in only if
//! nobody wrote it since (`Store::swap_blob`), reading again when someone
//! did (after a short jittered pause, [`SWAP_RETRY`]). A keep still lost
//! after its attempts costs one counted request later, never a wrong
//! number (without a validator the answer comes whole).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ghstats_core::retry::RetryPolicy;
use ghstats_github::{EtagCache, Validator};
use ghstats_store::{BlobKind, Store};

#[derive(Debug)]
pub struct StoreEtagCache {
    store: Arc<dyn Store>,
    ttl: Duration,
}

impl StoreEtagCache {
    pub fn new(store: Arc<dyn Store>, ttl: Duration) -> Self {
        Self { store, ttl }
    }

    /// The store entry of `url`'s validator and its name inside the entry:
    /// `host/repos/org/repo` and the rest of the URL for a repository's
    /// URLs; any other URL is an entry of its own.
    pub fn entry_of(url: &str) -> (&str, &str) {
        let bare = url.split_once("://").map_or(url, |(_, rest)| rest);
        let repo_end = bare.find("/repos/").and_then(|at| {
            let after = at + "/repos/".len();
            let org_end = after + bare[after..].find('/')?;
            let repo = &bare[org_end + 1..];
            Some(org_end + 1 + repo.find(['/', '?']).unwrap_or(repo.len()))
        });
        match repo_end {
            Some(end) => bare.split_at(end),
            None => (bare, ""),
        }
    }

    async fn read(&self, entry: &str) -> Vec<Kept> {
        match self.store.get_blob(BlobKind::Etag, entry).await {
            // An entry in another form (an older release's) holds no
            // validator: the requests go out unconditional.
            Ok(raw) => raw.as_deref().and_then(decode_entry).unwrap_or_default(),
            Err(e) => {
                tracing::debug!(error = %e, "cannot read validators");
                Vec::new()
            }
        }
    }

    /// Merges `fresh` into `entry` (dropping validators not kept since
    /// `oldest`) and swaps it in from what was read, reading again while
    /// another writer got there first; `fresh` is encoded once.
    async fn merge(&self, entry: &str, fresh: &BTreeMap<&str, Validator>, now: i64, oldest: i64) {
        let encoded: Vec<Kept> = fresh
            .iter()
            .map(|(name, validator)| Kept {
                name: (*name).to_owned(),
                kept_at: now,
                validator: validator.encode(),
            })
            .collect();
        for attempt in 1..=SWAP_RETRY.max_attempts {
            if attempt > 1 {
                tokio::time::sleep(SWAP_RETRY.backoff(attempt - 1)).await;
            }
            let raw = match self.store.get_blob(BlobKind::Etag, entry).await {
                Ok(raw) => raw,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot store validators");
                    return;
                }
            };
            let mut kept = raw.as_deref().and_then(decode_entry).unwrap_or_default();
            kept.retain(|k| k.kept_at >= oldest && !fresh.contains_key(k.name.as_str()));
            kept.extend(encoded.iter().cloned());
            let swapped = self
                .store
                .swap_blob(
                    BlobKind::Etag,
                    entry,
                    raw.as_deref(),
                    &encode_entry(&kept),
                    self.ttl,
                )
                .await;
            match swapped {
                Ok(true) => return,
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot store validators");
                    return;
                }
            }
        }
        tracing::debug!(
            entry,
            attempts = SWAP_RETRY.max_attempts,
            "validators changed under every attempt of this keep: kept next time"
        );
    }
}

/// How a keep reads its repository's entry again when another writer
/// swapped it in between: soon, spread apart, a bounded number of times.
pub const SWAP_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 10,
    initial_backoff: Duration::from_micros(200),
    max_backoff: Duration::from_millis(20),
    jitter: true,
};

/// One validator inside an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Kept {
    name: String,
    /// Unix seconds of the last keep.
    kept_at: i64,
    validator: Vec<u8>,
}

/// First bytes of an entry in the form below.
const ENTRY_FORMAT: &[u8] = b"e1";

/// `e1`, then per validator: name length (u16), name, kept-at (i64
/// seconds), validator length (u32), the validator's own encoding; all
/// integers little-endian.
fn encode_entry(kept: &[Kept]) -> Vec<u8> {
    let mut out = ENTRY_FORMAT.to_vec();
    for k in kept {
        out.extend_from_slice(&(k.name.len() as u16).to_le_bytes());
        out.extend_from_slice(k.name.as_bytes());
        out.extend_from_slice(&k.kept_at.to_le_bytes());
        out.extend_from_slice(&(k.validator.len() as u32).to_le_bytes());
        out.extend_from_slice(&k.validator);
    }
    out
}

fn decode_entry(raw: &[u8]) -> Option<Vec<Kept>> {
    let mut rest = raw.strip_prefix(ENTRY_FORMAT)?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let mut out = Vec::new();
    loop {
        let Some(len) = take(2) else {
            return Some(out);
        };
        let name_len = u16::from_le_bytes(len.try_into().ok()?) as usize;
        let name = std::str::from_utf8(take(name_len)?).ok()?.to_owned();
        let kept_at = i64::from_le_bytes(take(8)?.try_into().ok()?);
        let value_len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let validator = take(value_len)?.to_vec();
        out.push(Kept {
            name,
            kept_at,
            validator,
        });
    }
}

#[async_trait::async_trait]
impl EtagCache for StoreEtagCache {
    async fn get(&self, key: &str) -> Option<Validator> {
        let (entry, name) = Self::entry_of(key);
        self.read(entry)
            .await
            .into_iter()
            .find(|k| k.name == name)
            .and_then(|k| Validator::decode(&k.validator))
    }

    async fn put(&self, key: &str, validator: Validator) {
        self.put_all(vec![(key.to_owned(), validator)]).await;
    }

    /// One read and one write per repository, however many of its
    /// validators are kept at once (more only when another writer swapped
    /// the entry in between).
    async fn put_all(&self, validators: Vec<(String, Validator)>) {
        // Per entry, per name: the last one kept wins.
        let mut by_entry: BTreeMap<&str, BTreeMap<&str, Validator>> = BTreeMap::new();
        for (key, validator) in &validators {
            let (entry, name) = Self::entry_of(key);
            by_entry
                .entry(entry)
                .or_default()
                .insert(name, validator.clone());
        }
        let now = Utc::now().timestamp();
        let oldest = now - i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        for (entry, fresh) in by_entry {
            self.merge(entry, &fresh, now, oldest).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repositorys_urls_share_one_entry() {
        let of = StoreEtagCache::entry_of;
        assert_eq!(
            of("https://api.github.com/repos/acme/web/pulls?state=all&per_page=100"),
            (
                "api.github.com/repos/acme/web",
                "/pulls?state=all&per_page=100"
            )
        );
        assert_eq!(
            of("https://ghe.example/api/v3/repos/acme/web/pulls/7/reviews?per_page=100"),
            (
                "ghe.example/api/v3/repos/acme/web",
                "/pulls/7/reviews?per_page=100"
            )
        );
        assert_eq!(
            of("https://api.github.com/repos/acme/web"),
            ("api.github.com/repos/acme/web", "")
        );
        assert_eq!(
            of("https://api.github.com/orgs/acme/repos?per_page=100"),
            ("api.github.com/orgs/acme/repos?per_page=100", "")
        );
    }

    #[test]
    fn an_entry_reads_back_and_refuses_other_forms() {
        let kept = vec![
            Kept {
                name: "/pulls?per_page=100".into(),
                kept_at: 1_764_000_000,
                validator: b"v1\nW/\"x\"\n\n3 1764000000 1764000000".to_vec(),
            },
            Kept {
                name: String::new(),
                kept_at: -1,
                validator: Vec::new(),
            },
        ];
        assert_eq!(decode_entry(&encode_entry(&kept)), Some(kept.clone()));
        assert_eq!(decode_entry(&encode_entry(&[])), Some(Vec::new()));
        let cut = encode_entry(&kept);
        assert_eq!(decode_entry(&cut[..cut.len() - 3]), None, "a cut entry");
        assert_eq!(decode_entry(br#"{"etag":"x","body":"[]"}"#), None);
    }

    #[tokio::test]
    async fn validators_of_one_repository_live_side_by_side_and_old_ones_go() {
        let store: Arc<dyn Store> = Arc::new(ghstats_store::MemoryStore::new(
            ghstats_store::StoreSettings::from_config(&ghstats_config::StoreConfig::default()),
        ));
        let cache = StoreEtagCache::new(store.clone(), Duration::from_secs(3600));
        let v = |tag: &str| Validator {
            etag: tag.into(),
            link: None,
            memo: bytes::Bytes::from_static(b"memo"),
        };
        let pulls = "https://api.github.com/repos/acme/web/pulls?per_page=100";
        let commits = "https://api.github.com/repos/acme/web/commits?per_page=100";
        cache.put(pulls, v("1")).await;
        cache.put(commits, v("2")).await;
        cache.put(pulls, v("3")).await;
        assert_eq!(cache.get(pulls).await.map(|v| v.etag), Some("3".into()));
        assert_eq!(cache.get(commits).await.map(|v| v.etag), Some("2".into()));
        let entry = "api.github.com/repos/acme/web";
        let raw = store
            .get_blob(BlobKind::Etag, entry)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(decode_entry(&raw).unwrap().len(), 2);

        // A validator not kept again within the retention goes at the next
        // write of its repository.
        let mut aged = decode_entry(&raw).unwrap();
        aged.iter_mut()
            .filter(|k| k.name.starts_with("/commits"))
            .for_each(|k| k.kept_at -= 7200);
        store
            .put_blob(
                BlobKind::Etag,
                entry,
                &encode_entry(&aged),
                Duration::from_secs(3600),
            )
            .await
            .unwrap();
        cache.put(pulls, v("4")).await;
        assert_eq!(cache.get(commits).await, None);
        assert_eq!(cache.get(pulls).await.map(|v| v.etag), Some("4".into()));

        // Kept together: one entry per repository, the last of a URL wins.
        let other = "https://api.github.com/repos/acme/api/pulls?per_page=100";
        cache
            .put_all(vec![
                (commits.to_owned(), v("5")),
                (other.to_owned(), v("6")),
                (commits.to_owned(), v("7")),
            ])
            .await;
        assert_eq!(cache.get(commits).await.map(|v| v.etag), Some("7".into()));
        assert_eq!(cache.get(pulls).await.map(|v| v.etag), Some("4".into()));
        assert_eq!(cache.get(other).await.map(|v| v.etag), Some("6".into()));
        let raw = store
            .get_blob(BlobKind::Etag, entry)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(decode_entry(&raw).unwrap().len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn replicas_keeping_validators_of_one_repository_at_once_lose_none() {
        let store: Arc<dyn Store> = Arc::new(ghstats_store::MemoryStore::new(
            ghstats_store::StoreSettings::from_config(&ghstats_config::StoreConfig::default()),
        ));
        const WRITERS: usize = 4;
        const EACH: usize = 25;
        let url = |w: usize, i: usize| {
            format!("https://api.github.com/repos/acme/web/pulls/{w}{i:03}/reviews")
        };
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                // Each writer as another replica: its own cache on the store.
                let cache = StoreEtagCache::new(store.clone(), Duration::from_secs(3600));
                tokio::spawn(async move {
                    for i in 0..EACH {
                        let validator = Validator {
                            etag: format!("{w}-{i}"),
                            link: None,
                            memo: bytes::Bytes::new(),
                        };
                        cache.put(&url(w, i), validator).await;
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        let cache = StoreEtagCache::new(store, Duration::from_secs(3600));
        let mut lost = Vec::new();
        for w in 0..WRITERS {
            for i in 0..EACH {
                if cache.get(&url(w, i)).await.map(|v| v.etag) != Some(format!("{w}-{i}")) {
                    lost.push(url(w, i));
                }
            }
        }
        assert!(lost.is_empty(), "{} validators lost: {lost:?}", lost.len());
    }
}

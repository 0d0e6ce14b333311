//! Recovery of failed webhook deliveries: the leader lists each GitHub
//! App's deliveries of the last `webhooks.redelivery_lookback` and asks
//! GitHub to deliver again every event (by its `X-GitHub-Delivery` guid)
//! none of whose attempts succeeded, at most once per guid and
//! `webhooks.redelivery_interval` (a claim in the store, so a new leader
//! does not ask twice). Orgs on a personal token have no App API: their
//! missed deliveries are caught by the scheduled scrape.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ghstats_github::webhook::HookDelivery;
use ghstats_store::{ClaimKind, Family, SeriesKey, Store, WriteCtx};

use crate::org_loop::OrgController;

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedeliveryReport {
    pub listed: usize,
    pub failed_events: usize,
    pub requested: usize,
}

/// Whether an attempt that failed this way can succeed when delivered
/// again: not delivered at all (0), refused by its signature (401: a
/// secret being rotated), timed out or throttled (408, 429), a server
/// error (5xx). What the intake refused as bad input (400, 413, 422)
/// would be refused again.
fn worth_redelivering(status_code: u16) -> bool {
    matches!(status_code, 0 | 401 | 408 | 429 | 500..=599)
}

/// The newest attempt of every event none of whose attempts succeeded,
/// when delivering it again can succeed.
pub fn failed_events(deliveries: &[HookDelivery]) -> Vec<&HookDelivery> {
    let mut by_guid: BTreeMap<&str, Vec<&HookDelivery>> = BTreeMap::new();
    for d in deliveries {
        by_guid.entry(d.guid.as_str()).or_default().push(d);
    }
    by_guid
        .into_values()
        .filter(|attempts| !attempts.iter().any(|a| a.succeeded()))
        .filter_map(|attempts| attempts.into_iter().max_by_key(|a| a.id))
        .filter(|newest| worth_redelivering(newest.status_code))
        .collect()
}

/// One pass over every App (the first org of each App lists for it).
pub async fn redeliver_failed(
    controllers: &[Arc<OrgController>],
    store: &dyn Store,
    ctx: WriteCtx,
    lookback: Duration,
    interval: Duration,
    now: DateTime<Utc>,
) -> RedeliveryReport {
    let mut report = RedeliveryReport::default();
    let mut apps_done: Vec<String> = Vec::new();
    let since = now - chrono::Duration::from_std(lookback).unwrap_or_default();
    for c in controllers {
        let client = c.client();
        let Some(app) = client.app_label() else {
            continue;
        };
        if apps_done.contains(&app) {
            continue;
        }
        apps_done.push(app.clone());
        let deliveries = match client.hook_deliveries(since).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(app, error = %e, "cannot list the App's webhook deliveries");
                continue;
            }
        };
        report.listed += deliveries.len();
        let failed = failed_events(&deliveries);
        report.failed_events += failed.len();
        let mut counters: BTreeMap<String, u64> = BTreeMap::new();
        for d in failed {
            match store.claim(ClaimKind::Redelivery, &d.guid, interval).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim a redelivery");
                    continue;
                }
            }
            match client.redeliver(d.id).await {
                Ok(()) => {
                    report.requested += 1;
                    let org = controllers
                        .iter()
                        .find(|o| {
                            d.installation_id.map(|i| i.to_string())
                                == Some(o.client().installation_label())
                        })
                        .map_or_else(|| c.org().to_owned(), |o| o.org().to_owned());
                    *counters.entry(org).or_default() += 1;
                    tracing::info!(app, guid = %d.guid, event = %d.event, "asked GitHub to redeliver a failed webhook delivery");
                }
                Err(e) => {
                    tracing::warn!(app, guid = %d.guid, error = %e, "redelivery refused");
                    let _ = store.release(ClaimKind::Redelivery, &d.guid).await;
                }
            }
        }
        let counters: Vec<(SeriesKey, u64)> = counters
            .into_iter()
            .map(|(org, n)| (SeriesKey::new(Family::WebhookRedeliveries, [org]), n))
            .collect();
        if !counters.is_empty()
            && let Err(e) = store.add_counters(ctx, &counters, now).await
        {
            tracing::warn!(error = %e, "cannot count redeliveries");
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(id: u64, guid: &str, code: u16) -> HookDelivery {
        HookDelivery {
            id,
            guid: guid.into(),
            delivered_at: Utc::now(),
            redelivery: id > 1,
            status: if code == 200 {
                "OK".into()
            } else {
                "failed".into()
            },
            status_code: code,
            event: "push".into(),
            action: None,
            installation_id: Some(1),
        }
    }

    #[test]
    fn only_events_without_a_successful_attempt_are_redelivered_once() {
        let list = [
            attempt(1, "a", 503),
            attempt(2, "a", 200),
            attempt(3, "b", 0),
            attempt(4, "b", 500),
            attempt(5, "c", 202),
            attempt(6, "d", 422),
            attempt(7, "e", 401),
        ];
        let failed: Vec<u64> = failed_events(&list).iter().map(|d| d.id).collect();
        assert_eq!(
            failed,
            [4, 7],
            "b's newest attempt and e's; a and c succeeded, d would be refused again"
        );
    }
}

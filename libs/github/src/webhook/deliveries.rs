//! The GitHub App's webhook deliveries (`GET /app/hook/deliveries`, newest
//! first, cursor-paginated) and redelivery (`POST
//! /app/hook/deliveries/{id}/attempts`), both with the App's JWT.

use chrono::{DateTime, Utc};
use http::Method;
use serde::Deserialize;

use crate::{GithubClient, GithubError};

/// Pages of deliveries read per pass at most (100 each).
pub const MAX_DELIVERY_PAGES: u32 = 20;

/// One delivery attempt as GitHub lists it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct HookDelivery {
    pub id: u64,
    /// The `X-GitHub-Delivery` of the event; redeliveries share it.
    pub guid: String,
    pub delivered_at: DateTime<Utc>,
    #[serde(default)]
    pub redelivery: bool,
    /// `OK`, or what went wrong.
    pub status: String,
    pub status_code: u16,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<u64>,
}

impl HookDelivery {
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}

impl GithubClient {
    /// The App's deliveries delivered at or after `since`, newest first.
    pub async fn hook_deliveries(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<HookDelivery>, GithubError> {
        const ENDPOINT: &str = "list_hook_deliveries";
        let mut url = self.url("/app/hook/deliveries?per_page=100")?;
        let mut out = Vec::new();
        for _ in 0..MAX_DELIVERY_PAGES {
            let (status, headers, body) = self.app_request(ENDPOINT, Method::GET, &url).await?;
            if status != 200 {
                return Err(self.app_refusal(ENDPOINT, status, &body));
            }
            let page: Vec<HookDelivery> =
                serde_json::from_slice(&body).map_err(|e| GithubError::Decode {
                    endpoint: ENDPOINT,
                    message: e.to_string(),
                })?;
            let reached = page.last().is_none_or(|d| d.delivered_at < since);
            out.extend(page.into_iter().filter(|d| d.delivered_at >= since));
            let link = headers
                .get(http::header::LINK)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            match self.next_page(ENDPOINT, link.as_deref())? {
                Some(next) if !reached => url = next,
                _ => break,
            }
        }
        Ok(out)
    }

    /// Asks GitHub to deliver delivery `id` again (202 when accepted).
    pub async fn redeliver(&self, id: u64) -> Result<(), GithubError> {
        const ENDPOINT: &str = "redeliver_hook_delivery";
        let url = self.url(&format!("/app/hook/deliveries/{id}/attempts"))?;
        let (status, _, body) = self.app_request(ENDPOINT, Method::POST, &url).await?;
        match status {
            200..=299 => Ok(()),
            s => Err(self.app_refusal(ENDPOINT, s, &body)),
        }
    }
}

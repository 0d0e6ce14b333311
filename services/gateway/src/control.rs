//! `GatewayControl` over gRPC: the cache status is open; a full resync
//! from the store needs the admin token.

use std::sync::Arc;

use ghstats_core::HealthRegistry;
use ghstats_proto::timestamp_to_proto;
use ghstats_proto::v1::gateway_control_server::GatewayControl;
use ghstats_proto::v1::{CacheStatus, GetCacheStatusRequest, ResyncRequest};
use ghstats_runtime::grpc::require_admin;
use tonic::{Request, Response, Status};

use crate::cache::Published;
use crate::refresh::CacheControl;

#[derive(Debug)]
pub struct ControlService {
    pub identity: String,
    pub health: HealthRegistry,
    pub published: Published,
    pub control: Arc<CacheControl>,
    pub admin_token: Option<String>,
}

impl ControlService {
    fn status(&self) -> CacheStatus {
        let caught_up = self.control.caught_up_at();
        CacheStatus {
            identity: self.identity.clone(),
            ready: self.health.report().ready,
            series_loaded: self
                .published
                .current()
                .series_loaded
                .values()
                .map(|n| *n as u64)
                .sum(),
            last_refresh_at: caught_up.map(timestamp_to_proto),
            lag_seconds: caught_up.map_or(0.0, |t| {
                (chrono::Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0
            }),
        }
    }
}

#[tonic::async_trait]
impl GatewayControl for ControlService {
    async fn get_cache_status(
        &self,
        _req: Request<GetCacheStatusRequest>,
    ) -> Result<Response<CacheStatus>, Status> {
        Ok(Response::new(self.status()))
    }

    async fn resync(&self, req: Request<ResyncRequest>) -> Result<Response<CacheStatus>, Status> {
        require_admin(req.metadata(), self.admin_token.as_deref())?;
        self.control.request_resync();
        Ok(Response::new(self.status()))
    }
}

//! The health registry: named components (`redis`, `amqp`, `scheduler`,
//! `exporter_cache`, ...), each with a status and a reason. It backs
//! `/livez`, `/readyz`, `/healthz` and `grpc.health.v1`, and later the
//! `gh_exporter_dependency_health` gauge.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;
use tokio::sync::watch;

/// The state of one component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    /// Registered, not yet checked: not ready.
    Starting,
    Healthy,
    /// Working with reduced guarantees (fallback, stale data): still ready.
    Degraded,
    Unhealthy,
}

/// Whether a component gates `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    /// Not ready while this component is starting or unhealthy.
    Required,
    /// Shown in `/healthz` and may make the mode `degraded`, never not-ready.
    Informational,
}

/// Overall mode, as in the `/healthz` document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Healthy,
    Degraded,
    Unhealthy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    pub status: ComponentStatus,
    pub readiness: Readiness,
    /// Why it is not healthy; empty when healthy.
    pub reason: String,
}

/// The `/healthz` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    pub service: String,
    pub role: String,
    pub mode: Mode,
    pub ready: bool,
    pub components: BTreeMap<String, Component>,
    /// Facts an operator looks up (the gateway's `scrape_service_dns`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub info: BTreeMap<String, String>,
    /// With `/healthz?full=1` on a service that has a fleet view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetReport>,
}

/// How the other services look from here (`/healthz?full=1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetReport {
    /// `degraded` when a peer is unreachable or no scheduler leads.
    pub mode: Mode,
    /// The leading scheduler and its lease term, if one answered as leader.
    pub leader: Option<String>,
    pub term: Option<u64>,
    pub peers: Vec<PeerReport>,
}

/// One replica of another service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerReport {
    pub service: String,
    /// The address dialled (one per resolved address of an endpoint).
    pub endpoint: String,
    /// `healthy` or `unreachable`.
    pub status: String,
    pub identity: String,
    /// `leader` / `follower` for schedulers, `draining` / `consuming` for workers.
    pub role: String,
    pub reason: String,
}

/// Gathers the fleet view; the gateway has one.
#[async_trait::async_trait]
pub trait FleetView: Send + Sync + std::fmt::Debug {
    async fn gather(&self) -> FleetReport;
}

#[derive(Debug)]
struct State {
    role: String,
    components: BTreeMap<String, Component>,
    info: BTreeMap<String, String>,
}

/// Shared by the parts of a service; cheap to clone.
#[derive(Debug, Clone)]
pub struct HealthRegistry {
    service: Arc<str>,
    state: Arc<RwLock<State>>,
    changes: Arc<watch::Sender<u64>>,
    fleet: Arc<std::sync::OnceLock<Arc<dyn FleetView>>>,
}

impl HealthRegistry {
    /// A registry for `service` (`scheduler`, `worker`, `gateway`, ...),
    /// whose role starts as the service name.
    pub fn new(service: &str) -> Self {
        Self {
            service: service.into(),
            state: Arc::new(RwLock::new(State {
                role: service.to_owned(),
                components: BTreeMap::new(),
                info: BTreeMap::new(),
            })),
            changes: Arc::new(watch::channel(0).0),
            fleet: Arc::default(),
        }
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// Adds a component in the `starting` state (idempotent).
    pub fn register(&self, name: &str, readiness: Readiness) {
        self.update(|s| {
            s.components.entry(name.to_owned()).or_insert(Component {
                status: ComponentStatus::Starting,
                readiness,
                reason: "starting".into(),
            });
        });
    }

    /// Sets a component's status; an unknown name is registered as required.
    pub fn set(&self, name: &str, status: ComponentStatus, reason: impl Into<String>) {
        let reason = if status == ComponentStatus::Healthy {
            String::new()
        } else {
            reason.into()
        };
        self.update(|s| {
            let entry = s.components.entry(name.to_owned()).or_insert(Component {
                status,
                readiness: Readiness::Required,
                reason: String::new(),
            });
            if entry.status != status || entry.reason != reason {
                entry.status = status;
                entry.reason = reason;
            }
        });
    }

    pub fn set_healthy(&self, name: &str) {
        self.set(name, ComponentStatus::Healthy, "");
    }

    /// The role shown in `/healthz` (`leader` / `follower` for schedulers).
    /// Shows `value` under `info.<key>` in the report.
    pub fn set_info(&self, key: &str, value: impl Into<String>) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        state.info.insert(key.to_owned(), value.into());
    }

    pub fn set_role(&self, role: &str) {
        self.update(|s| s.role = role.to_owned());
    }

    /// Notified on every change; the value is a change counter.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Gives `/healthz?full=1` a fleet view (once).
    pub fn set_fleet(&self, fleet: Arc<dyn FleetView>) {
        let _ = self.fleet.set(fleet);
    }

    /// The local report plus the fleet view when there is one; the mode is
    /// the worse of the two.
    pub async fn full_report(&self) -> HealthReport {
        let mut report = self.report();
        if let Some(fleet) = self.fleet.get() {
            let view = fleet.gather().await;
            if view.mode != Mode::Healthy && report.mode == Mode::Healthy {
                report.mode = view.mode;
            }
            report.fleet = Some(view);
        }
        report
    }

    /// The mode as its `/healthz` word, and the components that are not
    /// healthy as `name: reason; ...` (for peers' status).
    pub fn summary(&self) -> (&'static str, String) {
        let report = self.report();
        let mode = match report.mode {
            Mode::Healthy => "healthy",
            Mode::Degraded => "degraded",
            Mode::Unhealthy => "unhealthy",
        };
        let reason = report
            .components
            .iter()
            .filter(|(_, c)| c.status != ComponentStatus::Healthy)
            .map(|(name, c)| format!("{name}: {}", c.reason))
            .collect::<Vec<_>>()
            .join("; ");
        (mode, reason)
    }

    pub fn report(&self) -> HealthReport {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let blocking = |c: &Component| {
            c.readiness == Readiness::Required
                && matches!(
                    c.status,
                    ComponentStatus::Starting | ComponentStatus::Unhealthy
                )
        };
        let ready = !state.components.values().any(blocking);
        let impaired = state.components.values().any(|c| {
            matches!(
                c.status,
                ComponentStatus::Degraded | ComponentStatus::Unhealthy
            )
        });
        let mode = match (ready, impaired) {
            (false, _) => Mode::Unhealthy,
            (true, true) => Mode::Degraded,
            (true, false) => Mode::Healthy,
        };
        HealthReport {
            service: self.service.to_string(),
            role: state.role.clone(),
            mode,
            ready,
            components: state.components.clone(),
            info: state.info.clone(),
            fleet: None,
        }
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        {
            let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
            change(&mut state);
        }
        self.changes.send_modify(|n| *n += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_and_mode_follow_components() {
        let h = HealthRegistry::new("worker");
        assert!(h.report().ready, "nothing registered: ready");
        h.register("redis", Readiness::Required);
        h.register("github", Readiness::Informational);
        let r = h.report();
        assert!(!r.ready);
        assert_eq!(r.mode, Mode::Unhealthy);

        h.set_healthy("redis");
        h.set_healthy("github");
        assert_eq!(h.report().mode, Mode::Healthy);

        h.set("github", ComponentStatus::Unhealthy, "503 from api");
        let r = h.report();
        assert!(r.ready, "informational components never block readiness");
        assert_eq!(r.mode, Mode::Degraded);
        assert_eq!(r.components["github"].reason, "503 from api");

        h.set("redis", ComponentStatus::Degraded, "using replica");
        assert!(h.report().ready);
        h.set("redis", ComponentStatus::Unhealthy, "connection refused");
        assert_eq!(h.report().mode, Mode::Unhealthy);
    }

    #[test]
    fn changes_are_signalled() {
        let h = HealthRegistry::new("gateway");
        let mut rx = h.subscribe();
        h.set_role("leader");
        assert!(rx.has_changed().unwrap());
        rx.mark_unchanged();
        h.set_healthy("exporter_cache");
        assert!(rx.has_changed().unwrap());
        assert_eq!(h.report().role, "leader");
    }
}

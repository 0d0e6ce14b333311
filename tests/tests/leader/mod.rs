//! The leader's side of the cross-service tests: the org's controller
//! built as the scheduler builds it.

use std::sync::Arc;

use ghstats_backfill::BackfillProducer;
use ghstats_core::Shutdown;
use ghstats_scheduler::org_loop::OrgController;
use ghstats_store::Store;

/// The first org's controller on `store` (`backfill`: a memory producer
/// when `None`).
pub fn controller(
    w: &ghstats_testkit::World,
    store: &Arc<dyn Store>,
    backfill: Option<&Arc<dyn BackfillProducer>>,
    shutdown: &Shutdown,
) -> Arc<OrgController> {
    let memory: Arc<dyn BackfillProducer> = Arc::new(ghstats_backfill::MemoryProducer::default());
    ghstats_scheduler::leader::controllers(
        &w.config,
        store,
        backfill.unwrap_or(&memory),
        &ghstats_core::Tenure::default(),
        shutdown,
    )
    .expect("the test config builds its controllers")
    .remove(0)
}

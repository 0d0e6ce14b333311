//! Scraping GitHub activity into the store, shared by the scheduler (the
//! scheduled cycle of each org) and the worker (exact backfill windows):
//! one function scrapes one repository for one window, so a backfill
//! computes what a scheduled scrape would have.

pub mod activity;
pub mod attribution;
pub mod clients;
pub mod copilot;
pub mod etag_store;
pub mod glob;
pub mod hooks;
pub mod loc;
pub mod org;
pub mod org_state;
pub mod pulls;
pub mod record;
pub mod repos;
pub mod usage;
pub mod window;

pub use activity::{ActivityScrape, Failure, Fetch, scrape_activity};
pub use attribution::Attribution;
pub use etag_store::StoreEtagCache;
pub use org::{CycleError, CycleReport, CycleResult, OrgScraper};

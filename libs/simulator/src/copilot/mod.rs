//! Copilot usage reports: the link endpoints of orgs and of the simulated
//! enterprise (through the API, authenticated and rate-limited like every
//! endpoint), and signed, expiring download URLs served by a second
//! listener under another host name, which refuses any request that
//! carries an `Authorization` header. Tests can point links at a foreign
//! host, expire them, and append malformed lines.

mod http;
pub mod report;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};

pub(crate) use http::{download_routes, link_routes, report_users as http_users};
pub use report::ReportKind;

/// The simulated enterprise's slug; its App installation can read it.
pub const ENTERPRISE_SLUG: &str = "sim-enterprise";
/// The demo App's installation on the enterprise.
pub const ENTERPRISE_INSTALLATION_ID: u64 = 1999;

/// What tests change about the reports (also `POST /_sim/copilot` with
/// this as JSON; absent fields are reset).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// Links name this host instead of the download listener's.
    pub link_host: Option<String>,
    /// Links are issued already expired.
    pub expired_links: bool,
    /// Lines appended to the last file of every report.
    pub extra_lines: Vec<String>,
}

#[derive(Debug)]
pub struct CopilotSim {
    /// `http://localhost:{port}`: the download listener, by another name
    /// than the API's address.
    pub download_base: String,
    /// Synthetic users (`cp-user-N`) on top of the world's users.
    pub extra_users: u32,
    pub knobs: Mutex<Knobs>,
    secret: u64,
}

impl CopilotSim {
    pub fn new(download_base: String, extra_users: u32, seed: u64) -> Self {
        Self {
            download_base,
            extra_users,
            knobs: Mutex::new(Knobs::default()),
            secret: seed ^ 0x5EC2_E7C0_911D_0001,
        }
    }

    pub fn knobs(&self) -> Knobs {
        self.knobs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_knobs(&self, f: impl FnOnce(&mut Knobs)) {
        f(&mut self.knobs.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// The signature of a download path valid until `expires`.
    pub fn sign(&self, path: &str, expires: i64) -> String {
        let mut h = DefaultHasher::new();
        (self.secret, path, expires).hash(&mut h);
        format!("{:016x}", h.finish())
    }
}

/// The days a report covers: the 28 days before `now`'s day, or one day.
pub fn report_days(now: DateTime<Utc>, day: Option<NaiveDate>) -> Vec<NaiveDate> {
    match day {
        Some(d) => vec![d],
        None => {
            let end = now.date_naive() - chrono::Duration::days(1);
            (0..28)
                .rev()
                .map(|i| end - chrono::Duration::days(i))
                .collect()
        }
    }
}

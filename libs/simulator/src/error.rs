//! Why the simulator refused a change of its world, or could not start.

use crate::admin::ACTIVITY_KINDS;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("no org {0}")]
    NoOrg(String),
    #[error("no repo {0}")]
    NoRepo(String),
    #[error("no user {0}")]
    NoUser(String),
    #[error("{0} exists already")]
    Exists(String),
    #[error("a rename needs new_name")]
    NeedsNewName,
    #[error("unknown kind {0:?}: use one of {kinds}", kinds = ACTIVITY_KINDS.join(", "))]
    UnknownKind(String),
    #[error("bad public key: {0}")]
    BadKey(#[source] jsonwebtoken::errors::Error),
    #[error("cannot listen {what}: {source}")]
    Listen {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

//! Store errors.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A leader write carried a term older than the store's current one.
    #[error("write refused: lease term {term} is older than the current term {current}")]
    Fenced { term: u64, current: u64 },
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("store data is malformed: {0}")]
    Malformed(String),
    #[error("cannot connect to the store: {0}")]
    Connect(String),
    #[error("cannot encode a {what} value: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    /// Worth retrying (connection trouble), as opposed to a refusal.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Redis(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
            }
            StoreError::Connect(_) => true,
            StoreError::Fenced { .. } | StoreError::Malformed(_) | StoreError::Encode { .. } => {
                false
            }
        }
    }
}

//! Connections to Redis: a self-healing multiplexed connection to a
//! standalone server, or to the master that the sentinels name, asked again
//! after any connection failure (so a failover needs no restart).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};
use tokio::sync::Mutex;

use crate::StoreError;

/// Where the store lives.
#[derive(Debug, Clone)]
pub enum RedisTarget {
    Standalone {
        addr: String,
        tls: bool,
    },
    Sentinel {
        sentinels: Vec<String>,
        master: String,
        tls: bool,
    },
}

#[derive(Debug, Clone, Default)]
pub struct RedisAuth {
    pub password: Option<String>,
    pub db: i64,
}

pub(crate) enum Conn {
    Standalone(ConnectionManager),
    Sentinel(Box<SentinelConn>),
}

pub(crate) struct SentinelConn {
    client: Mutex<SentinelClient>,
    current: Mutex<Option<MultiplexedConnection>>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Standalone(_) => "Conn::Standalone",
            Conn::Sentinel(_) => "Conn::Sentinel",
        })
    }
}

fn info(addr: &str, tls: bool, auth: &RedisAuth) -> Result<ConnectionInfo, StoreError> {
    let (host, port) = addr
        .rsplit_once(':')
        .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h.to_owned(), p)))
        .ok_or_else(|| StoreError::Connect(format!("bad address {addr:?}")))?;
    let addr = if tls {
        ConnectionAddr::TcpTls {
            host,
            port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(host, port)
    };
    let mut redis = RedisConnectionInfo::default().set_db(auth.db);
    if let Some(p) = &auth.password {
        redis = redis.set_password(p.clone());
    }
    addr.into_connection_info()
        .map(|i| i.set_redis_settings(redis))
        .map_err(StoreError::Redis)
}

impl Conn {
    pub async fn open(target: &RedisTarget, auth: &RedisAuth) -> Result<Self, StoreError> {
        match target {
            RedisTarget::Standalone { addr, tls } => {
                let client = redis::Client::open(info(addr, *tls, auth)?)?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(5)))
                    .set_response_timeout(Some(Duration::from_secs(10)))
                    .set_number_of_retries(2);
                Ok(Conn::Standalone(
                    ConnectionManager::new_with_config(client, config).await?,
                ))
            }
            RedisTarget::Sentinel {
                sentinels,
                master,
                tls,
            } => {
                let nodes: Vec<ConnectionInfo> = sentinels
                    .iter()
                    .map(|s| info(s, false, &RedisAuth::default()))
                    .collect::<Result<_, _>>()?;
                let mut node = SentinelNodeConnectionInfo::default()
                    .set_redis_connection_info(RedisConnectionInfo::default().set_db(auth.db));
                if let Some(p) = &auth.password {
                    node = node.set_redis_connection_info(
                        RedisConnectionInfo::default()
                            .set_db(auth.db)
                            .set_password(p.clone()),
                    );
                }
                if *tls {
                    node = node.set_tls_mode(redis::TlsMode::Secure);
                }
                let client = SentinelClient::build(
                    nodes,
                    master.clone(),
                    Some(node),
                    SentinelServerType::Master,
                )?;
                let conn = Conn::Sentinel(Box::new(SentinelConn {
                    client: Mutex::new(client),
                    current: Mutex::new(None),
                }));
                conn.get().await?;
                Ok(conn)
            }
        }
    }

    /// A connection to the current master.
    pub async fn get(&self) -> Result<ConnHandle, StoreError> {
        match self {
            Conn::Standalone(m) => Ok(ConnHandle::Managed(m.clone())),
            Conn::Sentinel(s) => {
                let mut current = s.current.lock().await;
                if let Some(c) = current.as_ref() {
                    return Ok(ConnHandle::Multiplexed(c.clone()));
                }
                let fresh = s.client.lock().await.get_async_connection().await?;
                *current = Some(fresh.clone());
                Ok(ConnHandle::Multiplexed(fresh))
            }
        }
    }

    /// After an error: forget the sentinel master so the next call asks again.
    pub async fn reset_on(&self, e: &redis::RedisError) {
        let stale = e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_timeout()
            || e.code() == Some("READONLY");
        if let (Conn::Sentinel(s), true) = (self, stale) {
            s.current.lock().await.take();
        }
    }
}

/// One usable connection.
#[derive(Clone)]
pub(crate) enum ConnHandle {
    Managed(ConnectionManager),
    Multiplexed(MultiplexedConnection),
}

impl redis::aio::ConnectionLike for ConnHandle {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            ConnHandle::Managed(c) => c.req_packed_command(cmd),
            ConnHandle::Multiplexed(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            ConnHandle::Managed(c) => c.req_packed_commands(cmd, offset, count),
            ConnHandle::Multiplexed(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            ConnHandle::Managed(c) => c.get_db(),
            ConnHandle::Multiplexed(c) => c.get_db(),
        }
    }
}

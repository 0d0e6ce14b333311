//! The durable queue on RabbitMQ. Topology is declared (idempotently) on
//! every connect; sends wait for the publisher confirm; deliveries are
//! acknowledged by hand; a dropped connection is re-established with the
//! workspace's retry back-off, by the next send and by the consumer task.
//! Nothing is kept only in memory: an unconfirmed send is an error to the
//! caller, an unacknowledged delivery goes back to the broker.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use futures::StreamExt;
use ghstats_core::Shutdown;
use ghstats_core::health::{ComponentStatus, HealthRegistry};
use ghstats_core::retry::RetryPolicy;
use lapin::Confirmation;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::{Mutex, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::{
    DeadLetter, Delivery, Handle, JobQueue, Outgoing, QueueError, QueueStats, Target, Topology,
    codec,
};

/// Header with the attempt of the job inside (for people reading queues).
const ATTEMPT_HEADER: &str = "x-ghstats-attempt";
/// Header with the reason a message was dead-lettered.
const ERROR_HEADER: &str = "x-ghstats-error";
/// Persistent delivery mode.
const PERSISTENT: u8 = 2;

/// How long connecting (TCP, AMQP handshake, topology) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long closing a connection may take: a broker that is gone never
/// answers the close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one broker round trip may take before the connection is taken
/// for broken (a half-dead connection would otherwise wait forever).
const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs one broker call within [`RPC_TIMEOUT`]; failures say what failed.
async fn rpc<T, E: std::fmt::Display>(
    what: &str,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, QueueError> {
    match tokio::time::timeout(RPC_TIMEOUT, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(unavailable(what, e)),
        Err(_) => Err(unavailable(
            what,
            format!("no answer within {RPC_TIMEOUT:?}"),
        )),
    }
}

async fn close_quietly(link: Link, why: &str) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, link.connection.close(200, why.into())).await;
}

/// Whether the queue has a working connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Connecting { reason: String },
    Connected,
}

struct Link {
    connection: Connection,
    publish: Channel,
}

struct Inner {
    url: String,
    topology: Topology,
    delays: Vec<Duration>,
    backoff: RetryPolicy,
    link: Mutex<Option<Link>>,
    state: watch::Sender<LinkState>,
    deliveries: Mutex<mpsc::Receiver<lapin::message::Delivery>>,
    deliveries_tx: mpsc::Sender<lapin::message::Delivery>,
    closed: CancellationToken,
    malformed: AtomicU64,
    /// While true the consumer holds no channel (a drained worker).
    paused: watch::Sender<bool>,
    /// Set by [`RabbitQueue::start_consuming`]; taken by the first
    /// [`JobQueue::next`], which starts the consumer task.
    consume_on_demand: std::sync::Mutex<Option<(u16, Shutdown)>>,
}

/// A backfill queue on RabbitMQ; cheap to clone.
#[derive(Clone)]
pub struct RabbitQueue {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RabbitQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitQueue")
            .field("topology", &self.inner.topology)
            .field("state", &*self.inner.state.borrow())
            .finish_non_exhaustive()
    }
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(format!("{what}: {e}"))
}

impl RabbitQueue {
    /// A queue that connects on first use. `url` carries the credentials.
    pub fn new(url: String, topology: Topology, backoff: RetryPolicy) -> Self {
        let (deliveries_tx, deliveries) = mpsc::channel(1);
        let (state, _) = watch::channel(LinkState::Connecting {
            reason: "not connected yet".into(),
        });
        Self {
            inner: Arc::new(Inner {
                url,
                delays: topology.delay_durations(),
                topology,
                backoff,
                link: Mutex::new(None),
                state,
                deliveries: Mutex::new(deliveries),
                deliveries_tx,
                closed: CancellationToken::new(),
                malformed: AtomicU64::new(0),
                paused: watch::channel(false).0,
                consume_on_demand: std::sync::Mutex::new(None),
            }),
        }
    }

    /// The queue of `amqp.*` and `backfill.*`.
    pub fn from_config(
        config: &ghstats_config::Config,
    ) -> Result<Self, ghstats_config::ConfigError> {
        let url = config.amqp.resolved_url()?;
        Ok(Self::new(
            url.expose().to_string(),
            Topology::from_config(&config.amqp, &config.backfill),
            RetryPolicy::from(&config.retry),
        ))
    }

    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    /// Follows the connection state (for health).
    pub fn state(&self) -> watch::Receiver<LinkState> {
        self.inner.state.subscribe()
    }

    /// Starts the named task that keeps this queue connected (a producer
    /// that has nothing to publish still wants to know the broker is
    /// there) and reports the link as health component `component`: healthy
    /// while connected, `when_down` with the reason otherwise.
    pub fn keep_connected(
        &self,
        health: &HealthRegistry,
        component: &'static str,
        when_down: ComponentStatus,
        shutdown: &Shutdown,
    ) {
        let (queue, health, stop) = (self.clone(), health.clone(), shutdown.clone());
        shutdown.spawn("amqp_link", async move {
            let mut state = queue.state();
            let mut failures = 0u32;
            loop {
                let current = state.borrow_and_update().clone();
                match current {
                    LinkState::Connected => {
                        failures = 0;
                        health.set_healthy(component);
                        tokio::select! {
                            _ = state.changed() => {}
                            () = stop.triggered() => return Ok::<(), String>(()),
                        }
                    }
                    LinkState::Connecting { reason } => {
                        health.set(component, when_down, format!("RabbitMQ: {reason}"));
                        if queue.connect().await.is_err() {
                            failures += 1;
                            let wait = queue.reconnect_wait(failures);
                            if !stop.sleep(wait).await {
                                return Ok(());
                            }
                        }
                    }
                }
            }
        });
    }

    /// Connects (and declares the topology) now if not connected.
    pub async fn connect(&self) -> Result<(), QueueError> {
        self.publish_channel().await.map(|_| ())
    }

    /// The confirm-mode channel of the current connection, connecting first
    /// when there is none or it broke.
    async fn publish_channel(&self) -> Result<Channel, QueueError> {
        let mut link = self.inner.link.lock().await;
        if let Some(l) = link.as_ref()
            && l.connection.status().connected()
            && l.publish.status().connected()
        {
            return Ok(l.publish.clone());
        }
        if let Some(old) = link.take() {
            close_quietly(old, "reconnecting").await;
        }
        let opened = tokio::time::timeout(CONNECT_TIMEOUT, self.open())
            .await
            .unwrap_or_else(|_| {
                Err(QueueError::Unavailable(format!(
                    "no answer from RabbitMQ within {CONNECT_TIMEOUT:?}"
                )))
            });
        match opened {
            Ok(l) => {
                let publish = l.publish.clone();
                *link = Some(l);
                self.inner.state.send_replace(LinkState::Connected);
                tracing::info!(exchange = %self.inner.topology.exchange, "connected to RabbitMQ");
                Ok(publish)
            }
            Err(e) => {
                self.inner.state.send_replace(LinkState::Connecting {
                    reason: e.to_string(),
                });
                Err(e)
            }
        }
    }

    /// A fresh channel on the current connection.
    async fn fresh_channel(&self) -> Result<Channel, QueueError> {
        self.publish_channel().await?;
        let link = self.inner.link.lock().await;
        let l = link
            .as_ref()
            .ok_or_else(|| QueueError::Unavailable("connection lost".into()))?;
        rpc("cannot open a channel", l.connection.create_channel()).await
    }

    /// Forgets a connection that failed, so the next use reconnects.
    async fn drop_link(&self, reason: &str) {
        let old = self.inner.link.lock().await.take();
        if let Some(old) = old {
            close_quietly(old, "error").await;
        }
        self.inner.state.send_replace(LinkState::Connecting {
            reason: reason.to_owned(),
        });
    }

    async fn open(&self) -> Result<Link, QueueError> {
        let connection = Connection::connect(&self.inner.url, ConnectionProperties::default())
            .await
            .map_err(|e| unavailable("cannot connect to RabbitMQ", e))?;
        let publish = connection
            .create_channel()
            .await
            .map_err(|e| unavailable("cannot open a channel", e))?;
        declare(&publish, &self.inner.topology).await?;
        publish
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| unavailable("cannot enable publisher confirms", e))?;
        Ok(Link {
            connection,
            publish,
        })
    }

    /// Deletes the exchange and every queue of the topology (tests that
    /// made their own names clean up with it).
    pub async fn delete_topology(&self) -> Result<(), QueueError> {
        let t = &self.inner.topology;
        for name in t.queues() {
            let channel = self.fresh_channel().await?;
            channel
                .queue_delete(name.into(), lapin::options::QueueDeleteOptions::default())
                .await
                .map_err(|e| unavailable(&format!("cannot delete {name}"), e))?;
            let _ = channel.close(200, "deleted".into()).await;
        }
        let channel = self.fresh_channel().await?;
        channel
            .exchange_delete(
                t.exchange.as_str().into(),
                lapin::options::ExchangeDeleteOptions::default(),
            )
            .await
            .map_err(|e| unavailable("cannot delete the exchange", e))?;
        Ok(())
    }

    fn routing_key(&self, target: &Target) -> &str {
        let t = &self.inner.topology;
        match target {
            Target::Jobs => &t.jobs,
            Target::Delay(stage) => t
                .delays
                .get(*stage)
                .or(t.delays.last())
                .map_or(t.jobs.as_str(), |(n, _)| n.as_str()),
            Target::Dead { .. } => &t.dlq,
        }
    }

    /// Lets this queue consume: the first [`JobQueue::next`] starts the
    /// named consumer task, which keeps a consuming channel with a prefetch
    /// of `prefetch` open, reconnecting with back-off, until `shutdown` or
    /// [`JobQueue::close`]. (Until then nothing is prefetched, so depth
    /// counts every waiting job.)
    pub fn start_consuming(&self, prefetch: u16, shutdown: &Shutdown) {
        *self
            .inner
            .consume_on_demand
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((prefetch, shutdown.clone()));
    }

    /// The consumer task ends on [`JobQueue::close`] (not on the shutdown
    /// signal itself: in-flight jobs still need the connection for their
    /// acks; the owner closes the queue once its loops are done, and the
    /// shutdown grace period bounds the wait).
    fn spawn_consumer(&self, prefetch: u16, shutdown: &Shutdown) {
        let queue = self.clone();
        shutdown.spawn("amqp_consumer", async move {
            let closed = queue.inner.closed.clone();
            let mut failures = 0u32;
            loop {
                tokio::select! {
                    () = queue.until_resumed() => {}
                    () = closed.cancelled() => break,
                }
                let stopped = tokio::select! {
                    r = queue.consume_until_broken(prefetch, &mut failures) => r,
                    () = closed.cancelled() => break,
                };
                let Stopped::Broken(reason) = stopped else {
                    tracing::info!("consumer paused: prefetched jobs returned to the queue");
                    continue;
                };
                queue.drop_link(&reason).await;
                failures += 1;
                let wait = queue.reconnect_wait(failures);
                tracing::warn!(%reason, retry_in = ?wait, "RabbitMQ consumer disconnected");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = closed.cancelled() => break,
                }
            }
            let link = queue.inner.link.lock().await.take();
            if let Some(l) = link {
                close_quietly(l, "shutting down").await;
            }
            Ok::<(), String>(())
        });
    }

    /// How long to wait before reconnect attempt `failures + 1`.
    fn reconnect_wait(&self, failures: u32) -> Duration {
        self.inner
            .backoff
            .backoff(failures)
            .max(Duration::from_millis(100))
    }

    async fn until_resumed(&self) {
        let mut paused = self.inner.paused.subscribe();
        let _ = paused.wait_for(|p| !*p).await.map(|_| ());
    }

    async fn until_paused(&self) {
        let mut paused = self.inner.paused.subscribe();
        let _ = paused.wait_for(|p| *p).await.map(|_| ());
    }

    /// Consumes until the channel breaks (returning why) or the queue is
    /// paused (closing the channel, so prefetched jobs go back to the queue).
    async fn consume_until_broken(&self, prefetch: u16, failures: &mut u32) -> Stopped {
        let broken = |e: QueueError| Stopped::Broken(e.to_string());
        let channel = match self.fresh_channel().await {
            Ok(c) => c,
            Err(e) => return broken(e),
        };
        let qos = channel.basic_qos(prefetch.max(1), BasicQosOptions::default());
        if let Err(e) = rpc("cannot set the prefetch", qos).await {
            return broken(e);
        }
        let consume = channel.basic_consume(
            self.inner.topology.jobs.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        );
        let mut consumer = match rpc("cannot consume", consume).await {
            Ok(c) => c,
            Err(e) => return broken(e),
        };
        *failures = 0;
        tracing::info!(queue = %self.inner.topology.jobs, prefetch, "consuming backfill jobs");
        loop {
            let delivery = tokio::select! {
                d = consumer.next() => d,
                () = self.until_paused() => {
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, channel.close(200, "paused".into())).await;
                    return Stopped::Paused;
                }
            };
            match delivery {
                Some(Ok(d)) => {
                    if self.inner.deliveries_tx.send(d).await.is_err() {
                        return Stopped::Broken("the queue was dropped".into());
                    }
                }
                Some(Err(e)) => return Stopped::Broken(format!("delivery failed: {e}")),
                None => return Stopped::Broken("the broker cancelled the consumer".into()),
            }
        }
    }
}

/// Why a consuming channel ended.
enum Stopped {
    Paused,
    Broken(String),
}

/// Exchange, queues and bindings; declaring them again changes nothing.
async fn declare(channel: &Channel, t: &Topology) -> Result<(), QueueError> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .exchange_declare(
            t.exchange.as_str().into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| unavailable("cannot declare the exchange", e))?;
    let mut queues = vec![(t.jobs.as_str(), FieldTable::default())];
    for (name, delay) in &t.delays {
        let mut args = FieldTable::default();
        let ttl = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl));
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(t.exchange.as_str().into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(t.jobs.as_str().into()),
        );
        queues.push((name.as_str(), args));
    }
    queues.push((t.dlq.as_str(), FieldTable::default()));
    for (name, args) in queues {
        channel
            .queue_declare(name.into(), durable, args)
            .await
            .map_err(|e| unavailable(&format!("cannot declare queue {name}"), e))?;
        channel
            .queue_bind(
                name.into(),
                t.exchange.as_str().into(),
                name.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| unavailable(&format!("cannot bind queue {name}"), e))?;
    }
    Ok(())
}

fn header<'a>(props: &'a BasicProperties, name: &str) -> Option<&'a AMQPValue> {
    props
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(&ShortString::from(name)))
}

fn header_text(props: &BasicProperties, name: &str) -> Option<String> {
    match header(props, name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn header_u32(props: &BasicProperties, name: &str) -> Option<u32> {
    match header(props, name)? {
        AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
        AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
        AMQPValue::LongUInt(n) => Some(*n),
        _ => None,
    }
}

#[async_trait]
impl JobQueue for RabbitQueue {
    async fn send(&self, target: Target, message: Outgoing) -> Result<(), QueueError> {
        if self.inner.closed.is_cancelled() {
            return Err(QueueError::Unavailable("the queue is closed".into()));
        }
        let channel = self.publish_channel().await?;
        let mut headers = FieldTable::default();
        headers.insert(
            ATTEMPT_HEADER.into(),
            AMQPValue::LongLongInt(message.attempt.into()),
        );
        if let Target::Dead { error } = &target {
            headers.insert(
                ERROR_HEADER.into(),
                AMQPValue::LongString(LongString::from(error.as_str())),
            );
        }
        let props = BasicProperties::default()
            .with_content_type(message.content_type.as_str().into())
            .with_delivery_mode(PERSISTENT)
            .with_timestamp(u64::try_from(Utc::now().timestamp()).unwrap_or_default())
            .with_headers(headers);
        let publish = channel.basic_publish(
            self.inner.topology.exchange.as_str().into(),
            self.routing_key(&target).into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            &message.body,
            props,
        );
        let confirmation = rpc("publish failed", async move { publish.await?.await }).await;
        match confirmation {
            Ok(Confirmation::Ack(None)) => Ok(()),
            Ok(Confirmation::Ack(Some(_))) => Err(QueueError::Refused(format!(
                "no queue is bound to {:?}",
                self.routing_key(&target)
            ))),
            Ok(Confirmation::Nack(_)) => {
                Err(QueueError::Refused("the broker nacked the message".into()))
            }
            Ok(Confirmation::NotRequested) => Err(QueueError::Refused(
                "publisher confirms are not enabled on the channel".into(),
            )),
            Err(e) => {
                self.drop_link(&e.to_string()).await;
                Err(e)
            }
        }
    }

    async fn next(&self) -> Option<Delivery> {
        let start = self
            .inner
            .consume_on_demand
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some((prefetch, shutdown)) = start {
            self.spawn_consumer(prefetch, &shutdown);
        }
        let mut deliveries = self.inner.deliveries.lock().await;
        loop {
            let d = tokio::select! {
                d = deliveries.recv() => d?,
                () = self.inner.closed.cancelled() => return None,
            };
            let content_type = d
                .properties
                .content_type()
                .as_ref()
                .map(|c| c.as_str().to_owned());
            match codec::decode(&d.data, content_type.as_deref()) {
                Ok(job) => {
                    return Some(Delivery {
                        job,
                        redelivered: d.redelivered,
                        handle: Handle::Amqp(d.acker),
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "malformed backfill message dead-lettered");
                    let dead = Outgoing {
                        body: d.data,
                        content_type: content_type.unwrap_or_default(),
                        attempt: header_u32(&d.properties, ATTEMPT_HEADER).unwrap_or(0),
                    };
                    // Unsent, it stays unacknowledged and comes back later.
                    if self
                        .send(
                            Target::Dead {
                                error: error.to_string(),
                            },
                            dead,
                        )
                        .await
                        .is_ok()
                        && d.acker.ack(BasicAckOptions::default()).await.is_ok()
                    {
                        self.inner.malformed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    async fn settle(&self, delivery: Delivery) -> Result<(), QueueError> {
        match delivery.handle {
            Handle::Amqp(acker) => rpc(
                "ack failed (the broker delivers the job again)",
                acker.ack(BasicAckOptions::default()),
            )
            .await
            .map(|_| ()),
            Handle::Memory => Ok(()),
        }
    }

    fn delays(&self) -> &[Duration] {
        &self.inner.delays
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, QueueError> {
        tokio::time::timeout(RPC_TIMEOUT * 2, self.measure())
            .await
            .unwrap_or_else(|_| {
                Err(QueueError::Unavailable(
                    "measuring the queues timed out".into(),
                ))
            })
    }

    async fn take_dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        tokio::time::timeout(RPC_TIMEOUT * 2, self.read_dead_letters(max))
            .await
            .unwrap_or_else(|_| {
                Err(QueueError::Unavailable(
                    "reading dead letters timed out".into(),
                ))
            })
    }

    fn malformed(&self) -> u64 {
        self.inner.malformed.load(Ordering::Relaxed)
    }

    fn close(&self) {
        self.inner.closed.cancel();
    }

    fn set_paused(&self, paused: bool) {
        self.inner.paused.send_replace(paused);
    }
}

impl RabbitQueue {
    async fn measure(&self) -> Result<Vec<QueueStats>, QueueError> {
        let channel = self.fresh_channel().await?;
        let t = &self.inner.topology;
        let mut stats = Vec::new();
        for name in t.queues() {
            let q = channel
                .queue_declare(
                    name.into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(|e| unavailable(&format!("cannot inspect {name}"), e))?;
            let depth = u64::from(q.message_count());
            // The head of the jobs and dead-letter queues is their oldest
            // message: look at its timestamp and put it back.
            let oldest_age = if depth > 0 && (name == t.jobs || name == t.dlq) {
                oldest_age(&channel, name).await?
            } else {
                None
            };
            stats.push(QueueStats {
                queue: name.to_owned(),
                depth,
                oldest_age,
            });
        }
        let _ = channel.close(200, "stats done".into()).await;
        Ok(stats)
    }

    async fn read_dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let channel = self.fresh_channel().await?;
        let mut out = Vec::new();
        while out.len() < max {
            let got = channel
                .basic_get(
                    self.inner.topology.dlq.as_str().into(),
                    BasicGetOptions::default(),
                )
                .await
                .map_err(|e| unavailable("cannot read the dead-letter queue", e))?;
            let Some(m) = got else { break };
            let d = m.delivery;
            let content_type = d
                .properties
                .content_type()
                .as_ref()
                .map(|c| c.as_str().to_owned());
            out.push(DeadLetter {
                job: codec::decode(&d.data, content_type.as_deref()).ok(),
                error: header_text(&d.properties, ERROR_HEADER).unwrap_or_default(),
                attempt: header_u32(&d.properties, ATTEMPT_HEADER).unwrap_or(0),
                body: d.data.clone(),
            });
            d.acker
                .ack(BasicAckOptions::default())
                .await
                .map_err(|e| unavailable("cannot take a dead letter", e))?;
        }
        let _ = channel.close(200, "dead letters read".into()).await;
        Ok(out)
    }
}

async fn oldest_age(channel: &Channel, queue: &str) -> Result<Option<Duration>, QueueError> {
    let got = channel
        .basic_get(queue.into(), BasicGetOptions::default())
        .await
        .map_err(|e| unavailable(&format!("cannot peek at {queue}"), e))?;
    let Some(m) = got else { return Ok(None) };
    let published = m.delivery.properties.timestamp().unwrap_or(0);
    m.delivery
        .acker
        .nack(BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        })
        .await
        .map_err(|e| unavailable(&format!("cannot put back the head of {queue}"), e))?;
    let now = u64::try_from(Utc::now().timestamp()).unwrap_or_default();
    Ok(Some(Duration::from_secs(now.saturating_sub(published))))
}

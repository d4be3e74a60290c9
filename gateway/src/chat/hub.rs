//! Fan-out: every socket of a conversation (a user's tabs, or everyone in a course room) subscribes
//! to the conversation's topic; whatever is published there reaches each of them.
//!
//! In-process by default. With `REDIS_URL`, frames go through Redis so that sockets on every replica
//! receive them: each replica publishes in order through one connection, and holds one Redis
//! subscription per topic that has local sockets, confirmed before the socket reads its history (so
//! nothing falls between the history and the live frames). When Redis comes back after a drop, the
//! replica resubscribes and tells its sockets to resync from the database.
//!
//! Each local subscriber has a bounded queue: one that falls behind is told so (`Lagged`) and its
//! socket closes as a slow consumer, never silently losing frames.
//!
//! Frames on Redis are authenticated: each carries an HMAC-SHA256, under a key derived from
//! `SECRET_KEY`, of its channel and content. Another service sharing the Redis (Tutor's is shared)
//! cannot inject chat frames; a frame that fails the check is dropped and counted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;

use aws_lc_rs::hmac;
use base64::Engine;
use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{broadcast, mpsc, oneshot};

/// Frames queued per subscriber before it counts as too slow.
pub const DEFAULT_QUEUE: usize = 256;
/// Delivered to local subscribers after a Redis outage: frames may have been missed, reload.
pub const RESYNC: &str = "\u{0}resync";
/// A room's notice to its sockets that a user's mute changed: `<prefix><user id>:<until ms>` (0: lifted).
/// Like [`RESYNC`], it starts with NUL, which no JSON frame does, and is never sent to a client.
pub const MUTE_PREFIX: &str = "\u{0}mute:";
/// The Redis channel of a topic is this prefix and the topic.
pub const CHANNEL_PREFIX: &str = "ibal:chat:";
/// The most frames sent to Redis in one pipeline.
const PUBLISH_BATCH: usize = 128;

/// The notice of a user's mute in a room (`until_ms` 0: lifted).
pub fn mute_notice(user_id: &str, until_ms: i64) -> String {
    format!("{MUTE_PREFIX}{user_id}:{until_ms}")
}

/// The user and time of a mute notice; none for any other frame.
pub fn read_mute_notice(frame: &str) -> Option<(&str, i64)> {
    let (user_id, until) = frame.strip_prefix(MUTE_PREFIX)?.rsplit_once(':')?;
    Some((user_id, until.parse().ok()?))
}

#[derive(Debug)]
pub struct Hub {
    topics: Mutex<HashMap<String, broadcast::Sender<Arc<str>>>>,
    queue: usize,
    redis: Option<RedisLink>,
    pub metrics: HubMetrics,
}

/// The fan-out's metrics; `AppState` registers them with the gateway's.
#[derive(Clone, Debug, Default)]
pub struct HubMetrics {
    /// Frames from Redis that failed authentication, dropped.
    pub rejected: Counter,
    /// Times the sockets of this replica were told to reload from the database after Redis came back.
    pub resyncs: Counter,
    /// Sockets closed because they fell behind the fan-out.
    pub slow_consumers: Counter,
}

/// Signs and checks frames on Redis.
struct FrameSigner(hmac::Key);

impl std::fmt::Debug for FrameSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrameSigner([REDACTED])")
    }
}

impl FrameSigner {
    fn new(secret_key: &SecretString) -> Self {
        use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
        let prk = Salt::new(HKDF_SHA256, b"ibal-gateway").extract(secret_key.expose_secret().as_bytes());
        let mut bytes = [0u8; 32];
        let filled = prk.expand(&[b"redis fan-out v1"], hmac::HMAC_SHA256).and_then(|okm| okm.fill(&mut bytes));
        debug_assert!(filled.is_ok());
        Self(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
    }

    fn tag(&self, channel: &str, frame: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(channel.as_bytes());
        ctx.update(&[0]);
        ctx.update(frame);
        ctx.sign()
    }

    /// `<tag, base64url>.<frame>`.
    fn seal(&self, channel: &str, frame: &str) -> Vec<u8> {
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.tag(channel, frame.as_bytes()));
        let mut out = Vec::with_capacity(tag.len() + 1 + frame.len());
        out.extend_from_slice(tag.as_bytes());
        out.push(b'.');
        out.extend_from_slice(frame.as_bytes());
        out
    }

    /// The frame of an authentic message, in constant time; None for anything else.
    fn open(&self, channel: &str, payload: &[u8]) -> Option<String> {
        let dot = payload.iter().position(|b| *b == b'.')?;
        let (tag, frame) = (&payload[..dot], &payload[dot + 1..]);
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut message = Vec::with_capacity(channel.len() + 1 + frame.len());
        message.extend_from_slice(channel.as_bytes());
        message.push(0);
        message.extend_from_slice(frame);
        hmac::verify(&self.0, &message, &tag).ok()?;
        String::from_utf8(frame.to_vec()).ok()
    }
}

#[derive(Debug)]
struct RedisLink {
    outbound: mpsc::Sender<(String, Arc<str>)>,
    control: mpsc::UnboundedSender<Control>,
}

#[derive(Debug)]
enum Control {
    Subscribe(String, oneshot::Sender<()>),
    Unsubscribe(String),
}

pub struct Subscription {
    pub rx: broadcast::Receiver<Arc<str>>,
    topic: String,
    hub: Arc<Hub>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // The last subscriber out removes the topic, so idle topics cost nothing.
        let mut topics = self.hub.topics.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if topics.get(&self.topic).is_some_and(|tx| tx.receiver_count() <= 1) {
            topics.remove(&self.topic);
            if let Some(redis) = &self.hub.redis {
                let _ = redis.control.send(Control::Unsubscribe(self.topic.clone()));
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("REDIS_URL: {0}")]
pub struct HubError(String);

impl Hub {
    /// An in-process hub.
    pub fn new(queue: usize) -> Arc<Self> {
        Arc::new(Self {
            topics: Mutex::new(HashMap::new()),
            queue: queue.max(1),
            redis: None,
            metrics: HubMetrics::default(),
        })
    }

    /// A hub shared with the other replicas through Redis, its frames signed with a key derived
    /// from `secret_key` (every replica has the same). Starts its two background tasks.
    pub fn with_redis(queue: usize, url: &str, secret_key: &SecretString) -> Result<Arc<Self>, HubError> {
        let client = redis::Client::open(url).map_err(|e| HubError(e.to_string()))?;
        let (outbound, outbound_rx) = mpsc::channel(4096);
        let (control, control_rx) = mpsc::unbounded_channel();
        let hub = Arc::new(Self {
            topics: Mutex::new(HashMap::new()),
            queue: queue.max(1),
            redis: Some(RedisLink { outbound, control }),
            metrics: HubMetrics::default(),
        });
        let signer = Arc::new(FrameSigner::new(secret_key));
        tokio::spawn(publisher(client.clone(), outbound_rx, Arc::downgrade(&hub), signer.clone()));
        tokio::spawn(subscriber(client, control_rx, Arc::downgrade(&hub), signer));
        Ok(hub)
    }

    pub async fn subscribe(self: &Arc<Self>, topic: &str) -> Subscription {
        let (rx, first) = {
            let mut topics = self.topics.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let first = !topics.contains_key(topic);
            let rx = topics.entry(topic.to_owned()).or_insert_with(|| broadcast::channel(self.queue).0).subscribe();
            (rx, first)
        };
        if let (true, Some(redis)) = (first, &self.redis) {
            let (ack, acked) = oneshot::channel();
            if redis.control.send(Control::Subscribe(topic.to_owned(), ack)).is_ok() {
                // Bounded: with Redis down, local delivery still works and a resync follows.
                let _ = tokio::time::timeout(Duration::from_secs(2), acked).await;
            }
        }
        Subscription { rx, topic: topic.to_owned(), hub: self.clone() }
    }

    /// Delivers a frame to every subscriber of the topic, on every replica.
    pub async fn publish(&self, topic: &str, frame: impl Into<Arc<str>>) {
        let frame = frame.into();
        match &self.redis {
            None => self.deliver(topic, frame),
            Some(redis) => {
                if let Err(mpsc::error::SendError((topic, frame))) =
                    redis.outbound.send((topic.to_owned(), frame)).await
                {
                    self.deliver(&topic, frame);
                }
            }
        }
    }

    /// Delivers to this replica's subscribers only.
    fn deliver(&self, topic: &str, frame: Arc<str>) {
        let tx = self.topics.lock().ok().and_then(|t| t.get(topic).cloned());
        if let Some(tx) = tx {
            // Err only when nobody listens any more: nothing to deliver.
            let _ = tx.send(frame);
        }
    }

    fn local_topics(&self) -> Vec<String> {
        self.topics.lock().map(|t| t.keys().cloned().collect()).unwrap_or_default()
    }

    /// Sockets subscribed to the topic on this replica.
    pub fn subscribers(&self, topic: &str) -> usize {
        self.topics.lock().ok().and_then(|t| t.get(topic).map(broadcast::Sender::receiver_count)).unwrap_or(0)
    }
}

/// Publishes frames in the order they were produced, all those waiting in one pipeline (one round
/// trip to Redis however many there are). If Redis refuses, the frames still reach this replica's
/// sockets; the other replicas resync when their link recovers. (A pipeline cut off midway may have
/// published some of its frames: local sockets can then see those twice, never miss one; clients
/// keep one copy per message id.)
async fn publisher(
    client: redis::Client,
    mut frames: mpsc::Receiver<(String, Arc<str>)>,
    hub: std::sync::Weak<Hub>,
    signer: Arc<FrameSigner>,
) {
    let mut connection = None;
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    while frames.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        if connection.is_none() {
            connection = client
                .get_connection_manager()
                .await
                .map_err(|e| tracing::warn!(error = %e, "Redis unavailable for publishing"))
                .ok();
        }
        let published = match connection.as_mut() {
            Some(conn) => {
                let mut pipeline = redis::pipe();
                for (topic, frame) in &batch {
                    let channel = format!("{CHANNEL_PREFIX}{topic}");
                    let signed = signer.seal(&channel, frame);
                    pipeline.cmd("PUBLISH").arg(channel).arg(signed).ignore();
                }
                pipeline
                    .query_async::<()>(conn)
                    .await
                    .map_err(|e| tracing::warn!(error = %e, frames = batch.len(), "Redis PUBLISH failed"))
                    .is_ok()
            }
            None => false,
        };
        if !published {
            let Some(hub) = hub.upgrade() else { return };
            for (topic, frame) in batch.drain(..) {
                hub.deliver(&topic, frame);
            }
        }
        batch.clear();
    }
}

/// Holds this replica's Redis subscriptions and delivers what arrives; reconnects with backoff.
async fn subscriber(
    client: redis::Client,
    mut control: mpsc::UnboundedReceiver<Control>,
    hub: std::sync::Weak<Hub>,
    signer: Arc<FrameSigner>,
) {
    let mut backoff = Duration::from_millis(200);
    let mut reconnecting = false;
    loop {
        match client.get_async_pubsub().await {
            Err(e) => tracing::warn!(error = %e, "Redis unavailable for subscribing; retrying"),
            Ok(pubsub) => {
                let (mut sink, mut stream) = pubsub.split();
                let Some(topics) = hub.upgrade().map(|h| h.local_topics()) else { return };
                let mut ok = true;
                for topic in &topics {
                    ok &= sink.subscribe(format!("{CHANNEL_PREFIX}{topic}")).await.is_ok();
                }
                if ok {
                    backoff = Duration::from_millis(200);
                    if reconnecting {
                        tracing::info!(
                            topics = topics.len(),
                            "Redis back: resubscribed; sockets resync from the database"
                        );
                        if let Some(hub) = hub.upgrade() {
                            hub.metrics.resyncs.inc();
                            for topic in &topics {
                                hub.deliver(topic, Arc::from(RESYNC));
                            }
                        }
                    }
                    loop {
                        tokio::select! {
                            message = stream.next() => {
                                let Some(message) = message else { break };
                                let Some(hub) = hub.upgrade() else { return };
                                let channel = message.get_channel_name().to_owned();
                                let Some(topic) = channel.strip_prefix(CHANNEL_PREFIX) else { continue };
                                match signer.open(&channel, message.get_payload_bytes()) {
                                    Some(frame) => hub.deliver(topic, Arc::from(frame)),
                                    None => {
                                        // Counted always; logged for the first and every thousandth.
                                        let n = hub.metrics.rejected.inc();
                                        if n % 1000 == 0 {
                                            tracing::warn!(rejected = n + 1, "a frame on Redis failed authentication and was dropped");
                                        }
                                    }
                                }
                            }
                            command = control.recv() => match command {
                                None => return,
                                Some(Control::Subscribe(topic, ack)) => {
                                    if sink.subscribe(format!("{CHANNEL_PREFIX}{topic}")).await.is_err() {
                                        break;
                                    }
                                    let _ = ack.send(());
                                }
                                Some(Control::Unsubscribe(topic)) => {
                                    if sink.unsubscribe(format!("{CHANNEL_PREFIX}{topic}")).await.is_err() {
                                        break;
                                    }
                                }
                            },
                        }
                    }
                }
                tracing::warn!("Redis subscription lost; reconnecting");
            }
        }
        reconnecting = true;
        // Subscriptions asked for meanwhile are covered by the resubscription after reconnecting.
        while let Ok(command) = control.try_recv() {
            if let Control::Subscribe(_, ack) = command {
                let _ = ack.send(());
            }
        }
        tokio::time::sleep(backoff + Duration::from_millis(rand::random::<u64>() % 100)).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn mute_notices_read_back_and_nothing_else_reads_as_one() {
        let notice = mute_notice("019a-user", 1_795_352_400_000);
        assert!(notice.starts_with('\u{0}'), "never a JSON frame");
        assert_eq!(read_mute_notice(&notice), Some(("019a-user", 1_795_352_400_000)));
        assert_eq!(read_mute_notice(&mute_notice("u", 0)), Some(("u", 0)));
        assert_eq!(read_mute_notice(RESYNC), None);
        assert_eq!(read_mute_notice(r#"{"type":"message"}"#), None);
        assert_eq!(read_mute_notice("\u{0}mute:u:soon"), None);
    }

    use super::*;

    #[tokio::test]
    async fn publishes_to_every_subscriber_and_forgets_empty_topics() {
        let hub = Hub::new(8);
        let mut a = hub.subscribe("room").await;
        let mut b = hub.subscribe("room").await;
        assert_eq!(hub.subscribers("room"), 2);
        hub.publish("room", "hello").await;
        assert_eq!(&*a.rx.recv().await.expect("a"), "hello");
        assert_eq!(&*b.rx.recv().await.expect("b"), "hello");
        drop(a);
        drop(b);
        assert_eq!(hub.subscribers("room"), 0);
        assert!(hub.topics.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_it_lagged() {
        let hub = Hub::new(2);
        let mut slow = hub.subscribe("t").await;
        for i in 0..5 {
            hub.publish("t", i.to_string()).await;
        }
        assert!(matches!(slow.rx.recv().await, Err(broadcast::error::RecvError::Lagged(_))));
    }
}

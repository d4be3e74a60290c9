//! Fan-out: every socket of a conversation (a user's tabs, or everyone in a course room) subscribes
//! to the conversation's topic; whatever is published there reaches each of them. In-process by
//! default. Each subscriber has a bounded queue: one that falls behind is told so (`Lagged`) and
//! the socket closes as a slow consumer, never silently losing frames.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

/// Frames queued per subscriber before it counts as too slow.
pub const DEFAULT_QUEUE: usize = 256;

#[derive(Debug)]
pub struct Hub {
    topics: Mutex<HashMap<String, broadcast::Sender<Arc<str>>>>,
    queue: usize,
}

pub struct Subscription {
    pub rx: broadcast::Receiver<Arc<str>>,
    topic: String,
    hub: Arc<Hub>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // The last subscriber out removes the topic, so idle topics cost nothing.
        if let Ok(mut topics) = self.hub.topics.lock()
            && topics.get(&self.topic).is_some_and(|tx| tx.receiver_count() <= 1)
        {
            topics.remove(&self.topic);
        }
    }
}

impl Hub {
    pub fn new(queue: usize) -> Arc<Self> {
        Arc::new(Self { topics: Mutex::new(HashMap::new()), queue: queue.max(1) })
    }

    pub fn subscribe(self: &Arc<Self>, topic: &str) -> Subscription {
        let mut topics = self.topics.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let rx = topics.entry(topic.to_owned()).or_insert_with(|| broadcast::channel(self.queue).0).subscribe();
        Subscription { rx, topic: topic.to_owned(), hub: self.clone() }
    }

    /// Delivers a frame to every subscriber of the topic on this replica.
    pub fn publish(&self, topic: &str, frame: impl Into<Arc<str>>) {
        let tx = self.topics.lock().ok().and_then(|t| t.get(topic).cloned());
        if let Some(tx) = tx {
            // Err only when nobody listens any more: nothing to deliver.
            let _ = tx.send(frame.into());
        }
    }

    /// Sockets subscribed to the topic on this replica.
    pub fn subscribers(&self, topic: &str) -> usize {
        self.topics.lock().ok().and_then(|t| t.get(topic).map(broadcast::Sender::receiver_count)).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn publishes_to_every_subscriber_and_forgets_empty_topics() {
        let hub = Hub::new(8);
        let mut a = hub.subscribe("room");
        let mut b = hub.subscribe("room");
        assert_eq!(hub.subscribers("room"), 2);
        hub.publish("room", "hello");
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
        let mut slow = hub.subscribe("t");
        for i in 0..5 {
            hub.publish("t", i.to_string());
        }
        assert!(matches!(slow.rx.recv().await, Err(broadcast::error::RecvError::Lagged(_))));
    }
}

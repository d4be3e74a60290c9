//! Group commit for messages: a writer task takes every message waiting in this process's queue,
//! in the order they were queued, and stores them in one transaction.
//!
//! Each chat message is a small write, and on SQLite every write takes the one database-wide write
//! lock: with a connection per sender, writers queue on that lock and sleep in its busy handler
//! (profiled: most of the gateway's time went to that hand-off, not to SQLite's work). One writer
//! that drains its queue into a single transaction pays for the lock and the commit once per batch.
//! An idle gateway writes a batch of one at once, so nothing waits for a timer; under load, the
//! messages that arrive during a commit go together in the next.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use super::{Db, DbError, DbResult, Stored};
use crate::config::DbKind;
use crate::domain::Message;

/// The most messages one transaction carries.
const MAX_BATCH: usize = 256;
/// Messages waiting for the writer; a sender beyond this waits for room (backpressure).
const QUEUE: usize = 4096;
/// Writers on PostgreSQL.
const POSTGRES_WRITERS: usize = 4;

struct Job {
    row: Message,
    done: oneshot::Sender<DbResult<Stored>>,
}

/// The queue to the writer task. Cloning shares the queue; the task ends when the last clone drops.
#[derive(Clone)]
pub(crate) struct MessageWriter {
    queue: mpsc::Sender<Job>,
}

impl MessageWriter {
    /// Starts the writers on `db`, which must not itself write through a queue: one on SQLite, whose
    /// writes are serialised by its lock anyway; a few on PostgreSQL, so that a batch can gather
    /// while another waits for its commit to reach the disk.
    pub(crate) fn spawn(db: Db) -> Self {
        debug_assert!(db.writer.is_none(), "the writer's own handle writes directly");
        let (queue, jobs) = mpsc::channel(QUEUE);
        let writers = match db.kind() {
            // MySQL: InnoDB's foreign-key check share-locks the conversation row that another
            // batch may be updating, so concurrent batches could deadlock.
            DbKind::Sqlite | DbKind::MySql => 1,
            DbKind::Postgres => POSTGRES_WRITERS,
        };
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..writers {
            tokio::spawn(run(db.clone(), jobs.clone()));
        }
        Self { queue }
    }

    /// Queues the row (waiting only for room in the queue) and returns its receipt: what to await
    /// for the outcome. A queued row is stored whether or not its receipt is awaited.
    pub(crate) async fn queue(&self, row: Message) -> DbResult<Receipt> {
        let (done, result) = oneshot::channel();
        self.queue.send(Job { row, done }).await.map_err(|_| writer_gone())?;
        Ok(Box::pin(async move { result.await.map_err(|_| writer_gone())? }))
    }
}

/// The outcome of a queued message, once its batch is committed (or refused).
pub type Receipt = futures_util::future::BoxFuture<'static, DbResult<Stored>>;

fn writer_gone() -> DbError {
    DbError::Unavailable(sqlx::Error::PoolClosed)
}

/// One writer: takes what is waiting (holding the queue only while taking), writes it, again.
/// Messages of one socket are never in two batches at once: a socket waits for each to be stored.
async fn run(db: Db, jobs: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let taken = jobs.lock().await.recv_many(&mut batch, MAX_BATCH).await;
        if taken == 0 {
            break;
        }
        write(&db, std::mem::take(&mut batch)).await;
        batch.reserve(MAX_BATCH);
    }
}

async fn write(db: &Db, batch: Vec<Job>) {
    let (mut rows, answers): (Vec<Message>, Vec<_>) = batch.into_iter().map(|job| (job.row, job.done)).unzip();
    let count = rows.len();
    db.metrics().batch_size.observe(count as f64);
    match db.insert_message_batch(&mut rows).await {
        Ok(stored) => {
            let created = stored.iter().filter(|one| one.created).count();
            db.metrics().messages_stored.inc_by(u64::try_from(created).unwrap_or(u64::MAX));
            for (done, one) in answers.into_iter().zip(stored) {
                // The sender may have gone (its socket closed): the message is stored all the same.
                let _ = done.send(Ok(one));
            }
        }
        Err(e) if count == 1 => {
            if let Some(done) = answers.into_iter().next() {
                let _ = done.send(Err(e));
            }
        }
        Err(e) => {
            // One bad message must not cost the others theirs: each is retried alone and gets its
            // own answer. Logged here once; each sender logs its own failure.
            tracing::warn!(error = %e, count, "a batch of messages failed; storing them one by one");
            for (row, done) in rows.into_iter().zip(answers) {
                let _ = done.send(db.insert_message_now(row).await);
            }
        }
    }
}

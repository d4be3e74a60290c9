//! The scenarios. Each starts what it needs, measures the gateway and its baseline in the same run, and
//! returns its rows and notes. Every loop is bounded in count and in time.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::baseline::raw_verify_rate;
use crate::gateway::{Gateway, Ws, connect, next_text, open_chat};
use crate::lms::{Lms, Seat};
use crate::lti;
use crate::servers::{self, spawn_self, token_text};
use crate::stats::{Outcome, Row, Samples, Verdict, ratio, truncate};

pub struct Ctx {
    pub gateway_bin: PathBuf,
    /// The LMS every gateway of the run trusts: the harness signs its users in and its sockets into rooms.
    pub lms: Lms,
    pub work_dir: PathBuf,
    pub sockets: usize,
    pub streams: usize,
    pub postgres: Option<String>,
    pub redis: Option<String>,
}

impl Ctx {
    pub fn dir(&self, name: &str) -> PathBuf {
        self.work_dir.join(name)
    }

    /// A gateway trusting the run's LMS, in its own data directory.
    pub async fn gateway(&self, dir: PathBuf, env: &[(&str, String)]) -> Result<Gateway, String> {
        Gateway::start(&self.gateway_bin, &self.lms, dir, env).await
    }
}

// ---------------------------------------------------------------------------------------------
// Request/response load: one message in flight per connection.

struct Load {
    samples: Samples,
    count: u64,
    warm: u64,
    window: Duration,
    errors: Vec<String>,
}

impl Load {
    fn per_second(&self) -> f64 {
        self.count as f64 / self.window.as_secs_f64()
    }
}

/// Each socket sends a `message` frame and waits for the frame carrying its `client_id` (the echo, or the
/// gateway's acknowledgement; room broadcasts from others are skipped), then the next. Warm-up round trips
/// are not recorded. At most `max_each` recorded round trips per socket.
async fn request_response(sockets: Vec<Ws>, warm: Duration, measure: Duration, max_each: u64) -> Load {
    let start = Instant::now();
    let warm_until = start + warm;
    let until = warm_until + measure;
    let mut tasks = Vec::with_capacity(sockets.len());
    for (idx, mut ws) in sockets.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut seq: u64 = 0;
            let mut recorded: u64 = 0;
            let mut warmed: u64 = 0;
            let mut error = None;
            while recorded < max_each {
                let now = Instant::now();
                if now >= until {
                    break;
                }
                seq += 1;
                let cid = format!("c{idx}-{seq}");
                let frame = format!(r#"{{"type":"message","client_id":"{cid}","content":"hello {seq}"}}"#);
                let needle = format!("\"{cid}\"");
                let t0 = Instant::now();
                if let Err(e) = ws.send(Message::text(frame)).await {
                    error = Some(e.to_string());
                    break;
                }
                let got = loop {
                    match next_text(&mut ws, Duration::from_secs(10)).await {
                        Err(e) => break Err(e),
                        Ok(text) if text.contains(&needle) => {
                            if text.contains(r#""type":"error""#) {
                                break Err(text);
                            }
                            break Ok(());
                        }
                        Ok(_) => {}
                    }
                };
                if let Err(e) = got {
                    error = Some(e);
                    break;
                }
                if t0 >= warm_until {
                    samples.record(t0.elapsed());
                    recorded += 1;
                } else {
                    warmed += 1;
                }
            }
            let _ = ws.close(None).await;
            (samples, recorded, warmed, error)
        }));
    }
    let mut load = Load { samples: Samples::default(), count: 0, warm: 0, window: measure, errors: Vec::new() };
    for task in tasks {
        match task.await {
            Ok((samples, n, w, error)) => {
                load.samples.extend(samples);
                load.count += n;
                load.warm += w;
                load.errors.extend(error);
            }
            Err(e) => load.errors.push(e.to_string()),
        }
    }
    let ended = Instant::now().saturating_duration_since(warm_until);
    if ended < measure {
        load.window = ended.max(Duration::from_millis(1));
    }
    load
}

/// Opens `n` plain sockets to `url` (a baseline's), 32 at a time.
pub async fn open_plain(url: &str, n: usize) -> Result<Vec<Ws>, String> {
    futures_util::stream::iter(0..n).map(|_| connect(url)).buffered(32).collect::<Vec<_>>().await.into_iter().collect()
}

/// Opens one chat socket per seat, socket i at `urls[i]`, 32 at a time, in order, and checks that the
/// gateway put them in `conversations` distinct conversations: the rooms the figures are reported for.
pub async fn open_chats(
    urls: &[String],
    seats: &[Seat],
    with_history: bool,
    conversations: usize,
) -> Result<Vec<Ws>, String> {
    if urls.len() != seats.len() {
        return Err(format!("{} URLs for {} seats", urls.len(), seats.len()));
    }
    let opened: Vec<(Ws, String)> = futures_util::stream::iter(urls.iter().zip(seats))
        .map(|(url, seat)| open_chat(url, seat, with_history))
        .buffered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let found = opened.iter().map(|(_, id)| id.as_str()).collect::<HashSet<_>>().len();
    if found != conversations {
        return Err(format!("the gateway put {} sockets in {found} conversation(s), not {conversations}", seats.len()));
    }
    Ok(opened.into_iter().map(|(ws, _)| ws).collect())
}

fn first_error(load: &Load) -> Option<String> {
    load.errors.first().map(|e| format!("{} socket(s) stopped early, first: {}", load.errors.len(), truncate(e)))
}

// ---------------------------------------------------------------------------------------------
// 1. Relay overhead.

const RELAY_COURSE: &str = "course-v1:bench+relay+1";

pub async fn relay(ctx: &Ctx) -> Result<Outcome, String> {
    let echo = spawn_self("echo", &[]).await?;
    let echo_url = format!("ws://127.0.0.1:{}/", echo.port);
    let gw = ctx
        .gateway(ctx.dir("relay"), &[("CHAT_BACKEND", "websocket".into()), ("UPSTREAM_WS_URL", echo_url.clone())])
        .await?;
    let learners = gw.learners(&ctx.lms, RELAY_COURSE, 1).await?;
    let mut out = Outcome::default();
    let (warm, measure) = (Duration::from_secs(1), Duration::from_secs(4));
    let mut throughput_10 = (0.0, 0.0);
    for n in [1usize, 10] {
        let direct = request_response(open_plain(&echo_url, n).await?, warm, measure, 1_000_000).await;
        // A block per socket: each its own conversation with the upstream assistant.
        let blocks: Vec<String> = (0..n).map(|i| format!("relay-{i}")).collect();
        let seats = ctx.lms.seats(&gw.audience, &learners, RELAY_COURSE, &blocks)?;
        let sockets = open_chats(&vec![gw.chat_url(); n], &seats, false, n).await?;
        let through = request_response(sockets, warm, measure, 1_000_000).await;
        let (mut d, mut g) = (direct, through);
        let (d50, g50) = (d.samples.percentile_us(50.0), g.samples.percentile_us(50.0));
        let (d99, g99) = (d.samples.percentile_us(99.0), g.samples.percentile_us(99.0));
        let added = g50 - d50;
        out.rows.push(Row::new(
            format!("1. relay p50 round trip, {n} conn"),
            format!("{g50:.0} µs ({added:+.0} µs)"),
            format!("{d50:.0} µs"),
            ratio(g50, d50),
            "added p50 ≤ 100 µs",
            Verdict::of(added <= 100.0),
        ));
        out.notes.push(format!(
            "relay, {n} conn: gateway {} round trips ({:.0}/s, p99 {g99:.0} µs), direct {} ({:.0}/s, p99 {d99:.0} µs)",
            g.count,
            g.per_second(),
            d.count,
            d.per_second()
        ));
        for e in [first_error(&d), first_error(&g)].into_iter().flatten() {
            out.notes.push(format!("relay, {n} conn: {e}"));
        }
        if n == 10 {
            throughput_10 = (g.per_second(), d.per_second());
        }
    }
    let r = ratio(throughput_10.0, throughput_10.1);
    out.rows.push(Row::new(
        "1. relay throughput, 10 conn",
        format!("{:.0} msg/s", throughput_10.0),
        format!("{:.0} msg/s", throughput_10.1),
        r,
        "≥ 0.55 of direct",
        Verdict::of(r >= 0.55),
    ));
    gw.stop().await;
    echo.stop().await;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// 2. Connection density.

struct Held {
    opened: usize,
    /// Distinct conversations the gateway put the sockets in (none for plain sockets).
    conversations: usize,
    failed: Vec<String>,
    elapsed: Duration,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Held {
    async fn release(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}

/// Opens a socket per URL, `concurrency` at a time, and keeps them open (reading) until released; with
/// seats, socket i authenticates as `seats[i]`.
async fn hold(urls: Vec<String>, seats: Option<Arc<Vec<Seat>>>, concurrency: usize, limit: Duration) -> Held {
    let (stop, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Result<Option<String>, String>>();
    let permits = Arc::new(Semaphore::new(concurrency));
    let n = urls.len();
    let start = Instant::now();
    let deadline = start + limit;
    let launched = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(n);
    for (i, url) in urls.into_iter().enumerate() {
        let Ok(permit) = tokio::time::timeout_at(deadline, permits.clone().acquire_owned()).await else { break };
        let Ok(permit) = permit else { break };
        let (seats, ready, mut stop_rx, launched) =
            (seats.clone(), ready_tx.clone(), stop_rx.clone(), launched.clone());
        launched.fetch_add(1, Ordering::Relaxed);
        tasks.push(tokio::spawn(async move {
            let opened = match seats.as_deref().map(|s| s.get(i).ok_or("no seat for this socket")) {
                Some(Ok(seat)) => open_chat(&url, seat, true).await.map(|(ws, id)| (ws, Some(id))),
                Some(Err(e)) => Err(e.to_owned()),
                None => connect(&url).await.map(|ws| (ws, None)),
            };
            drop(permit);
            let mut ws = match opened {
                Ok((ws, conversation)) => {
                    let _ = ready.send(Ok(conversation));
                    ws
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                    return;
                }
            };
            loop {
                tokio::select! {
                    _ = stop_rx.changed() => break,
                    msg = ws.next() => if !matches!(msg, Some(Ok(_))) { break },
                }
            }
            let _ = ws.close(None).await;
        }));
    }
    drop(ready_tx);
    let launched = launched.load(Ordering::Relaxed);
    let (mut opened, mut failed, mut conversations) = (0, Vec::new(), HashSet::new());
    while opened + failed.len() < launched {
        match tokio::time::timeout_at(deadline + Duration::from_secs(20), ready_rx.recv()).await {
            Ok(Some(Ok(conversation))) => {
                opened += 1;
                conversations.extend(conversation);
            }
            Ok(Some(Err(e))) => failed.push(e),
            Ok(None) | Err(_) => break,
        }
    }
    let elapsed = start.elapsed();
    Held { opened, conversations: conversations.len(), failed, elapsed, stop, tasks }
}

/// The soft limit on open files of this process, from /proc/self/limits.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

const DENSITY_COURSE: &str = "course-v1:bench+density+1";

pub async fn density(ctx: &Ctx) -> Result<Outcome, String> {
    let mut out = Outcome::default();
    let fd_limit = open_files_limit().unwrap_or(1024);
    let n = ctx.sockets.min(fd_limit.saturating_sub(500));
    if n < ctx.sockets {
        out.notes.push(format!(
            "density: {n} sockets instead of {} — the open-files limit is {fd_limit} (ulimit -n)",
            ctx.sockets
        ));
    }
    let concurrency = 64;
    let limit = Duration::from_secs(60);

    // Baseline: the echo server (tokio-tungstenite, default configuration), plain upgrades, no auth.
    let echo = spawn_self("echo", &[]).await?;
    let echo_url = format!("ws://127.0.0.1:{}/", echo.port);
    let echo_pid = echo.pid().ok_or("the echo server has no pid")?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let echo_before = servers::rss_kib(echo_pid).unwrap_or(0);
    let base = hold(vec![echo_url; n], None, concurrency, limit).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let echo_after = servers::rss_kib(echo_pid).unwrap_or(0);
    let (base_opened, base_elapsed) = (base.opened, base.elapsed);
    if let Some(e) = base.failed.first() {
        out.notes.push(format!("density echo: {} failed, first: {}", base.failed.len(), truncate(e)));
    }
    base.release().await;
    echo.stop().await;
    let base_rate = base_opened as f64 / base_elapsed.as_secs_f64();
    let base_per = (echo_after.saturating_sub(echo_before)) as f64 / base_opened.max(1) as f64;

    // The gateway: room backend, contexts of 10 sockets, every socket authenticated (user_info + history).
    let gw = ctx.gateway(ctx.dir("density"), &[("CHAT_BACKEND", "room".into())]).await?;
    let learners = gw.learners(&ctx.lms, DENSITY_COURSE, ROOM_USERS).await?;
    let blocks: Vec<String> = (0..n).map(|i| format!("d-{}", i / ROOM_SIZE)).collect();
    let (minting, minted_before) = (Instant::now(), ctx.lms.minted());
    let seats = Arc::new(ctx.lms.seats(&gw.audience, &learners, DENSITY_COURSE, &blocks)?);
    let (minted, minting) = (ctx.lms.minted() - minted_before, minting.elapsed());
    // A moment for the gateway to settle after the sign-ins before its memory is read.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = gw.rss_kib().unwrap_or(0);
    let held = hold(vec![gw.chat_url(); n], Some(seats), concurrency, limit).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = gw.rss_kib().unwrap_or(0);
    let (opened, elapsed, conversations) = (held.opened, held.elapsed, held.conversations);
    if let Some(e) = held.failed.first() {
        out.notes.push(format!("density gateway: {} failed, first: {}", held.failed.len(), truncate(e)));
    }
    let rooms = opened.div_ceil(ROOM_SIZE);
    if held.failed.is_empty() && conversations != rooms {
        out.notes.push(format!(
            "density gateway: the {opened} sockets landed in {conversations} conversation(s), not {rooms} rooms of \
             {ROOM_SIZE}"
        ));
    }
    held.release().await;
    gw.stop().await;
    let rate = opened as f64 / elapsed.as_secs_f64();
    let per = (after.saturating_sub(before)) as f64 / opened.max(1) as f64;

    out.rows.push(Row::new(
        format!("2. RSS growth per idle socket, {opened} sockets"),
        format!("{per:.1} KiB"),
        format!("{base_per:.1} KiB (echo, {base_opened})"),
        ratio(per, base_per),
        "≤ 20 KB",
        Verdict::of(per <= 20.0 * 1000.0 / 1024.0 && opened >= 15_000),
    ));
    out.rows.push(Row::new(
        format!("2. authenticated upgrades/s, {opened} sockets"),
        format!("{rate:.0} /s"),
        format!("{base_rate:.0} /s (echo, no auth)"),
        ratio(rate, base_rate),
        "≥ 2,000 /s",
        Verdict::of(rate >= 2000.0 && opened >= 15_000),
    ));
    out.notes.push(format!(
        "density: gateway RSS {before} → {after} KiB for {opened} sockets in {:.1} s ({concurrency} connecting at a \
         time, {conversations} rooms of {ROOM_SIZE}, each socket entering its room with a ticket; the {} tickets, \
         one per user and room, were signed beforehand in {:.1} s); echo RSS {echo_before} → {echo_after} KiB for \
         {base_opened} in {:.1} s",
        elapsed.as_secs_f64(),
        minted,
        minting.as_secs_f64(),
        base_elapsed.as_secs_f64()
    ));
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// 3. Room throughput with persistence.

const ROOM_CONNS: usize = 50;
const ROOM_COURSE: &str = "course-v1:bench+room+1";
pub const ROOM_SIZE: usize = 10;
/// Sockets are spread over this many learners, so each room has sockets of 5 users (the sign-in limiter
/// allows 10 per address).
pub const ROOM_USERS: usize = 5;

pub async fn room(ctx: &Ctx) -> Result<Outcome, String> {
    let mut out = Outcome::default();
    let echo = spawn_self("echo", &[]).await?;
    let echo_url = format!("ws://127.0.0.1:{}/", echo.port);
    let baseline = request_response(
        open_plain(&echo_url, ROOM_CONNS).await?,
        Duration::from_secs(1),
        Duration::from_secs(5),
        10_000_000,
    )
    .await;
    echo.stop().await;
    let mut baseline = baseline;
    let base_rate = baseline.per_second();
    let base_p99 = baseline.samples.percentile_us(99.0) / 1000.0;

    let sqlite_dir = ctx.dir("room-sqlite");
    let db = sqlite_dir.join("ibal.db");
    room_row(ctx, &mut out, "SQLite", sqlite_dir, vec![], base_rate, base_p99, || count_rows_sqlite(&db)).await?;

    if let Some(pg) = &ctx.postgres {
        let name = format!("ibal_bench_{}", std::process::id());
        psql(pg, &format!("DROP DATABASE IF EXISTS {name}"))?;
        psql(pg, &format!("CREATE DATABASE {name}"))?;
        let url = format!("{}/{name}", pg.trim_end_matches('/'));
        let result = room_row(
            ctx,
            &mut out,
            "PostgreSQL",
            ctx.dir("room-postgres"),
            vec![("DATABASE_URL", url.clone())],
            base_rate,
            base_p99,
            || psql_db(pg, &name, "SELECT count(*) FROM messages")?.trim().parse::<u64>().map_err(|e| e.to_string()),
        )
        .await;
        let _ = psql(pg, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        result?;
    } else {
        out.notes.push("room: the PostgreSQL row was skipped (no --postgres URL)".into());
    }
    out.notes.push(format!(
        "room baseline: the same 50 clients against the echo server (no broadcast, no storage): p50 {:.0} µs",
        baseline.samples.percentile_us(50.0)
    ));
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
async fn room_row(
    ctx: &Ctx,
    out: &mut Outcome,
    label: &str,
    dir: PathBuf,
    env: Vec<(&str, String)>,
    base_rate: f64,
    base_p99_ms: f64,
    count_rows: impl Fn() -> Result<u64, String>,
) -> Result<(), String> {
    let mut env = env;
    env.push(("CHAT_BACKEND", "room".into()));
    env.push(("CHAT_OUTBOUND_QUEUE", "4096".into()));
    let gw = ctx.gateway(dir, &env).await?;
    let learners = gw.learners(&ctx.lms, ROOM_COURSE, ROOM_USERS).await?;
    let blocks: Vec<String> = (0..ROOM_CONNS).map(|i| format!("room-{}", i / ROOM_SIZE)).collect();
    let seats = ctx.lms.seats(&gw.audience, &learners, ROOM_COURSE, &blocks)?;
    let sockets = open_chats(&vec![gw.chat_url(); ROOM_CONNS], &seats, true, ROOM_CONNS / ROOM_SIZE).await?;
    let rows_before = count_rows()?;
    let cpu_before = gw.cpu_seconds().unwrap_or(0.0);
    let mut load = request_response(sockets, Duration::from_secs(2), Duration::from_secs(8), 10_000_000).await;
    // Acknowledged = every message that got its ack, warm-up included: count them from the database's side.
    let cpu = gw.cpu_seconds().unwrap_or(0.0) - cpu_before;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rows = count_rows()? - rows_before;
    let rate = load.per_second();
    let p99 = load.samples.percentile_us(99.0) / 1000.0;
    let p50 = load.samples.percentile_us(50.0) / 1000.0;
    out.rows.push(Row::new(
        format!("3. room msgs acked/s, 50 conn, {label}"),
        format!("{rate:.0} msg/s"),
        format!("{base_rate:.0} msg/s (echo)"),
        ratio(rate, base_rate),
        "≥ 10,000 msg/s",
        Verdict::of(rate >= 10_000.0),
    ));
    out.rows.push(Row::new(
        format!("3. room p99 ack latency, {label}"),
        format!("{p99:.2} ms"),
        format!("{base_p99_ms:.2} ms (echo)"),
        ratio(p99, base_p99_ms),
        "≤ 10 ms",
        Verdict::of(p99 <= 10.0),
    ));
    let acked = load.count + load.warm;
    out.rows.push(Row::new(
        format!("3. room rows stored = acks, {label}"),
        format!("{rows} rows"),
        format!("{acked} acks"),
        ratio(rows as f64, acked as f64),
        "rows = acks",
        Verdict::of(rows == acked),
    ));
    out.notes.push(format!(
        "room {label}: {ROOM_CONNS} sockets in {} rooms of {ROOM_SIZE} (each entered with a ticket); {} acks \
         measured in {:.1} s (p50 {p50:.2} ms), {} during warm-up; {} rows; the gateway used {cpu:.1} s of CPU \
         over the 10 s run ({:.0}% of one core)",
        ROOM_CONNS / ROOM_SIZE,
        load.count,
        load.window.as_secs_f64(),
        load.warm,
        rows,
        cpu * 10.0
    ));
    out.notes.extend(first_error(&load).map(|e| format!("room {label}: {e}")));
    gw.stop().await;
    Ok(())
}

/// Rows in `messages`, counted by the `sqlite3` shell, or by Python's sqlite3 module where the shell is
/// not installed (Python is on every machine this runs on; the shell is not always).
fn count_rows_sqlite(db: &Path) -> Result<u64, String> {
    const QUERY: &str = "SELECT count(*) FROM messages;";
    let out = match std::process::Command::new("sqlite3").arg(db).arg(QUERY).output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::process::Command::new("python3")
            .args(["-c", "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])"])
            .arg(db)
            .arg(QUERY)
            .output()
            .map_err(|e| format!("neither sqlite3 nor python3 to count rows: {e}"))?,
        other => other.map_err(|e| format!("sqlite3: {e}"))?,
    };
    if !out.status.success() {
        return Err(format!("counting rows: {}", String::from_utf8_lossy(&out.stderr)));
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|e| format!("row count output: {e}"))
}

pub fn psql(url: &str, sql: &str) -> Result<String, String> {
    psql_db(url, "postgres", sql)
}

pub fn psql_db(url: &str, db: &str, sql: &str) -> Result<String, String> {
    let out = std::process::Command::new("psql")
        .arg(format!("{}/{db}", url.trim_end_matches('/')))
        .args(["-v", "ON_ERROR_STOP=1", "-tAc", sql])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if !out.status.success() {
        return Err(format!("psql: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

// ---------------------------------------------------------------------------------------------
// 4. Streaming.

const STREAM_COURSE: &str = "course-v1:bench+stream+1";
const STREAM_TOKENS: usize = 50;
const STREAM_RATE: u32 = 50;
const STREAM_REPLIES: usize = 2;

#[derive(Default)]
struct StreamStats {
    ttft: Samples,
    gaps: Samples,
    replies: usize,
    complete: usize,
    tokens: usize,
    errors: Vec<String>,
}

impl StreamStats {
    fn merge(&mut self, o: StreamStats) {
        self.ttft.extend(o.ttft);
        self.gaps.extend(o.gaps);
        self.replies += o.replies;
        self.complete += o.complete;
        self.tokens += o.tokens;
        self.errors.extend(o.errors);
    }
}

fn expected_reply() -> String {
    (0..STREAM_TOKENS).map(token_text).collect()
}

async fn direct_stream(http: reqwest::Client, url: String, start: Instant) -> StreamStats {
    tokio::time::sleep_until(start).await;
    let mut st = StreamStats::default();
    let expected = expected_reply();
    for _ in 0..STREAM_REPLIES {
        let t0 = Instant::now();
        let body = json!({"model": "fake", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
        let resp = match http.post(&url).json(&body).send().await {
            Ok(r) => r,
            Err(e) => {
                st.errors.push(e.to_string());
                break;
            }
        };
        let mut stream = resp.bytes_stream();
        let (mut buf, mut content, mut last, mut done) = (String::new(), String::new(), None::<Instant>, false);
        let deadline = t0 + Duration::from_secs(30);
        while !done {
            let chunk = match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(Ok(c))) => c,
                Ok(Some(Err(e))) => {
                    st.errors.push(e.to_string());
                    break;
                }
                Ok(None) => break,
                Err(_) => {
                    st.errors.push("timed out".into());
                    break;
                }
            };
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(pos) = buf.find("\n\n") {
                let event: String = buf.drain(..pos + 2).collect();
                let Some(data) = event.trim().strip_prefix("data: ") else { continue };
                if data == "[DONE]" {
                    done = true;
                    break;
                }
                let v: Value = serde_json::from_str(data).unwrap_or(Value::Null);
                if let Some(d) = v["choices"][0]["delta"]["content"].as_str() {
                    let now = Instant::now();
                    match last {
                        None => st.ttft.record(now - t0),
                        Some(l) => st.gaps.record(now - l),
                    }
                    last = Some(now);
                    content.push_str(d);
                }
            }
        }
        st.replies += 1;
        st.tokens += content.split_whitespace().count();
        if done && content == expected {
            st.complete += 1;
        }
    }
    st
}

async fn gateway_stream(mut ws: Ws, idx: usize, start: Instant) -> StreamStats {
    tokio::time::sleep_until(start).await;
    let mut st = StreamStats::default();
    let expected = expected_reply();
    for r in 0..STREAM_REPLIES {
        let cid = format!("s{idx}-{r}");
        let frame = json!({"type": "message", "client_id": cid, "content": "hi"}).to_string();
        let t0 = Instant::now();
        if let Err(e) = ws.send(Message::text(frame)).await {
            st.errors.push(e.to_string());
            break;
        }
        let (mut content, mut last, mut ended) = (String::new(), None::<Instant>, false);
        let deadline = t0 + Duration::from_secs(30);
        while !ended {
            let left = deadline.saturating_duration_since(Instant::now());
            let text = match next_text(&mut ws, left).await {
                Ok(t) => t,
                Err(e) => {
                    st.errors.push(e);
                    break;
                }
            };
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            match v["type"].as_str() {
                Some("stream_delta") => {
                    let now = Instant::now();
                    match last {
                        None => st.ttft.record(now - t0),
                        Some(l) => st.gaps.record(now - l),
                    }
                    last = Some(now);
                    content.push_str(v["delta"].as_str().unwrap_or(""));
                }
                Some("stream_end") => {
                    ended = true;
                    if v["status"] == "complete" && v["content"] == expected.as_str() && content == expected {
                        st.complete += 1;
                    } else {
                        st.errors.push(truncate(&text));
                    }
                }
                Some("error") => st.errors.push(truncate(&text)),
                _ => {}
            }
        }
        st.replies += 1;
        st.tokens += content.split_whitespace().count();
        if !ended {
            break;
        }
    }
    let _ = ws.close(None).await;
    st
}

/// PASS within 5 ms added; a baseline worse than the gateway by more than 5 ms proves nothing: no verdict.
fn stream_verdict(added_ms: f64) -> Verdict {
    if added_ms < -5.0 { Verdict::Info } else { Verdict::of(added_ms <= 5.0) }
}

/// Conversations start spread over one second (2 ms apart), as users would, rather than in one instant.
fn stagger(start: Instant, i: usize) -> Instant {
    start + Duration::from_millis(2 * (i % 500) as u64)
}

pub async fn streaming(ctx: &Ctx) -> Result<Outcome, String> {
    let mut out = Outcome::default();
    let n = ctx.streams;
    let fake = spawn_self("fake-openai", &[STREAM_TOKENS.to_string(), STREAM_RATE.to_string()]).await?;
    let base = format!("http://127.0.0.1:{}/v1", fake.port);

    // Baseline: the same number of clients reading the fake server directly.
    let http = reqwest::Client::builder().pool_max_idle_per_host(n).build().map_err(|e| e.to_string())?;
    let start = Instant::now() + Duration::from_millis(200);
    let tasks: Vec<_> =
        (0..n).map(|_| tokio::spawn(direct_stream(http.clone(), format!("{base}/chat/completions"), start))).collect();
    let mut direct = StreamStats::default();
    for t in tasks {
        direct.merge(t.await.map_err(|e| e.to_string())?);
    }

    let gw = ctx
        .gateway(
            ctx.dir("stream"),
            &[
                ("CHAT_BACKEND", "openai".into()),
                ("OPENAI_BASE_URL", base.clone()),
                ("OPENAI_API_KEY", "bench".into()),
                ("OPENAI_MODEL", "fake".into()),
            ],
        )
        .await?;
    let learners = gw.learners(&ctx.lms, STREAM_COURSE, ROOM_USERS).await?;
    // A block per socket: each conversation streams its own replies.
    let blocks: Vec<String> = (0..n).map(|i| format!("s-{i}")).collect();
    let seats = ctx.lms.seats(&gw.audience, &learners, STREAM_COURSE, &blocks)?;
    let opened = Instant::now();
    let sockets = open_chats(&vec![gw.chat_url(); n], &seats, true, n).await?;
    out.notes.push(format!("streaming: {n} sockets opened in {:.1} s", opened.elapsed().as_secs_f64()));
    let start = Instant::now() + Duration::from_millis(200);
    let tasks: Vec<_> =
        sockets.into_iter().enumerate().map(|(i, ws)| tokio::spawn(gateway_stream(ws, i, stagger(start, i)))).collect();
    let mut through = StreamStats::default();
    for t in tasks {
        through.merge(t.await.map_err(|e| e.to_string())?);
    }
    gw.stop().await;
    fake.stop().await;

    let (g_ttft, d_ttft) = (through.ttft.percentile_us(99.0) / 1000.0, direct.ttft.percentile_us(99.0) / 1000.0);
    let (g_gap, d_gap) = (through.gaps.percentile_us(99.0) / 1000.0, direct.gaps.percentile_us(99.0) / 1000.0);
    out.rows.push(Row::new(
        format!("4. stream time to first token p99, {n} conv"),
        format!("{g_ttft:.1} ms ({:+.1})", g_ttft - d_ttft),
        format!("{d_ttft:.1} ms"),
        ratio(g_ttft, d_ttft),
        "added p99 ≤ 5 ms",
        stream_verdict(g_ttft - d_ttft),
    ));
    out.rows.push(Row::new(
        format!("4. stream inter-token p99, {n} conv"),
        format!("{g_gap:.1} ms ({:+.1})", g_gap - d_gap),
        format!("{d_gap:.1} ms"),
        ratio(g_gap, d_gap),
        "added p99 ≤ 5 ms",
        stream_verdict(g_gap - d_gap),
    ));
    let expected = n * STREAM_REPLIES * STREAM_TOKENS;
    out.rows.push(Row::new(
        format!("4. stream tokens delivered, {n} conv"),
        format!("{} / {expected}, {} replies complete", through.tokens, through.complete),
        format!("{} / {expected}, {} complete", direct.tokens, direct.complete),
        ratio(through.tokens as f64, direct.tokens as f64),
        "nothing lost",
        Verdict::of(through.tokens == expected && through.complete == n * STREAM_REPLIES),
    ));
    out.notes.push(format!(
        "streaming: {n} concurrent conversations × {STREAM_REPLIES} replies × {STREAM_TOKENS} tokens at \
         {STREAM_RATE} tokens/s, starts spread over 1 s; p50 TTFT gateway {:.1} ms / direct {:.1} ms; p50 gap {:.1} / {:.1} ms",
        through.ttft.percentile_us(50.0) / 1000.0,
        direct.ttft.percentile_us(50.0) / 1000.0,
        through.gaps.percentile_us(50.0) / 1000.0,
        direct.gaps.percentile_us(50.0) / 1000.0,
    ));
    if g_ttft - d_ttft < -5.0 || g_gap - d_gap < -5.0 {
        out.notes.push(
            "streaming: the direct baseline's p99 was worse than the gateway's (the harness and the fake server share \
             2 cores with the load): that comparison is marked — (no verdict), not PASS"
                .into(),
        );
    }
    for (who, st) in [("gateway", &through), ("direct", &direct)] {
        if let Some(e) = st.errors.first() {
            out.notes.push(format!("streaming {who}: {} error(s), first: {e}", st.errors.len()));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// 6. Auth: access-token verifications (the LTI half is in lti.rs).

pub async fn auth(ctx: &Ctx) -> Result<Outcome, String> {
    let mut out = Outcome::default();
    // The LTI platform exists before the gateway, which registers it from LTI_PLATFORMS at start.
    let platform = lti::Platform::start().await?;
    let gw = ctx.gateway(ctx.dir("auth"), &[("LTI_PLATFORMS", platform.registration())]).await?;
    let tokens = token_load(&gw, &ctx.lms).await;
    let launches = lti::launch_load(&gw, &platform).await;
    gw.stop().await;
    // The baselines run once the gateway has stopped, so that they have the cores to themselves.
    if let Err(e) = tokens.and_then(|load| token_rows(&mut out, &load)) {
        not_measured(&mut out, TOKEN_ROW, &e);
    }
    match launches {
        Ok(load) => lti::launch_rows(&mut out, &platform, &load),
        Err(e) => not_measured(&mut out, lti::LAUNCH_ROW, &e),
    }
    platform.stop();
    Ok(out)
}

const TOKEN_ROW: &str = "6. token verifications/s (GET /oauth2/userinfo)";

/// A row that could not be measured, and why (in the notes).
fn not_measured(out: &mut Outcome, label: &str, why: &str) {
    out.rows.push(Row::new(label, "not measured", "—", f64::NAN, "—", Verdict::Miss));
    out.notes.push(format!("{label}: not measured: {why}"));
}

struct TokenLoad {
    token: String,
    jwks: jsonwebtoken::jwk::JwkSet,
    ok: u64,
    bad: u64,
    window: Duration,
}

/// Through the gateway: GET /oauth2/userinfo with a bearer token, 32 in flight, 0.5 s warm-up + 4 s.
async fn token_load(gw: &Gateway, lms: &Lms) -> Result<TokenLoad, String> {
    let token = gw.sign_in(lms, 0, "course-v1:bench+auth+1").await?;
    let jwks: jsonwebtoken::jwk::JwkSet = gw
        .http
        .get(gw.url("/.well-known/jwks.json"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let probe = gw.http.get(gw.url("/oauth2/userinfo")).bearer_auth(&token).send().await.map_err(|e| e.to_string())?;
    if !probe.status().is_success() {
        return Err(format!("userinfo answered {}", probe.status()));
    }
    let (warm, measure) = (Duration::from_millis(500), Duration::from_secs(4));
    let start = Instant::now();
    let (from, until) = (start + warm, start + warm + measure);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (http, url, token) = (gw.http.clone(), gw.url("/oauth2/userinfo"), token.clone());
            tokio::spawn(async move {
                let (mut ok, mut bad) = (0u64, 0u64);
                for _ in 0..10_000_000u64 {
                    let t0 = Instant::now();
                    if t0 >= until {
                        break;
                    }
                    let good = match http.get(&url).bearer_auth(&token).send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if t0 >= from {
                        if good { ok += 1 } else { bad += 1 }
                    }
                }
                (ok, bad)
            })
        })
        .collect();
    let (mut ok, mut bad) = (0, 0);
    for t in tasks {
        let (o, b) = t.await.map_err(|e| e.to_string())?;
        ok += o;
        bad += b;
    }
    Ok(TokenLoad { token, jwks, ok, bad, window: measure })
}

/// The token row; its baseline is the raw RS256 verification of the same token with the gateway's key.
fn token_rows(out: &mut Outcome, load: &TokenLoad) -> Result<(), String> {
    let header = jsonwebtoken::decode_header(&load.token).map_err(|e| e.to_string())?;
    let jwk = header.kid.as_deref().and_then(|kid| load.jwks.find(kid)).or(load.jwks.keys.first()).ok_or("no key")?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["ibal"]);
    let (raw_rate, cores) = raw_verify_rate(&load.token, &key, &validation);
    let gw_rate = load.ok as f64 / load.window.as_secs_f64();
    out.rows.push(Row::new(
        TOKEN_ROW,
        format!("{gw_rate:.0} /s"),
        format!("{raw_rate:.0} /s (raw RS256 verify, {cores} threads)"),
        ratio(gw_rate, raw_rate),
        "report (no figure set)",
        Verdict::Info,
    ));
    out.notes.push(format!(
        "auth: 32 requests in flight over keep-alive HTTP/1.1; {} failed; the gateway figure includes HTTP \
         parsing and the userinfo handler, not only the signature check",
        load.bad
    ));
    Ok(())
}

//! The baselines: a minimal WebSocket echo server and a fake OpenAI-compatible streaming server (the test
//! kit's, as the gateway's tests use it). Each runs as a child process of the harness (`ibal-bench echo …`,
//! `ibal-bench fake-openai …`), so its CPU and memory are its own, like the gateway's.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ibal_test_kit::fake_openai::{FakeOpenAi, Pace};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

/// A child process of the harness, killed when dropped.
pub struct Service {
    child: Child,
    pub port: u16,
}

impl Service {
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Waits until something accepts on the port.
pub async fn wait_listening(port: u16, within: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("nothing listens on 127.0.0.1:{port} after {within:?}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts `ibal-bench <mode> <args…>` on a free port.
pub async fn spawn_self(mode: &str, args: &[String]) -> Result<Service, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let port = free_port()?;
    let child = Command::new(exe)
        .arg(mode)
        .arg(port.to_string())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("spawning the {mode} baseline: {e}"))?;
    wait_listening(port, Duration::from_secs(10)).await?;
    Ok(Service { child, port })
}

/// Resident set of a process in KiB, from /proc/<pid>/status.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system) a process has used, in seconds, from /proc/<pid>/stat (100 ticks per second).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat")).ok()?;
    // Fields after the command name, which ends with the last ')': utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// The echo server: every text or binary frame comes back unchanged. The library's default configuration.
pub async fn run_echo(port: u16) -> Result<(), String> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    accept_each(listener, |stream| async move {
        let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else { return };
        while let Some(Ok(msg)) = ws.next().await {
            if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                break;
            }
        }
    })
    .await;
    Ok(())
}

/// Serves every connection the listener accepts in its own task, Nagle off, until the process ends.
async fn accept_each<F, Fut>(listener: TcpListener, handle: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, say: wait rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(handle(stream));
    }
}

/// One SSE event carrying token `i`, as the fake server sends it.
pub fn token_text(i: usize) -> String {
    format!("t{i} ")
}

/// The fake OpenAI-compatible server (ibal_test_kit::fake_openai): `POST /v1/chat/completions` streams `tokens`
/// SSE deltas at `per_second`, the first at once, then `data: [DONE]`; `GET /v1/models` lists a model.
pub async fn run_fake_openai(port: u16, tokens: usize, per_second: u32) -> Result<(), String> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    let pace = Pace { first: Duration::ZERO, gap: Duration::from_secs(1) / per_second.max(1) };
    let fake = FakeOpenAi::new(format!("http://127.0.0.1:{port}"), (0..tokens).map(token_text), pace);
    fake.serve(listener).await.map_err(|e| e.to_string())
}

/// Reads one request: its head (returned in lower case), then its body by Content-Length, both bounded to
/// 1 MiB. None when the peer closed before a whole head arrived.
async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 1 << 20 {
            return Ok(None);
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
        .min(1 << 20);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(head))
}

async fn write_json(stream: &mut TcpStream, body: &str) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Answers every request with `body` as JSON, on a free loopback port, inside this process: the LTI
/// platform's JWKS, which the gateway fetches once and then caches, so it costs the load generator nothing.
/// Runs until the returned task is aborted.
pub async fn serve_json(body: String) -> Result<(u16, tokio::task::JoinHandle<()>), String> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let body: std::sync::Arc<str> = body.into();
    let task = tokio::spawn(accept_each(listener, move |mut stream| {
        let body = body.clone();
        async move {
            if let Ok(Some(_)) = read_request(&mut stream).await {
                let _ = write_json(&mut stream, &body).await;
            }
        }
    }));
    Ok((port, task))
}

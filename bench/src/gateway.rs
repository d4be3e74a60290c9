//! The gateway under test: a release binary started on a free loopback port with a fresh data directory,
//! and the clients' side of its API (local accounts, the chat WebSocket).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::servers::{cpu_seconds, free_port, rss_kib};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const SECRET_KEY: &str = "6962616c2d62656e63682d6f6e6c792d6e6f742d612d7265616c2d7365637265";

pub struct Gateway {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    pub http: reqwest::Client,
}

impl Gateway {
    /// Starts the binary with the harness's defaults plus `env` (which wins), and waits for `/health`.
    pub async fn start(bin: &Path, dir: PathBuf, env: &[(&str, String)]) -> Result<Self, String> {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let port = free_port()?;
        let log = std::fs::File::create(dir.join("gateway.log")).map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .env("DATABASE_URL", format!("sqlite://{}/ibal.db", dir.display()))
            .env("DATA_DIR", dir.display().to_string())
            .env("SECRET_KEY", SECRET_KEY)
            .env("DEBUG", "false")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .env("LOCAL_ACCOUNTS", "true")
            .env("CHAT_MAX_SOCKETS_PER_USER", "1000000")
            .env("CHAT_MESSAGES_PER_MINUTE", "100000000");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        let mut gw = Gateway { child, port, dir, http };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = gw.http.get(gw.url("/health")).send().await
                && r.status().is_success()
            {
                return Ok(gw);
            }
            if let Ok(Some(status)) = gw.child.try_wait() {
                return Err(format!("the gateway exited ({status}); see {}", gw.dir.join("gateway.log").display()));
            }
            if tokio::time::Instant::now() > deadline {
                return Err("the gateway did not answer /health within 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn ws_url(&self, course: &str, block: &str) -> String {
        format!("ws://127.0.0.1:{}/ws/chat/?course_id={course}&block_id={block}", self.port)
    }

    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.child.id()?)
    }

    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(self.child.id()?)
    }

    /// Registers a local account through the real API; returns its access token.
    pub async fn register(&self, username: &str) -> Result<String, String> {
        let r = self
            .http
            .post(self.url("/api/v1/auth/register"))
            .json(&json!({"username": username, "password": "bench-password-1234"}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let body: Value = r.json().await.map_err(|e| e.to_string())?;
        body["access_token"].as_str().map(str::to_owned).ok_or_else(|| format!("register {username}: {status} {body}"))
    }

    /// Registers `n` accounts (the sign-in limiter allows 10 per address).
    pub async fn tokens(&self, n: usize) -> Result<Vec<String>, String> {
        let mut tokens = Vec::with_capacity(n);
        for i in 0..n {
            tokens.push(self.register(&format!("bench{i}")).await?);
        }
        Ok(tokens)
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// Small buffers so that thousands of client sockets stay cheap in the harness.
fn client_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(8 * 1024).write_buffer_size(0)
}

pub async fn connect(url: &str) -> Result<Ws, String> {
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(15),
        tokio_tungstenite::connect_async_with_config(url, Some(client_config()), true),
    )
    .await
    .map_err(|_| format!("connecting {url}: timed out"))?
    .map_err(|e| format!("connecting {url}: {e}"))?;
    Ok(ws)
}

/// The next text frame (pings are answered by the library), within `within`.
pub async fn next_text(ws: &mut Ws, within: Duration) -> Result<String, String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next()).await.map_err(|_| "timed out waiting for a frame")?;
        match msg {
            None => return Err("the socket closed".into()),
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
            Some(Ok(Message::Close(c))) => return Err(format!("closed: {c:?}")),
            Some(Ok(_)) => {}
        }
    }
}

/// Sends the `auth` frame and reads up to `user_info` (and `history` when `with_history`).
pub async fn authenticate(ws: &mut Ws, token: &str, with_history: bool) -> Result<(), String> {
    ws.send(Message::text(json!({"type": "auth", "token": token}).to_string())).await.map_err(|e| e.to_string())?;
    let mut seen_user_info = false;
    loop {
        let text = next_text(ws, Duration::from_secs(15)).await?;
        let kind = serde_json::from_str::<Value>(&text).ok().and_then(|v| v["type"].as_str().map(str::to_owned));
        match kind.as_deref() {
            Some("user_info") if !with_history => return Ok(()),
            Some("user_info") => seen_user_info = true,
            Some("history") if seen_user_info => return Ok(()),
            Some("error") => return Err(format!("auth refused: {text}")),
            _ => {}
        }
    }
}

/// Connects and authenticates one chat socket.
pub async fn open_chat(url: &str, token: &str, with_history: bool) -> Result<Ws, String> {
    let mut ws = connect(url).await?;
    authenticate(&mut ws, token, with_history).await?;
    Ok(ws)
}

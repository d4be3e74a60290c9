//! The gateway under test: a release binary started on a free loopback port with a fresh data directory,
//! trusting the harness's LMS, and the clients' side of its API (LMS sign-in, the chat WebSocket).

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ibal_test_kit::process;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::lms::{Learner, Lms, Seat};
use crate::servers::{cpu_seconds, free_port, rss_kib};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The block whose ticket signs a learner in; sign-in records the learner's role in the course, not a
/// conversation, so any block of the course would do.
const SIGN_IN_BLOCK: &str = "bench-sign-in";
const SECRET_KEY: &str = "6962616c2d62656e63682d6f6e6c792d6e6f742d612d7265616c2d7365637265";

pub struct Gateway {
    child: Child,
    /// The binary and database it was started with: its administrative commands run on the same.
    bin: PathBuf,
    database_url: String,
    pub port: u16,
    pub dir: PathBuf,
    pub http: reqwest::Client,
    /// The origin of its PUBLIC_URL: the audience of the tickets it accepts.
    pub audience: String,
}

impl Gateway {
    /// Starts the binary with the harness's defaults, trusting `lms`, plus `env` (which wins), and waits for
    /// `/health`.
    pub async fn start(bin: &Path, lms: &Lms, dir: PathBuf, env: &[(&str, String)]) -> Result<Self, String> {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let port = free_port()?;
        let public_url = env
            .iter()
            .find(|(k, _)| *k == "PUBLIC_URL")
            .map_or_else(|| format!("http://127.0.0.1:{port}"), |(_, v)| v.clone());
        let audience = reqwest::Url::parse(&public_url)
            .map_err(|e| format!("PUBLIC_URL {public_url}: {e}"))?
            .origin()
            .ascii_serialization();
        let database_url = env
            .iter()
            .find(|(k, _)| *k == "DATABASE_URL")
            .map_or_else(|| format!("sqlite://{}/ibal.db", dir.display()), |(_, v)| v.clone());
        let log = std::fs::File::create(dir.join("gateway.log")).map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let defaults = [
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("BIND_ADDR", format!("127.0.0.1:{port}")),
            ("PUBLIC_URL", public_url),
            ("DATABASE_URL", database_url.clone()),
            ("DATA_DIR", dir.display().to_string()),
            ("SECRET_KEY", SECRET_KEY.into()),
            ("DEBUG", "false".into()),
            ("LOG_FORMAT", "json".into()),
            ("RUST_LOG", "warn".into()),
            ("CHAT_MAX_SOCKETS_PER_USER", "1000000".into()),
            ("CHAT_MESSAGES_PER_MINUTE", "100000000".into()),
            ("CHAT_CONNECTS_PER_MINUTE", "100000000".into()),
        ];
        let lms_env = lms.gateway_env();
        let all = defaults.iter().chain(&lms_env).chain(env).map(|(k, v)| (*k, v.as_str()));
        let child = Command::from(process::command(bin, &dir, all))
            .arg("serve")
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
        let mut gw = Gateway { child, bin: bin.to_owned(), database_url, port, dir, http, audience };
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

    /// `ibal-gateway <args>` on this gateway's database (an administrative command, as operators run it),
    /// with `env` added to the essentials; what it printed, or why it failed.
    pub async fn cli(&self, args: &[&str], env: &[(&str, &str)]) -> Result<String, String> {
        let essentials = [
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("DATABASE_URL", self.database_url.clone()),
            ("DATA_DIR", self.dir.display().to_string()),
            ("SECRET_KEY", SECRET_KEY.into()),
            ("RUST_LOG", "warn".into()),
        ];
        let out = Command::from(process::command(&self.bin, &self.dir, essentials))
            .args(args)
            .envs(env.iter().copied())
            .output()
            .await
            .map_err(|e| format!("running {}: {e}", self.bin.display()))?;
        process::printed(&out).map_err(|e| format!("ibal-gateway {}: {e}", args.first().copied().unwrap_or_default()))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The chat WebSocket. Its query names no context: the ticket in the `auth` frame does.
    pub fn chat_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws/chat/", self.port)
    }

    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.child.id()?)
    }

    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(self.child.id()?)
    }

    /// Signs in one learner as the chat widget does: a ticket from the LMS exchanged for an access token.
    pub async fn sign_in(&self, lms: &Lms, user: usize, course: &str) -> Result<String, String> {
        let ticket = lms.ticket(&self.audience, user, course, SIGN_IN_BLOCK)?;
        let r = self
            .http
            .post(self.url("/oauth2/token"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
                ("subject_token_type", "urn:ibal:params:oauth:token-type:chat-ticket"),
                ("subject_token", ticket.as_str()),
                ("client_id", "ibal-widget"),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let body: Value = r.json().await.map_err(|e| e.to_string())?;
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("sign-in of bench{user}: {status} {body}"))
    }

    /// Signs in `n` learners of `course` (sign-ins share a limiter of 10 per client address).
    pub async fn learners(&self, lms: &Lms, course: &str, n: usize) -> Result<Vec<Learner>, String> {
        let mut learners = Vec::with_capacity(n);
        for i in 0..n {
            learners.push(Learner { n: i, token: self.sign_in(lms, i, course).await?.into() });
        }
        Ok(learners)
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

/// Sends the `auth` frame with the seat's token and ticket and reads up to `user_info` (and `history` when
/// `with_history`); returns the conversation the gateway put the socket in.
pub async fn authenticate(ws: &mut Ws, seat: &Seat, with_history: bool) -> Result<String, String> {
    let frame = json!({"type": "auth", "token": &*seat.token, "ticket": &*seat.ticket});
    ws.send(Message::text(frame.to_string())).await.map_err(|e| e.to_string())?;
    let mut conversation = None;
    loop {
        let text = next_text(ws, Duration::from_secs(15)).await?;
        let frame = serde_json::from_str::<Value>(&text).unwrap_or(Value::Null);
        match frame["type"].as_str() {
            Some("user_info") => {
                let id = frame["conversation_id"].as_str().unwrap_or_default().to_owned();
                if !with_history {
                    return Ok(id);
                }
                conversation = Some(id);
            }
            Some("history") => {
                if let Some(id) = conversation.take() {
                    return Ok(id);
                }
            }
            Some("error") => return Err(format!("auth refused: {text}")),
            _ => {}
        }
    }
}

/// Connects and authenticates one chat socket; returns it and its conversation.
pub async fn open_chat(url: &str, seat: &Seat, with_history: bool) -> Result<(Ws, String), String> {
    let mut ws = connect(url).await?;
    let conversation = authenticate(&mut ws, seat, with_history).await?;
    Ok((ws, conversation))
}

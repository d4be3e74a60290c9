//! `ibal-gateway check`: reach every configured dependency and say, one line each, whether it answers.

use std::fmt::Write as _;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::app::state::http_client;
use crate::config::{ChatBackendKind, Config, redact_url};
use crate::store::Db;

/// One dependency's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

impl std::fmt::Display for CheckLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:<4}  {:<13} {}", if self.ok { "ok" } else { "FAIL" }, self.name, self.detail)
    }
}

const TIMEOUT: Duration = Duration::from_secs(5);

pub async fn run(config: &Config) -> Vec<CheckLine> {
    let mut lines = vec![CheckLine {
        name: "configuration",
        ok: true,
        detail: format!(
            "valid (CHAT_BACKEND={}, DATABASE_URL={}, PUBLIC_URL={})",
            config.chat.backend.name(),
            config.database.display_url(),
            config.public_url
        ),
    }];
    lines.push(database(config).await);
    if let Some(url) = &config.redis_url {
        lines.push(redis(url.expose_secret()).await);
    }
    let http = match http_client(config) {
        Ok(http) => http,
        Err(e) => {
            lines.push(CheckLine { name: "http client", ok: false, detail: e.to_string() });
            return lines;
        }
    };
    match config.chat.backend {
        ChatBackendKind::Room => {}
        ChatBackendKind::Flowise => {
            if let Some(f) = &config.chat.flowise {
                let url = format!("{}/api/v1/ping", f.url.as_str().trim_end_matches('/'));
                lines.push(http_check(&http, "llm backend", &url, None, Some("pong")).await);
                lines.push(flowise_flow(f, http.clone()).await);
            }
        }
        ChatBackendKind::OpenAi => {
            if let Some(o) = &config.chat.openai {
                let url = format!("{}/models", o.base_url.as_str().trim_end_matches('/'));
                let key = o.api_key.as_ref().map(|k| k.expose_secret().to_owned());
                lines.push(http_check(&http, "llm backend", &url, key.as_deref(), None).await);
            }
        }
        ChatBackendKind::WebSocket => {
            if let Some(url) = &config.chat.upstream_ws_url {
                lines.push(tcp_check("chat upstream", url).await);
            }
        }
    }
    if let Some(edx) = &config.openedx {
        // The LMS's own heartbeat (edx-platform `/heartbeat`), on the server-to-server address.
        let url = format!("{}/heartbeat", edx.internal_url.as_str().trim_end_matches('/'));
        lines.push(http_check(&http, "open edx", &url, None, None).await);
    }
    lines
}

/// The flow FLOWISE_FLOW_ID names exists on the Flowise server (a prediction for a missing flow is
/// never answered), and whether it streams.
async fn flowise_flow(config: &crate::config::FlowiseConfig, http: reqwest::Client) -> CheckLine {
    let flowise = crate::chat::backend::Flowise::new(config.clone(), http);
    match flowise.flow().await {
        Ok(streaming) => CheckLine {
            name: "flowise flow",
            ok: true,
            detail: format!(
                "FLOWISE_FLOW_ID={} found; it {}",
                config.flow_id,
                if streaming { "streams" } else { "answers in one piece" }
            ),
        },
        Err(e) => CheckLine { name: "flowise flow", ok: false, detail: e.to_string() },
    }
}

async fn database(config: &Config) -> CheckLine {
    let url = config.database.display_url();
    let result = tokio::time::timeout(TIMEOUT * 3, async {
        let db = Db::connect(&config.database).await?;
        db.ping().await?;
        let applied: Result<i64, _> =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(db.pool()).await;
        db.close().await;
        Ok::<_, crate::store::DbError>(match applied {
            Ok(n) => format!("{url} reachable, {n} migration(s) applied"),
            Err(_) => format!("{url} reachable, not migrated yet (run: ibal-gateway migrate)"),
        })
    })
    .await;
    verdict("database", &url, result)
}

/// One line from a bounded attempt: its detail, its error, or its time-out, against `shown`.
fn verdict<E: std::fmt::Display>(
    name: &'static str,
    shown: &str,
    result: Result<Result<String, E>, tokio::time::error::Elapsed>,
) -> CheckLine {
    match result {
        Ok(Ok(detail)) => CheckLine { name, ok: true, detail },
        Ok(Err(e)) => CheckLine { name, ok: false, detail: format!("{shown}: {e}") },
        Err(_) => CheckLine { name, ok: false, detail: format!("{shown}: timed out") },
    }
}

/// PING over RESP, with AUTH when the URL carries credentials.
async fn redis(raw: &str) -> CheckLine {
    let shown = redact_url(raw);
    let result = tokio::time::timeout(TIMEOUT, async {
        let url = url::Url::parse(raw).map_err(|e| e.to_string())?;
        if url.scheme() == "rediss" {
            return Err("rediss:// (TLS) cannot be checked by this command yet".to_owned());
        }
        let host = url.host_str().unwrap_or("127.0.0.1");
        let mut stream = TcpStream::connect((host, url.port().unwrap_or(6379))).await.map_err(|e| e.to_string())?;
        let mut request = String::new();
        if let Some(password) = url.password() {
            let user = if url.username().is_empty() { "default" } else { url.username() };
            let (user, password) = (decode(user), decode(password));
            let _ = write!(
                request,
                "*3\r\n$4\r\nAUTH\r\n${}\r\n{user}\r\n${}\r\n{password}\r\n",
                user.len(),
                password.len()
            );
        }
        request.push_str("*1\r\n$4\r\nPING\r\n");
        stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 512];
        let mut got = String::new();
        while !got.contains("PONG") && !got.starts_with('-') {
            let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        if got.contains("+PONG") {
            Ok(format!("{shown} answers PING"))
        } else {
            Err(format!("unexpected answer {:?}", got.lines().next().unwrap_or_default()))
        }
    })
    .await;
    verdict("redis", &shown, result)
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

async fn http_check(
    http: &reqwest::Client,
    name: &'static str,
    url: &str,
    bearer: Option<&str>,
    expect_body: Option<&str>,
) -> CheckLine {
    let mut request = http.get(url).timeout(TIMEOUT);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => {
            let status = response.status();
            match expect_body {
                Some(expected) => match response.text().await {
                    Ok(body) if body.trim().trim_matches('"') == expected => {
                        CheckLine { name, ok: true, detail: format!("{url} answered {expected}") }
                    }
                    Ok(_) => {
                        CheckLine { name, ok: false, detail: format!("{url} answered {status} but not {expected:?}") }
                    }
                    Err(e) => CheckLine { name, ok: false, detail: format!("{url}: {e}") },
                },
                None => CheckLine { name, ok: true, detail: format!("{url} answered {status}") },
            }
        }
        Ok(response) => CheckLine { name, ok: false, detail: format!("{url} answered {}", response.status()) },
        Err(e) => CheckLine { name, ok: false, detail: format!("{url}: {}", describe(&e)) },
    }
}

fn describe(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection refused or unreachable"
    } else {
        "request failed"
    }
}

async fn tcp_check(name: &'static str, url: &url::Url) -> CheckLine {
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(80);
    let result = tokio::time::timeout(TIMEOUT, TcpStream::connect((host, port))).await;
    verdict(name, url.as_str(), result.map(|r| r.map(|_| format!("{url} accepts connections"))))
}

//! A fake Flowise 3.x, faithful to what the gateway meets on a real server:
//!
//! - `POST /api/v1/prediction/{flow}`: a streaming prediction answers `message:\ndata:{"event":…}`
//!   blocks (start, token…, metadata with `chatMessageId`, end). Streams are routed by `chatId`, as
//!   Flowise's SSE streamer does: a second request with the same `chatId` takes the stream over, and
//!   the first one starves, its connection left open. A streaming prediction for an unknown flow is
//!   never answered. Memory is kept per `overrideConfig.sessionId` (one turn per finished prediction).
//!   Slow tool steps write `:heartbeat` comment lines.
//! - `GET /api/v1/chatflows-streaming/{id}` → `{"isStreaming": bool}`, or 404 naming the missing flow.
//! - `PUT /api/v1/chatmessage/abort/{flow}/{chatId}` (Flowise's router takes PUT) stops a generation.
//! - `POST /api/v1/feedback` `{chatflowid, chatId, messageId, rating, content}`, checked as Flowise
//!   checks it: the message must exist and belong to that chat and flow.
//! - With an API key set, every route but `/api/v1/ping` wants `Authorization: Bearer <key>`.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::fake_llm::{FakeLlm, Mode};

/// The flow the fake knows.
pub const FLOW: &str = "flow-1";

type Sink = mpsc::UnboundedSender<Result<String, std::io::Error>>;

#[derive(Default)]
pub struct FlowiseState {
    /// The API key Flowise requires, when set.
    pub api_key: Mutex<Option<String>>,
    /// The response stream of each chatId (the newest request's).
    clients: Mutex<HashMap<String, Sink>>,
    /// Streams taken over by a newer request with the same chatId: kept open, fed nothing.
    starved: Mutex<Vec<Sink>>,
    /// Each session's memory: the questions of its finished turns, in order.
    pub memory: Mutex<HashMap<String, Vec<String>>>,
    /// Stored assistant messages: chatMessageId → (flow, chatId).
    pub messages: Mutex<HashMap<String, (String, String)>>,
    /// (flow, chatId) of each abort received.
    pub aborts: Mutex<Vec<(String, String)>>,
    aborted: Mutex<HashSet<String>>,
    /// The feedback bodies accepted.
    pub feedback: Mutex<Vec<Value>>,
    /// The chatIds answered 503 once already (`Mode::FailOnce`).
    failed_once: Mutex<HashSet<String>>,
    /// The chatId of every prediction received, in order.
    pub chat_ids: Mutex<Vec<String>>,
}

impl FlowiseState {
    pub fn set_api_key(&self, key: Option<&str>) {
        *self.api_key.lock().expect("lock") = key.map(str::to_owned);
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(key) = self.api_key.lock().expect("lock").clone() else { return true };
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(format!("Bearer {key}").as_str())
    }

    /// Sends to whichever request holds the chatId's stream now.
    fn emit(&self, chat_id: &str, item: Result<String, std::io::Error>) {
        if let Some(sink) = self.clients.lock().expect("lock").get(chat_id) {
            let _ = sink.send(item);
        }
    }

    /// Ends the chatId's stream (Flowise's `removeClient`: `res.end()`).
    fn end(&self, chat_id: &str) {
        self.clients.lock().expect("lock").remove(chat_id);
    }
}

pub fn routes() -> Router<FakeLlm> {
    Router::new()
        .route("/api/v1/prediction/{flow}", post(prediction))
        .route("/api/v1/ping", get(|| async { "pong" }))
        .route("/api/v1/chatflows-streaming/{id}", get(streaming_check))
        .route("/api/v1/chatmessage/abort/{flow}/{chat}", put(abort))
        .route("/api/v1/feedback", post(feedback))
}

fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, Json(json!({"error": "Unauthorized Access"}))).into_response()
}

/// Flowise's error body.
fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"statusCode": status.as_u16(), "success": false, "message": message, "stack": {}})))
        .into_response()
}

async fn streaming_check(State(fake): State<FakeLlm>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !fake.flowise.authorized(&headers) {
        return unauthorized();
    }
    if id != FLOW {
        return error(StatusCode::NOT_FOUND, &format!("Chatflow {id} not found"));
    }
    Json(json!({"isStreaming": !matches!(fake.mode(), Mode::Json | Mode::SlowJson)})).into_response()
}

async fn abort(
    State(fake): State<FakeLlm>,
    headers: HeaderMap,
    Path((flow, chat)): Path<(String, String)>,
) -> Response {
    if !fake.flowise.authorized(&headers) {
        return unauthorized();
    }
    fake.flowise.aborts.lock().expect("lock").push((flow, chat.clone()));
    fake.flowise.aborted.lock().expect("lock").insert(chat);
    Json(json!({"status": 200, "message": "Chat message aborted"})).into_response()
}

async fn feedback(State(fake): State<FakeLlm>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if !fake.flowise.authorized(&headers) {
        return unauthorized();
    }
    let id = body["messageId"].as_str().unwrap_or_default();
    let Some((flow, chat)) = fake.flowise.messages.lock().expect("lock").get(id).cloned() else {
        return error(StatusCode::NOT_FOUND, &format!("Message with ID {id} not found"));
    };
    if body["chatId"] != chat.as_str() || body["chatflowid"] != flow.as_str() {
        return error(StatusCode::BAD_REQUEST, "Inconsistent chat ID or chatflow ID");
    }
    if !matches!(body["rating"].as_str(), Some("THUMBS_UP" | "THUMBS_DOWN")) {
        return error(StatusCode::BAD_REQUEST, "Invalid rating");
    }
    fake.flowise.feedback.lock().expect("lock").push(body.clone());
    Json(json!({"id": uuid::Uuid::new_v4().to_string(), "messageId": id, "rating": body["rating"]})).into_response()
}

async fn prediction(
    State(fake): State<FakeLlm>,
    headers: HeaderMap,
    Path(flow): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if !fake.flowise.authorized(&headers) {
        return unauthorized();
    }
    fake.record(&body);
    let chat_id = body["chatId"].as_str().map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    fake.flowise.chat_ids.lock().expect("lock").push(chat_id.clone());
    let streaming = body["streaming"] == true;
    if flow != FLOW {
        if streaming {
            // Flowise sets up the stream before it looks the flow up, then never writes to it.
            return std::future::pending().await;
        }
        return error(StatusCode::NOT_FOUND, &format!("Chatflow {flow} not found"));
    }
    let mode = fake.mode();
    if mode == Mode::ServerError {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "flow failed");
    }
    if mode == Mode::FailOnce && fake.flowise.failed_once.lock().expect("lock").insert(chat_id.clone()) {
        return error(StatusCode::SERVICE_UNAVAILABLE, "overloaded");
    }
    let session = body["overrideConfig"]["sessionId"].as_str().unwrap_or(&chat_id).to_owned();
    let question = body["question"].as_str().unwrap_or_default().to_owned();
    let message_id = uuid::Uuid::new_v4().to_string();
    if matches!(mode, Mode::Json | Mode::SlowJson) || !streaming {
        if mode == Mode::SlowJson {
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        remember(&fake, &flow, &chat_id, &session, &question, &message_id);
        return Json(json!({
            "text": fake.full_reply(), "question": question, "chatId": chat_id,
            "chatMessageId": message_id, "sessionId": session,
        }))
        .into_response();
    }
    let (sink, mut rx) = mpsc::unbounded_channel();
    if let Some(previous) = fake.flowise.clients.lock().expect("lock").insert(chat_id.clone(), sink) {
        fake.flowise.starved.lock().expect("lock").push(previous);
    }
    tokio::spawn(generate(fake, mode, flow, chat_id, session, question, message_id));
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .expect("response")
}

fn remember(fake: &FakeLlm, flow: &str, chat_id: &str, session: &str, question: &str, message_id: &str) {
    fake.flowise.memory.lock().expect("lock").entry(session.to_owned()).or_default().push(question.to_owned());
    fake.flowise.messages.lock().expect("lock").insert(message_id.to_owned(), (flow.to_owned(), chat_id.to_owned()));
}

fn block(event: &str, data: Value) -> String {
    format!("message:\ndata:{}\n\n", json!({"event": event, "data": data}))
}

/// One flow run, writing to whichever request holds its chatId's stream at each moment.
async fn generate(
    fake: FakeLlm,
    mode: Mode,
    flow: String,
    chat_id: String,
    session: String,
    question: String,
    message_id: String,
) {
    let state = &fake.flowise;
    let aborted = || state.aborted.lock().expect("lock").contains(&chat_id);
    let (first, gap) = match mode {
        Mode::Slow => (Duration::from_millis(300), Duration::from_millis(400)),
        _ => (Duration::ZERO, Duration::from_millis(5)),
    };
    tokio::time::sleep(first).await;
    state.emit(&chat_id, Ok(block("start", json!(""))));
    if mode == Mode::ErrorEvent {
        state.emit(&chat_id, Ok(block("error", json!("Error: 400 Invalid value for 'model'"))));
        state.end(&chat_id);
        return;
    }
    for (i, token) in fake.tokens.iter().enumerate() {
        if aborted() {
            state.end(&chat_id);
            return;
        }
        if mode == Mode::DropMidStream && i == 2 {
            state.emit(&chat_id, Err(std::io::Error::other("dropped")));
            state.end(&chat_id);
            return;
        }
        if i == 2 && matches!(mode, Mode::SlowTool | Mode::SlowToolSilent) {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if mode == Mode::SlowTool {
                    state.emit(&chat_id, Ok(":heartbeat\n\n".to_owned()));
                }
            }
        }
        state.emit(&chat_id, Ok(block("token", json!(token))));
        tokio::time::sleep(gap).await;
    }
    remember(&fake, &flow, &chat_id, &session, &question, &message_id);
    let metadata = json!({
        "chatId": chat_id, "chatMessageId": message_id, "question": question,
        "sessionId": session, "memoryType": "Buffer Memory",
    });
    state.emit(&chat_id, Ok(block("metadata", metadata)));
    state.emit(&chat_id, Ok(block("end", json!("[DONE]"))));
    state.end(&chat_id);
}

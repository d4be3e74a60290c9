//! Fake LLM servers speaking the real wire formats: an OpenAI-compatible `/v1/chat/completions`
//! (SSE `data: {choices[0].delta.content}` … `data: [DONE]`) and Flowise 3.x (`fake_flowise`), with
//! the failures the gateway must handle.

use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// The system messages of a recorded OpenAI-style request, joined as the model reads them.
pub fn system_prompt(request: &Value) -> String {
    request["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter(|m| m["role"] == "system")
                .filter_map(|m| m["content"].as_str())
                .collect::<Vec<_>>()
                .join("\n\n")
        })
        .unwrap_or_default()
}

#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Streams `tokens` with a short pause between them.
    Normal = 0,
    /// Answers 503.
    ServerError = 1,
    /// Streams two tokens, then drops the connection.
    DropMidStream = 2,
    /// Waits before the first token, then streams slowly (long enough to be stopped).
    Slow = 3,
    /// 503 for the first request of each conversation, then normal (for retries).
    FailOnce = 4,
    /// Flowise only: the flow cannot stream (`isStreaming: false`); answers are JSON.
    Json = 5,
    /// Flowise only: a slow tool step of 2.5 s after two tokens, with `:heartbeat` lines meanwhile.
    SlowTool = 6,
    /// Flowise only: the same pause, silent.
    SlowToolSilent = 7,
    /// Flowise only: the flow fails with an `error` event (as an LLM answering 400 makes it).
    ErrorEvent = 8,
    /// Flowise only: a flow that cannot stream and answers after 3 s.
    SlowJson = 9,
}

#[derive(Clone)]
pub struct FakeLlm {
    pub url: String,
    mode: Arc<AtomicU8>,
    pub tokens: Arc<Vec<String>>,
    pub requests: Arc<AtomicU32>,
    /// The last request body received.
    pub last_request: Arc<Mutex<Value>>,
    /// Flowise's side: flows, streams by chatId, memory, aborts and feedback.
    pub flowise: Arc<crate::common::fake_flowise::FlowiseState>,
    /// Texts embedded so far (`POST /v1/embeddings`), and whether that endpoint answers 503.
    pub embedded: Arc<AtomicU32>,
    pub embeddings_down: Arc<std::sync::atomic::AtomicBool>,
}

impl FakeLlm {
    pub async fn start() -> Self {
        Self::answering(&["Hello", "! ", "How ", "can ", "I ", "help?"]).await
    }

    /// A model whose every reply streams `tokens`.
    pub async fn answering(tokens: &[&str]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let fake = Self {
            url,
            mode: Arc::new(AtomicU8::new(0)),
            tokens: Arc::new(tokens.iter().map(|t| (*t).to_owned()).collect()),
            requests: Arc::new(AtomicU32::new(0)),
            last_request: Arc::new(Mutex::new(Value::Null)),
            flowise: Arc::default(),
            embedded: Arc::default(),
            embeddings_down: Arc::default(),
        };
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/v1/embeddings", post(embeddings))
            .route(
                "/v1/models",
                get(|| async { Json(json!({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})) }),
            )
            .merge(crate::common::fake_flowise::routes())
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        fake
    }

    pub fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    pub fn mode(&self) -> Mode {
        match self.mode.load(Ordering::SeqCst) {
            1 => Mode::ServerError,
            2 => Mode::DropMidStream,
            3 => Mode::Slow,
            4 => Mode::FailOnce,
            5 => Mode::Json,
            6 => Mode::SlowTool,
            7 => Mode::SlowToolSilent,
            8 => Mode::ErrorEvent,
            9 => Mode::SlowJson,
            _ => Mode::Normal,
        }
    }

    pub fn full_reply(&self) -> String {
        self.tokens.concat()
    }

    /// The SSE body: `events` are the data payloads; `drop_after` cuts the stream with an error.
    fn stream(&self, events: Vec<String>, drop_after: Option<usize>, first_delay: Duration, gap: Duration) -> Response {
        let body = async_stream(events, drop_after, first_delay, gap);
        Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .body(Body::from_stream(body))
            .expect("response")
    }
}

fn async_stream(
    events: Vec<String>,
    drop_after: Option<usize>,
    first_delay: Duration,
    gap: Duration,
) -> impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send {
    futures_util::stream::unfold((0usize, events), move |(i, events)| async move {
        if Some(i) == drop_after {
            return Some((Err(std::io::Error::other("dropped")), (usize::MAX, events)));
        }
        if i >= events.len() {
            return None;
        }
        tokio::time::sleep(if i == 0 { first_delay } else { gap }).await;
        let item = events[i].clone();
        Some((Ok(item), (i + 1, events)))
    })
}

pub fn record(fake: &FakeLlm, body: &Value) -> u32 {
    *fake.last_request.lock().expect("lock") = body.clone();
    fake.requests.fetch_add(1, Ordering::SeqCst) + 1
}

/// Words that mean the same to the fake embeddings model: each group is one dimension of its vectors.
const MEANINGS: &[&[&str]] = &[
    &["mitochondria", "mitochondrion", "powerhouse", "organelle"],
    &["photosynthesis", "chlorophyll", "sunlight"],
    &["membrane", "bilayer", "phospholipids"],
    &["glycolysis", "glucose", "sugar"],
];

/// OpenAI's `POST /v1/embeddings`: `{model, input: [..]}` → `{object, data: [{object, embedding, index}],
/// model, usage}`. A text's vector counts its words per meaning, plus a constant: texts sharing a
/// meaning are close even with no word in common, which keyword ranking alone cannot find.
async fn embeddings(State(fake): State<FakeLlm>, Json(body): Json<Value>) -> Response {
    if fake.embeddings_down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": {"message": "overloaded"}}))).into_response();
    }
    let inputs: Vec<String> =
        body["input"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_owned)).collect();
    fake.embedded.fetch_add(u32::try_from(inputs.len()).unwrap_or(u32::MAX), Ordering::SeqCst);
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let words: Vec<String> =
                text.split(|c: char| !c.is_alphanumeric()).map(str::to_lowercase).filter(|w| !w.is_empty()).collect();
            let mut vector: Vec<f32> = MEANINGS
                .iter()
                .map(|group| words.iter().filter(|w| group.contains(&w.as_str())).count() as f32)
                .collect();
            vector.push(0.1);
            json!({"object": "embedding", "embedding": vector, "index": index})
        })
        .collect();
    Json(json!({"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}}))
        .into_response()
}

async fn openai(State(fake): State<FakeLlm>, Json(body): Json<Value>) -> Response {
    let n = record(&fake, &body);
    assert_eq!(body["stream"], true, "the gateway streams");
    let mode = fake.mode();
    if mode == Mode::ServerError || (mode == Mode::FailOnce && n % 2 == 1) {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": {"message": "overloaded"}}))).into_response();
    }
    let mut events: Vec<String> =
        vec![format!("data: {}\n\n", json!({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}))];
    for t in fake.tokens.iter() {
        events.push(format!(
            "data: {}\n\n",
            json!({"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": t}}]})
        ));
    }
    events.push(format!(
        "data: {}\n\n",
        json!({"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 6, "total_tokens": 26}})
    ));
    events.push("data: [DONE]\n\n".into());
    let (drop_after, first, gap) = match mode {
        Mode::DropMidStream => (Some(3), Duration::ZERO, Duration::from_millis(5)),
        Mode::Slow => (None, Duration::from_millis(300), Duration::from_millis(400)),
        _ => (None, Duration::ZERO, Duration::from_millis(5)),
    };
    fake.stream(events, drop_after, first, gap)
}

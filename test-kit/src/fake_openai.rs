//! A fake OpenAI-compatible model server speaking the real wire format: `POST /v1/chat/completions` streams
//! SSE `data: {choices[0].delta.content}` … `data: [DONE]` (a role chunk first, a usage chunk last when
//! `stream_options.include_usage` asks for it), `POST /v1/embeddings` and `GET /v1/models`. It records what it
//! is asked and fails, when told to, as model servers do ([`Mode`]).
//!
//! Its routes take any router state a [`FakeOpenAi`] can be had from (`FromRef`), so that another fake can
//! share the port and the model's state: the gateway tests' fake Flowise does.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRef, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::time::{Instant, MissedTickBehavior};

/// When a reply's tokens come: the first `first` after the request (with the role chunk before it), then
/// one every `gap`, on a fixed schedule; the usage chunk and `[DONE]` follow the last token at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    pub first: Duration,
    pub gap: Duration,
}

impl Default for Pace {
    /// At once, then 5 ms apart: a quick model.
    fn default() -> Self {
        Self { first: Duration::ZERO, gap: Duration::from_millis(5) }
    }
}

/// How the fake answers next. The modes marked Flowise are read by a fake Flowise sharing this state (the
/// gateway tests'); the OpenAI routes answer them as [`Mode::Normal`].
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Streams `tokens` at the [`Pace`].
    Normal = 0,
    /// Answers 503.
    ServerError = 1,
    /// Streams two tokens, then drops the connection.
    DropMidStream = 2,
    /// Waits 300 ms before the first token, then streams one every 400 ms (long enough to be stopped).
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

/// The fake's state, shared by its handle and its server.
#[derive(Clone)]
pub struct FakeOpenAi {
    /// Its root, `http://127.0.0.1:<port>` (the API is under `/v1`).
    pub url: String,
    /// Every reply, token by token.
    pub tokens: Arc<Vec<String>>,
    pace: Pace,
    mode: Arc<AtomicU8>,
    /// Requests received (chat completions, and whatever else calls [`FakeOpenAi::record`]).
    pub requests: Arc<AtomicU32>,
    /// The last request body received.
    pub last_request: Arc<Mutex<Value>>,
    /// Texts embedded so far (`POST /v1/embeddings`).
    pub embedded: Arc<AtomicU32>,
    /// Whether `POST /v1/embeddings` answers 503.
    pub embeddings_down: Arc<AtomicBool>,
}

impl FakeOpenAi {
    /// The state of a fake at `url` whose every reply streams `tokens` at `pace`; serve it with [`routes`].
    pub fn new(url: impl Into<String>, tokens: impl IntoIterator<Item = impl Into<String>>, pace: Pace) -> Self {
        Self {
            url: url.into(),
            tokens: Arc::new(tokens.into_iter().map(Into::into).collect()),
            pace,
            mode: Arc::new(AtomicU8::new(Mode::Normal as u8)),
            requests: Arc::default(),
            last_request: Arc::new(Mutex::new(Value::Null)),
            embedded: Arc::default(),
            embeddings_down: Arc::default(),
        }
    }

    /// A fake on a new loopback port, not served yet: serve the listener with [`routes`] and any routes of
    /// its own.
    ///
    /// # Errors
    /// No port could be bound.
    pub async fn bind(
        tokens: impl IntoIterator<Item = impl Into<String>>,
        pace: Pace,
    ) -> std::io::Result<(Self, TcpListener)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        Ok((Self::new(url, tokens, pace), listener))
    }

    /// A fake on a new loopback port, served by a task of the current runtime.
    ///
    /// # Errors
    /// No port could be bound.
    pub async fn start(tokens: impl IntoIterator<Item = impl Into<String>>, pace: Pace) -> std::io::Result<Self> {
        let (fake, listener) = Self::bind(tokens, pace).await?;
        tokio::spawn(fake.clone().serve(listener));
        Ok(fake)
    }

    /// Serves the OpenAI routes on `listener` until the process ends.
    ///
    /// # Errors
    /// The server failed.
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        serve(listener, routes().with_state(self)).await
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

    /// A whole reply: the tokens, joined.
    pub fn full_reply(&self) -> String {
        self.tokens.concat()
    }

    /// Counts a request and keeps its body as the last one; returns how many there were, this one included.
    pub fn record(&self, body: &Value) -> u32 {
        *self.last_request.lock().expect("lock") = body.clone();
        self.requests.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// The OpenAI-compatible routes, on a router whose state gives a [`FakeOpenAi`].
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    FakeOpenAi: FromRef<S>,
{
    Router::new().route("/v1/chat/completions", post(chat_completions)).route("/v1/embeddings", post(embeddings)).route(
        "/v1/models",
        get(|| async { Json(json!({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})) }),
    )
}

/// Serves `app` on `listener` until the process ends, each connection with Nagle's algorithm off (a stream
/// of small chunks is not held back for the client's delayed ACK).
///
/// # Errors
/// The server failed.
pub async fn serve(listener: TcpListener, app: Router) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}

/// The system messages of a recorded chat request, joined as the model reads them.
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

fn overloaded() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": {"message": "overloaded"}}))).into_response()
}

async fn chat_completions(State(fake): State<FakeOpenAi>, Json(body): Json<Value>) -> Response {
    let n = fake.record(&body);
    assert_eq!(body["stream"], true, "the gateway streams");
    let mode = fake.mode();
    if mode == Mode::ServerError || (mode == Mode::FailOnce && n % 2 == 1) {
        return overloaded();
    }
    // Each event, and whether it waits for the next beat of the pace.
    let mut events: Vec<(bool, String)> =
        vec![(true, format!("data: {}\n\n", json!({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})))];
    for (i, t) in fake.tokens.iter().enumerate() {
        let chunk =
            json!({"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": t}}]});
        events.push((i > 0, format!("data: {chunk}\n\n")));
    }
    if body["stream_options"]["include_usage"] == true {
        let usage = json!({"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 6, "total_tokens": 26}});
        events.push((false, format!("data: {usage}\n\n")));
    }
    events.push((false, "data: [DONE]\n\n".into()));
    let (pace, drop_after) = match mode {
        Mode::DropMidStream => (fake.pace, Some(3)),
        Mode::Slow => (Pace { first: Duration::from_millis(300), gap: Duration::from_millis(400) }, None),
        _ => (fake.pace, None),
    };
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(paced(events, drop_after, pace)))
        .expect("response")
}

/// The events on the pace's schedule; `drop_after` cuts the stream there with an error.
fn paced(
    events: Vec<(bool, String)>,
    drop_after: Option<usize>,
    pace: Pace,
) -> impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send {
    let mut beats = tokio::time::interval_at(Instant::now() + pace.first, pace.gap.max(Duration::from_micros(1)));
    beats.set_missed_tick_behavior(MissedTickBehavior::Delay);
    futures_util::stream::unfold((0usize, events, beats), move |(i, events, mut beats)| async move {
        if Some(i) == drop_after {
            return Some((Err(std::io::Error::other("dropped")), (usize::MAX, events, beats)));
        }
        let (waits, event) = events.get(i)?.clone();
        if waits {
            beats.tick().await;
        }
        Some((Ok(event), (i + 1, events, beats)))
    })
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
async fn embeddings(State(fake): State<FakeOpenAi>, Json(body): Json<Value>) -> Response {
    if fake.embeddings_down.load(Ordering::SeqCst) {
        return overloaded();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn deltas(sse: &str) -> Vec<String> {
        sse.split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
            .collect()
    }

    #[tokio::test]
    async fn replies_stream_the_tokens_at_the_pace_and_modes_fail_as_told() {
        let pace = Pace { first: Duration::ZERO, gap: Duration::from_millis(30) };
        let fake = FakeOpenAi::start(["Hel", "lo", "!"], pace).await.expect("start");
        let http = reqwest::Client::new();
        let url = format!("{}/v1/chat/completions", fake.url);
        let ask = |body: Value| {
            let request = http.post(&url).json(&body);
            async move {
                let response = request.send().await.expect("send");
                (response.status().as_u16(), response.text().await.expect("body"))
            }
        };
        let started = Instant::now();
        let (status, sse) = ask(json!({"model": "m", "stream": true, "messages": []})).await;
        assert_eq!(status, 200);
        assert!(started.elapsed() >= Duration::from_millis(60), "two gaps after the first token");
        assert_eq!(deltas(&sse), ["Hel", "lo", "!"]);
        let first: Value =
            serde_json::from_str(sse.lines().next().and_then(|l| l.strip_prefix("data: ")).unwrap_or(""))
                .expect("a JSON event first");
        assert_eq!(first["choices"][0]["delta"]["role"], "assistant", "{sse}");
        assert!(sse.ends_with("data: [DONE]\n\n") && !sse.contains("usage"), "{sse}");
        let (_, sse) =
            ask(json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}, "messages": []})).await;
        assert!(sse.contains("\"total_tokens\":26"), "{sse}");
        assert_eq!(fake.requests.load(Ordering::SeqCst), 2);
        assert_eq!(fake.last_request.lock().expect("lock")["stream_options"]["include_usage"], true);

        fake.set_mode(Mode::ServerError);
        assert_eq!(ask(json!({"stream": true})).await.0, 503);
        fake.set_mode(Mode::DropMidStream);
        let cut = http.post(&url).json(&json!({"stream": true})).send().await.expect("headers").text().await;
        assert!(cut.is_err(), "the body ends in an error: {cut:?}");
        fake.set_mode(Mode::FailOnce);
        assert_eq!(ask(json!({"stream": true})).await.0, 503, "the first try (the 5th request)");
        assert_eq!(ask(json!({"stream": true})).await.0, 200, "its retry");

        let vectors = http
            .post(format!("{}/v1/embeddings", fake.url))
            .json(&json!({"model": "e", "input": ["The powerhouse", "Mitochondria!", "sugar"]}))
            .send()
            .await
            .expect("send");
        let vectors: Value = vectors.json().await.expect("json");
        assert_eq!(vectors["data"][0]["embedding"], vectors["data"][1]["embedding"], "one meaning");
        assert_ne!(vectors["data"][0]["embedding"], vectors["data"][2]["embedding"]);
        assert_eq!(fake.embedded.load(Ordering::SeqCst), 3);
        let models = http.get(format!("{}/v1/models", fake.url)).send().await.expect("send");
        assert_eq!(models.status(), 200);
    }
}

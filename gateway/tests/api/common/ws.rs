//! A WebSocket client speaking docs/protocol.md, for the chat tests.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ibal_gateway::domain::IdentityClaims;
use ibal_gateway::identity::tokens::{Grant, TokenPair};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::RunningGateway;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Client {
    pub ws: Ws,
}

impl Client {
    pub async fn connect(
        gw: &RunningGateway,
        query: &str,
        origin: Option<&str>,
    ) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        Self::connect_url(&gw.url, query, origin).await
    }

    pub async fn connect_url(
        base: &str,
        query: &str,
        origin: Option<&str>,
    ) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let url = format!("{}/ws/chat/{query}", base.replacen("http", "ws", 1));
        let mut request = url.into_client_request()?;
        if let Some(origin) = origin {
            request.headers_mut().insert("origin", origin.parse().expect("header"));
        }
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Self { ws })
    }

    /// Connects, authenticates with the first frame, and reads `user_info` and `history`.
    pub async fn join(gw: &RunningGateway, token: &str, query: &str) -> (Self, Value, Value) {
        Self::join_url(&gw.url, token, query).await
    }

    pub async fn join_url(base: &str, token: &str, query: &str) -> (Self, Value, Value) {
        let mut client = Self::connect_url(base, query, None).await.expect("connect");
        client.send(json!({"type": "auth", "token": token})).await;
        let info = client.expect("user_info").await;
        let history = client.expect("history").await;
        (client, info, history)
    }

    /// Joins the course context a chat ticket proves.
    pub async fn join_course(gw: &RunningGateway, token: &str, ticket: &str) -> (Self, Value, Value) {
        Self::join_course_url(&gw.url, token, ticket).await
    }

    pub async fn join_course_url(base: &str, token: &str, ticket: &str) -> (Self, Value, Value) {
        let mut client = Self::connect_url(base, "", None).await.expect("connect");
        client.send(json!({"type": "auth", "token": token, "ticket": ticket})).await;
        let info = client.expect("user_info").await;
        let history = client.expect("history").await;
        (client, info, history)
    }

    pub async fn send(&mut self, frame: Value) {
        self.ws.send(Message::Text(frame.to_string().into())).await.expect("send");
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.expect("send");
    }

    /// The next protocol frame (pings are answered by the library and skipped).
    pub async fn next(&mut self) -> Value {
        loop {
            let message =
                tokio::time::timeout(Duration::from_secs(10), self.ws.next()).await.expect("a frame within 10 s");
            match message.expect("socket open").expect("frame") {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON frame"),
                Message::Close(frame) => panic!("closed unexpectedly: {frame:?}"),
                _ => continue,
            }
        }
    }

    pub async fn expect(&mut self, kind: &str) -> Value {
        let frame = self.next().await;
        assert_eq!(frame["type"], kind, "expected {kind}, got {frame}");
        frame
    }

    /// Reads until a frame of this type, returning it and what came before.
    pub async fn until(&mut self, kind: &str) -> (Value, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let frame = self.next().await;
            if frame["type"] == kind {
                return (frame, before);
            }
            before.push(frame);
        }
    }

    /// Reads to the close frame: (frames before it, close code).
    pub async fn closed(&mut self) -> (Vec<Value>, Option<u16>) {
        let mut frames = Vec::new();
        loop {
            let message =
                tokio::time::timeout(Duration::from_secs(10), self.ws.next()).await.expect("closed within 10 s");
            match message {
                None => return (frames, None),
                Some(Err(e)) => {
                    eprintln!("socket error: {e}");
                    return (frames, None);
                }
                Some(Ok(Message::Close(frame))) => return (frames, frame.map(|f| u16::from(f.code))),
                Some(Ok(Message::Text(text))) => frames.push(serde_json::from_str(&text).expect("JSON")),
                Some(Ok(_)) => {}
            }
        }
    }
}

pub async fn sign_in(gw: &RunningGateway, username: &str) -> TokenPair {
    sign_in_with(&gw.state.db, &gw.state.tokens, username).await
}

/// A learner `username` and a fresh login for them. Their identity is the ticket LMS's (subject:
/// the username), so tickets `TicketLms` mints for `username` are theirs.
pub async fn sign_in_with(
    db: &ibal_gateway::store::Db,
    tokens: &ibal_gateway::identity::tokens::TokenService,
    username: &str,
) -> TokenPair {
    let claims = IdentityClaims {
        issuer: super::tickets::LMS_ISSUER.into(),
        subject: username.into(),
        username: username.into(),
        name: format!("{username} N."),
        email: String::new(),
        role: None,
    };
    let user = db.upsert_identity(&claims).await.expect("user");
    let grant = Grant { client_id: "ibal-widget".into(), scope: "chat".into(), ctx: None, service: false };
    tokens.start_login(&user, &grant).await.expect("tokens")
}

//! The assistant in a live course room: a message that mentions it gets a reply streamed to every
//! member, written from the room's recent messages; nothing else reaches the model; each room gets a
//! few replies a minute; the course team can turn it off; it does not answer during an exam.

use crate::common;

use common::fake_llm::{FakeLlm, system_prompt};
use common::ws::{Client, sign_in};
use common::{RunningGateway, spawn_gateway};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

async fn room_with_assistant(extra: &[(&str, &str)]) -> (FakeLlm, RunningGateway) {
    let llm = FakeLlm::answering(&["ATP is ", "the cell's energy currency."]).await;
    let base = format!("{}/v1", llm.url);
    let mut pairs = vec![("CHAT_BACKEND", "room"), ("ROOM_ASSISTANT", "openai"), ("OPENAI_BASE_URL", base.as_str())];
    pairs.extend_from_slice(extra);
    let gw = spawn_gateway(&pairs).await;
    (llm, gw)
}

/// A learner in the block's room, entered with the LMS's ticket (`claims` added to it).
async fn member(gw: &RunningGateway, username: &str, claims: Value) -> Client {
    let pair = sign_in(gw, username).await;
    let ticket = gw.lms.ticket_with(username, claims);
    let (client, info, _) = Client::join_course(gw, &pair.access_token, &ticket).await;
    assert_eq!(info["backend"], "room");
    client
}

async fn say(client: &mut Client, client_id: &str, content: &str) -> Value {
    client.send(json!({"type": "message", "client_id": client_id, "content": content})).await;
    loop {
        let (stored, _) = client.until("message").await;
        if stored["client_id"] == client_id {
            assert_eq!(stored["content"], content);
            return stored;
        }
    }
}

/// The `error` refusing the assistant and the caller's own stored `message`, in whichever order they
/// come; the error names no message, since the message itself went through.
async fn refused_but_kept(client: &mut Client) -> (Value, Value) {
    let (mut error, mut stored) = (Value::Null, Value::Null);
    while error.is_null() || stored.is_null() {
        let frame = client.next().await;
        match frame["type"].as_str() {
            Some("error") => error = frame,
            Some("message") => stored = frame,
            _ => {}
        }
    }
    assert!(error.get("client_id").is_none(), "{error}");
    (error, stored)
}

#[tokio::test]
async fn a_mention_gets_a_reply_that_streams_to_everyone_in_the_room() {
    let (llm, gw) = room_with_assistant(&[]).await;
    let mut alice = member(&gw, "alice", json!({})).await;
    let mut bob = member(&gw, "bob", json!({})).await;

    say(&mut bob, "b-1", "Does anyone know what ATP is for?").await;
    alice.until("message").await;
    assert_eq!(llm.requests.load(Ordering::SeqCst), 0, "a message without a mention reaches no model");

    let question = say(&mut alice, "a-1", "@assistant what is ATP?").await;
    for client in [&mut alice, &mut bob] {
        let (start, _) = client.until("stream_start").await;
        assert_eq!((start["sender"].as_str(), start["reply_to"].clone()), (Some("assistant"), question["id"].clone()));
        let (end, _) = client.until("stream_end").await;
        assert_eq!(end["content"], "ATP is the cell's energy currency.");
        assert_eq!(end["status"], "complete");
    }
    // Stored with its time to the first token (the dashboard's figure) besides its total time.
    let room_id = gw.state.db.get_message(question["id"].as_str().expect("id")).await.expect("q").conversation_id;
    let stored = gw.state.db.latest_reply(&room_id).await.expect("read").expect("the reply");
    let (first, total) = (stored.first_token_ms.expect("first token"), stored.latency_ms.expect("total"));
    assert!(first <= total, "{first} ms to the first token, {total} ms in all");

    let sent = llm.last_request.lock().expect("lock").clone();
    let system = system_prompt(&sent);
    assert!(system.contains("live room"), "{system}");
    let turns: Vec<&str> = sent["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(turns, ["bob: Does anyone know what ATP is for?", "alice: @assistant what is ATP?"]);

    // Stored like any reply: whoever enters the room later reads it.
    let mut carol = member(&gw, "carol", json!({})).await;
    carol.send(json!({"type": "history"})).await;
    let (history, _) = carol.until("history").await;
    let last = history["messages"].as_array().and_then(|m| m.last()).cloned().unwrap_or_default();
    assert_eq!(
        (last["role"].as_str(), last["content"].as_str()),
        (Some("assistant"), Some("ATP is the cell's energy currency."))
    );
}

#[tokio::test]
async fn each_room_gets_a_few_replies_a_minute_and_the_caller_is_told_why_not() {
    let (llm, gw) = room_with_assistant(&[("ROOM_ASSISTANT_PER_MINUTE", "1")]).await;
    let mut alice = member(&gw, "alice", json!({})).await;
    say(&mut alice, "a-1", "@assistant first question").await;
    alice.until("stream_end").await;

    alice.send(json!({"type": "message", "client_id": "a-2", "content": "@assistante deuxième question"})).await;
    let (error, stored) = refused_but_kept(&mut alice).await;
    assert_eq!(stored["client_id"], "a-2", "the message itself is stored and shown");
    assert_eq!(error["code"], "rate_limited");
    assert!(error["retry_after"].as_u64().is_some_and(|s| s >= 1), "{error}");
    assert_eq!(llm.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_course_team_can_keep_the_assistant_out_of_a_block() {
    let (llm, gw) = room_with_assistant(&[]).await;
    let mut quiet = member(&gw, "alice", json!({"room_assistant": false})).await;
    let mut other = member(&gw, "bob", json!({})).await;
    say(&mut quiet, "a-1", "@assistant are you there?").await;
    // Replies in a room are written one at a time, in the order called: had the first message
    // called the assistant, its reply would start before this one's.
    let called = say(&mut other, "b-1", "@assistant and now?").await;
    let (start, _) = other.until("stream_start").await;
    assert_eq!(start["reply_to"], called["id"]);
    other.until("stream_end").await;
    assert_eq!(llm.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_assistant_never_answers_in_an_exam() {
    let (llm, gw) = room_with_assistant(&[]).await;
    let mut examinee = member(&gw, "bob", json!({"exam": true})).await;
    examinee.send(json!({"type": "message", "client_id": "b-1", "content": "@assistant what is question 3?"})).await;
    let (error, stored) = refused_but_kept(&mut examinee).await;
    assert_eq!((error["code"].as_str(), stored["client_id"].as_str()), (Some("exam_mode"), Some("b-1")));
    assert_eq!(llm.requests.load(Ordering::SeqCst), 0, "nothing reached the model");
}

/// Enters the block with `channel` in the auth frame: (the socket, its user_info).
async fn tab(gw: &RunningGateway, username: &str, claims: Value, channel: &str) -> (Client, Value) {
    let pair = sign_in(gw, username).await;
    let ticket = gw.lms.ticket_with(username, claims);
    let mut client = Client::connect(gw, "", None).await.expect("connect");
    client.send(json!({"type": "auth", "token": pair.access_token, "ticket": ticket, "channel": channel})).await;
    let info = client.expect("user_info").await;
    client.expect("history").await;
    (client, info)
}

#[tokio::test]
async fn a_block_offering_both_has_a_room_tab_and_an_assistant_tab() {
    let (llm, gw) = room_with_assistant(&[]).await;
    let both = json!({"mode": "both"});
    let (mut own, info) = tab(&gw, "alice", both.clone(), "assistant").await;
    assert_eq!(info["backend"], "openai", "{info}");
    let (mut room, room_info) = tab(&gw, "bob", both.clone(), "room").await;
    assert_eq!(room_info["backend"], "room");
    assert_ne!(info["conversation_id"], room_info["conversation_id"], "the assistant tab is alice's own conversation");

    // In the assistant tab every message is answered, no mention needed; the room does not see it.
    own.send(json!({"type": "message", "client_id": "a-1", "content": "What is ATP?"})).await;
    let (end, _) = own.until("stream_end").await;
    assert_eq!(end["content"], "ATP is the cell's energy currency.");
    room.send(json!({"type": "ping"})).await;
    let (_, before) = room.until("pong").await;
    assert!(before.iter().all(|f| f["type"] != "message" && f["type"] != "stream_start"), "{before:?}");
    assert_eq!(llm.requests.load(Ordering::SeqCst), 1);

    // Without `both`, the channel is ignored: the block is the gateway's kind, a room.
    let (_plain, plain_info) = tab(&gw, "carol", json!({}), "assistant").await;
    assert_eq!(plain_info["backend"], "room");
    assert_eq!(plain_info["conversation_id"], room_info["conversation_id"]);
}

#[tokio::test]
async fn a_room_member_calls_the_assistant_without_the_notice_of_a_conversation_of_their_own() {
    // The block's AI notice gates a learner's own conversation with the assistant; in a room the
    // reply goes to everyone, and no room client shows that notice: asking the caller alone to have
    // accepted it would leave them with nothing to accept.
    let (llm, gw) = room_with_assistant(&[]).await;
    let notice = json!({"disclosure": {"text": "Answers are generated by AI and may be wrong.", "version": "v1"}});
    let mut alice = member(&gw, "alice", notice).await;
    say(&mut alice, "a-1", "@assistant what is ATP?").await;
    let (end, _) = alice.until("stream_end").await;
    assert_eq!(end["status"], "complete");
    assert_eq!(llm.requests.load(Ordering::SeqCst), 1);
}

//! The chat over a real WebSocket: authentication, the protocol, persistence without loss, the
//! room and LLM backends (against fakes speaking the real wire formats), limits and malformed input.

use crate::common;

use common::fake_flowise;
use common::fake_llm::{FakeLlm, Mode};
use common::tickets::LMS_ISSUER;
use common::ws::{Client, sign_in};
use common::{RunningGateway, eventually, spawn_gateway};
use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

async fn openai_gateway(extra: &[(&str, &str)]) -> (FakeLlm, RunningGateway) {
    let llm = FakeLlm::start().await;
    let base = format!("{}/v1", llm.url);
    let mut pairs =
        vec![("CHAT_BACKEND", "openai"), ("OPENAI_BASE_URL", base.as_str()), ("OPENAI_MODEL", "fake-model")];
    pairs.extend_from_slice(extra);
    let gw = spawn_gateway(&pairs).await;
    (llm, gw)
}

#[tokio::test]
async fn an_openai_reply_streams_and_a_resend_after_reconnect_is_stored_once() {
    let (llm, gw) = openai_gateway(&[]).await;
    let pair = sign_in(&gw, "john_doe").await;
    let (mut client, info, history) = Client::join_course(&gw, &pair.access_token, &gw.lms.ticket("john_doe")).await;
    assert_eq!(info["username"], "john_doe");
    assert_eq!(info["backend"], "openai");
    assert_eq!(info["context"]["course_id"], "course-v1:edX+DemoX+Demo");
    assert_eq!(history["messages"], json!([]));

    client.send(json!({"type": "message", "client_id": "c-1", "content": "  Hello!  "})).await;
    let ack = client.expect("message").await;
    assert_eq!(
        (ack["client_id"].as_str(), ack["content"].as_str(), ack["sender"].as_str()),
        (Some("c-1"), Some("Hello!"), Some("john_doe"))
    );
    assert!(ack["timestamp"].as_str().expect("ts").ends_with('Z'));
    let start = client.expect("stream_start").await;
    assert_eq!(start["reply_to"], ack["id"]);
    let (end, deltas) = client.until("stream_end").await;
    let streamed: String = deltas.iter().map(|d| d["delta"].as_str().expect("delta")).collect();
    assert_eq!(streamed, llm.full_reply());
    assert!(deltas.iter().all(|d| d["type"] == "stream_delta" && d["id"] == start["id"]));
    assert_eq!((end["content"].as_str(), end["status"].as_str()), (Some(llm.full_reply().as_str()), Some("complete")));
    assert_eq!(end["usage"]["total_tokens"], 26);
    let sent = llm.last_request.lock().expect("lock").clone();
    assert_eq!(sent["model"], "fake-model");
    assert_eq!(sent["messages"][0]["role"], "system");
    assert!(
        sent["messages"][0]["content"].as_str().expect("prompt").contains("course-v1:edX+DemoX+Demo"),
        "the prompt names the course"
    );
    assert_eq!(sent["messages"].as_array().expect("messages").last().expect("last")["content"], "Hello!");
    drop(client);

    // Reconnect: the conversation resumes; resending c-1 is acknowledged with the stored copy.
    let (mut client, _, history) = Client::join_course(&gw, &pair.access_token, &gw.lms.ticket("john_doe")).await;
    let messages = history["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2, "{history}");
    assert_eq!((messages[0]["role"].as_str(), messages[1]["role"].as_str()), (Some("user"), Some("assistant")));
    assert_eq!(messages[1]["content"], llm.full_reply());
    client.send(json!({"type": "message", "client_id": "c-1", "content": "Hello!"})).await;
    let again = client.expect("message").await;
    assert_eq!(again["id"], ack["id"], "the same message, not a copy");
    client.send(json!({"type": "ping"})).await;
    client.expect("pong").await; // no second stream_start came first: the reply exists already
    let conversation = info["conversation_id"].as_str().expect("id");
    assert_eq!(gw.state.db.count_messages(conversation).await.expect("count"), 2, "exactly one copy of each");
    assert_eq!(llm.requests.load(std::sync::atomic::Ordering::SeqCst), 1, "the model was asked once");
    client.send(json!({"type": "history", "limit": 1})).await;
    let page = client.expect("history").await;
    assert_eq!(page["messages"][0]["role"], "assistant");
    assert_eq!(page["has_more"], true);

    // A follow-up carries the conversation so far, oldest first, and the question once, last.
    client.send(json!({"type": "message", "client_id": "c-2", "content": "And then?"})).await;
    client.expect("message").await;
    client.until("stream_end").await;
    let sent = llm.last_request.lock().expect("lock").clone();
    let turns: Vec<(String, String)> = sent["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] != "system")
        .map(|m| (m["role"].as_str().unwrap_or("").to_owned(), m["content"].as_str().unwrap_or("").to_owned()))
        .collect();
    let expected = [("user", "Hello!".to_owned()), ("assistant", llm.full_reply()), ("user", "And then?".to_owned())];
    assert_eq!(turns, expected.map(|(role, content)| (role.to_owned(), content)));
}

#[tokio::test]
async fn a_resent_message_whose_reply_was_lost_is_answered() {
    let (llm, gw) = openai_gateway(&[]).await;
    let pair = sign_in(&gw, "u1").await;
    // The gateway stored the message and died before the reply: only the user's message exists.
    let (mut client, info, _) = Client::join_course(&gw, &pair.access_token, &gw.lms.ticket("u1")).await;
    let conversation =
        gw.state.db.get_conversation(info["conversation_id"].as_str().expect("id")).await.expect("conversation");
    let user = gw.state.db.find_user_by_identity(LMS_ISSUER, "u1").await.expect("q").expect("user");
    let new = ibal_gateway::domain::NewMessage::from_user(&conversation.id, &user.id, "u1", "lost-1", "Are you there?");
    gw.state.db.insert_message(&new).await.expect("stored before the crash");
    client.send(json!({"type": "message", "client_id": "lost-1", "content": "Are you there?"})).await;
    client.expect("message").await;
    let (end, _) = client.until("stream_end").await;
    assert_eq!(end["content"], llm.full_reply());
    assert_eq!(gw.state.db.count_messages(&conversation.id).await.expect("count"), 2);
}

#[tokio::test]
async fn backend_failures_keep_the_users_message_and_say_why() {
    let (llm, gw) = openai_gateway(&[]).await;
    let pair = sign_in(&gw, "u2").await;
    let (mut client, info, _) = Client::join_course(&gw, &pair.access_token, &gw.lms.ticket("u2")).await;
    let conversation = info["conversation_id"].as_str().expect("id").to_owned();

    llm.set_mode(Mode::ServerError);
    client.send(json!({"type": "message", "client_id": "f-1", "content": "first"})).await;
    let (end, before) = client.until("stream_end").await;
    let error = before.iter().find(|f| f["type"] == "error").expect("an error frame");
    assert_eq!(error["code"], "backend_unavailable");
    assert_eq!(end["status"], "failed");
    assert_eq!(llm.requests.load(std::sync::atomic::Ordering::SeqCst), 3, "retried twice before giving up");

    llm.set_mode(Mode::DropMidStream);
    client.send(json!({"type": "message", "client_id": "f-2", "content": "second"})).await;
    let (end, before) = client.until("stream_end").await;
    assert_eq!(before.iter().find(|f| f["type"] == "error").expect("error")["code"], "backend_error");
    assert_eq!(end["status"], "failed");
    let partial = end["content"].as_str().expect("content");
    assert!(
        !partial.is_empty() && llm.full_reply().starts_with(partial) && partial != llm.full_reply(),
        "what arrived before the drop is kept: {partial:?}"
    );

    let history = gw.state.db.history(&conversation, None, 50).await.expect("history");
    let users: Vec<&str> = history
        .iter()
        .filter(|m| m.role == ibal_gateway::domain::MessageRole::User)
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(users, ["first", "second"], "no user message lost");
    let failed: Vec<_> = history.iter().filter(|m| m.status == ibal_gateway::domain::MessageStatus::Failed).collect();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[1].error_code.as_deref(), Some("backend_error"));
    assert_eq!(failed[1].content, partial, "the partial reply is stored as failed");

    // A transient failure before the first token is retried, invisibly.
    llm.set_mode(Mode::FailOnce);
    client.send(json!({"type": "message", "client_id": "f-3", "content": "third"})).await;
    let (end, before) = client.until("stream_end").await;
    assert!(before.iter().all(|f| f["type"] != "error"), "{before:?}");
    assert_eq!(end["status"], "complete");
}

#[tokio::test]
async fn stop_cancels_the_generation_and_keeps_what_arrived() {
    let (llm, gw) = openai_gateway(&[]).await;
    llm.set_mode(Mode::Slow);
    let pair = sign_in(&gw, "u3").await;
    let (mut client, _, _) = Client::join_course(&gw, &pair.access_token, &gw.lms.ticket("u3")).await;
    let start = ask_until_streaming(&mut client, "s-1", "tell me a long story").await;
    client.send(json!({"type": "stop", "id": start["id"]})).await;
    let (end, _) = client.until("stream_end").await;
    assert_eq!(end["status"], "stopped");
    assert!(end["content"].as_str().expect("content").starts_with("Hello"));
    let stored =
        gw.state.db.get_message(start["id"].as_str().expect("id")).await.expect("stored under the announced id");
    assert_eq!(stored.status, ibal_gateway::domain::MessageStatus::Stopped);
    client.send(json!({"type": "stop", "id": "no-such-reply"})).await;
    assert_eq!(client.expect("error").await["code"], "not_found");
}

async fn flowise_gateway(extra: &[(&str, &str)]) -> (FakeLlm, RunningGateway) {
    let llm = FakeLlm::start().await;
    let mut pairs = vec![
        ("CHAT_BACKEND", "flowise"),
        ("FLOWISE_URL", llm.url.as_str()),
        ("FLOWISE_FLOW_ID", fake_flowise::FLOW),
        ("FLOWISE_MAX_RETRIES", "2"),
    ];
    pairs.extend_from_slice(extra);
    let gw = spawn_gateway(&pairs).await;
    (llm, gw)
}

/// Asks a question and waits until its reply is being written (its first delta); returns the
/// reply's `stream_start`.
async fn ask_until_streaming(client: &mut Client, client_id: &str, content: &str) -> Value {
    client.send(json!({"type": "message", "client_id": client_id, "content": content})).await;
    client.expect("message").await;
    let start = client.expect("stream_start").await;
    client.expect("stream_delta").await;
    start
}

#[tokio::test]
async fn flowise_streams_retries_before_the_first_token_and_accepts_json_answers() {
    let (llm, gw) = flowise_gateway(&[("FLOWISE_API_KEY", "flowise-key")]).await;
    llm.flowise.set_api_key(Some("flowise-key"));
    let pair = sign_in(&gw, "u4").await;
    let ticket = gw.lms.ticket_with("u4", json!({"title": "Calculus helper", "instructions": "Use Leibniz notation."}));
    let (mut client, info, _) = Client::join_course(&gw, &pair.access_token, &ticket).await;
    client.send(json!({"type": "message", "client_id": "w-1", "content": "What is a derivative?"})).await;
    let (end, _) = client.until("stream_end").await;
    assert_eq!(end["content"], llm.full_reply());
    let sent = llm.last_request.lock().expect("lock").clone();
    assert_eq!(sent["question"], "What is a derivative?");
    assert_eq!(sent["streaming"], true, "the flow said it streams");
    assert_eq!(sent["overrideConfig"]["sessionId"], info["conversation_id"], "one Flowise session per conversation");
    let first_chat = sent["chatId"].as_str().expect("chatId").to_owned();
    assert_ne!(first_chat, info["conversation_id"].as_str().expect("id"), "a chatId of the request's own");
    // The flow gets the proven context as variables ($vars.ibal_…), the signed instructions included.
    let vars = &sent["overrideConfig"]["vars"];
    assert_eq!(vars["ibal_instructions"], "Use Leibniz notation.");
    assert_eq!(vars["ibal_title"], "Calculus helper");
    assert_eq!(vars["ibal_course_id"], common::tickets::COURSE);
    assert!(vars["ibal_system_prompt"].as_str().expect("prompt").contains("Use Leibniz notation."));

    // 503: Flowise did not take the request; asked again, invisibly, with the same chatId.
    llm.set_mode(Mode::FailOnce);
    client.send(json!({"type": "message", "client_id": "w-2", "content": "again"})).await;
    let (end, before) = client.until("stream_end").await;
    assert!(before.iter().all(|f| f["type"] != "error"));
    assert_eq!(end["status"], "complete");
    let ids = llm.flowise.chat_ids.lock().expect("lock").clone();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[1], ids[2], "a retry of a request never taken is the same request");
    assert_ne!(ids[1], first_chat);

    // A flow that cannot stream (Flowise says so) is asked without streaming.
    llm.set_mode(Mode::Json);
    client.send(json!({"type": "message", "client_id": "w-3", "content": "no streaming"})).await;
    let (end, _) = client.until("stream_end").await;
    assert_eq!(end["content"], llm.full_reply());
    assert_eq!(llm.last_request.lock().expect("lock")["streaming"], false);

    let ready: Value = reqwest::get(format!("{}/ready", gw.url)).await.expect("ready").json().await.expect("json");
    assert_eq!(ready["checks"]["chat_backend"], "ok", "{ready}");
}

/// Flowise routes its stream by chatId: two replies of one conversation must not share one. They
/// are answered one at a time, in order, each complete, and Flowise's memory gets each turn once.
#[tokio::test]
async fn flowise_overlapping_questions_each_get_their_own_answer_in_order() {
    let (llm, gw) = flowise_gateway(&[]).await;
    llm.set_mode(Mode::Slow);
    let pair = sign_in(&gw, "overlap").await;
    let (mut client, info, _) = Client::join_course(&gw, &pair.access_token, &gw.lms.ticket("overlap")).await;
    let conversation = info["conversation_id"].as_str().expect("id").to_owned();
    client.send(json!({"type": "message", "client_id": "o-1", "content": "first question"})).await;
    let first = client.expect("message").await;
    client.expect("stream_start").await;
    client.expect("stream_delta").await;
    client.send(json!({"type": "message", "client_id": "o-2", "content": "second question"})).await;

    let mut ends = Vec::new();
    while ends.len() < 2 {
        let (end, _) = client.until("stream_end").await;
        ends.push(end);
    }
    for end in &ends {
        assert_eq!(
            (end["status"].as_str(), end["content"].as_str()),
            (Some("complete"), Some(llm.full_reply().as_str()))
        );
    }
    let replies: Vec<_> = gw
        .state
        .db
        .history(&conversation, None, 50)
        .await
        .expect("history")
        .into_iter()
        .filter(|m| m.role == ibal_gateway::domain::MessageRole::Assistant)
        .collect();
    assert_eq!(replies.len(), 2, "one stored reply per question");
    assert_eq!(replies[0].reply_to.as_deref(), first["id"].as_str(), "answered in order");
    let memory = llm.flowise.memory.lock().expect("lock").get(&conversation).cloned();
    assert_eq!(memory, Some(vec!["first question".to_owned(), "second question".to_owned()]), "each turn once");
    let ids = llm.flowise.chat_ids.lock().expect("lock").clone();
    assert_eq!(ids.len(), 2, "asked once each");
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn flowise_stop_and_a_closed_socket_abort_the_generation() {
    let (llm, gw) = flowise_gateway(&[("FLOWISE_API_KEY", "flowise-key")]).await;
    llm.flowise.set_api_key(Some("flowise-key"));
    llm.set_mode(Mode::Slow);
    let pair = sign_in(&gw, "stopper").await;
    let (mut client, _, _) = Client::join_course(&gw, &pair.access_token, &gw.lms.ticket("stopper")).await;
    let start = ask_until_streaming(&mut client, "st-1", "a long story").await;
    client.send(json!({"type": "stop", "id": start["id"]})).await;
    let (end, _) = client.until("stream_end").await;
    assert_eq!(end["status"], "stopped");
    let chat_id = llm.flowise.chat_ids.lock().expect("lock")[0].clone();
    let aborts = || llm.flowise.aborts.lock().expect("lock").clone();
    eventually("the abort reaches Flowise", || !aborts().is_empty()).await;
    assert_eq!(aborts(), [(fake_flowise::FLOW.to_owned(), chat_id)], "this request's generation, with the key");

    // The learner's only socket goes away mid-reply: Flowise is told to stop too.
    let start = ask_until_streaming(&mut client, "st-2", "another long one").await;
    drop(client);
    eventually("the second abort reaches Flowise", || aborts().len() == 2).await;
    let chat_id = llm.flowise.chat_ids.lock().expect("lock")[1].clone();
    assert_eq!(aborts()[1].1, chat_id);
    let id = start["id"].as_str().expect("id").to_owned();
    let mut stored = gw.state.db.get_message(&id).await;
    for _ in 0..250 {
        if stored.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        stored = gw.state.db.get_message(&id).await;
    }
    let stored = stored.expect("stored");
    assert_eq!(stored.status, ibal_gateway::domain::MessageStatus::Stopped);
}

#[tokio::test]
async fn flowise_heartbeats_keep_a_slow_reply_alive() {
    let (llm, gw) = flowise_gateway(&[("FLOWISE_TIMEOUT", "1")]).await;
    let pair = sign_in(&gw, "patient").await;
    let (mut client, _, _) = Client::join_course(&gw, &pair.access_token, &gw.lms.ticket("patient")).await;
    // A 2.5 s tool step, with heartbeats, under a 1 s silence limit: the reply completes.
    llm.set_mode(Mode::SlowTool);
    client.send(json!({"type": "message", "client_id": "h-1", "content": "use the tool"})).await;
    let (end, before) = client.until("stream_end").await;
    assert!(before.iter().all(|f| f["type"] != "error"), "{before:?}");
    assert_eq!((end["status"].as_str(), end["content"].as_str()), (Some("complete"), Some(llm.full_reply().as_str())));
    // The same step, silent: given up after the limit, and not asked again (it reached the flow).
    llm.set_mode(Mode::SlowToolSilent);
    client.send(json!({"type": "message", "client_id": "h-2", "content": "use it quietly"})).await;
    let (end, before) = client.until("stream_end").await;
    assert_eq!(before.iter().find(|f| f["type"] == "error").expect("error")["code"], "backend_timeout");
    assert_eq!(end["status"], "failed");
    assert_eq!(llm.requests.load(std::sync::atomic::Ordering::SeqCst), 2, "never retried once sent");
}

#[tokio::test]
async fn flowise_permanent_errors_are_reported_and_not_retried() {
    let (llm, gw) = flowise_gateway(&[("FLOWISE_TIMEOUT", "1")]).await;
    let pair = sign_in(&gw, "refused").await;
    let (mut client, _, _) = Client::join_course(&gw, &pair.access_token, &gw.lms.ticket("refused")).await;
    let requests = || llm.requests.load(std::sync::atomic::Ordering::SeqCst);
    let mut ask = async |client_id: &str| {
        client.send(json!({"type": "message", "client_id": client_id, "content": "question"})).await;
        let (end, before) = client.until("stream_end").await;
        assert_eq!(end["status"], "failed");
        before.into_iter().find(|f| f["type"] == "error").expect("an error frame")
    };

    // The LLM behind the flow refuses (an `error` event): backend_refused, asked once.
    llm.set_mode(Mode::ErrorEvent);
    let error = ask("p-1").await;
    assert_eq!(error["code"], "backend_refused");
    assert!(error["message"].as_str().expect("message").contains("refused"), "{error}");
    assert_eq!(requests(), 1);

    // The flow itself fails (HTTP 500 after running): not asked again either.
    llm.set_mode(Mode::ServerError);
    assert_eq!(ask("p-2").await["code"], "backend_refused");
    assert_eq!(requests(), 2);

    // A wrong API key: Unauthorized, asked once.
    llm.set_mode(Mode::Normal);
    llm.flowise.set_api_key(Some("the-right-key"));
    assert_eq!(ask("p-3").await["code"], "backend_refused");
    llm.flowise.set_api_key(None);

    // A non-streaming answer slower than FLOWISE_TIMEOUT: a timeout, never asked twice.
    llm.set_mode(Mode::SlowJson);
    let before = requests();
    assert_eq!(ask("p-4").await["code"], "backend_timeout");
    assert_eq!(requests(), before + 1);
}

#[tokio::test]
async fn a_wrong_flow_id_fails_check_and_ready_naming_flowise_flow_id() {
    let (llm, gw) = flowise_gateway(&[("FLOWISE_FLOW_ID", "no-such-flow")]).await;
    let ready = reqwest::get(format!("{}/ready", gw.url)).await.expect("ready");
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["checks"]["chat_backend"], "unavailable", "{body}");
    assert!(body.to_string().contains("FLOWISE_FLOW_ID"), "{body}");
    // A question fails at once, rather than waiting on a prediction Flowise would never answer.
    let pair = sign_in(&gw, "lost").await;
    let (mut client, _, _) = Client::join_course(&gw, &pair.access_token, &gw.lms.ticket("lost")).await;
    client.send(json!({"type": "message", "client_id": "l-1", "content": "anyone?"})).await;
    let (end, before) = client.until("stream_end").await;
    assert_eq!(end["status"], "failed");
    assert_eq!(before.iter().find(|f| f["type"] == "error").expect("error")["code"], "backend_refused");

    let config = common::test_config(
        &gw.test_db.url,
        &[("CHAT_BACKEND", "flowise"), ("FLOWISE_URL", &llm.url), ("FLOWISE_FLOW_ID", "no-such-flow")],
    );
    let lines = ibal_gateway::check::run(&config).await;
    let flow = lines.iter().find(|l| l.detail.contains("FLOWISE_FLOW_ID")).expect("a line about the flow");
    assert!(!flow.ok, "{flow}");
    assert!(flow.detail.contains("no-such-flow") && flow.detail.contains("not found"), "{flow}");

    let config = common::test_config(
        &gw.test_db.url,
        &[("CHAT_BACKEND", "flowise"), ("FLOWISE_URL", &llm.url), ("FLOWISE_FLOW_ID", fake_flowise::FLOW)],
    );
    let lines = ibal_gateway::check::run(&config).await;
    assert!(lines.iter().all(|l| l.ok), "{lines:?}");
    assert!(lines.iter().any(|l| l.detail.contains("FLOWISE_FLOW_ID") && l.detail.contains("streams")), "{lines:?}");
    // Nothing was ever sent to a prediction that would hang.
    assert_eq!(llm.requests.load(std::sync::atomic::Ordering::SeqCst), 0);

    // `serve` says so at start-up, in one line naming the variable.
    let dir = std::env::temp_dir().join(format!("ibal-flow-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("workdir");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ibal-gateway"))
        .current_dir(&dir)
        .env_clear()
        .envs([
            ("BIND_ADDR", "127.0.0.1:0"),
            ("LOG_FORMAT", "json"),
            ("CHAT_BACKEND", "flowise"),
            ("FLOWISE_URL", llm.url.as_str()),
            ("FLOWISE_FLOW_ID", "no-such-flow"),
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let (_, drain) = common::wait_listening(&mut child).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    child.start_kill().expect("stop");
    let log = drain.await.expect("log");
    let line = log.iter().find(|l| l.contains("FLOWISE_FLOW_ID")).unwrap_or_else(|| panic!("{log:?}"));
    assert!(line.contains("ERROR") && line.contains("no-such-flow") && line.contains("not found"), "{line}");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn ratings_reach_flowise_with_the_chat_message_id() {
    let (llm, gw) = flowise_gateway(&[("FLOWISE_API_KEY", "flowise-key")]).await;
    llm.flowise.set_api_key(Some("flowise-key"));
    let pair = sign_in(&gw, "rater").await;
    let (mut client, _, _) = Client::join_course(&gw, &pair.access_token, &gw.lms.ticket("rater")).await;
    client.send(json!({"type": "message", "client_id": "r-1", "content": "Rate me"})).await;
    let (end, _) = client.until("stream_end").await;
    let reply = end["id"].as_str().expect("id").to_owned();
    let chat_id = llm.flowise.chat_ids.lock().expect("lock")[0].clone();
    let flowise_message = llm.flowise.messages.lock().expect("lock").keys().next().cloned().expect("a Flowise message");

    let http = reqwest::Client::new();
    let rate = |body: Value| {
        http.post(format!("{}/api/v1/messages/{reply}/feedback", gw.url))
            .bearer_auth(&pair.access_token)
            .json(&body)
            .send()
    };
    assert_eq!(rate(json!({"rating": "down", "comment": "Too vague"})).await.expect("rate").status(), 204);
    let feedback = || llm.flowise.feedback.lock().expect("lock").clone();
    eventually("the rating reaches Flowise", || feedback().len() == 1).await;
    assert_eq!(
        feedback()[0],
        json!({"chatflowid": fake_flowise::FLOW, "chatId": chat_id, "messageId": flowise_message,
               "rating": "THUMBS_DOWN", "content": "Too vague"})
    );
    assert_eq!(rate(json!({"rating": "up"})).await.expect("rate").status(), 204);
    eventually("the new rating reaches Flowise", || feedback().len() == 2).await;
    assert_eq!(feedback()[1]["rating"], "THUMBS_UP");
}

#[tokio::test]
async fn room_members_see_each_others_messages_typing_and_presence() {
    let gw = spawn_gateway(&[]).await;
    let alice = sign_in(&gw, "alice").await;
    let bob = sign_in(&gw, "bob").await;
    let (mut a, info_a, _) = Client::join_course(&gw, &alice.access_token, &gw.lms.ticket("alice")).await;
    assert_eq!(info_a["backend"], "room");
    assert_eq!(a.expect("presence").await["count"], 1);
    let (mut b, info_b, _) = Client::join_course(&gw, &bob.access_token, &gw.lms.ticket("bob")).await;
    assert_eq!(info_a["conversation_id"], info_b["conversation_id"], "one room per context");
    assert_eq!(a.expect("presence").await["count"], 2);
    assert_eq!(b.expect("presence").await["count"], 2);

    b.send(json!({"type": "typing", "is_typing": true})).await;
    let typing = a.expect("typing").await;
    assert_eq!((typing["username"].as_str(), typing["is_typing"].as_bool()), (Some("bob"), Some(true)));
    b.expect("typing").await;
    b.send(json!({"type": "message", "client_id": "b-1", "content": "Hi Alice"})).await;
    let got = a.expect("message").await;
    assert_eq!((got["sender"].as_str(), got["content"].as_str()), (Some("bob"), Some("Hi Alice")));
    assert_eq!(b.expect("message").await["id"], got["id"], "the sender's acknowledgement is the same message");

    // Another block is another room.
    let other_block =
        gw.lms.ticket_with("alice", json!({"usage_id": "block-v1:edX+DemoX+Demo+type@ibalxblock+block@b2"}));
    let (mut c, info_c, _) = Client::join_course(&gw, &alice.access_token, &other_block).await;
    assert_ne!(info_c["conversation_id"], info_a["conversation_id"]);
    c.expect("presence").await;
    drop(b);
    assert_eq!(a.expect("presence").await["count"], 1, "leaving updates presence");
}

#[tokio::test]
async fn messages_sent_back_to_back_keep_their_order_and_outlive_their_sender() {
    let gw = spawn_gateway(&[("CHAT_MESSAGES_PER_MINUTE", "1000")]).await;
    let alice = sign_in(&gw, "alice").await;
    let bob = sign_in(&gw, "bob").await;
    let (mut a, _, _) = Client::join_course(&gw, &alice.access_token, &gw.lms.ticket("alice")).await;
    a.expect("presence").await;
    let (mut b, _, _) = Client::join_course(&gw, &bob.access_token, &gw.lms.ticket("bob")).await;
    a.expect("presence").await;
    b.expect("presence").await;
    let content = |i: usize| format!("m{i}");
    let send = |i: usize| json!({"type": "message", "client_id": format!("b-{i}"), "content": content(i)});

    // Sent without waiting for acknowledgements: stored while the next ones are read, announced in order.
    for i in 0..40 {
        b.send(send(i)).await;
    }
    for i in 0..40 {
        assert_eq!(b.expect("message").await["content"], content(i));
    }
    // Sent, then the socket closed at once: what was read is stored and reaches the room all the same.
    for i in 40..80 {
        b.send(send(i)).await;
    }
    b.ws.close(None).await.expect("close");
    let _ = b.closed().await;
    let mut seen = Vec::new();
    while seen.len() < 80 {
        let frame = a.next().await;
        if frame["type"] == "message" {
            seen.push(frame["content"].as_str().expect("content").to_owned());
        }
    }
    assert_eq!(seen, (0..80).map(content).collect::<Vec<_>>());
    let (_, _, history) = Client::join_course(&gw, &bob.access_token, &gw.lms.ticket("bob")).await;
    let stored = history["messages"].as_array().expect("messages");
    assert_eq!(stored.len(), 50, "the newest page of the 80 stored messages");
    assert_eq!(stored.last().expect("newest")["content"], content(79));
}

#[tokio::test]
async fn authentication_is_required_first_and_checked() {
    let gw = spawn_gateway(&[("CHAT_AUTH_TIMEOUT_SECS", "1")]).await;
    let mut silent = Client::connect(&gw, "", None).await.expect("connect");
    let (frames, code) = silent.closed().await;
    assert_eq!((frames[0]["code"].as_str(), code), (Some("auth_timeout"), Some(4408)));

    let mut rude = Client::connect(&gw, "", None).await.expect("connect");
    rude.send(json!({"type": "message", "client_id": "x", "content": "hi"})).await;
    let (frames, code) = rude.closed().await;
    assert_eq!((frames[0]["code"].as_str(), code), (Some("auth_required"), Some(4401)));

    let mut forged = Client::connect(&gw, "", None).await.expect("connect");
    forged.send(json!({"type": "auth", "token": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."})).await;
    let (frames, code) = forged.closed().await;
    assert_eq!((frames[0]["code"].as_str(), code), (Some("invalid_token"), Some(4401)));

    // The original query-string authentication still works.
    let pair = sign_in(&gw, "legacy").await;
    let mut legacy =
        Client::connect(&gw, &format!("?token={}&auth_type=oauth2", pair.access_token), None).await.expect("connect");
    assert_eq!(legacy.expect("user_info").await["username"], "legacy");
}

#[tokio::test]
async fn a_disallowed_origin_is_refused_before_the_upgrade() {
    let gw = spawn_gateway(&[("ALLOWED_ORIGINS", "http://course.test")]).await;
    let refused = Client::connect(&gw, "", Some("http://evil.test")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("the handshake must be refused"),
    }
    let pair = sign_in(&gw, "ok").await;
    let mut allowed = Client::connect(&gw, "", Some("http://course.test")).await.expect("allowed origin");
    allowed.send(json!({"type": "auth", "token": pair.access_token})).await;
    allowed.expect("user_info").await;
}

#[tokio::test]
async fn every_limit_answers_with_its_code() {
    let gw = spawn_gateway(&[
        ("CHAT_MESSAGES_PER_MINUTE", "2"),
        ("CHAT_MAX_SOCKETS_PER_USER", "1"),
        ("CHAT_MAX_MESSAGE_BYTES", "1000"),
    ])
    .await;
    let pair = sign_in(&gw, "limits").await;
    let (mut client, _, _) = Client::join(&gw, &pair.access_token, "").await;
    client.expect("presence").await;

    // Sockets per user.
    let mut second = Client::connect(&gw, "", None).await.expect("connect");
    second.send(json!({"type": "auth", "token": pair.access_token})).await;
    let (frames, code) = second.closed().await;
    assert_eq!((frames[0]["code"].as_str(), code), (Some("too_many_sockets"), Some(4429)));

    // Content too long (but within the frame limit), and a bad client_id.
    client.send(json!({"type": "message", "client_id": "big", "content": "x".repeat(1001)})).await;
    assert_eq!(client.expect("error").await["code"], "invalid_message");
    client.send(json!({"type": "message", "client_id": "", "content": "x"})).await;
    assert_eq!(client.expect("error").await["code"], "invalid_message");
    client.send(json!({"type": "message", "client_id": "e", "content": "   "})).await;
    assert_eq!(client.expect("error").await["code"], "invalid_message");

    // Messages per minute.
    for i in 0..2 {
        client.send(json!({"type": "message", "client_id": format!("r{i}"), "content": "hi"})).await;
        client.expect("message").await;
    }
    client.send(json!({"type": "message", "client_id": "r2", "content": "hi"})).await;
    let limited = client.expect("error").await;
    assert_eq!(limited["code"], "rate_limited");
    assert_eq!(limited["client_id"], "r2", "the refused message is named");
    assert!(limited["retry_after"].as_u64().expect("retry_after") >= 1);

    // A frame over the limit closes with 1009.
    client
        .send_raw(&format!("{{\"type\":\"message\",\"client_id\":\"huge\",\"content\":\"{}\"}}", "y".repeat(4000)))
        .await;
    let (_, code) = client.closed().await;
    assert_eq!(code, Some(1009));
}

#[tokio::test]
async fn malformed_frames_get_error_frames_and_the_socket_stays_open() {
    let gw = spawn_gateway(&[]).await;
    let pair = sign_in(&gw, "fuzz").await;
    let (mut client, _, _) = Client::join(&gw, &pair.access_token, "").await;
    client.expect("presence").await;
    let cases: &[(&str, &str)] = &[
        ("not json", "bad_frame"),
        ("", "bad_frame"),
        ("[1,2,3]", "bad_frame"),
        ("null", "bad_frame"),
        ("{\"type\":42}", "bad_frame"),
        ("{\"no_type\":true}", "bad_frame"),
        ("{\"type\":\"message\"}", "bad_frame"),
        ("{\"type\":\"message\",\"client_id\":1,\"content\":\"x\"}", "bad_frame"),
        ("{\"type\":\"typing\",\"is_typing\":\"yes\"}", "bad_frame"),
        ("{\"type\":\"history\",\"limit\":\"many\"}", "bad_frame"),
        ("{\"type\":\"history\",\"before\":\"no-such-id\"}", "not_found"),
        ("{\"type\":\"auth\",\"token\":\"again\"}", "bad_frame"),
        ("{\"type\":\"dance\"}", "unknown_type"),
        ("{\"type\":\"message\",\"client_id\":\"\u{1F600}\",\"content\":\"\u{0}\"}", "bad_frame"), // raw control character
        ("{\"type\":\"message\",\"client_id\":\"\u{1F600}\",\"content\":\"nul \\u0000 ok\"}", "message"),
        ("{\"type\":\"message\",\"client_id\":\"deep\",\"content\":{\"a\":[[[[[[[[[[1]]]]]]]]]]}}", "bad_frame"),
    ];
    for (frame, expected) in cases {
        client.send_raw(frame).await;
        let reply = client.next().await;
        let got = if reply["type"] == "error" {
            reply["code"].as_str().unwrap_or_default().to_owned()
        } else {
            reply["type"].as_str().unwrap_or_default().to_owned()
        };
        assert_eq!(&got, expected, "{frame:?} → {reply}");
    }
    client.ws.send(Message::Binary(vec![0, 1, 2].into())).await.expect("binary");
    assert_eq!(client.expect("error").await["code"], "bad_frame");
    client.send(json!({"type": "ping"})).await;
    client.expect("pong").await;
}

#[tokio::test]
async fn sockets_close_when_their_login_is_revoked() {
    let gw = spawn_gateway(&[("CHAT_HEARTBEAT_SECS", "1"), ("CHAT_IDLE_TIMEOUT_SECS", "30")]).await;
    let pair = sign_in(&gw, "revoked").await;
    let (mut client, _, _) = Client::join(&gw, &pair.access_token, "").await;
    client.expect("presence").await;
    let refresh = pair.refresh_token.expect("refresh");
    assert!(gw.state.db.revoke_refresh_token(&ibal_gateway::crypto::sha256_hex(&refresh)).await.expect("revoke"));
    let (frames, code) = client.closed().await;
    assert_eq!(code, Some(4403));
    assert_eq!(frames.last().expect("error")["code"], "session_revoked");
}

#[tokio::test]
async fn rest_endpoints_list_page_rate_and_delete_conversations() {
    let (_llm, gw) = openai_gateway(&[]).await;
    let pair = sign_in(&gw, "rest").await;
    let other = sign_in(&gw, "other").await;
    let (mut client, info, _) = Client::join_course(&gw, &pair.access_token, &gw.lms.ticket("rest")).await;
    client.send(json!({"type": "message", "client_id": "m1", "content": "Question"})).await;
    let (end, _) = client.until("stream_end").await;
    let conversation = info["conversation_id"].as_str().expect("id");
    let http = reqwest::Client::new();
    let get = |path: String, token: &str| http.get(format!("{}{path}", gw.url)).bearer_auth(token).send();

    let list: Value =
        get("/api/v1/conversations".into(), &pair.access_token).await.expect("list").json().await.expect("json");
    assert_eq!(list["conversations"][0]["id"], conversation);
    assert_eq!(list["conversations"][0]["course_id"], "course-v1:edX+DemoX+Demo");
    let page: Value = get(format!("/api/v1/conversations/{conversation}/messages?limit=1"), &pair.access_token)
        .await
        .expect("page")
        .json()
        .await
        .expect("json");
    assert_eq!(page["messages"].as_array().expect("messages").len(), 1);
    assert_eq!(page["messages"][0]["role"], "assistant");
    let older_url = format!(
        "/api/v1/conversations/{conversation}/messages?before={}",
        page["messages"][0]["id"].as_str().expect("id")
    );
    let older: Value = get(older_url, &pair.access_token).await.expect("older").json().await.expect("json");
    assert_eq!(older["messages"][0]["content"], "Question");
    assert_eq!(
        get(format!("/api/v1/conversations/{conversation}/messages"), &other.access_token)
            .await
            .expect("other")
            .status(),
        404,
        "not yours"
    );
    assert_eq!(http.get(format!("{}/api/v1/conversations", gw.url)).send().await.expect("anonymous").status(), 401);

    let rate = |body: Value| {
        http.post(format!("{}/api/v1/messages/{}/feedback", gw.url, end["id"].as_str().expect("id")))
            .bearer_auth(&pair.access_token)
            .json(&body)
            .send()
    };
    assert_eq!(rate(json!({"rating": "up", "comment": "clear"})).await.expect("rate").status(), 204);
    assert_eq!(rate(json!({"rating": 4})).await.expect("rate").status(), 204);
    assert_eq!(rate(json!({"rating": 9})).await.expect("rate").status(), 400);
    let user = gw.state.db.find_user_by_identity(LMS_ISSUER, "rest").await.expect("q").expect("user");
    assert_eq!(
        gw.state.db.feedback_of(end["id"].as_str().expect("id"), &user.id).await.expect("q").map(|f| f.0),
        Some(4)
    );

    assert_eq!(
        get("/api/v1/analytics/summary".into(), &pair.access_token).await.expect("analytics").status(),
        403,
        "learners may not"
    );
    // Course staff see their course: the role is the course's, proven by a ticket.
    let staff_token = sign_in(&gw, "boss").await;
    let staff_ticket = gw.lms.ticket_with("boss", json!({"role": "instructor"}));
    drop(Client::join_course(&gw, &staff_token.access_token, &staff_ticket).await);
    let summary: Value = get("/api/v1/analytics/summary".into(), &staff_token.access_token)
        .await
        .expect("analytics")
        .json()
        .await
        .expect("json");
    assert_eq!(summary["scope"], "courses");
    assert_eq!(summary["courses"][0]["course_id"], "course-v1:edX+DemoX+Demo");
    assert_eq!(summary["total_users"], 2, "the course's members: the learner and the instructor");
    assert_eq!(summary["messages"], 2);
    assert_eq!(summary["tokens"], 26);
    assert_eq!(summary["error_rate"], 0.0);

    let delete = |token: &str| {
        http.delete(format!("{}/api/v1/conversations/{conversation}", gw.url)).bearer_auth(token.to_owned()).send()
    };
    assert_eq!(delete(&other.access_token).await.expect("delete").status(), 404, "only the owner deletes");
    assert_eq!(delete(&pair.access_token).await.expect("delete").status(), 204);
    assert_eq!(gw.state.db.count_messages(conversation).await.expect("count"), 0);
}

/// A fake existing chat server: it accepts only sockets whose `Authorization` carries an identity
/// the gateway signed (checked with the gateway's JWKS), and answers each text frame with who sent it.
async fn fake_upstream(jwks_url: std::sync::Arc<std::sync::OnceLock<String>>) -> String {
    use axum::extract::Query;
    use axum::extract::ws::{Message as AxMessage, WebSocketUpgrade};
    use axum::http::HeaderMap;
    use axum::response::IntoResponse;

    async fn handler(
        axum::extract::State(jwks_url): axum::extract::State<std::sync::Arc<std::sync::OnceLock<String>>>,
        headers: HeaderMap,
        Query(query): Query<std::collections::HashMap<String, String>>,
        ws: WebSocketUpgrade,
    ) -> axum::response::Response {
        let Some(token) =
            headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
        else {
            return axum::http::StatusCode::UNAUTHORIZED.into_response();
        };
        let jwks: Value = reqwest::get(jwks_url.get().expect("set")).await.expect("jwks").json().await.expect("json");
        let kid = jsonwebtoken::decode_header(token).expect("header").kid.expect("kid");
        let jwk = jwks["keys"].as_array().expect("keys").iter().find(|k| k["kid"] == kid.as_str()).expect("kid");
        let key = jsonwebtoken::DecodingKey::from_rsa_components(
            jwk["n"].as_str().expect("n"),
            jwk["e"].as_str().expect("e"),
        )
        .expect("key");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&["ibal-upstream"]);
        let Ok(identity) = jsonwebtoken::decode::<Value>(token, &key, &validation) else {
            return axum::http::StatusCode::UNAUTHORIZED.into_response();
        };
        let who = identity.claims["username"].as_str().unwrap_or_default().to_owned();
        // The context is taken from the signed identity, not from the query a browser could shape.
        let course = identity.claims["course_id"].as_str().unwrap_or_default().to_owned();
        let role = identity.claims["course_role"].as_str().unwrap_or_default().to_owned();
        assert_eq!(query.get("course_id"), Some(&course), "the query repeats the proven course");
        ws.on_upgrade(move |mut socket| async move {
            while let Some(Ok(AxMessage::Text(text))) = socket.recv().await {
                if text.as_str() == "drop" {
                    return; // the server goes away without a word
                }
                let reply = json!({"type": "upstream_echo", "from": who, "course_id": course, "role": role, "got": text.as_str()});
                if socket.send(AxMessage::Text(reply.to_string().into())).await.is_err() {
                    return;
                }
            }
        })
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}/ws", listener.local_addr().expect("addr"));
    let app = axum::Router::new().route("/ws", axum::routing::get(handler)).with_state(jwks_url);
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    url
}

#[tokio::test]
async fn the_websocket_backend_pipes_frames_with_a_signed_identity_upstream() {
    let jwks = std::sync::Arc::new(std::sync::OnceLock::new());
    let upstream = fake_upstream(jwks.clone()).await;
    let gw = spawn_gateway(&[("CHAT_BACKEND", "websocket"), ("UPSTREAM_WS_URL", &upstream)]).await;
    jwks.set(format!("{}/.well-known/jwks.json", gw.url)).expect("once");
    let pair = sign_in(&gw, "piper").await;
    let mut client = Client::connect(&gw, "?course_id=course-v1:Org%2BSECRET%2B2026", None).await.expect("connect");
    let ticket = gw.lms.ticket_with("piper", json!({"role": "staff"}));
    client.send(json!({"type": "auth", "token": pair.access_token, "ticket": ticket})).await;
    let info = client.expect("user_info").await;
    assert_eq!(info["backend"], "websocket");
    client.send(json!({"type": "message", "client_id": "p-1", "content": "hello upstream"})).await;
    let echo = client.expect("upstream_echo").await;
    assert_eq!(echo["from"], "piper", "the upstream knows who, from the gateway-signed identity");
    assert_eq!(echo["course_id"], "course-v1:edX+DemoX+Demo", "and in which context: the ticket's, not the query's");
    assert_eq!(echo["role"], "staff", "and what they are there");
    assert!(echo["got"].as_str().expect("got").contains("hello upstream"), "frames pass through unchanged");
    client.send_raw("drop").await;
    let (frames, code) = client.closed().await;
    assert_eq!(frames.last().expect("error")["code"], "backend_unavailable");
    assert_eq!(code, Some(1013), "the client is told to reconnect later");
}

#[tokio::test]
async fn an_unreachable_upstream_is_reported_after_retries() {
    let gw = spawn_gateway(&[("CHAT_BACKEND", "websocket"), ("UPSTREAM_WS_URL", "ws://127.0.0.1:9/ws")]).await;
    let pair = sign_in(&gw, "nobody-home").await;
    let mut client = Client::connect(&gw, "", None).await.expect("connect");
    client.send(json!({"type": "auth", "token": pair.access_token})).await;
    client.expect("user_info").await;
    let (frames, code) = client.closed().await;
    let error = frames.last().expect("error");
    assert_eq!((error["code"].as_str(), error["retry_after"].as_u64()), (Some("backend_unavailable"), Some(5)));
    assert_eq!(code, Some(1013));
}

#[tokio::test]
async fn a_silent_socket_is_closed_after_the_idle_timeout() {
    let gw = spawn_gateway(&[("CHAT_HEARTBEAT_SECS", "1"), ("CHAT_IDLE_TIMEOUT_SECS", "2")]).await;
    let pair = sign_in(&gw, "sleepy").await;
    let (mut client, _, _) = Client::join(&gw, &pair.access_token, "").await;
    // Not reading means not answering the server's pings either.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_, code) = client.closed().await;
    assert_eq!(code, Some(1001));
}

/// A flood of `typing` (or `history`) frames from one socket is answered with `slow_down` and not
/// passed on: the room's other members receive a handful, not the flood.
#[tokio::test]
async fn a_typing_flood_is_slowed_down_and_does_not_reach_the_room() {
    let gw = spawn_gateway(&[]).await;
    let flooder = sign_in(&gw, "flooder").await;
    let reader = sign_in(&gw, "reader").await;
    let (mut a, _, _) = Client::join_course(&gw, &flooder.access_token, &gw.lms.ticket("flooder")).await;
    a.expect("presence").await;
    let (mut b, _, _) = Client::join_course(&gw, &reader.access_token, &gw.lms.ticket("reader")).await;
    b.expect("presence").await;
    a.expect("presence").await;
    for i in 0..40 {
        a.send(json!({"type": "typing", "is_typing": i % 2 == 0})).await;
    }
    a.send(json!({"type": "message", "client_id": "after", "content": "done"})).await;
    let (_, before) = b.until("message").await;
    let typing = before.iter().filter(|f| f["type"] == "typing").count();
    assert!((1..=6).contains(&typing), "{typing} typing frames reached the room");
    let (_, own) = a.until("message").await;
    let slowed = own.iter().filter(|f| f["code"] == "slow_down").count();
    assert!(slowed >= 30, "the flooder is told: {slowed}");
    assert!(own.iter().filter(|f| f["code"] == "slow_down").all(|f| f["retry_after"].as_u64().is_some()));
    for _ in 0..12 {
        a.send(json!({"type": "history", "limit": 1})).await;
    }
    let mut pages = 0;
    let mut refused = 0;
    while pages + refused < 12 {
        let frame = a.next().await;
        match frame["type"].as_str() {
            Some("history") => pages += 1,
            Some("error") if frame["code"] == "slow_down" => refused += 1,
            _ => {}
        }
    }
    assert_eq!((pages, refused), (10, 2), "a burst of ten history pages, then slow_down");
}

/// Reconnecting in a loop cannot flood a room with presence: a user opens so many sockets a minute.
#[tokio::test]
async fn connecting_too_often_is_refused() {
    let gw = spawn_gateway(&[("CHAT_CONNECTS_PER_MINUTE", "3")]).await;
    let pair = sign_in(&gw, "looper").await;
    for _ in 0..3 {
        drop(Client::join(&gw, &pair.access_token, "").await);
    }
    let mut fourth = Client::connect(&gw, "", None).await.expect("connect");
    fourth.send(json!({"type": "auth", "token": pair.access_token})).await;
    let (frames, code) = fourth.closed().await;
    assert_eq!((frames[0]["code"].as_str(), code), (Some("too_many_connections"), Some(4429)));
    assert!(frames[0]["message"].as_str().expect("message").contains("try again in"));
}

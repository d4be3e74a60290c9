//! Course knowledge: a course indexed through the API reaches the assistant as numbered passages,
//! only those this learner may see; the reply's citations come back as sources that link to the
//! units, stored with the reply and replayed with the history.

use crate::common;

use common::fake_llm::{FakeLlm, system_prompt};
use common::service::{call, service_token};
use common::tickets::COURSE;
use common::ws::{Client, sign_in};
use common::{RunningGateway, spawn_gateway};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

const COURSE_PATH: &str = "/api/v1/index/courses/course-v1%3AedX%2BDemoX%2BDemo";
const EXPLAINED: &str = "Mitochondria make ATP by oxidative phosphorylation across their inner membrane.";
const STAFF_ONLY: &str = "Answer key: mitochondria questions score two points each.";
const NOT_YET: &str = "Next week: mitochondria and apoptosis.";
const COHORT: &str = "Cohort two reads about mitochondria in plants.";

fn jump_to(id: &str) -> String {
    format!("https://lms.example.com/courses/{COURSE}/jump_to/block-v1:edX+DemoX+Demo+type@html+block@{id}")
}

fn block(id: &str, unit: &str, text: &str, extra: Value) -> Value {
    let mut block = json!({
        "usage_id": format!("block-v1:edX+DemoX+Demo+type@html+block@{id}"),
        "block_type": "html",
        "display_name": format!("Reading {id}"),
        "breadcrumb": ["Demo Course", "Cells", unit],
        "text": text,
        "start": "2020-01-01T00:00:00Z",
        "staff_only": false,
        "group_access": {},
        "url": jump_to(id),
        "position": 0,
        "hash": format!("{:x}{}", text.len(), id.len()),
    });
    if let (Some(block), Value::Object(extra)) = (block.as_object_mut(), extra) {
        block.extend(extra);
    }
    block
}

/// A published course of three units; unit 1 explains what the learner will ask about in unit 3.
async fn publish_course(gw: &RunningGateway) -> String {
    let index = service_token(gw, "index").await;
    let blocks = json!({"course_title": "Demo Course", "blocks": [
        block("u1", "Unit 1: Organelles", EXPLAINED, json!({"position": 1})),
        block("u2", "Unit 2: Membranes", "Phospholipids form a bilayer.", json!({"position": 2})),
        block("staff", "Unit 2: Membranes", STAFF_ONLY, json!({"position": 3, "staff_only": true})),
        block("later", "Unit 4: Death", NOT_YET, json!({"position": 4, "start": "2999-01-01T00:00:00Z"})),
        block("cohort", "Unit 2: Membranes", COHORT, json!({"position": 5, "group_access": {"50": [2]}})),
        block("u3", "Unit 3: Energy", "Cells need energy.", json!({"position": 6})),
    ]});
    let (status, body) = call(gw, "PUT", &format!("{COURSE_PATH}/blocks"), &index, Some(blocks)).await;
    assert_eq!((status, body), (200, json!({"stored": 6, "unchanged": 0})));
    index
}

fn in_unit_3(groups: Value) -> Value {
    json!({
        "course_title": "Demo Course",
        "unit": {"section": "Cells", "subsection": "Energy", "title": "Unit 3: Energy", "text": "Cells need energy."},
        "groups": groups,
    })
}

async fn assistant(tokens: &[&str]) -> (FakeLlm, RunningGateway) {
    let llm = FakeLlm::answering(tokens).await;
    let base = format!("{}/v1", llm.url);
    let gw = spawn_gateway(&[("CHAT_BACKEND", "openai"), ("OPENAI_BASE_URL", base.as_str())]).await;
    (llm, gw)
}

/// Asks one question in unit 3 and reads the reply to its end: (the model's system prompt, stream_end).
async fn ask(gw: &RunningGateway, llm: &FakeLlm, username: &str, groups: Value, question: &str) -> (String, Value) {
    let pair = sign_in(gw, username).await;
    let ticket = gw.lms.ticket_with(username, in_unit_3(groups));
    let (mut client, _, _) = Client::join_course(gw, &pair.access_token, &ticket).await;
    // A client_id of its own: the same user asking again in the same conversation is a new message.
    static ASKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let client_id = format!("q-{}", ASKED.fetch_add(1, Ordering::SeqCst));
    client.send(json!({"type": "message", "client_id": client_id, "content": question})).await;
    let (end, _) = client.until("stream_end").await;
    let prompt = system_prompt(&llm.last_request.lock().expect("lock"));
    (prompt, end)
}

#[tokio::test]
async fn a_passage_from_another_unit_reaches_the_model_and_comes_back_as_a_source() {
    let (llm, gw) = assistant(&["Through oxidative ", "phosphorylation [1]."]).await;
    publish_course(&gw).await;

    let (prompt, end) = ask(&gw, &llm, "curious", json!({}), "How do mitochondria make ATP?").await;
    assert!(
        prompt.contains(&format!("[1] Demo Course › Cells › Unit 1: Organelles › Reading u1\n{EXPLAINED}")),
        "{prompt}"
    );
    for hidden in [STAFF_ONLY, NOT_YET, COHORT] {
        assert!(!prompt.contains(hidden), "a learner's prompt never holds {hidden:?}: {prompt}");
    }

    assert_eq!(end["content"], "Through oxidative phosphorylation [1].");
    let sources = end["sources"].as_array().expect("sources");
    assert_eq!(sources.len(), 1, "{end}");
    assert_eq!(sources[0]["n"], 1);
    assert_eq!(sources[0]["url"], jump_to("u1"));
    assert_eq!(sources[0]["title"], "Reading u1");
    assert_eq!(sources[0]["breadcrumb"], "Demo Course › Cells › Unit 1: Organelles");
    assert_eq!(sources[0]["snippet"], EXPLAINED);

    // Stored with the reply: a reload shows them.
    let pair = sign_in(&gw, "curious").await;
    let ticket = gw.lms.ticket_with("curious", in_unit_3(json!({})));
    let (_client, _, history) = Client::join_course(&gw, &pair.access_token, &ticket).await;
    let reply = history["messages"].as_array().and_then(|m| m.last()).cloned().unwrap_or_default();
    assert_eq!(reply["sources"], end["sources"], "{history}");
}

#[tokio::test]
async fn a_cohort_member_gets_the_cohorts_passage_and_a_reply_citing_nothing_has_no_sources() {
    let (llm, gw) = assistant(&["I am not sure."]).await;
    publish_course(&gw).await;

    let (prompt, end) = ask(&gw, &llm, "in-cohort", json!({"50": 2}), "What about mitochondria in plants?").await;
    assert!(prompt.contains(COHORT), "{prompt}");
    assert!(!prompt.contains(STAFF_ONLY) && !prompt.contains(NOT_YET), "{prompt}");
    assert!(end.get("sources").is_none(), "nothing cited, nothing listed: {end}");

    let (prompt, _) = ask(&gw, &llm, "other-cohort", json!({"50": 3}), "What about mitochondria in plants?").await;
    assert!(!prompt.contains(COHORT), "{prompt}");
}

#[tokio::test]
async fn course_staff_may_be_given_staff_only_passages() {
    let (llm, gw) = assistant(&["Two points [1]."]).await;
    publish_course(&gw).await;
    let pair = sign_in(&gw, "teacher").await;
    let mut claims = in_unit_3(json!({}));
    claims["role"] = json!("staff");
    let ticket = gw.lms.ticket_with("teacher", claims);
    let (mut client, _, _) = Client::join_course(&gw, &pair.access_token, &ticket).await;
    client
        .send(json!({"type": "message", "client_id": "q-1", "content": "How are mitochondria questions scored?"}))
        .await;
    client.until("stream_end").await;
    assert!(system_prompt(&llm.last_request.lock().expect("lock")).contains(STAFF_ONLY));
}

#[tokio::test]
async fn republishing_is_seen_at_the_next_question_and_the_search_api_shows_what_a_learner_gets() {
    let (llm, gw) = assistant(&["Noted."]).await;
    let index = publish_course(&gw).await;

    let (status, body) =
        call(&gw, "GET", &format!("{COURSE_PATH}/search?q=mitochondria+ATP&limit=3"), &index, None).await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.first().map(|r| r["url"].clone()), Some(json!(jump_to("u1"))), "{body}");
    assert!(results.iter().all(|r| r["url"] != jump_to("staff") && r["url"] != jump_to("cohort")), "{body}");

    let (prompt, _) = ask(&gw, &llm, "first", json!({}), "What is glycolysis?").await;
    assert!(!prompt.contains("<course_passages>"), "nothing in the course matches: {prompt}");

    let added = json!({"course_title": "Demo Course", "blocks": [
        block("u5", "Unit 5: Sugar", "Glycolysis splits glucose into pyruvate.", json!({"position": 7})),
    ]});
    let (status, _) = call(&gw, "PUT", &format!("{COURSE_PATH}/blocks"), &index, Some(added)).await;
    assert_eq!(status, 200);
    let (prompt, _) = ask(&gw, &llm, "second", json!({}), "What is glycolysis?").await;
    assert!(prompt.contains("Glycolysis splits glucose into pyruvate."), "{prompt}");

    // Bad questions get a clear error; a learner's token is not a service's.
    let (status, body) = call(&gw, "GET", &format!("{COURSE_PATH}/search?q=&limit=3"), &index, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{body}");
    let (status, _) = call(&gw, "GET", &format!("{COURSE_PATH}/search?q=x&limit=500"), &index, None).await;
    assert_eq!(status, 400);
    let learner = sign_in(&gw, "nosy").await;
    let (status, _) = call(&gw, "GET", &format!("{COURSE_PATH}/search?q=x"), &learner.access_token, None).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_socket_without_the_lms_ticket_gets_no_passages() {
    // The index holds the LMS's courses; a socket without the LMS's ticket is in none of them.
    let (llm, gw) = assistant(&["Hello."]).await;
    publish_course(&gw).await;
    let pair = sign_in(&gw, "outsider").await;
    let (mut client, _, _) = Client::join(&gw, &pair.access_token, "").await;
    client.send(json!({"type": "message", "client_id": "q-1", "content": "How do mitochondria make ATP?"})).await;
    client.until("stream_end").await;
    assert!(!system_prompt(&llm.last_request.lock().expect("lock")).contains(EXPLAINED));
}

#[tokio::test]
async fn with_an_embeddings_model_a_question_finds_its_passage_by_meaning() {
    let llm = FakeLlm::answering(&["The mitochondria [1]."]).await;
    let base = format!("{}/v1", llm.url);
    let gw = spawn_gateway(&[
        ("CHAT_BACKEND", "openai"),
        ("OPENAI_BASE_URL", base.as_str()),
        ("EMBEDDINGS_MODEL", "fake-embed"),
    ])
    .await;
    publish_course(&gw).await;

    // No passage shares a word with the question; the fake model's meanings link "powerhouse" to
    // "mitochondria" (test-kit/src/fake_openai.rs).
    let (prompt, end) = ask(&gw, &llm, "curious", json!({}), "Tell me about the powerhouse").await;
    assert!(
        prompt.contains(&format!("[1] Demo Course › Cells › Unit 1: Organelles › Reading u1\n{EXPLAINED}")),
        "{prompt}"
    );
    for hidden in [STAFF_ONLY, NOT_YET, COHORT] {
        assert!(!prompt.contains(hidden), "ranking by meaning respects what a learner may see: {prompt}");
    }
    assert_eq!(end["sources"][0]["url"], jump_to("u1"));
    assert_eq!(llm.embedded.load(Ordering::SeqCst), 7, "six passages and the question");

    // Passages are embedded once: the next question embeds only itself.
    ask(&gw, &llm, "curious", json!({}), "Tell me about the powerhouse again").await;
    assert_eq!(llm.embedded.load(Ordering::SeqCst), 8);

    // The embeddings server down: keyword ranking goes on alone, and the assistant still answers.
    llm.embeddings_down.store(true, Ordering::SeqCst);
    let (prompt, end) = ask(&gw, &llm, "curious", json!({}), "Tell me about the powerhouse, please").await;
    assert!(!prompt.contains("<course_passages>"), "{prompt}");
    assert_eq!(end["status"], "complete");
    let (prompt, _) = ask(&gw, &llm, "curious", json!({}), "How do mitochondria make ATP?").await;
    assert!(prompt.contains(EXPLAINED), "{prompt}");
}

#[tokio::test]
async fn in_a_room_only_what_every_learner_may_see_goes_in_whoever_calls() {
    let llm = FakeLlm::answering(&["Two points each."]).await;
    let base = format!("{}/v1", llm.url);
    let gw =
        spawn_gateway(&[("CHAT_BACKEND", "room"), ("ROOM_ASSISTANT", "openai"), ("OPENAI_BASE_URL", base.as_str())])
            .await;
    publish_course(&gw).await;
    // Course staff call the assistant in the room: the reply is for everyone there.
    let pair = sign_in(&gw, "teacher").await;
    let mut claims = in_unit_3(json!({"50": 2}));
    claims["role"] = json!("staff");
    claims["unit"]["text"] = json!("Staff-only note in this unit: the answer to question 3 is B.");
    let ticket = gw.lms.ticket_with("teacher", claims);
    let (mut client, _, _) = Client::join_course(&gw, &pair.access_token, &ticket).await;
    let question = "@assistant how are mitochondria questions scored in plants?";
    client.send(json!({"type": "message", "client_id": "t-1", "content": question})).await;
    client.until("stream_end").await;
    let prompt = system_prompt(&llm.last_request.lock().expect("lock"));
    assert!(prompt.contains(EXPLAINED), "{prompt}");
    for hidden in [STAFF_ONLY, NOT_YET, COHORT, "the answer to question 3 is B"] {
        assert!(!prompt.contains(hidden), "a room's reply holds nothing a learner may not see: {prompt}");
    }
}

//! Course context is proven, never claimed: a socket is in a course only with a chat ticket the LMS
//! signed (or an LTI launch), roles hold per course, and what the course team set reaches the
//! assistant. Each refusal is an `error` frame and close 4406, one log line, nothing stored.

use crate::common;

use common::fake_llm::{self, FakeLlm};
use common::tickets::{BLOCK, COURSE, LMS_ISSUER};
use common::ws::{Client, sign_in};
use common::{RunningGateway, spawn_gateway};
use ibal_gateway::domain::CourseRole;
use ibal_gateway::domain::{ChatContext, CourseKey, IdentityClaims, NewMessage, Owner};
use serde_json::{Value, json};

const SECRET_COURSE: &str = "course-v1:Org+SECRET+2026";

fn course(id: &str) -> CourseKey {
    CourseKey { platform: LMS_ISSUER.into(), course_id: id.into() }
}

async fn openai_gateway(extra: &[(&str, &str)]) -> (FakeLlm, RunningGateway) {
    let llm = FakeLlm::start().await;
    let base = format!("{}/v1", llm.url);
    let mut pairs = vec![("CHAT_BACKEND", "openai"), ("OPENAI_BASE_URL", base.as_str())];
    pairs.extend_from_slice(extra);
    let gw = spawn_gateway(&pairs).await;
    (llm, gw)
}

/// Connects, authenticates with `frame`, and reads to the close: (frames before it, close code).
async fn refused(gw: &RunningGateway, frame: Value) -> (Vec<Value>, Option<u16>) {
    let mut client = Client::connect(gw, "", None).await.expect("connect");
    client.send(frame).await;
    client.closed().await
}

async fn counts(gw: &RunningGateway) -> (i64, i64) {
    let conversations = gw.state.db.count_conversations().await.expect("count");
    let messages = gw.state.db.message_totals(None).await.expect("totals").messages;
    (conversations, messages)
}

#[tokio::test]
async fn naming_a_course_in_the_query_enters_nothing() {
    let gw = spawn_gateway(&[]).await;
    // A learner of the course posts in its room, with the ticket the LMS gave them.
    let learner = sign_in(&gw, "enrolled").await;
    let ticket = gw.lms.ticket_with("enrolled", json!({"course_id": SECRET_COURSE}));
    let (mut inside, info, _) = Client::join_course(&gw, &learner.access_token, &ticket).await;
    assert_eq!(info["context"]["course_id"], SECRET_COURSE);
    assert_eq!(info["context"]["source"], "ticket");
    inside.expect("presence").await;
    inside.send(json!({"type": "message", "client_id": "s-1", "content": "the answer to question 3 is 42"})).await;
    inside.expect("message").await;

    // An outsider (a self-registered account) names the course and block in the query.
    let outsider = sign_in(&gw, "outsider").await;
    let query = format!(
        "?course_id={}&block_id={}",
        url::form_urlencoded::byte_serialize(SECRET_COURSE.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(BLOCK.as_bytes()).collect::<String>()
    );
    let (mut outside, info, history) = Client::join(&gw, &outsider.access_token, &query).await;
    assert_eq!(info["context"]["course_id"], "", "no proof, no course: the gateway's own context");
    assert_eq!(info["context"]["source"], "gateway");
    assert_eq!(history["messages"], json!([]), "nothing of the course's room");
    outside.expect("presence").await;
    // Nor does anything said in the course reach the outsider live.
    inside.send(json!({"type": "message", "client_id": "s-2", "content": "and question 4 is 7"})).await;
    inside.expect("message").await;
    outside.send(json!({"type": "ping"})).await;
    assert_eq!(outside.expect("pong").await["type"], "pong", "the next frame is the pong, not the course's message");
}

#[tokio::test]
async fn the_query_never_reaches_the_prompt_and_the_tickets_instructions_do() {
    let (llm, gw) = openai_gateway(&[]).await;
    let pair = sign_in(&gw, "asker").await;
    let mut client = Client::connect(&gw, "?course_id=forged-course&block_id=forged-block", None).await.expect("ws");
    let ticket = gw.lms.ticket_with(
        "asker",
        json!({"title": "Photosynthesis helper", "instructions": "Answer in French and cite unit 2."}),
    );
    client.send(json!({"type": "auth", "token": pair.access_token, "ticket": ticket})).await;
    client.expect("user_info").await;
    client.expect("history").await;
    client.send(json!({"type": "message", "client_id": "q-1", "content": "What is chlorophyll?"})).await;
    client.expect("message").await;
    client.until("stream_end").await;
    let sent = llm.last_request.lock().expect("lock").clone();
    let system = fake_llm::system_prompt(&sent);
    assert!(system.contains(COURSE) && system.contains(BLOCK), "the proven course and block: {system}");
    assert!(system.contains("Photosynthesis helper"), "the block's signed title: {system}");
    assert!(system.contains("Answer in French and cite unit 2."), "the course team's instructions: {system}");
    assert!(!system.contains("forged"), "nothing from the query: {system}");
}

#[tokio::test]
async fn every_ticket_refusal_is_an_error_frame_and_a_close_and_stores_nothing() {
    let gw = spawn_gateway(&[]).await;
    let victim = sign_in(&gw, "victim").await;
    let attacker = sign_in(&gw, "attacker").await;
    let before = counts(&gw).await;
    let now = ibal_gateway::domain::now_ms() / 1000;
    let cases: Vec<(&str, String, &str)> = vec![
        ("expired", gw.lms.ticket_with("victim", json!({"iat": now - 900, "exp": now - 600})), "ticket_expired"),
        (
            "wrong audience",
            gw.lms.ticket_with("victim", json!({"aud": "https://other-gateway.example"})),
            "ticket_invalid",
        ),
        ("wrong issuer", gw.lms.ticket_with("victim", json!({"iss": "https://evil-lms.example"})), "ticket_invalid"),
        ("unknown key id", gw.lms.unknown_kid("victim"), "ticket_invalid"),
        ("bad signature", gw.lms.forged("victim"), "ticket_invalid"),
        ("too long-lived", gw.lms.ticket_with("victim", json!({"exp": now + 3600})), "ticket_invalid"),
        ("unknown role", gw.lms.ticket_with("victim", json!({"role": "admin"})), "ticket_invalid"),
        ("no block", gw.lms.ticket_with("victim", json!({"usage_id": ""})), "ticket_invalid"),
        ("not a JWS", "garbage".to_owned(), "ticket_invalid"),
    ];
    for (what, ticket, code) in cases {
        let (frames, close) =
            refused(&gw, json!({"type": "auth", "token": victim.access_token, "ticket": ticket})).await;
        assert_eq!(frames.len(), 1, "{what}: one error frame, no user_info: {frames:?}");
        assert_eq!((frames[0]["type"].as_str(), frames[0]["code"].as_str()), (Some("error"), Some(code)), "{what}");
        assert_eq!(close, Some(4406), "{what}");
    }
    // A valid ticket of the victim's, presented with the attacker's token.
    let (frames, close) =
        refused(&gw, json!({"type": "auth", "token": attacker.access_token, "ticket": gw.lms.ticket("victim")})).await;
    assert_eq!((frames[0]["code"].as_str(), close), (Some("ticket_mismatch"), Some(4406)));
    assert_eq!(counts(&gw).await, before, "no conversation, no message");
    let attacker_user = gw.state.db.find_user_by_identity(LMS_ISSUER, "attacker").await.expect("q").expect("user");
    assert_eq!(gw.state.db.course_role(&attacker_user.id, &course(COURSE)).await.expect("q"), None, "no membership");
}

#[tokio::test]
async fn a_gateway_without_ticket_keys_refuses_tickets() {
    let gw = spawn_gateway(&[("TICKET_JWKS", ""), ("TICKET_ISSUER", "")]).await;
    assert!(gw.state.tickets.is_none());
    let pair = sign_in(&gw, "someone").await;
    let (frames, close) =
        refused(&gw, json!({"type": "auth", "token": pair.access_token, "ticket": gw.lms.ticket("someone")})).await;
    assert_eq!((frames[0]["code"].as_str(), close), (Some("ticket_not_accepted"), Some(4406)));
}

#[tokio::test]
async fn client_credentials_tokens_cannot_open_a_chat() {
    let gw = spawn_gateway(&[]).await;
    let (row, secret) = ibal_gateway::identity::provider::new_client(
        "Reporting service",
        &[],
        &["client_credentials".to_owned()],
        &["chat".to_owned()],
        false,
        false,
    );
    gw.state.db.insert_client(&row).await.expect("client");
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/oauth2/token", gw.url))
        .basic_auth(&row.client_id, secret)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let token = answer["access_token"].as_str().expect("a service token");
    let (frames, close) = refused(&gw, json!({"type": "auth", "token": token})).await;
    assert_eq!((frames[0]["code"].as_str(), close), (Some("service_token"), Some(4401)));
    let (frames, close) = refused(&gw, json!({"type": "auth", "token": token, "ticket": gw.lms.ticket("x")})).await;
    assert_eq!((frames[0]["code"].as_str(), close), (Some("service_token"), Some(4401)));
    assert_eq!(gw.state.db.count_conversations().await.expect("count"), 0);
}

#[tokio::test]
async fn history_cannot_page_another_context() {
    let gw = spawn_gateway(&[]).await;
    let a = sign_in(&gw, "in-a").await;
    let b = sign_in(&gw, "in-b").await;
    let (mut in_a, _, _) = Client::join_course(&gw, &a.access_token, &gw.lms.ticket("in-a")).await;
    in_a.expect("presence").await;
    in_a.send(json!({"type": "message", "client_id": "a-1", "content": "course A only"})).await;
    let secret = in_a.expect("message").await;
    let other = gw.lms.ticket_with("in-b", json!({"course_id": "course-v1:Other+B+1"}));
    let (mut in_b, _, history) = Client::join_course(&gw, &b.access_token, &other).await;
    assert_eq!(history["messages"], json!([]));
    in_b.expect("presence").await;
    in_b.send(json!({"type": "history", "before": secret["id"], "limit": 50})).await;
    let answer = in_b.expect("error").await;
    assert_eq!(answer["code"], "not_found", "a message id of another context pages nothing");
}

#[tokio::test]
async fn roles_are_per_course_and_room_frames_badge_the_staff() {
    let gw = spawn_gateway(&[]).await;
    let ta = sign_in(&gw, "ta").await;
    let learner = sign_in(&gw, "learner").await;
    let staff_ticket = gw.lms.ticket_with("ta", json!({"role": "staff"}));
    let (mut ta_socket, info, _) = Client::join_course(&gw, &ta.access_token, &staff_ticket).await;
    assert_eq!((info["role"].as_str(), info["operator"].as_bool()), (Some("staff"), Some(false)));
    ta_socket.expect("presence").await;
    let (mut learner_socket, info, _) =
        Client::join_course(&gw, &learner.access_token, &gw.lms.ticket("learner")).await;
    assert_eq!(info["role"], "learner");
    learner_socket.expect("presence").await;
    ta_socket.expect("presence").await;

    ta_socket.send(json!({"type": "message", "client_id": "t-1", "content": "Office hours at 5"})).await;
    let got = learner_socket.expect("message").await;
    assert_eq!((got["sender"].as_str(), got["sender_role"].as_str()), (Some("ta"), Some("staff")));
    learner_socket.send(json!({"type": "message", "client_id": "l-1", "content": "Thanks!"})).await;
    let got = ta_socket.until("message").await.0;
    let got = if got["sender"] == "ta" { ta_socket.until("message").await.0 } else { got };
    assert_eq!((got["sender"].as_str(), got["sender_role"].as_str()), (Some("learner"), Some("learner")));
    // History keeps the badge.
    let (_, _, history) = Client::join_course(&gw, &learner.access_token, &gw.lms.ticket("learner")).await;
    assert_eq!(history["messages"][0]["sender_role"], "staff");

    // Staff in this course, learner in another: the role never spills over.
    let ta_user = gw.state.db.find_user_by_identity(LMS_ISSUER, "ta").await.expect("q").expect("user");
    let elsewhere = gw.lms.ticket_with("ta", json!({"course_id": "course-v1:Other+B+1", "role": "learner"}));
    let (_, info, _) = Client::join_course(&gw, &ta.access_token, &elsewhere).await;
    assert_eq!(info["role"], "learner");
    let db = &gw.state.db;
    assert_eq!(db.course_role(&ta_user.id, &course(COURSE)).await.expect("q"), Some(CourseRole::Staff));
    assert_eq!(
        db.course_role(&ta_user.id, &course("course-v1:Other+B+1")).await.expect("q"),
        Some(CourseRole::Learner)
    );
    assert_eq!(db.staffed_courses(&ta_user.id).await.expect("q"), vec![course(COURSE)]);
}

#[tokio::test]
async fn lms_sign_in_exchanges_a_ticket_once_for_a_gateway_token() {
    let gw = spawn_gateway(&[]).await;
    let http = reqwest::Client::new();
    let exchange = |ticket: String| {
        http.post(format!("{}/oauth2/token", gw.url))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
                ("subject_token_type", "urn:ibal:params:oauth:token-type:chat-ticket"),
                ("subject_token", ticket.as_str()),
                ("client_id", "ibal-widget"),
            ])
            .send()
    };
    let ticket =
        gw.lms.ticket_with("newcomer", json!({"sub": "anon-global-1", "role": "instructor", "global_staff": true}));
    let response = exchange(ticket.clone()).await.expect("exchange");
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.expect("json");
    assert_eq!(tokens["username"], "newcomer");
    assert!(
        tokens.get("refresh_token").is_none(),
        "no session outlives what the LMS said: a new ticket signs in again"
    );
    let user =
        gw.state.db.find_user_by_identity(LMS_ISSUER, "anon-global-1").await.expect("q").expect("the LMS's subject");
    assert!(user.role.is_operator(), "Open edX global staff are operators");
    assert_eq!(gw.state.db.course_role(&user.id, &course(COURSE)).await.expect("q"), Some(CourseRole::Instructor));

    let replay = exchange(ticket).await.expect("replay");
    assert_eq!(replay.status(), 400);
    let body: Value = replay.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant", "each ticket signs in once");
    let forged = exchange(gw.lms.forged("newcomer")).await.expect("forged");
    assert_eq!(forged.status(), 400);

    // The token and a fresh ticket open the course's chat.
    let access = tokens["access_token"].as_str().expect("token");
    let fresh = gw.lms.ticket_with("newcomer", json!({"sub": "anon-global-1", "role": "instructor"}));
    let (_, info, _) = Client::join_course(&gw, access, &fresh).await;
    assert_eq!((info["username"].as_str(), info["role"].as_str()), (Some("newcomer"), Some("instructor")));
}

#[tokio::test]
async fn a_popup_user_is_bound_to_tickets_of_the_same_lms_account() {
    let edx = common::fake_openedx::FakeLms::start().await;
    let vars = edx.gateway_vars();
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let gw = spawn_gateway(&pairs).await;
    let issuer = gw.state.config.openedx.as_ref().expect("openedx").issuer.clone();
    let login = |subject: &str, username: &str, issuer: &str| IdentityClaims {
        issuer: issuer.into(),
        subject: subject.into(),
        username: username.into(),
        name: String::new(),
        email: String::new(),
        role: None,
    };
    // Signed in through the popup: the LMS's JWT subject is its global anonymous id.
    let popup_user = gw.state.db.upsert_identity(&login("anon-global-9", "jane", &issuer)).await.expect("user");
    let grant = ibal_gateway::identity::tokens::Grant {
        client_id: "ibal-widget".into(),
        scope: "chat".into(),
        ctx: None,
        service: false,
    };
    let popup = gw.state.tokens.start_login(&popup_user, &grant).await.expect("tokens");
    // A ticket naming the same subject, and one the block could only name by username.
    for sub in ["anon-global-9", "course-anon-77"] {
        let ticket = gw.lms.ticket_with("jane", json!({"sub": sub}));
        let (_, info, _) = Client::join_course(&gw, &popup.access_token, &ticket).await;
        assert_eq!(info["context"]["course_id"], COURSE, "{sub}");
    }
    // A local account that merely shares the username is not the LMS's jane.
    let local = gw.state.db.upsert_identity(&login("jane", "jane", "local")).await.expect("local");
    let local_tokens = gw.state.tokens.start_login(&local, &grant).await.expect("tokens");
    let ticket = gw.lms.ticket_with("jane", json!({"sub": "course-anon-77"}));
    let (frames, close) =
        refused(&gw, json!({"type": "auth", "token": local_tokens.access_token, "ticket": ticket})).await;
    assert_eq!((frames[0]["code"].as_str(), close), (Some("ticket_mismatch"), Some(4406)));
}

#[tokio::test]
async fn analytics_are_scoped_to_the_courses_one_staffs() {
    let gw = spawn_gateway(&[]).await;
    let http = reqwest::Client::new();
    let summary = |token: String, query: &'static str| {
        http.get(format!("{}/api/v1/analytics/summary{query}", gw.url)).bearer_auth(token).send()
    };
    // Activity in two courses.
    for (who, course_id, n) in [("a1", "course-v1:Org+A+1", 2), ("b1", "course-v1:Org+B+1", 3)] {
        let pair = sign_in(&gw, who).await;
        let ticket = gw.lms.ticket_with(who, json!({"course_id": course_id}));
        let (mut socket, _, _) = Client::join_course(&gw, &pair.access_token, &ticket).await;
        socket.expect("presence").await;
        for i in 0..n {
            socket.send(json!({"type": "message", "client_id": format!("{who}-{i}"), "content": "hi"})).await;
            socket.until("message").await;
        }
    }
    let staff_a = sign_in(&gw, "staff-a").await;
    let ticket = gw.lms.ticket_with("staff-a", json!({"course_id": "course-v1:Org+A+1", "role": "staff"}));
    drop(Client::join_course(&gw, &staff_a.access_token, &ticket).await);

    let mine: Value = summary(staff_a.access_token.clone(), "").await.expect("q").json().await.expect("json");
    assert_eq!(mine["scope"], "courses");
    assert_eq!(mine["messages"], 2, "course A's messages only: {mine}");
    assert_eq!(mine["courses"].as_array().expect("courses").len(), 1);
    assert_eq!(mine["courses"][0]["course_id"], "course-v1:Org+A+1");
    let named = summary(staff_a.access_token.clone(), "?course_id=course-v1:Org%2BB%2B1").await.expect("q");
    assert_eq!(named.status(), 403, "staff of A never see B");
    let learner = sign_in(&gw, "a1").await;
    assert_eq!(summary(learner.access_token, "").await.expect("q").status(), 403);

    let operator = sign_in(&gw, "operator").await;
    let user = gw.state.db.find_user_by_identity(LMS_ISSUER, "operator").await.expect("q").expect("user");
    gw.state.db.grant_role(&user.id, Some(ibal_gateway::domain::Role::Admin)).await.expect("grant");
    let all: Value = summary(operator.access_token.clone(), "").await.expect("q").json().await.expect("json");
    assert_eq!((all["scope"].as_str(), all["messages"].as_i64()), (Some("all"), Some(5)), "{all}");
    let one: Value = summary(operator.access_token, "?course_id=course-v1:Org%2BB%2B1")
        .await
        .expect("q")
        .json()
        .await
        .expect("json");
    assert_eq!(one["messages"], 3);
}

#[tokio::test]
async fn conversations_of_unproven_contexts_stay_their_owners_and_are_never_resumed() {
    let (_llm, gw) = openai_gateway(&[]).await;
    let pair = sign_in(&gw, "old-timer").await;
    let user = gw.state.db.find_user_by_identity(LMS_ISSUER, "old-timer").await.expect("q").expect("user");
    // Stored by an earlier version, under a course a browser named.
    let old = ChatContext { platform: "openedx".into(), course_id: COURSE.into(), block_id: BLOCK.into() };
    let thread = gw.state.db.conversation_for(Owner::User(&user.id), &old).await.expect("old thread");
    let new = NewMessage::from_user(&thread.id, &user.id, "old-timer", "old-1", "from last year");
    gw.state.db.insert_message(&new).await.expect("old message");
    let room = gw.state.db.conversation_for(Owner::Room, &old).await.expect("old room");

    let (_, info, history) = Client::join_course(&gw, &pair.access_token, &gw.lms.ticket("old-timer")).await;
    assert_ne!(info["conversation_id"], thread.id, "the proven context is another conversation");
    assert_eq!(history["messages"], json!([]));
    let http = reqwest::Client::new();
    let list: Value = http
        .get(format!("{}/api/v1/conversations", gw.url))
        .bearer_auth(&pair.access_token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> =
        list["conversations"].as_array().expect("list").iter().filter_map(|c| c["id"].as_str()).collect();
    assert!(ids.contains(&thread.id.as_str()), "the owner still reads their old thread");
    let other = sign_in(&gw, "someone-else").await;
    for id in [&thread.id, &room.id] {
        let status = http
            .get(format!("{}/api/v1/conversations/{id}/messages", gw.url))
            .bearer_auth(&other.access_token)
            .send()
            .await
            .expect("read")
            .status();
        assert_eq!(status, 404, "nobody else reads it");
    }
}

/// The unit the learner is in, as the XBlock puts it in the ticket.
fn unit_claims(text: &str) -> Value {
    json!({
        "title": "Ask about this unit",
        "instructions": "Keep answers short.",
        "course_title": "Biology 101",
        "unit": {"section": "Plants", "subsection": "Energy", "title": "Light reactions",
                 "text": text, "truncated": false},
        "tutor_style": "guide",
        "style_prompt": "Ask the learner what they think first.",
    })
}

async fn ask(gw: &RunningGateway, username: &str, ticket: &str, question: &str) -> Client {
    let pair = sign_in(gw, username).await;
    let (mut client, _info, _) = Client::join_course(gw, &pair.access_token, ticket).await;
    client.send(json!({"type": "message", "client_id": "q-1", "content": question})).await;
    client
}

#[tokio::test]
async fn the_unit_reaches_the_model_in_the_documented_order() {
    let (llm, gw) = openai_gateway(&[("CHAT_SYSTEM_PROMPT", "You are the course assistant.")]).await;
    let text = "Chlorophyll absorbs red and blue light. [Video transcript] In this video we measure oxygen.";
    let ticket = gw.lms.ticket_with("reader", unit_claims(text));
    let mut client = ask(&gw, "reader", &ticket, "What does the video measure?").await;
    client.expect("message").await;
    client.until("stream_end").await;

    let sent = llm.last_request.lock().expect("lock").clone();
    let messages = sent["messages"].as_array().expect("messages");
    let system: Vec<&str> =
        messages.iter().filter(|m| m["role"] == "system").filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(system.len(), 5, "operator, place, instructions, tutoring, unit: {system:#?}");
    assert_eq!(system[0], "You are the course assistant.");
    assert!(system[1].contains("\"Biology 101\"") && system[1].contains("Plants › Energy › Light reactions"));
    assert!(system[2].ends_with("Keep answers short."));
    assert!(system[3].ends_with("Ask the learner what they think first."));
    assert!(system[4].contains(text), "the unit's text and transcript: {}", system[4]);
    // The question comes last, after the system messages.
    assert_eq!(messages.last().map(|m| m["content"].clone()), Some(json!("What does the video measure?")));
}

#[tokio::test]
async fn a_unit_too_long_for_the_contract_is_cut_and_a_cjk_unit_fits_the_first_frame() {
    let (llm, gw) = openai_gateway(&[]).await;
    // 20,000 CJK characters: 60 KB of UTF-8, about 80 KB once signed, more than any chat frame.
    let cjk = "光合作用".repeat(5_000);
    let ticket = gw.lms.ticket_with("reader", unit_claims(&cjk));
    assert!(ticket.len() > 64 * 1024, "the ticket is {} bytes", ticket.len());
    let mut client = ask(&gw, "reader", &ticket, "说明一下").await;
    client.expect("message").await;
    client.until("stream_end").await;
    let system = fake_llm::system_prompt(&llm.last_request.lock().expect("lock").clone());
    assert!(system.contains(&cjk));

    // Past the contract's 50,000 characters, the text is cut and said to be.
    let long = "a".repeat(60_000);
    let ticket = gw.lms.ticket_with("another", unit_claims(&long));
    let mut client = ask(&gw, "another", &ticket, "Summarise").await;
    client.expect("message").await;
    client.until("stream_end").await;
    let system = fake_llm::system_prompt(&llm.last_request.lock().expect("lock").clone());
    assert!(system.contains(&"a".repeat(50_000)) && !system.contains(&"a".repeat(50_001)));
    assert!(system.contains("shortened"));
}

#[tokio::test]
async fn in_an_exam_the_assistant_refuses_and_nothing_reaches_the_model() {
    let (llm, gw) = openai_gateway(&[]).await;
    let mut claims = unit_claims("Question 1: what is 6 × 7?");
    claims["exam"] = json!(true);
    let ticket = gw.lms.ticket_with("examinee", claims);
    let before = counts(&gw).await;
    let mut client = ask(&gw, "examinee", &ticket, "What is the answer to question 1?").await;
    let error = client.expect("error").await;
    assert_eq!((error["code"].as_str(), error["client_id"].as_str()), (Some("exam_mode"), Some("q-1")));
    // The socket stays open, and the refused message was neither answered nor kept.
    client.send(json!({"type": "ping"})).await;
    client.expect("pong").await;
    assert_eq!(llm.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(counts(&gw).await.1, before.1);
}

#[tokio::test]
async fn the_course_teams_controls_reach_the_client_and_the_disclosure_gates_the_assistant() {
    let (llm, gw) = openai_gateway(&[]).await;
    let mut claims = unit_claims("Unit text.");
    claims["starters"] = json!(["What is this unit about?", "  ", "Quiz me"]);
    claims["disclosure"] = json!({"text": "Answers are generated by AI and may be wrong.", "version": "v1"});
    let ticket = gw.lms.ticket_with("careful", claims.clone());
    let pair = sign_in(&gw, "careful").await;
    let (mut client, info, _) = Client::join_course(&gw, &pair.access_token, &ticket).await;
    let context = &info["context"];
    assert_eq!(context["starters"], json!(["What is this unit about?", "Quiz me"]), "blank starters dropped");
    assert_eq!(context["disclosure"]["version"], "v1");
    assert_eq!(context["disclosure"]["accepted"], false);
    assert!(context.get("exam").is_none(), "no exam, no field");

    // Before accepting, a question is refused and kept nowhere.
    client.send(json!({"type": "message", "client_id": "q-1", "content": "Hello?"})).await;
    let refused = client.expect("error").await;
    assert_eq!((refused["code"].as_str(), refused["client_id"].as_str()), (Some("disclosure_required"), Some("q-1")));
    // Accepting another version (a text the client never showed) does not count.
    client.send(json!({"type": "accept_disclosure", "version": "v0"})).await;
    assert_eq!(client.expect("error").await["code"], "disclosure_required");
    client.send(json!({"type": "accept_disclosure", "version": "v1"})).await;
    client.send(json!({"type": "message", "client_id": "q-2", "content": "Hello?"})).await;
    client.expect("message").await;
    client.until("stream_end").await;
    assert_eq!(
        llm.requests.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "only the accepted question reached the model"
    );
    let user = gw.state.db.find_users("careful").await.expect("read").pop().expect("user");
    let accepted_at = gw.state.db.disclosure_accepted_at(&user.id, "v1").await.expect("read");
    assert!(accepted_at.is_some_and(|t| t > 0), "who accepted which version, and when");

    // The next connection knows; a changed text asks again.
    let (_again, info, _) =
        Client::join_course(&gw, &pair.access_token, &gw.lms.ticket_with("careful", claims.clone())).await;
    assert_eq!(info["context"]["disclosure"]["accepted"], true);
    claims["disclosure"] = json!({"text": "Answers are generated by AI. Check them.", "version": "v2"});
    let (_changed, info, _) =
        Client::join_course(&gw, &pair.access_token, &gw.lms.ticket_with("careful", claims)).await;
    assert_eq!(info["context"]["disclosure"]["accepted"], false);
}

#[tokio::test]
async fn a_regenerated_reply_is_a_new_version_and_the_old_one_is_kept_but_not_resent() {
    let (llm, gw) = openai_gateway(&[]).await;
    let ticket = gw.lms.ticket_with("curious", unit_claims("Unit text."));
    let mut client = ask(&gw, "curious", &ticket, "What is chlorophyll?").await;
    let question = client.expect("message").await;
    let (first_end, before) = client.until("stream_end").await;
    let first = first_end["id"].as_str().expect("id").to_owned();
    assert!(before.iter().any(|f| f["type"] == "stream_start" && f.get("replaces").is_none()));

    // Only the latest reply, by its id.
    client.send(json!({"type": "regenerate", "id": "not-a-reply"})).await;
    assert_eq!(client.expect("error").await["code"], "not_found");
    client.send(json!({"type": "regenerate", "id": first})).await;
    let start = client.expect("stream_start").await;
    assert_eq!(
        (start["replaces"].as_str(), start["reply_to"].as_str()),
        (Some(first.as_str()), question["id"].as_str())
    );
    let (second_end, _) = client.until("stream_end").await;
    let second = second_end["id"].as_str().expect("id").to_owned();
    assert_ne!(first, second);
    // The model was asked the same question again, without the first answer.
    let sent = llm.last_request.lock().expect("lock").clone();
    let turns: Vec<&str> = sent["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] != "system")
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(turns, vec!["What is chlorophyll?"]);
    // An earlier version cannot be regenerated any more.
    client.send(json!({"type": "regenerate", "id": first})).await;
    assert_eq!(client.expect("error").await["code"], "not_found");

    // Both versions are kept; the history names which replaces which.
    client.send(json!({"type": "history"})).await;
    let history = client.expect("history").await;
    let replies: Vec<&Value> =
        history["messages"].as_array().expect("list").iter().filter(|m| m["role"] == "assistant").collect();
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[1]["replaces"], first.as_str());
    assert_eq!(replies[0]["reply_to"], question["id"]);

    // A follow-up carries only the newest version of the answer.
    client.send(json!({"type": "message", "client_id": "q-2", "content": "And then?"})).await;
    client.expect("message").await;
    client.until("stream_end").await;
    let sent = llm.last_request.lock().expect("lock").clone();
    let assistant_turns =
        sent["messages"].as_array().expect("messages").iter().filter(|m| m["role"] == "assistant").count();
    assert_eq!(assistant_turns, 1, "{sent}");
}

/// The value of a metric line of a `/metrics` text (0 when absent).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn the_chat_reports_its_sockets_and_stored_messages_in_the_metrics() {
    let gw = spawn_gateway(&[]).await;
    let scrape =
        || async { reqwest::get(format!("{}/metrics", gw.url)).await.expect("get").text().await.expect("text") };
    let before = scrape().await;
    assert_eq!(metric(&before, "ibal_chat_sockets_open "), 0.0, "{before}");
    let pair = sign_in(&gw, "counted").await;
    let ticket = gw.lms.ticket_with("counted", json!({}));
    let (mut client, _, _) = Client::join_course(&gw, &pair.access_token, &ticket).await;
    client.expect("presence").await;
    client.send(json!({"type": "message", "client_id": "m-1", "content": "Hello"})).await;
    client.expect("message").await;
    let during = scrape().await;
    assert_eq!(metric(&during, "ibal_chat_sockets_open "), 1.0, "{during}");
    assert_eq!(
        metric(&during, "ibal_chat_messages_stored_total ") - metric(&before, "ibal_chat_messages_stored_total "),
        1.0
    );
    assert!(metric(&during, "ibal_chat_write_batch_size_count ") >= 1.0, "{during}");
    for name in ["ibal_fanout_rejected_total ", "ibal_fanout_resyncs_total ", "ibal_chat_slow_consumers_total "] {
        assert!(during.lines().any(|l| l.starts_with(name)), "{name} is exported: {during}");
    }
    // A resend is acknowledged but not stored again.
    client.send(json!({"type": "message", "client_id": "m-1", "content": "Hello"})).await;
    client.expect("message").await;
    let after = scrape().await;
    assert_eq!(metric(&after, "ibal_chat_messages_stored_total "), metric(&during, "ibal_chat_messages_stored_total "));
}

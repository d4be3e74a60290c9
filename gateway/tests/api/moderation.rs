//! Room moderation from the course team's dashboard: a hidden message is replaced live for everyone
//! in the room (and in every later history, and out of the assistant's prompt) while its text stays
//! for the audit; a muted learner's messages are refused with `muted` until the mute ends or is
//! lifted; a pinned announcement reaches the room and whoever enters it; only this course's staff may
//! act, and only with the page's form token.

use crate::common;
use crate::insights::{PAGE, enter, get};

use common::fake_llm::FakeLlm;
use common::ws::{Client, sign_in};
use common::{RunningGateway, browser, spawn_gateway};
use serde_json::{Value, json};

const NOTICE: &str = "Removed by course staff.";
const SECRET: &str = "call me at 555-0199";

async fn room_gateway() -> (FakeLlm, RunningGateway) {
    let llm = FakeLlm::answering(&["Here is ", "a summary."]).await;
    let base = format!("{}/v1", llm.url);
    let gw =
        spawn_gateway(&[("CHAT_BACKEND", "room"), ("ROOM_ASSISTANT", "openai"), ("OPENAI_BASE_URL", base.as_str())])
            .await;
    (llm, gw)
}

/// A member of the block's room: the socket, its user_info and its history.
async fn member(gw: &RunningGateway, username: &str, claims: Value) -> (Client, Value, Value) {
    let pair = sign_in(gw, username).await;
    let ticket = gw.lms.ticket_with(username, claims);
    Client::join_course(gw, &pair.access_token, &ticket).await
}

/// Sends a message and returns it as stored (the sender's acknowledgement).
async fn say(client: &mut Client, client_id: &str, content: &str) -> Value {
    client.send(json!({"type": "message", "client_id": client_id, "content": content})).await;
    loop {
        let (stored, _) = client.until("message").await;
        if stored["client_id"] == client_id {
            return stored;
        }
    }
}

/// The course's staff, in the dashboard: their browser and the page's form token.
async fn staff(gw: &RunningGateway, username: &str, claims: Value) -> (reqwest::Client, String) {
    let browser = browser();
    let ticket = gw.lms.ticket_with(username, claims);
    assert_eq!(enter(gw, &browser, &ticket).await.0, 303);
    let csrf = form_token(gw, &browser, PAGE).await;
    (browser, csrf)
}

async fn form_token(gw: &RunningGateway, browser: &reqwest::Client, page: &str) -> String {
    let (status, html) = get(gw, browser, page).await;
    assert_eq!(status, 200, "{html}");
    let marker = "name=\"csrf\" value=\"";
    let at = html.find(marker).map(|i| i + marker.len()).expect("a form token in the page");
    html[at..].split('"').next().unwrap_or_default().to_owned()
}

async fn post(gw: &RunningGateway, browser: &reqwest::Client, action: &str, form: &[(&str, &str)]) -> (u16, String) {
    let response = browser.post(format!("{}{PAGE}/moderation/{action}", gw.url)).form(form).send().await.expect("post");
    (response.status().as_u16(), response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn a_hidden_message_is_replaced_live_for_everyone_and_reaches_no_one_again() {
    let (llm, gw) = room_gateway().await;
    let (mut alice, _, _) = member(&gw, "alice", json!({})).await;
    let (mut bob, _, _) = member(&gw, "bob", json!({})).await;
    let said = say(&mut bob, "b-1", SECRET).await;
    let id = said["id"].as_str().expect("id").to_owned();
    assert_eq!(alice.until("message").await.0["content"], SECRET);

    let (tess, csrf) = staff(&gw, "tess", json!({"role": "staff"})).await;
    let (_, page) = get(&gw, &tess, PAGE).await;
    assert!(page.contains(&format!("id=\"m-{id}\"")) && page.contains(SECRET), "the room message is listed");

    assert_eq!(post(&gw, &tess, "hide", &[("csrf", &csrf), ("message_id", &id)]).await.0, 303);
    for client in [&mut alice, &mut bob] {
        let (frame, _) = client.until("message").await;
        assert_eq!((frame["id"].as_str(), frame["content"].as_str()), (Some(id.as_str()), Some(NOTICE)));
        assert_eq!(frame["hidden"], true);
        assert!(frame.get("client_id").is_none(), "the notice names no client's message: {frame}");
    }

    // Whoever enters later reads the notice, never the text.
    let (_, _, history) = member(&gw, "carol", json!({})).await;
    assert!(!history.to_string().contains("555-0199"), "{history}");
    let entry = history["messages"].as_array().and_then(|m| m.iter().find(|m| m["id"] == id.as_str())).cloned();
    assert_eq!(entry.map(|m| m["content"].clone()), Some(json!(NOTICE)));

    // Nor does the assistant read it.
    say(&mut alice, "a-1", "@assistant what did we talk about?").await;
    alice.until("stream_end").await;
    let prompt = llm.last_request.lock().expect("lock").to_string();
    assert!(prompt.contains("what did we talk about") && !prompt.contains("555-0199"), "{prompt}");

    // The text stays for the audit: on the dashboard, marked hidden, and the action is listed.
    let (_, page) = get(&gw, &tess, PAGE).await;
    assert!(page.contains(SECRET) && page.contains("(hidden)"), "kept for the audit");
    let audit = &page[page.find("id=\"audit\"").expect("the audit list")..];
    assert!(audit.contains("<td>tess</td><td>hide</td>"), "{audit}");

    // Restored: the text comes back to the room.
    let form = [("csrf", csrf.as_str()), ("message_id", id.as_str()), ("restore", "1")];
    assert_eq!(post(&gw, &tess, "hide", &form).await.0, 303);
    let restored = loop {
        let (frame, _) = bob.until("message").await;
        if frame["id"] == id.as_str() {
            break frame;
        }
    };
    assert_eq!((restored["content"].as_str(), restored.get("hidden")), (Some(SECRET), None));
}

#[tokio::test]
async fn a_muted_learner_is_refused_until_the_mute_is_lifted() {
    let (_llm, gw) = room_gateway().await;
    let (mut alice, _, _) = member(&gw, "alice", json!({})).await;
    let (mut bob, _, _) = member(&gw, "bob", json!({})).await;
    let said = say(&mut bob, "b-1", "spam spam spam").await;
    let id = said["id"].as_str().expect("id").to_owned();
    alice.until("message").await;

    let (tess, csrf) = staff(&gw, "tess", json!({"role": "instructor"})).await;
    let form = [("csrf", csrf.as_str()), ("message_id", id.as_str()), ("minutes", "60")];
    assert_eq!(post(&gw, &tess, "mute", &form).await.0, 303);
    // The room's frames reach a socket in the order they were sent: once bob sees the announcement
    // pinned after the mute, his socket has had the mute's notice too.
    let room = gw.state.db.get_message(&id).await.expect("message").conversation_id;
    let form = [("csrf", csrf.as_str()), ("room_id", room.as_str()), ("content", "Be kind.")];
    assert_eq!(post(&gw, &tess, "pin", &form).await.0, 303);
    bob.until("pinned").await;

    bob.send(json!({"type": "message", "client_id": "b-2", "content": "more spam"})).await;
    let (error, _) = bob.until("error").await;
    assert_eq!((error["code"].as_str(), error["client_id"].as_str()), (Some("muted"), Some("b-2")));
    let wait = error["retry_after"].as_u64().expect("retry_after");
    assert!((3500..=3600).contains(&wait), "about an hour: {wait}");
    // Not stored: the room never hears of it, and it is not in the history.
    let said = say(&mut alice, "a-1", "anyone here?").await;
    let (next, _) = bob.until("message").await;
    assert_eq!(next["id"], said["id"], "the muted message went nowhere");
    bob.send(json!({"type": "history"})).await;
    let (history, _) = bob.until("history").await;
    assert!(!history.to_string().contains("more spam"), "{history}");

    // Listed on the dashboard, in the audit too, then lifted.
    let (_, page) = get(&gw, &tess, PAGE).await;
    let mutes = &page[page.find("id=\"mutes\"").expect("the mutes")..];
    let marker = "name=\"user_id\" value=\"";
    let at = mutes.find(marker).expect("a mute to lift") + marker.len();
    let user_id = mutes[at..].split('"').next().unwrap_or_default().to_owned();
    assert!(page.contains("<td>tess</td><td>mute</td>") && page.contains("<td class=\"n\">60</td>"), "audited");
    assert_eq!(post(&gw, &tess, "unmute", &[("csrf", &csrf), ("user_id", &user_id)]).await.0, 303);
    assert_eq!(post(&gw, &tess, "unmute", &[("csrf", &csrf), ("user_id", &user_id)]).await.0, 404, "lifted once");
    let again = say(&mut bob, "b-3", "sorry, I will behave").await;
    assert_eq!(again["content"], "sorry, I will behave");

    // Course staff and out-of-range durations are refused.
    let (mut sam, _, _) = member(&gw, "sam", json!({"role": "staff"})).await;
    let staff_said = say(&mut sam, "s-1", "Welcome all").await;
    let sam_id = staff_said["id"].as_str().expect("id");
    let form = [("csrf", csrf.as_str()), ("message_id", sam_id), ("minutes", "60")];
    let (status, body) = post(&gw, &tess, "mute", &form).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Course staff cannot be muted"), "{body}");
    let form = [("csrf", csrf.as_str()), ("message_id", id.as_str()), ("minutes", "0")];
    assert_eq!(post(&gw, &tess, "mute", &form).await.0, 400);
}

#[tokio::test]
async fn a_pinned_announcement_reaches_the_room_and_whoever_enters_it() {
    let (_llm, gw) = room_gateway().await;
    let (mut alice, info, _) = member(&gw, "alice", json!({})).await;
    let room = info["conversation_id"].as_str().expect("room").to_owned();
    let (tess, csrf) = staff(&gw, "tess", json!({"role": "staff"})).await;

    let announcement = "Office hours moved to Thursday 5 pm.";
    let form = [("csrf", csrf.as_str()), ("room_id", room.as_str()), ("content", announcement)];
    assert_eq!(post(&gw, &tess, "pin", &form).await.0, 303);
    let (pinned, _) = alice.until("pinned").await;
    assert_eq!((pinned["content"].as_str(), pinned["sender"].as_str()), (Some(announcement), Some("tess")));

    // A newcomer gets it right after the history.
    let pair = sign_in(&gw, "bob").await;
    let ticket = gw.lms.ticket_with("bob", json!({}));
    let mut bob = Client::connect(&gw, "", None).await.expect("connect");
    bob.send(json!({"type": "auth", "token": pair.access_token, "ticket": ticket})).await;
    bob.expect("user_info").await;
    bob.expect("history").await;
    assert_eq!(bob.expect("pinned").await["content"], announcement);

    // Too long: refused, the pin stays.
    let long = "x".repeat(501);
    let form = [("csrf", csrf.as_str()), ("room_id", room.as_str()), ("content", long.as_str())];
    assert_eq!(post(&gw, &tess, "pin", &form).await.0, 400);

    let form = [("csrf", csrf.as_str()), ("room_id", room.as_str()), ("content", "")];
    assert_eq!(post(&gw, &tess, "pin", &form).await.0, 303);
    for client in [&mut alice, &mut bob] {
        let (cleared, _) = client.until("pinned").await;
        assert_eq!(cleared["content"], "");
    }
    let (_, page) = get(&gw, &tess, PAGE).await;
    assert!(page.contains("<td>tess</td><td>pin</td>") && page.contains("<td>tess</td><td>unpin</td>"));
}

#[tokio::test]
async fn only_this_courses_staff_moderate_and_only_with_the_pages_form_token() {
    let (_llm, gw) = room_gateway().await;
    let (mut bob, _, _) = member(&gw, "bob", json!({})).await;
    let said = say(&mut bob, "b-1", "hello room").await;
    let id = said["id"].as_str().expect("id").to_owned();

    // Nobody signed in, and a learner (whose ticket opens no dashboard): 403.
    assert_eq!(post(&gw, &browser(), "hide", &[("csrf", "x"), ("message_id", &id)]).await.0, 403);
    let learner = browser();
    assert_eq!(enter(&gw, &learner, &gw.lms.ticket("bob")).await.0, 403);
    assert_eq!(post(&gw, &learner, "hide", &[("csrf", "x"), ("message_id", &id)]).await.0, 403);

    // Staff of another course: not here.
    let other_course = "course-v1:Other+X+2026";
    let other_block = "block-v1:Other+X+2026+type@ibalxblock+block@z";
    // (Their course has a room with a message, so their page has its forms.)
    let (mut olga, _, _) = member(&gw, "olga", json!({"course_id": other_course, "usage_id": other_block})).await;
    say(&mut olga, "o-1", "hi from the other course").await;
    let (otto, otto_csrf) = {
        let b = browser();
        let ticket =
            gw.lms.ticket_with("otto", json!({"role": "staff", "course_id": other_course, "usage_id": other_block}));
        assert_eq!(enter(&gw, &b, &ticket).await.0, 303);
        let csrf = form_token(&gw, &b, "/instructor/course-v1%3AOther%2BX%2B2026").await;
        (b, csrf)
    };
    assert_eq!(post(&gw, &otto, "hide", &[("csrf", &otto_csrf), ("message_id", &id)]).await.0, 403);
    // …nor through their own course's address: the message is not one of theirs.
    let response = otto
        .post(format!("{}/instructor/course-v1%3AOther%2BX%2B2026/moderation/hide", gw.url))
        .form(&[("csrf", otto_csrf.as_str()), ("message_id", id.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 404);

    // This course's staff, without the form token or with another's: 403.
    let (tess, csrf) = staff(&gw, "tess", json!({"role": "staff"})).await;
    assert_eq!(post(&gw, &tess, "hide", &[("message_id", &id)]).await.0, 422, "no token at all: a malformed form");
    assert_eq!(post(&gw, &tess, "hide", &[("csrf", ""), ("message_id", &id)]).await.0, 403);
    assert_eq!(post(&gw, &tess, "hide", &[("csrf", &otto_csrf), ("message_id", &id)]).await.0, 403);

    // None of it changed anything: the message is still shown.
    bob.send(json!({"type": "history"})).await;
    let (history, _) = bob.until("history").await;
    assert!(history.to_string().contains("hello room") && !history.to_string().contains(NOTICE));
    let (_, page) = get(&gw, &tess, PAGE).await;
    assert!(page.contains("No moderation yet."), "nothing audited");
    // With it: done.
    assert_eq!(post(&gw, &tess, "hide", &[("csrf", &csrf), ("message_id", &id)]).await.0, 303);
    assert_eq!(bob.until("message").await.0["content"], NOTICE);
}

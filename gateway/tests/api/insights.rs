//! Course chat insights: only the course's staff (by the LMS's ticket) and operators open a
//! course's dashboard; its figures and CSV exports match what was seeded; learners are pseudonymous
//! and texts left out unless the operator says otherwise.

use crate::common;

use common::tickets::{BLOCK, COURSE, LMS_ISSUER};
use common::{RunningGateway, browser, spawn_gateway};
use futures_util::StreamExt;
use ibal_gateway::domain::{
    ChatContext, IdentityClaims, MessageRole, MessageStatus, NewMessage, Owner, User, rfc3339_ms,
};
use ibal_gateway::domain::{CourseKey, now_ms};
use ibal_gateway::store::{Db, InsightScope};
use serde_json::json;

pub const PAGE: &str = "/instructor/course-v1%3AedX%2BDemoX%2BDemo";
const OTHER_COURSE: &str = "course-v1:Other+X+2026";

async fn user(gw: &RunningGateway, username: &str) -> User {
    let claims = IdentityClaims {
        issuer: LMS_ISSUER.into(),
        subject: format!("sub-{username}"),
        username: username.into(),
        name: String::new(),
        email: String::new(),
        role: None,
    };
    gw.state.db.upsert_identity(&claims).await.expect("user")
}

fn context(course: &str) -> ChatContext {
    ChatContext { platform: LMS_ISSUER.into(), course_id: course.into(), block_id: BLOCK.into() }
}

/// A person's message, then (when `reply` is given) the assistant's answer to it: (question id, reply id).
async fn exchange(
    gw: &RunningGateway,
    owner: Owner<'_>,
    who: &User,
    course: &str,
    question: &str,
    reply: Option<MessageStatus>,
) -> (String, Option<String>) {
    let db = &gw.state.db;
    let conversation = db.conversation_for(owner, &context(course)).await.expect("conversation");
    let client_id = format!("c-{}", question.len());
    let new = NewMessage {
        sender_role: "learner",
        ..NewMessage::from_user(&conversation.id, &who.id, &who.username, &client_id, question)
    };
    let asked = db.insert_message(&new).await.expect("question").message;
    let Some(status) = reply else { return (asked.id, None) };
    let answer = NewMessage {
        id: None,
        conversation_id: &conversation.id,
        sender_id: None,
        client_id: None,
        role: MessageRole::Assistant,
        sender_name: "assistant",
        sender_role: "",
        content: "Enzymes are proteins that speed up reactions.",
        status,
        reply_to: Some(&asked.id),
        replaces: None,
        error_code: None,
        tokens: Some(30),
        latency_ms: Some(200),
        first_token_ms: Some(40),
        sources: None,
    };
    let replied = db.insert_message(&answer).await.expect("reply").message;
    (asked.id, Some(replied.id))
}

/// Three learners in the course (two assistant threads and the room), one outside it.
async fn seed(gw: &RunningGateway) {
    let (a, b, c, d) = (user(gw, "ada").await, user(gw, "bea").await, user(gw, "cy").await, user(gw, "dee").await);
    let (_, reply) =
        exchange(gw, Owner::User(&a.id), &a, COURSE, "How do enzymes work?", Some(MessageStatus::Complete)).await;
    gw.state.db.set_feedback(&reply.expect("reply"), &a.id, 1, "That is wrong").await.expect("rating");
    exchange(gw, Owner::User(&b.id), &b, COURSE, "What are enzymes made of?", Some(MessageStatus::Failed)).await;
    exchange(gw, Owner::Room, &c, COURSE, "Enzymes quiz tomorrow?", None).await;
    exchange(gw, Owner::User(&d.id), &d, OTHER_COURSE, "Secret other course question", Some(MessageStatus::Complete))
        .await;
}

/// Posts a ticket to the way in, as the chat block's staff view does: the status, and where it leads.
pub async fn enter(gw: &RunningGateway, client: &reqwest::Client, ticket: &str) -> (u16, String) {
    let response =
        client.post(format!("{}/instructor/enter", gw.url)).form(&[("ticket", ticket)]).send().await.expect("enter");
    let status = response.status().as_u16();
    let location = response.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned();
    (status, location)
}

pub async fn get(gw: &RunningGateway, client: &reqwest::Client, path: &str) -> (u16, String) {
    let response = client.get(format!("{}{path}", gw.url)).send().await.expect("get");
    (response.status().as_u16(), response.text().await.expect("body"))
}

fn figure(page: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let at = page.find(&marker).unwrap_or_else(|| panic!("no {id} in the page")) + marker.len();
    page[at..].split('<').next().unwrap_or_default().trim().to_owned()
}

#[tokio::test]
async fn course_staff_see_their_courses_figures_and_nobody_else_does() {
    let gw = spawn_gateway(&[("INSIGHTS_PRICE_PER_1K_TOKENS", "0.5")]).await;
    seed(&gw).await;

    // Nobody signed in: 403.
    assert_eq!(get(&gw, &browser(), PAGE).await.0, 403);
    // A learner's ticket does not open it.
    let learner = browser();
    assert_eq!(enter(&gw, &learner, &gw.lms.ticket("ada")).await.0, 403);
    assert_eq!(get(&gw, &learner, PAGE).await.0, 403);
    // Staff of another course enter theirs, not this one.
    let other = browser();
    let theirs = gw.lms.ticket_with("otto", json!({"role": "staff", "course_id": OTHER_COURSE, "usage_id": "block-v1:Other+X+2026+type@ibalxblock+block@z"}));
    assert_eq!(enter(&gw, &other, &theirs).await.0, 303);
    assert_eq!(get(&gw, &other, PAGE).await.0, 403);

    // This course's staff: in, to this course's page.
    let staff = browser();
    let ticket = gw.lms.ticket_with("tess", json!({"role": "staff"}));
    let (status, location) = enter(&gw, &staff, &ticket).await;
    assert_eq!((status, location.as_str()), (303, PAGE));
    assert_eq!(enter(&gw, &browser(), &ticket).await.0, 403, "a ticket enters once");
    let (status, page) = get(&gw, &staff, PAGE).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(figure(&page, "messages"), "3");
    assert_eq!(figure(&page, "learners"), "3");
    assert_eq!(figure(&page, "conversations"), "3");
    assert_eq!(figure(&page, "replies"), "2");
    assert_eq!(figure(&page, "error-rate"), "50.0 %");
    assert_eq!(figure(&page, "reply-time"), "200 / 200 ms");
    assert_eq!(figure(&page, "first-token"), "40 / 40 ms");
    assert_eq!(figure(&page, "thumbs"), "0 / 1");
    let ratings = &page[page.find("id=\"ratings\"").expect("the ratings table")..];
    assert!(ratings.contains("<td>1 of 5 (not helpful)</td><td class=\"n\">1</td>"), "{ratings}");
    assert_eq!(figure(&page, "tokens"), "60");
    assert_eq!(figure(&page, "cost"), "≈ 0.03 estimated", "60 tokens at 0.5 per 1,000");
    assert!(page.contains("<td>enzyme</td><td class=\"n\">3</td>"), "the most asked term");
    assert!(
        page.contains("That is wrong") && page.contains("How do enzymes work?"),
        "the lowest-rated reply and its question"
    );
    assert!(!page.contains("Secret other course question") && !page.contains(">ada<"), "no other course, no names");
    let today = rfc3339_ms(ibal_gateway::domain::now_ms())[..10].to_owned();
    assert!(page.contains(&format!(
        "<tr><td>{today}</td><td class=\"n\">3</td><td class=\"n\">3</td><td class=\"n\">2</td></tr>"
    )));
    assert!(page.contains("<svg class=\"chart\""), "the chart, drawn on the server");

    // A bad period is a clear 400.
    assert_eq!(get(&gw, &staff, &format!("{PAGE}?from=yesterday")).await.0, 400);
    assert_eq!(get(&gw, &staff, &format!("{PAGE}?from=2026-02-01&to=2026-01-01")).await.0, 400);
}

#[tokio::test]
async fn the_exports_are_csv_with_pseudonyms_and_without_texts_by_default() {
    let gw = spawn_gateway(&[]).await;
    seed(&gw).await;
    let staff = browser();
    enter(&gw, &staff, &gw.lms.ticket_with("tess", json!({"role": "instructor"}))).await;

    let (status, summary) = get(&gw, &staff, &format!("{PAGE}/summary.csv")).await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = summary.lines().collect();
    assert_eq!(lines[0], "date,messages,active_learners,assistant_replies");
    assert_eq!(lines.len(), 31, "a header and 30 days");
    assert!(lines.last().expect("today").ends_with(",3,3,2"), "{summary}");

    let (status, messages) = get(&gw, &staff, &format!("{PAGE}/messages.csv")).await;
    assert_eq!(status, 200);
    let rows: Vec<Vec<&str>> = messages.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0],
        [
            "time",
            "day",
            "block_id",
            "place",
            "sender",
            "sender_role",
            "role",
            "status",
            "characters",
            "first_token_ms",
            "reply_ms",
            "tokens",
            "hidden"
        ]
    );
    assert_eq!(rows.len(), 6, "five messages of the course: {messages}");
    let senders: Vec<&str> = rows[1..].iter().map(|r| r[4]).collect();
    assert!(senders.iter().all(|s| s.starts_with("learner-") || *s == "assistant"), "{senders:?}");
    // (A pseudonym's hex digits may spell "ada": compare whole fields.)
    assert!(!senders.contains(&"ada") && !messages.contains("enzymes"), "no names, no texts: {messages}");
    assert!(rows.iter().any(|r| r[3] == "room"), "the room's message is there");

    // Another operator's choice: names and texts.
    let open = spawn_gateway(&[("INSIGHTS_SHOW_NAMES", "true"), ("INSIGHTS_TRANSCRIPTS", "true")]).await;
    seed(&open).await;
    let staff = browser();
    enter(&open, &staff, &open.lms.ticket_with("tess", json!({"role": "staff"}))).await;
    let (_, messages) = get(&open, &staff, &format!("{PAGE}/messages.csv")).await;
    assert!(messages.lines().next().expect("header").ends_with(",text"));
    assert!(messages.contains(",ada,") && messages.contains("How do enzymes work?"), "{messages}");
}

db_test!(the_dashboards_reads_on_every_engine, |db: Db| async move {
    let people: Vec<User> = futures_util::future::join_all(["ada", "bea"].map(|name| {
        let db = db.clone();
        async move {
            let claims = IdentityClaims {
                issuer: LMS_ISSUER.into(),
                subject: format!("sub-{name}"),
                username: name.into(),
                name: String::new(),
                email: String::new(),
                role: None,
            };
            db.upsert_identity(&claims).await.expect("user")
        }
    }))
    .await;
    let mut replies = Vec::new();
    for (n, who) in people.iter().enumerate() {
        let conversation = db.conversation_for(Owner::User(&who.id), &context(COURSE)).await.expect("conversation");
        let question = format!("Question {n} about enzymes");
        let client_id = format!("c-{n}");
        let asked = db
            .insert_message(&NewMessage::from_user(&conversation.id, &who.id, &who.username, &client_id, &question))
            .await
            .expect("question")
            .message;
        let answer = NewMessage {
            role: MessageRole::Assistant,
            sender_id: None,
            client_id: None,
            sender_name: "assistant",
            reply_to: Some(&asked.id),
            content: "An answer, with a comma, and a \"quote\"",
            tokens: Some(10),
            latency_ms: Some(100),
            first_token_ms: None,
            ..NewMessage::from_user(&conversation.id, &who.id, &who.username, "unused", "unused")
        };
        let reply = db.insert_message(&answer).await.expect("reply").message;
        db.set_feedback(&reply.id, &who.id, if n == 0 { 1 } else { 5 }, "meh").await.expect("rate");
        replies.push(reply.id);
    }
    let course = CourseKey { platform: LMS_ISSUER.into(), course_id: COURSE.into() };
    let scope = InsightScope { course, from_ms: now_ms() - 60_000, to_ms: now_ms() + 60_000, block: None };
    let rows: Vec<_> = db.course_messages(&scope).collect().await;
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(Result::is_ok));
    assert_eq!(db.course_ratings(&scope).await.expect("ratings"), [(1, 1), (5, 1)]);
    let lowest = db.lowest_rated(&scope, 10).await.expect("lowest");
    assert_eq!(lowest.len(), 1);
    assert_eq!((lowest[0].rating, lowest[0].question.as_deref()), (1, Some("Question 0 about enzymes")));
    let elsewhere = InsightScope { block: Some("block-v1:edX+DemoX+Demo+type@ibalxblock+block@other".into()), ..scope };
    assert!(db.course_messages(&elsewhere).collect::<Vec<_>>().await.is_empty(), "one block only");
});

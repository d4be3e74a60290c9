//! Open edX learner retirement: the store on SQLite, MariaDB/MySQL and PostgreSQL (everything of the
//! learner goes, nobody else's, once), and the API end to end (the service client's call, the
//! learner's open chats closed, the room messages redacted when configured).

use crate::common;

use common::service::{call, service_token};
use common::tickets::LMS_ISSUER;
use common::ws::{Client, sign_in};
use ibal_gateway::domain::*;
use ibal_gateway::store::*;
use serde_json::{Value, json};

const COURSE: &str = "course-v1:IBAL+BIO101+2025";

fn ctx(block: &str) -> ChatContext {
    ChatContext { platform: LMS_ISSUER.into(), course_id: COURSE.into(), block_id: block.into() }
}

fn identity(issuer: &str, subject: &str, username: &str) -> IdentityClaims {
    IdentityClaims {
        issuer: issuer.into(),
        subject: subject.into(),
        username: username.into(),
        name: format!("{username} N."),
        email: format!("{username}@example.com"),
        role: None,
    }
}

/// A learner with something in every table retirement empties; returns the user id.
async fn learner(db: &Db, issuer: &str, subject: &str, username: &str) -> String {
    let user = db.upsert_identity(&identity(issuer, subject, username)).await.expect("user");
    let course = CourseKey { platform: LMS_ISSUER.into(), course_id: COURSE.into() };
    db.set_course_role(&user.id, &course, CourseRole::Learner).await.expect("membership");
    // Their own conversation with the assistant, and their rating of its reply.
    let own = db.conversation_for(Owner::User(&user.id), &ctx("assistant")).await.expect("conversation");
    let asked = NewMessage::from_user(&own.id, &user.id, username, "q1", "My private question");
    db.insert_message(&asked).await.expect("question");
    let reply = NewMessage {
        sender_id: None,
        client_id: None,
        role: MessageRole::Assistant,
        sender_name: "Assistant",
        content: "An answer",
        ..NewMessage::from_user(&own.id, &user.id, "", "", "")
    };
    let reply = db.insert_message(&reply).await.expect("reply").message;
    db.set_feedback(&reply.id, &user.id, 1, "helpful").await.expect("feedback");
    db.accept_disclosure(&user.id, "v1", &ctx("assistant")).await.expect("disclosure accepted");
    // Two messages in the course room everyone shares.
    let room = db.conversation_for(Owner::Room, &ctx("room")).await.expect("room");
    for n in 0..2 {
        let said = format!("{username} says {n}");
        let client_id = format!("r{n}");
        db.insert_message(&NewMessage::from_user(&room.id, &user.id, username, &client_id, &said)).await.expect("room");
    }
    // Course staff muted them in the course's rooms, and the audit names them.
    let course = CourseKey::of(&ctx("room"));
    let audit = NewModeration {
        course: &course,
        conversation_id: Some(&room.id),
        actor_id: &user.id,
        actor_name: "staff",
        action: ModerationAction::Mute,
        message_id: None,
        target_user_id: Some(&user.id),
        minutes: Some(60),
    };
    db.mute(&course, &user.id, now_ms() + 3_600_000, &audit).await.expect("mute");
    // A login with a refresh token, and a browser session.
    let now = now_ms();
    let family = RefreshFamily {
        id: new_id(),
        user_id: user.id.clone(),
        client_id: "ibal-widget".into(),
        created_at: now,
        expires_at: now + 3_600_000,
        revoked_at: None,
    };
    db.create_refresh_family(&family).await.expect("family");
    let token = RefreshTokenRow {
        id: new_id(),
        token_hash: format!("hash-{}", new_id()),
        family_id: family.id.clone(),
        user_id: user.id.clone(),
        client_id: "ibal-widget".into(),
        scope: "chat".into(),
        context: String::new(),
        created_at: now,
        expires_at: now + 3_600_000,
        used_at: None,
        revoked_at: None,
    };
    db.insert_refresh_token(&token).await.expect("refresh token");
    db.session_create(&format!("s-{}", new_id()), &json!({"user_id": user.id}).to_string(), now + 3_600_000)
        .await
        .expect("session");
    user.id
}

/// The user's rows, table by table (room messages counted by author).
async fn rows_of(db: &Db, user_id: &str) -> Vec<(&'static str, i64)> {
    let queries = [
        ("users", format!("SELECT COUNT(*) FROM users WHERE id = '{user_id}'")),
        ("identities", format!("SELECT COUNT(*) FROM identities WHERE user_id = '{user_id}'")),
        ("conversations", format!("SELECT COUNT(*) FROM conversations WHERE user_id = '{user_id}'")),
        (
            "messages",
            format!(
                "SELECT COUNT(*) FROM messages WHERE sender_id = '{user_id}' OR conversation_id IN (SELECT id FROM conversations WHERE user_id = '{user_id}')"
            ),
        ),
        ("feedback", format!("SELECT COUNT(*) FROM message_feedback WHERE user_id = '{user_id}'")),
        ("memberships", format!("SELECT COUNT(*) FROM course_memberships WHERE user_id = '{user_id}'")),
        ("disclosures", format!("SELECT COUNT(*) FROM disclosure_acceptances WHERE user_id = '{user_id}'")),
        ("refresh_tokens", format!("SELECT COUNT(*) FROM refresh_tokens WHERE user_id = '{user_id}'")),
        ("logins", format!("SELECT COUNT(*) FROM refresh_families WHERE user_id = '{user_id}'")),
        ("sessions", format!("SELECT COUNT(*) FROM sessions WHERE data LIKE '%{user_id}%'")),
        ("mutes", format!("SELECT COUNT(*) FROM room_mutes WHERE user_id = '{user_id}'")),
        (
            "moderation",
            format!(
                "SELECT COUNT(*) FROM moderation_actions WHERE target_user_id = '{user_id}' OR actor_id = '{user_id}'"
            ),
        ),
    ];
    let mut counts = Vec::new();
    for (table, query) in queries {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(query)).fetch_one(db.pool()).await.expect("count");
        counts.push((table, n));
    }
    counts
}

async fn room_texts(db: &Db) -> Vec<(Option<String>, String, String)> {
    let room = db.conversation_for(Owner::Room, &ctx("room")).await.expect("room");
    let mut texts: Vec<_> = db
        .history(&room.id, None, 100)
        .await
        .expect("history")
        .into_iter()
        .map(|m| (m.sender_id, m.sender_name, m.content))
        .collect();
    texts.sort();
    texts
}

fn all_zero(counts: &[(&str, i64)]) -> bool {
    counts.iter().all(|(_, n)| *n == 0)
}

fn issuers() -> Vec<String> {
    vec![LMS_ISSUER.to_owned()]
}

db_test!(retirement_removes_the_learner_and_only_the_learner, |db: Db| async move {
    let ada = learner(&db, LMS_ISSUER, "anon-ada", "ada").await;
    let bob = learner(&db, LMS_ISSUER, "anon-bob", "bob").await;
    // Bob rates Ada's reply too: it goes with her conversation.
    let own = db.conversation_for(Owner::User(&ada), &ctx("assistant")).await.expect("conversation");
    let reply = db.history(&own.id, None, 10).await.expect("history").into_iter().find(|m| m.sender_id.is_none());
    db.set_feedback(&reply.expect("reply").id, &bob, -1, "").await.expect("feedback");
    // Another platform's "ada" is another person.
    let canvas_ada = learner(&db, "https://canvas.example", "anon-ada", "ada").await;
    let bob_before = rows_of(&db, &bob).await;
    let canvas_before = rows_of(&db, &canvas_ada).await;

    let issuers = issuers();
    let who = Retiree { issuers: &issuers, username: "ada", lms_user_id: Some(7) };
    let removed = db.retire(&who, false).await.expect("retire");
    let expected = [
        ("conversations", 1),
        ("disclosures", 1),
        ("feedback", 2),
        ("identities", 1),
        ("logins", 1),
        ("memberships", 1),
        ("messages", 4),
        ("messages_redacted", 0),
        ("refresh_tokens", 1),
        ("sessions", 1),
        ("users", 1),
    ];
    assert_eq!(removed.into_iter().collect::<Vec<_>>(), expected);
    assert!(all_zero(&rows_of(&db, &ada).await), "{:?}", rows_of(&db, &ada).await);

    let mut bob_after = rows_of(&db, &bob).await;
    // Bob's rating of Ada's reply went with her conversation; nothing else of his.
    let feedback = bob_after.iter_mut().find(|(t, _)| *t == "feedback").expect("feedback");
    feedback.1 += 1;
    assert_eq!(bob_after, bob_before);
    assert_eq!(rows_of(&db, &canvas_ada).await, canvas_before, "another issuer's ada is untouched");
    let room = room_texts(&db).await;
    assert_eq!(room.len(), 4, "Bob's and the other Ada's room messages stay: {room:?}");
    assert!(room.iter().all(|(sender, _, _)| sender.as_deref() != Some(ada.as_str())));

    // Again: nothing left to remove.
    let again = db.retire(&who, false).await.expect("retire again");
    assert!(again.values().all(|n| *n == 0), "{again:?}");
    assert_eq!(again.len(), expected.len(), "every table is reported, even at zero");
});

db_test!(retirement_can_redact_room_messages_and_match_by_lms_user_id, |db: Db| async move {
    // Known to the gateway under another name, with the LMS user id as subject.
    let ada = learner(&db, LMS_ISSUER, "42", "ada_renamed").await;
    let bob = learner(&db, LMS_ISSUER, "anon-bob", "bob").await;
    let issuers = issuers();
    let nobody = Retiree { issuers: &issuers, username: "ada", lms_user_id: None };
    assert!(db.retire(&nobody, true).await.expect("retire").values().all(|n| *n == 0), "no match by name alone");
    let no_issuers = Retiree { issuers: &[], username: "ada_renamed", lms_user_id: Some(42) };
    assert!(db.retire(&no_issuers, true).await.expect("retire").values().all(|n| *n == 0), "no Open edX door");

    let who = Retiree { issuers: &issuers, username: "ada", lms_user_id: Some(42) };
    let removed = db.retire(&who, true).await.expect("retire");
    assert_eq!((removed["messages"], removed["messages_redacted"], removed["users"]), (2, 2, 1));
    assert!(all_zero(&rows_of(&db, &ada).await));
    let room = room_texts(&db).await;
    let redacted: Vec<_> = room.iter().filter(|(sender, _, _)| sender.is_none()).collect();
    assert_eq!(redacted.len(), 2);
    assert!(redacted.iter().all(|(_, name, text)| name.is_empty() && text == "[deleted]"), "{redacted:?}");
    assert!(
        room.iter()
            .filter(|(sender, _, _)| sender.as_deref() == Some(bob.as_str()))
            .all(|(_, _, t)| t.starts_with("bob says"))
    );
    let again = db.retire(&who, true).await.expect("retire again");
    assert!(again.values().all(|n| *n == 0), "{again:?}");
});

#[tokio::test]
async fn the_retirement_api_closes_the_learners_chats() {
    let gw = common::spawn_gateway(&[
        ("CHAT_HEARTBEAT_SECS", "1"),
        ("CHAT_IDLE_TIMEOUT_SECS", "30"),
        ("RETIREMENT_ROOM_MESSAGES", "redact"),
    ])
    .await;
    let retirement = service_token(&gw, "retirement").await;
    // Ada in the room twice: with a login (refresh family), and signed in by chat ticket (no login).
    let ada = sign_in(&gw, "ada").await;
    let (mut with_login, _, _) = Client::join_course(&gw, &ada.access_token, &gw.lms.ticket("ada")).await;
    let ticket_token = ticket_sign_in(&gw, "ada").await;
    let (mut by_ticket, _, _) = Client::join_course(&gw, &ticket_token, &gw.lms.ticket("ada")).await;
    let bob = sign_in(&gw, "bob").await;
    let (mut bob_chat, _, _) = Client::join_course(&gw, &bob.access_token, &gw.lms.ticket("bob")).await;
    with_login.send(json!({"type": "message", "client_id": "a1", "content": "Hello from Ada"})).await;
    with_login.until("message").await;

    let (status, body) =
        call(&gw, "POST", "/api/v1/retirement", &retirement, Some(json!({"username": "ada", "lms_user_id": 7}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["username"], "ada");
    assert_eq!((body["removed"]["users"].as_u64(), body["removed"]["messages_redacted"].as_u64()), (Some(1), Some(1)));
    for client in [&mut with_login, &mut by_ticket] {
        let (frames, code) = client.closed().await;
        assert_eq!(code, Some(4403));
        assert_eq!(frames.last().expect("error")["code"], "session_revoked");
    }
    // Ada's tokens open nothing any more; Bob chats on.
    for token in [&ada.access_token, &ticket_token] {
        let (status, body) = call(&gw, "GET", "/api/v1/conversations", token, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some("session_revoked")));
    }
    bob_chat.send(json!({"type": "ping"})).await;
    bob_chat.until("pong").await;

    let (_, again) =
        call(&gw, "POST", "/api/v1/retirement", &retirement, Some(json!({"username": "ada", "lms_user_id": 7}))).await;
    assert!(again["removed"].as_object().expect("removed").values().all(|n| n == 0), "{again}");
    let (status, body) = call(&gw, "POST", "/api/v1/retirement", &retirement, Some(json!({"username": " "}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")));
}

/// A local account, registered as on the standalone page.
async fn register(gw: &common::RunningGateway, username: &str) -> String {
    let answer = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/register", gw.url))
        .json(&json!({"username": username, "password": "a long enough password 42"}))
        .send()
        .await
        .expect("register");
    assert_eq!(answer.status(), 201);
    let pair: Value = answer.json().await.expect("token pair");
    pair["access_token"].as_str().expect("access token").to_owned()
}

/// A ticket exchanged for a gateway token: the LMS's user, with no local account.
async fn ticket_sign_in(gw: &common::RunningGateway, username: &str) -> String {
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("client_id", "ibal-widget"),
        ("subject_token_type", "urn:ibal:params:oauth:token-type:chat-ticket"),
        ("subject_token", &gw.lms.ticket(username)),
    ];
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/oauth2/token", gw.url))
        .form(&form)
        .send()
        .await
        .expect("ticket sign-in")
        .json()
        .await
        .expect("json");
    answer["access_token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn learners_download_their_data_and_erase_their_local_account() {
    let gw = common::spawn_gateway(&[]).await;
    let erin = register(&gw, "erin").await;
    let bob = register(&gw, "bob").await;
    // The gateway's own room, where local accounts chat.
    let (mut erin_chat, _, _) = Client::join(&gw, &erin, "").await;
    let (mut bob_chat, _, _) = Client::join(&gw, &bob, "").await;
    erin_chat.send(json!({"type": "message", "client_id": "e1", "content": "Erin's note on mitosis"})).await;
    let said = erin_chat.until("message").await.0;
    bob_chat.send(json!({"type": "message", "client_id": "b1", "content": "Bob's own words"})).await;
    bob_chat.until("message").await;
    let message = said["id"].as_str().expect("id");
    let rated = format!("/api/v1/messages/{message}/feedback");
    let (status, _) = call(&gw, "POST", &rated, &erin, Some(json!({"rating": "up", "comment": "ok"}))).await;
    assert_eq!(status, 204);

    // The download: everything of hers, nothing of Bob's.
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/me/export", gw.url))
        .bearer_auth(&erin)
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-disposition"].to_str().expect("ascii").starts_with("attachment"));
    let export: Value = response.json().await.expect("json");
    assert_eq!(export["user"]["username"], "erin");
    let texts: Vec<&str> =
        export["room_messages"].as_array().expect("list").iter().filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(texts, ["Erin's note on mitosis"], "{export}");
    assert_eq!(export["feedback"][0]["comment"], "ok");
    assert!(!export.to_string().contains("Bob's own words"));

    // An account of the LMS is not erased from here: its platform retires it.
    let lms_user = ticket_sign_in(&gw, "olga").await;
    let (status, body) = call(&gw, "DELETE", "/api/v1/me", &lms_user, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));

    // Her local account is erased: her rows go, her sign-in stops working, Bob keeps his.
    let (status, body) = call(&gw, "DELETE", "/api/v1/me", &erin, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["removed"]["users"].as_u64(), body["removed"]["messages"].as_u64()), (Some(1), Some(1)));
    assert_eq!(body["removed"]["feedback"].as_u64(), Some(1));
    let (status, _) = call(&gw, "GET", "/api/v1/me/export", &erin, None).await;
    assert_eq!(status, 401, "the erased account's token opens nothing");
    let (status, _) = call(&gw, "GET", "/api/v1/me/export", &bob, None).await;
    assert_eq!(status, 200);
    bob_chat.send(json!({"type": "ping"})).await;
    bob_chat.until("pong").await;
}

db_test!(a_learners_export_and_erasure_on_every_database, |db: Db| async move {
    let ada = learner(&db, LMS_ISSUER, "anon-ada", "ada").await;
    let bob = learner(&db, LMS_ISSUER, "anon-bob", "bob").await;
    // What her export reads: her own conversation whole, her room messages, her ratings.
    let own = db.conversation_for(Owner::User(&ada), &ctx("assistant")).await.expect("conversation");
    let messages = db.all_messages(&own.id).await.expect("messages");
    assert_eq!(messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["My private question", "An answer"]);
    let room = db.room_messages_by(&ada).await.expect("room messages");
    assert_eq!(room.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["ada says 0", "ada says 1"]);
    assert_eq!(db.feedback_by(&ada).await.expect("feedback").len(), 1);

    let bob_before = rows_of(&db, &bob).await;
    let removed = db.erase_account(&ada, false).await.expect("erase");
    assert_eq!(removed["users"], 1);
    assert!(all_zero(&rows_of(&db, &ada).await), "{:?}", rows_of(&db, &ada).await);
    assert_eq!(rows_of(&db, &bob).await, bob_before, "nothing of Bob's");
    assert!(db.erase_account(&ada, false).await.expect("again").values().all(|n| *n == 0));
});

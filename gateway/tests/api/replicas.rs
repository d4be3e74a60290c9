//! Two gateway processes sharing PostgreSQL and Redis, as replicas behind a load balancer: a room
//! spans them, and one user's tabs on different replicas both receive the assistant's stream.

use crate::common;

use std::process::Stdio;

use common::TestDb;
use common::fake_llm::FakeLlm;
use common::tickets::TicketLms;
use common::ws::{Client, sign_in_with};
use ibal_gateway::chat::hub::{CHANNEL_PREFIX, Hub, RESYNC};
use ibal_gateway::config::DbKind;
use ibal_gateway::identity::keys::KeyRing;
use ibal_gateway::identity::tokens::{TokenPair, TokenService};
use secrecy::SecretString;
use serde_json::json;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ibal-gateway");
/// Every replica's SECRET_KEY: the signing keys are sealed under it.
const SECRET_KEY: &str = "replica-secret-key-0123456789abcdefghijklmnop";

fn replica_sealer() -> std::sync::Arc<ibal_gateway::crypto::sealed::Sealer> {
    std::sync::Arc::new(ibal_gateway::crypto::sealed::Sealer::new(&secrecy::SecretString::from(SECRET_KEY.to_owned())))
}

/// A gateway process on a free port; killed when dropped.
struct Replica {
    url: String,
    _child: tokio::process::Child,
}

async fn replica(db_url: &str, extra: &[(&str, &str)]) -> Replica {
    let redis = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let dir = std::env::temp_dir().join(format!("ibal-replica-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut child = tokio::process::Command::new(BIN)
        .arg("serve")
        .current_dir(&dir)
        .env_clear()
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("DATABASE_URL", db_url)
        .env("REDIS_URL", &redis)
        .env("SECRET_KEY", SECRET_KEY)
        .env("LOG_FORMAT", "json")
        // Behind one load balancer, every replica has the same public URL (and token issuer).
        .env("PUBLIC_URL", PUBLIC_URL)
        .envs(TicketLms::gateway_vars())
        .envs(extra.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let (addr, _log) = common::wait_listening(&mut child).await;
    Replica { url: format!("http://{addr}"), _child: child }
}

const PUBLIC_URL: &str = "http://chat.test";

/// A chat ticket for the shared room's block, as the LMS signs it for `username`.
/// Two replicas on one PostgreSQL database (and the shared Redis), and users signed in there.
async fn two_replicas<const N: usize>(usernames: [&str; N]) -> (TestDb, Replica, Replica, [TokenPair; N]) {
    let test_db = TestDb::new(DbKind::Postgres).await;
    let keys = KeyRing::load(test_db.db.clone(), replica_sealer()).await.expect("keys");
    let a = replica(&test_db.url, &[]).await;
    let b = replica(&test_db.url, &[]).await;
    let tokens = TokenService::new(keys, test_db.db.clone(), PUBLIC_URL.into());
    let mut pairs = Vec::with_capacity(N);
    for username in usernames {
        pairs.push(sign_in_with(&test_db.db, &tokens, username).await);
    }
    let Ok(pairs) = <[TokenPair; N]>::try_from(pairs) else { unreachable!("one pair per user") };
    (test_db, a, b, pairs)
}

fn room_ticket(username: &str) -> String {
    TicketLms::new(PUBLIC_URL).ticket(username)
}

#[tokio::test]
async fn a_room_spans_two_replicas() {
    let (test_db, a, b, [alice, bob]) = two_replicas(["alice", "bob"]).await;

    let (mut on_a, info_a, _) = Client::join_course_url(&a.url, &alice.access_token, &room_ticket("alice")).await;
    let (mut on_b, info_b, _) = Client::join_course_url(&b.url, &bob.access_token, &room_ticket("bob")).await;
    assert_eq!(info_a["conversation_id"], info_b["conversation_id"], "one room, whichever replica");

    on_a.send(json!({"type": "message", "client_id": "a-1", "content": "Hello from replica A"})).await;
    let (got, _) = on_b.until("message").await;
    assert_eq!((got["sender"].as_str(), got["content"].as_str()), (Some("alice"), Some("Hello from replica A")));
    on_b.send(json!({"type": "message", "client_id": "b-1", "content": "Hi from replica B"})).await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let (m, _) = on_a.until("message").await;
        seen.push(m["content"].as_str().expect("content").to_owned());
    }
    assert_eq!(
        seen,
        ["Hello from replica A", "Hi from replica B"],
        "alice gets her acknowledgement, then bob's message, once each"
    );
    let conversation = info_a["conversation_id"].as_str().expect("id");
    assert_eq!(test_db.db.count_messages(conversation).await.expect("count"), 2);
    drop((on_a, on_b, a, b));
    test_db.cleanup().await;
}

#[tokio::test]
async fn one_users_tabs_on_two_replicas_both_receive_the_assistants_stream() {
    let test_db = TestDb::new(DbKind::Postgres).await;
    let llm = FakeLlm::start().await;
    let base = format!("{}/v1", llm.url);
    let env = [("CHAT_BACKEND", "openai"), ("OPENAI_BASE_URL", base.as_str())];
    let keys = KeyRing::load(test_db.db.clone(), replica_sealer()).await.expect("keys");
    let a = replica(&test_db.url, &env).await;
    let b = replica(&test_db.url, &env).await;
    let tokens = TokenService::new(keys, test_db.db.clone(), PUBLIC_URL.into());
    let carol = sign_in_with(&test_db.db, &tokens, "carol").await;

    let (mut tab1, info1, _) = Client::join_course_url(&a.url, &carol.access_token, &room_ticket("carol")).await;
    let (mut tab2, info2, _) = Client::join_course_url(&b.url, &carol.access_token, &room_ticket("carol")).await;
    assert_eq!(info1["conversation_id"], info2["conversation_id"], "her conversation, whichever replica");
    tab1.send(json!({"type": "message", "client_id": "t-1", "content": "Explain recursion"})).await;
    for tab in [&mut tab1, &mut tab2] {
        assert_eq!(tab.expect("message").await["content"], "Explain recursion");
        let start = tab.expect("stream_start").await;
        let (end, deltas) = tab.until("stream_end").await;
        assert_eq!(end["id"], start["id"]);
        let streamed: String = deltas.iter().filter_map(|d| d["delta"].as_str()).collect();
        assert_eq!(streamed, llm.full_reply(), "every delta, in order, on both replicas");
        assert_eq!(end["content"], llm.full_reply());
    }
    drop((tab1, tab2, a, b));
    test_db.cleanup().await;
}

/// The gateway process dies mid-reply: the user's message is already stored; after a restart,
/// resending it (same client_id) stores nothing twice and gets the reply.
#[tokio::test]
async fn a_gateway_killed_mid_stream_loses_no_user_message() {
    let test_db = TestDb::new(DbKind::Sqlite).await;
    let llm = FakeLlm::start().await;
    llm.set_mode(common::fake_llm::Mode::Slow);
    let base = format!("{}/v1", llm.url);
    let env = [("CHAT_BACKEND", "openai"), ("OPENAI_BASE_URL", base.as_str()), ("REDIS_URL", "")];
    let keys = KeyRing::load(test_db.db.clone(), replica_sealer()).await.expect("keys");
    let tokens = TokenService::new(keys, test_db.db.clone(), PUBLIC_URL.into());
    let dave = sign_in_with(&test_db.db, &tokens, "dave").await;

    let first = replica(&test_db.url, &env).await;
    let (mut tab, info, _) = Client::join_course_url(&first.url, &dave.access_token, &room_ticket("dave")).await;
    tab.send(json!({"type": "message", "client_id": "k-1", "content": "Will you remember this?"})).await;
    let ack = tab.expect("message").await;
    tab.expect("stream_start").await;
    tab.expect("stream_delta").await;
    drop(first); // SIGKILL mid-reply (kill_on_drop)
    let (_, code) = tab.closed().await;
    assert_ne!(code, Some(1000), "not a clean close: the process died");

    let conversation = info["conversation_id"].as_str().expect("id");
    let stored = test_db.db.history(conversation, None, 50).await.expect("history");
    assert_eq!(stored.len(), 1, "the user's message survived; no partial reply was stored");
    assert_eq!(stored[0].id, ack["id"].as_str().expect("id"));

    llm.set_mode(common::fake_llm::Mode::Normal);
    let second = replica(&test_db.url, &env).await;
    let (mut tab, _, history) = Client::join_course_url(&second.url, &dave.access_token, &room_ticket("dave")).await;
    assert_eq!(history["messages"].as_array().expect("messages").len(), 1);
    tab.send(json!({"type": "message", "client_id": "k-1", "content": "Will you remember this?"})).await;
    assert_eq!(tab.expect("message").await["id"], ack["id"], "the resend is the stored message");
    let (end, _) = tab.until("stream_end").await;
    assert_eq!((end["status"].as_str(), end["content"].as_str()), (Some("complete"), Some(llm.full_reply().as_str())));
    assert_eq!(test_db.db.count_messages(conversation).await.expect("count"), 2, "one question, one answer");
    drop((tab, second));
    test_db.cleanup().await;
}

/// SIGTERM: open chats are told the gateway is going away (1001), so clients reconnect elsewhere.
#[tokio::test]
async fn a_stopping_gateway_closes_its_chats_with_going_away() {
    let test_db = TestDb::new(DbKind::Sqlite).await;
    let keys = KeyRing::load(test_db.db.clone(), replica_sealer()).await.expect("keys");
    let tokens = TokenService::new(keys, test_db.db.clone(), PUBLIC_URL.into());
    let erin = sign_in_with(&test_db.db, &tokens, "erin").await;
    let gateway = replica(&test_db.url, &[("REDIS_URL", "")]).await;
    let (mut tab, _, _) = Client::join_course_url(&gateway.url, &erin.access_token, &room_ticket("erin")).await;
    let pid = gateway._child.id().expect("pid").to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let (_, code) = tab.closed().await;
    assert_eq!(code, Some(1001));
    drop(gateway);
    test_db.cleanup().await;
}

#[tokio::test]
async fn replicas_that_both_create_the_first_key_verify_each_others_tokens() {
    let test_db = TestDb::new(DbKind::Postgres).await;
    let db = &test_db.db;
    // Replica A starts on the empty database and creates the first key; replica B, starting at the same
    // moment, also found none and adds its own the same way a moment later.
    let a = KeyRing::load(db.clone(), replica_sealer()).await.expect("keys");
    let b_first = ibal_gateway::identity::keys::generate_key(ibal_gateway::domain::now_ms() + 1).expect("key");
    let b_first = ibal_gateway::identity::keys::sealed(b_first, &replica_sealer()).expect("sealed");
    db.add_signing_key(&b_first).await.expect("B's first key");
    let b = KeyRing::load(db.clone(), replica_sealer()).await.expect("keys");
    let on_a = TokenService::new(a.clone(), db.clone(), PUBLIC_URL.into());
    let on_b = TokenService::new(b, db.clone(), PUBLIC_URL.into());
    let from_a = sign_in_with(db, &on_a, "alice").await;
    let from_b = sign_in_with(db, &on_b, "bob").await;
    a.reload().await.expect("A's periodic reload");
    for (token, who) in [(&from_a.access_token, "alice"), (&from_b.access_token, "bob")] {
        for (service, replica) in [(&on_a, "A"), (&on_b, "B")] {
            let claims = service.verify_access(token).await.unwrap_or_else(|e| panic!("{who} on {replica}: {e:?}"));
            assert_eq!(claims.username, who);
        }
    }
    test_db.cleanup().await;
}

// The chat hub on the Redis of this machine: the fan-out between replicas, without gateway processes.

fn hub_secret() -> SecretString {
    SecretString::from("hub-test-secret-key-0123456789abcdef".to_owned())
}
/// Two hubs (two replicas) on the Redis of this machine: a frame published on one reaches the other.
#[tokio::test]
async fn frames_cross_replicas_through_redis() {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let a = Hub::with_redis(16, &url, &hub_secret()).expect("hub a");
    let b = Hub::with_redis(16, &url, &hub_secret()).expect("hub b");
    let topic = format!("test-{}", uuid::Uuid::new_v4());
    let mut on_a = a.subscribe(&topic).await;
    let mut on_b = b.subscribe(&topic).await;
    for i in 0..3 {
        a.publish(&topic, format!("frame {i}")).await;
    }
    for i in 0..3 {
        let got_b =
            tokio::time::timeout(Duration::from_secs(5), on_b.rx.recv()).await.expect("in time").expect("frame");
        assert_eq!(&*got_b, format!("frame {i}"), "in order, across replicas");
        let got_a =
            tokio::time::timeout(Duration::from_secs(5), on_a.rx.recv()).await.expect("in time").expect("frame");
        assert_eq!(&*got_a, format!("frame {i}"), "once on the publishing replica too");
    }
    assert!(on_a.rx.try_recv().is_err(), "no double delivery");
}

/// Another service on the same Redis (or a gateway with another SECRET_KEY) cannot inject
/// frames into a room: they fail the check, are dropped and counted.
#[tokio::test]
async fn frames_that_fail_authentication_are_dropped_and_counted() {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let hub = Hub::with_redis(16, &url, &hub_secret()).expect("hub");
    let stranger = Hub::with_redis(16, &url, &SecretString::from("another-secret-key-of-32-characters!".to_owned()))
        .expect("a gateway with another SECRET_KEY");
    let topic = format!("test-{}", uuid::Uuid::new_v4());
    let mut socket = hub.subscribe(&topic).await;
    let channel = format!("{CHANNEL_PREFIX}{topic}");
    let mut raw =
        redis::Client::open(url.as_str()).expect("client").get_multiplexed_async_connection().await.expect("connect");
    let forged = r#"{"type":"message","content":"injected","sender":"admin"}"#;
    let _: i64 = redis::cmd("PUBLISH").arg(&channel).arg(forged).query_async(&mut raw).await.expect("publish");
    let _: i64 =
        redis::cmd("PUBLISH").arg(&channel).arg(format!("AAAA.{forged}")).query_async(&mut raw).await.expect("publish");
    stranger.publish(&topic, "from another secret").await;
    hub.publish(&topic, "genuine").await;
    let got = tokio::time::timeout(Duration::from_secs(5), socket.rx.recv()).await.expect("in time").expect("frame");
    assert_eq!(&*got, "genuine", "only the authentic frame arrives");
    for _ in 0..50 {
        if hub.metrics.rejected.get() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hub.metrics.rejected.get(), 3, "each forgery counted");
    assert!(socket.rx.try_recv().is_err());
}

/// A Redis of the test's own (the machine's `redis-server`), so it can be stopped and restarted.
fn start_redis(port: u16) -> std::process::Child {
    std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server is installed on this machine")
}

#[tokio::test]
async fn after_a_redis_outage_subscribers_are_told_to_resync() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let mut redis = start_redis(port);
    common::eventually("redis listens", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()).await;
    let url = format!("redis://127.0.0.1:{port}");
    let a = Hub::with_redis(16, &url, &hub_secret()).expect("hub a");
    let b = Hub::with_redis(16, &url, &hub_secret()).expect("hub b");
    let mut on_b = b.subscribe("room").await;
    a.publish("room", "before").await;
    assert_eq!(
        &*tokio::time::timeout(Duration::from_secs(5), on_b.rx.recv()).await.expect("in time").expect("frame"),
        "before"
    );

    redis.kill().expect("stop redis");
    redis.wait().expect("stopped");
    // While Redis is away, frames published on this replica still reach its own sockets.
    let mut local = a.subscribe("solo").await;
    a.publish("solo", "while down").await;
    assert_eq!(
        &*tokio::time::timeout(Duration::from_secs(10), local.rx.recv()).await.expect("in time").expect("frame"),
        "while down"
    );

    let mut redis = start_redis(port);
    let got = tokio::time::timeout(Duration::from_secs(20), on_b.rx.recv())
        .await
        .expect("resync within 20 s")
        .expect("frame");
    assert_eq!(&*got, RESYNC, "the socket is told to reload from the database");
    a.publish("room", "after").await;
    let next = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let frame = on_b.rx.recv().await.expect("frame");
            if &*frame != RESYNC {
                return frame;
            }
        }
    })
    .await
    .expect("in time");
    assert_eq!(&*next, "after", "fan-out works again");
    redis.kill().ok();
    redis.wait().ok();
}

#[tokio::test]
async fn moderation_on_one_replica_reaches_the_room_on_the_other() {
    let (test_db, a, b, [alice, bob]) = two_replicas(["alice", "bob"]).await;
    let (mut alice_b, _, _) = Client::join_course_url(&b.url, &alice.access_token, &room_ticket("alice")).await;
    let (mut bob_b, _, _) = Client::join_course_url(&b.url, &bob.access_token, &room_ticket("bob")).await;
    alice_b.send(json!({"type": "message", "client_id": "a-1", "content": "rude words"})).await;
    let (said, _) = bob_b.until("message").await;
    let id = said["id"].as_str().expect("id").to_owned();

    // Course staff, in the dashboard of replica A.
    let staff = common::browser();
    let ticket = TicketLms::new(PUBLIC_URL).ticket_with("tess", json!({"role": "staff"}));
    let entered = staff.post(format!("{}/instructor/enter", a.url)).form(&[("ticket", ticket)]).send().await;
    let page_path = entered.expect("enter").headers()["location"].to_str().expect("ascii").to_owned();
    let page = staff.get(format!("{}{page_path}", a.url)).send().await.expect("page").text().await.expect("html");
    let marker = "name=\"csrf\" value=\"";
    let csrf =
        page[page.find(marker).expect("a form") + marker.len()..].split('"').next().unwrap_or_default().to_owned();
    let post = |action: &str, form: Vec<(&'static str, String)>| {
        staff.post(format!("{}{page_path}/moderation/{action}", a.url)).form(&form).send()
    };

    let hidden = post("hide", vec![("csrf", csrf.clone()), ("message_id", id.clone())]).await.expect("hide");
    assert_eq!(hidden.status().as_u16(), 303);
    for client in [&mut alice_b, &mut bob_b] {
        let frame = loop {
            let (frame, _) = client.until("message").await;
            if frame["id"] == id.as_str() && frame["hidden"] == true {
                break frame;
            }
        };
        assert_eq!(frame["content"], "Removed by course staff.");
    }
    let form = vec![("csrf", csrf.clone()), ("message_id", id.clone()), ("minutes", "10".into())];
    assert_eq!(post("mute", form).await.expect("mute").status().as_u16(), 303);
    // A room's frames reach each socket in the order they were published: once alice's socket has the
    // announcement pinned after the mute, it has had the mute's notice too.
    let room = test_db.db.get_message(&id).await.expect("message").conversation_id;
    let form = vec![("csrf", csrf), ("room_id", room), ("content", "Be kind.".into())];
    assert_eq!(post("pin", form).await.expect("pin").status().as_u16(), 303);
    alice_b.until("pinned").await;
    // The mute reached alice's socket on the other replica: her next message is refused.
    alice_b.send(json!({"type": "message", "client_id": "a-2", "content": "more"})).await;
    let (error, _) = alice_b.until("error").await;
    assert_eq!((error["code"].as_str(), error["client_id"].as_str()), (Some("muted"), Some("a-2")));
    drop((alice_b, bob_b, a, b));
    test_db.cleanup().await;
}

//! The service client and the course index API: `clients ensure` as the Tutor plugin runs it, the
//! service scopes (only a confidential client's own, by client credentials), and the three calls of
//! the index, over HTTP; the store on SQLite, MariaDB/MySQL and PostgreSQL.

use crate::common;

use std::collections::HashSet;

use common::service::{SECRET, SERVICE_ID, call, ensure, gateway_cli, service_token, stdout, token};
use common::ws::sign_in;
use ibal_gateway::store::*;
use serde_json::{Value, json};

const COURSE: &str = "course-v1:IBAL+BIO101+2025";
const COURSE_PATH: &str = "/api/v1/index/courses/course-v1%3AIBAL%2BBIO101%2B2025";

fn block(n: usize, text: &str) -> Value {
    json!({
        "usage_id": format!("block-v1:IBAL+BIO101+2025+type@html+block@b{n}"),
        "block_type": "html",
        "display_name": format!("Block {n}"),
        "breadcrumb": ["Biology 101", "Cells", "The membrane"],
        "text": text,
        "start": "2025-01-31T09:00:00Z",
        "staff_only": n % 2 == 1,
        "group_access": {"50": [1, 2]},
        "url": format!("https://lms.example.com/courses/{COURSE}/jump_to/block-v1:IBAL+BIO101+2025+type@html+block@b{n}"),
        "position": n,
        "hash": format!("{:064x}", text.len() * 1000 + n),
    })
}

const ROTATED: &str = "second-secret-of-at-least-32-characters";

#[tokio::test]
async fn clients_ensure_is_idempotent_and_rotates_the_secret() {
    let gw = common::spawn_gateway(&[]).await;
    assert_eq!(stdout(&ensure(&gw, SECRET, &[])), format!("client {SERVICE_ID} created"));
    assert_eq!(stdout(&ensure(&gw, SECRET, &[])), format!("client {SERVICE_ID} unchanged"));
    let row = gw.state.db.get_client(SERVICE_ID).await.expect("query").expect("registered");
    assert_eq!((row.grant_types.as_str(), row.scopes.as_str()), ("client_credentials", "index retirement"));
    assert_ne!(row.secret_hash.as_deref(), Some(SECRET), "only a hash of the secret is kept");
    assert_eq!(gw.state.db.list_clients().await.expect("list").len(), 1);
    assert_eq!(token(&gw, SERVICE_ID, SECRET, "index").await.0, 200);

    // A new secret: the old one stops working at once, the new one works.
    assert_eq!(stdout(&ensure(&gw, ROTATED, &[])), format!("client {SERVICE_ID} updated"));
    let (status, body) = token(&gw, SERVICE_ID, SECRET, "index").await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    assert_eq!(token(&gw, SERVICE_ID, ROTATED, "index retirement").await.1["scope"], "index retirement");

    // The registration follows the command line: a scope dropped is no longer granted.
    let out = gateway_cli(
        &gw,
        &["clients", "ensure", "--client-id", SERVICE_ID, "--secret-env", "S", "--name", "n", "--scope", "index"],
        &[("S", ROTATED)],
    );
    assert_eq!(stdout(&out), format!("client {SERVICE_ID} updated"));
    let (status, body) = token(&gw, SERVICE_ID, ROTATED, "retirement").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
}

#[tokio::test]
async fn clients_ensure_refuses_what_it_must_not_register() {
    let gw = common::spawn_gateway(&[]).await;
    let cases: &[(&str, &[&str], &str)] = &[
        ("short", &[], "at least 32 characters"),
        ("", &[], "IBAL_SERVICE_CLIENT_SECRET"),
        (SECRET, &["--client-id", "bad id"], "--client-id"),
        (SECRET, &["--client-id", "ibal-widget"], "--client-id"),
        (SECRET, &["--scope", "admin"], "--scope admin"),
    ];
    for (secret, extra, says) in cases {
        // Later flags replace the earlier ones where clap keeps one value; lists grow.
        let out = ensure(&gw, secret, extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(says), "{extra:?}: {stderr}");
    }
    // `clients add` refuses a service scope to a client that cannot use client credentials.
    let out = gateway_cli(
        &gw,
        &["clients", "add", "--name", "web", "--redirect-uri", "https://a.example/cb", "--scope", "index"],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("--scope index: a service scope"), "{stderr}");
    assert!(gw.state.db.list_clients().await.expect("list").is_empty(), "nothing was registered");
    // The secret never appears in what the command prints.
    let out = ensure(&gw, SECRET, &[]);
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && !all.contains(SECRET), "{all}");
}

#[tokio::test]
async fn service_scopes_are_only_for_a_confidential_client_itself() {
    let gw = common::spawn_gateway(&[]).await;
    let index = service_token(&gw, "index").await;
    let retirement = service_token(&gw, "retirement").await;

    // A learner's token, and a service token with only the chat scope, are refused.
    let learner = sign_in(&gw, "ada").await.access_token;
    let (row, chat_secret) = ibal_gateway::identity::provider::new_client(
        "Chat service",
        &[],
        &["client_credentials".into()],
        &["chat".into()],
        true,
        false,
    );
    gw.state.db.insert_client(&row).await.expect("insert");
    let chat_service = token(&gw, &row.client_id, &chat_secret.expect("secret"), "chat").await.1["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let retire = json!({"username": "ada", "lms_user_id": 7});
    for (who, bearer) in [("learner", &learner), ("chat service", &chat_service), ("retirement", &retirement)] {
        let (status, body) = call(&gw, "GET", &format!("{COURSE_PATH}/hashes"), bearer, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("insufficient_scope")), "{who}: {body}");
    }
    for (who, bearer) in [("learner", &learner), ("chat service", &chat_service), ("index", &index)] {
        let (status, _) = call(&gw, "POST", "/api/v1/retirement", bearer, Some(retire.clone())).await;
        assert_eq!(status, 403, "{who}");
    }
    let (status, body) = call(&gw, "GET", &format!("{COURSE_PATH}/hashes"), "not-a-token", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_token")));
    assert_eq!(call(&gw, "GET", &format!("{COURSE_PATH}/hashes"), &index, None).await.0, 200);

    // No person can be granted a service scope: not by consent, not by the token endpoint.
    let http = common::browser();
    let (web_row, _) = ibal_gateway::identity::provider::new_client(
        "Web app",
        &["https://app.example/cb".into()],
        &["authorization_code".into()],
        &["openid".into(), "index".into()],
        false,
        false,
    );
    gw.state.db.insert_client(&web_row).await.expect("insert");
    let authorize = http
        .get(format!(
            "{}/oauth2/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=openid%20index&state=s&code_challenge=abcdefghijabcdefghijabcdefghijabcdefghij123&code_challenge_method=S256",
            gw.url, web_row.client_id
        ))
        .send()
        .await
        .expect("authorize");
    let location = authorize.headers().get("location").map(|l| l.to_str().expect("ascii").to_owned());
    assert!(location.as_deref().is_some_and(|l| l.contains("error=invalid_scope")), "{location:?}");

    // A wrong secret is a 401.
    let (status, body) = token(&gw, SERVICE_ID, ROTATED, "index").await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
}

#[tokio::test]
async fn the_index_stores_skips_and_prunes_blocks() {
    let gw = common::spawn_gateway(&[]).await;
    let index = service_token(&gw, "index").await;

    let (status, body) = call(&gw, "GET", &format!("{COURSE_PATH}/hashes"), &index, None).await;
    assert_eq!((status, body), (200, json!({"course_id": COURSE, "hashes": {}})));

    let blocks: Vec<Value> = (0..3).map(|n| block(n, "The cell membrane is a lipid bilayer. «ü»")).collect();
    let put = json!({"course_title": "Biology 101", "blocks": blocks});
    let (status, body) = call(&gw, "PUT", &format!("{COURSE_PATH}/blocks"), &index, Some(put.clone())).await;
    assert_eq!((status, body), (200, json!({"stored": 3, "unchanged": 0})));
    let (_, again) = call(&gw, "PUT", &format!("{COURSE_PATH}/blocks"), &index, Some(put)).await;
    assert_eq!(again, json!({"stored": 0, "unchanged": 3}), "the same hashes are skipped");

    let changed =
        json!({"course_title": "Biology 101 (2025)", "blocks": [block(1, "Changed text."), block(3, "New.")]});
    let (_, body) = call(&gw, "PUT", &format!("{COURSE_PATH}/blocks"), &index, Some(changed)).await;
    assert_eq!(body, json!({"stored": 2, "unchanged": 0}));
    let (_, body) = call(&gw, "GET", &format!("{COURSE_PATH}/hashes"), &index, None).await;
    let hashes = body["hashes"].as_object().expect("hashes");
    assert_eq!(hashes.len(), 4);
    assert_eq!(hashes["block-v1:IBAL+BIO101+2025+type@html+block@b1"], block(1, "Changed text.")["hash"]);

    let stored = gw.state.db.course_blocks(COURSE).await.expect("blocks");
    let b1 = stored.iter().find(|b| b.usage_id.ends_with("@b1")).expect("b1");
    assert_eq!(
        (b1.text_content.as_str(), b1.staff_only, b1.ordinal, b1.start_date.as_deref()),
        ("Changed text.", 1, 1, Some("2025-01-31T09:00:00Z"))
    );
    assert_eq!(b1.breadcrumb, r#"["Biology 101","Cells","The membrane"]"#);
    assert_eq!(b1.group_access, r#"{"50":[1,2]}"#);
    assert_eq!(gw.state.db.course_index_title(COURSE).await.expect("title").as_deref(), Some("Biology 101 (2025)"));

    // Unencoded course ids work too (axum decodes the segment); another course is another index.
    let keep = json!({"keep": ["block-v1:IBAL+BIO101+2025+type@html+block@b0", "block-v1:IBAL+BIO101+2025+type@html+block@b3"]});
    let (status, body) = call(&gw, "POST", &format!("{COURSE_PATH}/prune"), &index, Some(keep)).await;
    assert_eq!((status, body), (200, json!({"removed": 2})));
    let left: HashSet<String> = gw.state.db.course_block_hashes(COURSE).await.expect("hashes").into_keys().collect();
    assert_eq!(left.len(), 2);
    let (_, body) = call(&gw, "POST", &format!("{COURSE_PATH}/prune"), &index, Some(json!({"keep": []}))).await;
    assert_eq!(body, json!({"removed": 2}));
    assert_eq!(
        gw.state.db.course_index_title(COURSE).await.expect("title"),
        None,
        "an emptied course leaves the index"
    );
}

#[tokio::test]
async fn a_bad_batch_is_refused_whole_with_a_clear_error() {
    let gw = common::spawn_gateway(&[]).await;
    let index = service_token(&gw, "index").await;
    let blocks_path = format!("{COURSE_PATH}/blocks");
    let with = |n: usize, field: &str, value: Value| {
        let mut b = block(n, "text");
        b[field] = value;
        b
    };
    let cases: Vec<(String, Value, &str, &str)> = vec![
        (
            "/api/v1/index/courses/BIO101/blocks".into(),
            json!({"course_title": "x", "blocks": [block(0, "t")]}),
            "bad_course_id",
            "",
        ),
        (blocks_path.clone(), json!({"course_title": "x", "blocks": []}), "bad_request", "1 to 200"),
        (
            blocks_path.clone(),
            json!({"course_title": "x", "blocks": (0..201).map(|n| block(n, "t")).collect::<Vec<_>>()}),
            "bad_request",
            "1 to 200",
        ),
        (
            blocks_path.clone(),
            json!({"course_title": "x", "blocks": [block(0, "t"), with(1, "usage_id", json!("block-v1:OTHER+C+R+type@html+block@x"))]}),
            "bad_block",
            "blocks[1]: usage_id",
        ),
        (
            blocks_path.clone(),
            json!({"course_title": "x", "blocks": [block(0, "t"), with(1, "url", json!("javascript:alert(1)"))]}),
            "bad_block",
            "blocks[1]: url",
        ),
        (
            blocks_path.clone(),
            json!({"course_title": "x", "blocks": [with(0, "start", json!("soon"))]}),
            "bad_block",
            "start",
        ),
        (
            blocks_path.clone(),
            json!({"course_title": "x", "blocks": [with(0, "group_access", json!({"cohort": [1]}))]}),
            "bad_block",
            "group_access",
        ),
        (
            blocks_path.clone(),
            json!({"course_title": "x", "blocks": [with(0, "position", json!(-1))]}),
            "bad_block",
            "position",
        ),
        (
            blocks_path.clone(),
            json!({"course_title": "x", "blocks": [with(0, "hash", json!(""))]}),
            "bad_block",
            "hash",
        ),
        (
            blocks_path.clone(),
            json!({"course_title": "x", "blocks": [block(0, "t"), block(0, "t")]}),
            "bad_block",
            "twice",
        ),
        (
            blocks_path.clone(),
            json!({"course_title": "x", "blocks": [block(0, "t"), with(1, "staff_only", json!("no"))]}),
            "bad_block",
            "blocks[1]: invalid type: string \"no\", expected a boolean",
        ),
        (
            blocks_path.clone(),
            json!({"course_title": "x", "blocks": [{"usage_id": "x"}]}),
            "bad_block",
            "blocks[0]: missing field",
        ),
    ];
    for (path, body, code, says) in cases {
        let (status, answer) = call(&gw, "PUT", &path, &index, Some(body)).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (400, Some(code)), "{path}: {answer}");
        let message = answer["error"]["message"].as_str().expect("message");
        assert!(message.contains(says), "{message:?} should say {says:?}");
    }
    // A body of another shape altogether is the API's usual 422, naming what is wrong.
    for (shape, says) in [
        (json!({"course_title": "x", "blocks": "none"}), "expected a sequence"),
        (json!({"blocks": [block(0, "t")]}), "course_title"),
    ] {
        let (status, answer) = call(&gw, "PUT", &blocks_path, &index, Some(shape)).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("invalid_body")), "{answer}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| m.contains(says)), "{answer}");
    }
    assert!(gw.state.db.course_block_hashes(COURSE).await.expect("hashes").is_empty(), "no half-written batch");

    // Over 4 MiB: 413 in the API's shape.
    let huge = json!({"course_title": "x", "blocks": [block(0, &"a".repeat(4 * 1024 * 1024))]});
    let (status, answer) = call(&gw, "PUT", &blocks_path, &index, Some(huge)).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (413, Some("too_large")));
    // Just under the client's 4,000,000-byte batches: accepted.
    let big = json!({"course_title": "x", "blocks": [block(0, &"a".repeat(3_990_000))]});
    assert_eq!(call(&gw, "PUT", &blocks_path, &index, Some(big)).await.1, json!({"stored": 1, "unchanged": 0}));
}

fn row(n: usize, hash: &str) -> CourseBlockRow {
    CourseBlockRow {
        usage_id: format!("block-v1:IBAL+BIO101+2025+type@problem+block@p{n}"),
        block_type: "problem".into(),
        display_name: format!("Problem {n}"),
        breadcrumb: "[]".into(),
        text_content: format!("text {n} ü"),
        start_date: None,
        staff_only: 0,
        group_access: "{}".into(),
        url: "https://lms.example.com/jump".into(),
        ordinal: i64::try_from(n).expect("small"),
        content_hash: hash.into(),
        updated_at: 0,
    }
}

db_test!(course_blocks_store_atomically_on_every_engine, |db: Db| async move {
    let rows: Vec<CourseBlockRow> = (0..250).map(|n| row(n, "h1")).collect();
    let counts = db.store_course_blocks(COURSE, "Biology", &rows).await.expect("store");
    assert_eq!(counts, StoredBlocks { stored: 250, unchanged: 0 });
    let mut next = rows.clone();
    next[7].content_hash = "h2".into();
    next[7].text_content = "new".into();
    let counts = db.store_course_blocks(COURSE, "Biology II", &next).await.expect("store");
    assert_eq!(counts, StoredBlocks { stored: 1, unchanged: 249 });
    let stored = db.course_blocks(COURSE).await.expect("blocks");
    assert_eq!(stored.len(), 250);
    assert_eq!((stored[7].text_content.as_str(), stored[7].content_hash.as_str()), ("new", "h2"));
    assert_eq!(stored[3].text_content, "text 3 ü");
    assert!(stored[7].updated_at > 0);
    assert_eq!(db.course_index_title(COURSE).await.expect("title").as_deref(), Some("Biology II"));

    // Another course is apart; a failing batch (a duplicate key) leaves nothing behind.
    let other = "course-v1:IBAL+CHEM+2025";
    let failing = vec![row(1, "a"), row(1, "b")];
    assert!(db.store_course_blocks(other, "Chemistry", &failing).await.is_err());
    assert!(db.course_block_hashes(other).await.expect("hashes").is_empty());
    assert_eq!(db.course_index_title(other).await.expect("title"), None, "the title was rolled back too");

    let keep: HashSet<&str> = stored.iter().take(10).map(|b| b.usage_id.as_str()).collect();
    assert_eq!(db.prune_course_blocks(COURSE, &keep).await.expect("prune"), 240);
    assert_eq!(db.prune_course_blocks(COURSE, &keep).await.expect("prune"), 0, "idempotent");
    assert_eq!(db.course_block_hashes(COURSE).await.expect("hashes").len(), 10);
});

db_test!(revisions_and_passage_vectors_on_every_engine, |db: Db| async move {
    // Every change to a course's blocks moves its revision; a batch with nothing new does not.
    assert_eq!(db.course_index_revision(COURSE).await.expect("revision"), None);
    let rows: Vec<CourseBlockRow> = (0..3).map(|n| row(n, "h1")).collect();
    db.store_course_blocks(COURSE, "Biology", &rows).await.expect("store");
    let first = db.course_index_revision(COURSE).await.expect("revision").expect("indexed");
    db.store_course_blocks(COURSE, "Biology", &rows).await.expect("store");
    assert_eq!(db.course_index_revision(COURSE).await.expect("revision"), Some(first));
    let keep: HashSet<&str> = rows.iter().take(2).map(|b| b.usage_id.as_str()).collect();
    db.prune_course_blocks(COURSE, &keep).await.expect("prune");
    assert!(db.course_index_revision(COURSE).await.expect("revision") > Some(first));

    // Vectors are kept by model and text hash, as bytes; storing one twice keeps the first.
    let vector: Vec<u8> = (0..=255).collect();
    let rows = vec![("a".repeat(64), vector.clone()), ("b".repeat(64), vec![0, 0, 128, 63])];
    db.store_passage_vectors("m1", &rows).await.expect("store");
    db.store_passage_vectors("m1", &[("a".repeat(64), vec![1, 2, 3, 4])]).await.expect("again");
    let a = "a".repeat(64);
    let found = db.passage_vectors("m1", &[a.as_str(), "c"]).await.expect("read");
    assert_eq!(found.len(), 1);
    assert_eq!(found[&a], vector);
    assert!(db.passage_vectors("m2", &[a.as_str()]).await.expect("read").is_empty(), "another model's are apart");
});

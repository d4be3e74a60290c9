//! The binary as an operator runs it: configuration errors, `migrate`, `check`, and `serve` on its
//! defaults with a graceful stop.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::TestDb;
use ibal_gateway::config::DbKind;

const BIN: &str = env!("CARGO_BIN_EXE_ibal-gateway");

/// A scratch working directory, so the default `data/` folder and `.env` lookup are the test's own.
fn workdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ibal-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("workdir");
    dir
}

fn gateway(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run ibal-gateway")
}

#[test]
fn bad_configuration_exits_2_with_one_line_naming_the_variable() {
    let dir = workdir();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("DEBUG", "false")], "SECRET_KEY"),
        (&[("DATABASE_URL", "nonsense://x")], "DATABASE_URL"),
        (&[("BIND_ADDR", "everywhere")], "BIND_ADDR"),
        (&[("ENV_FILE", "missing.env")], "ENV_FILE"),
        (&[("TICKET_JWKS", "{\"keys\": 5}")], "TICKET_JWKS"),
        (&[("TICKET_JWKS", "{\"keys\": [{\"kty\": \"RSA\", \"n\": \"AQAB\", \"e\": \"AQAB\"}]}")], "TICKET_JWKS"),
        (&[("TICKET_JWKS", "{\"keys\": []}")], "TICKET_ISSUER"),
        (&[("TICKET_ISSUER", "https://lms.example.com")], "TICKET_JWKS"),
    ];
    for (env, var) in cases {
        let out = gateway(&dir, &["serve"], env);
        assert_eq!(out.status.code(), Some(2), "{env:?} should exit 2");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line, got: {stderr}");
        assert!(stderr.contains(var), "{stderr:?} names {var}");
    }
    assert!(!dir.join("data").exists(), "a refused start writes nothing");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn env_file_is_read_and_the_environment_wins() {
    let dir = workdir();
    std::fs::write(dir.join("custom.env"), "DEBUG=false\nDATABASE_URL=nonsense://from-file\n").expect("write");
    let out = gateway(&dir, &["migrate"], &[("ENV_FILE", "custom.env")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL"), "the file's value was used");
    std::fs::write(dir.join(".env"), "DATABASE_URL=nonsense://from-dotenv\n").expect("write");
    let db = format!("sqlite://{}/x.db", dir.display());
    let out = gateway(&dir, &["migrate"], &[("DATABASE_URL", &db)]);
    assert!(out.status.success(), "the environment overrides .env: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(dir).ok();
}

async fn migrate_twice(kind: DbKind) {
    let test_db = TestDb::empty(kind).await;
    // PostgreSQL here trusts local connections whatever the password, so a URL carrying one proves
    // that the command never prints it (MariaDB's root has none to give).
    let password = "never-printed-7f3a";
    let url = match kind {
        DbKind::Postgres => {
            let mut url = url::Url::parse(&test_db.url).expect("url");
            url.set_password(Some(password)).expect("a password fits this URL");
            url.to_string()
        }
        DbKind::Sqlite | DbKind::MySql => test_db.url.clone(),
    };
    let dir = workdir();
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/sqlite"))
        .expect("migrations")
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".sql")))
        .count();
    let first = format!("{migrations} applied now");
    for (round, expect) in [(1, first.as_str()), (2, "0 applied now")] {
        let out = gateway(&dir, &["migrate"], &[("DATABASE_URL", &url)]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "round {round}: {stderr}");
        assert!(stdout.contains(expect), "round {round}: {stdout}");
        assert!(!stdout.contains(password) && !stderr.contains(password), "no credentials printed: {stdout}{stderr}");
    }
    std::fs::remove_dir_all(dir).ok();
    test_db.cleanup().await;
}

#[tokio::test]
async fn migrate_is_idempotent_on_sqlite() {
    migrate_twice(DbKind::Sqlite).await;
}

#[tokio::test]
async fn migrate_is_idempotent_on_mysql() {
    migrate_twice(DbKind::MySql).await;
}

#[tokio::test]
async fn migrate_is_idempotent_on_postgres() {
    migrate_twice(DbKind::Postgres).await;
}

#[test]
fn check_reports_each_dependency_and_fails_when_one_is_down() {
    let dir = workdir();
    let redis = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let out = gateway(&dir, &["check"], &[("REDIS_URL", &redis)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().any(|l| l.starts_with("ok") && l.contains("configuration")), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("ok") && l.contains("database")), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("ok") && l.contains("redis")), "{stdout}");

    // Nothing listens on port 9 here: the check fails, names the dependency, exits 1.
    let out = gateway(
        &dir,
        &["check"],
        &[
            ("REDIS_URL", "redis://:hunter2@127.0.0.1:9"),
            ("CHAT_BACKEND", "flowise"),
            ("FLOWISE_URL", "http://127.0.0.1:9"),
            ("FLOWISE_FLOW_ID", "f"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("FAIL") && l.contains("redis")), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("FAIL") && l.contains("llm backend")), "{stdout}");
    assert!(!stdout.contains("hunter2"), "passwords are redacted: {stdout}");
    std::fs::remove_dir_all(dir).ok();
}

/// The README's run command: no configuration at all. Serves, then stops cleanly on SIGTERM.
#[tokio::test]
async fn serve_runs_on_defaults_and_stops_gracefully() {
    let dir = workdir();
    let mut child = tokio::process::Command::new(BIN)
        .current_dir(&dir)
        .env_clear()
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let (addr, drain) = common::wait_listening(&mut child).await;

    let http = reqwest::Client::new();
    let health = http.get(format!("http://{addr}/health")).send().await.expect("health");
    assert_eq!(health.status(), 200);
    let home = http.get(format!("http://{addr}/")).send().await.expect("home");
    let csp = home.headers()["content-security-policy"].to_str().expect("ascii").to_owned();
    let html = home.text().await.expect("html");
    let nonce = csp.split("'nonce-").nth(1).and_then(|r| r.split('\'').next()).expect("nonce");
    assert!(html.contains(&format!("<script nonce=\"{nonce}\">")));
    assert!(dir.join("data/ibal.db").exists(), "the default SQLite database is created under ./data");
    assert!(dir.join("data/secret_key").exists(), "a development secret key is generated and kept");

    let pid = child.id().expect("pid").to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let status =
        tokio::time::timeout(Duration::from_secs(15), child.wait()).await.expect("stops within 15 s").expect("wait");
    assert!(status.success(), "graceful stop exits 0, got {status}");
    let log = drain.await.expect("log");
    assert!(log.iter().any(|l| l.contains("\"message\":\"stopped\"")), "logs the stop");
    assert!(
        log.iter().all(|l| !l.contains(&std::fs::read_to_string(dir.join("data/secret_key")).expect("key"))),
        "the key is never logged"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn lti_platforms_are_managed_from_the_command_line() {
    let dir = workdir();
    let db = format!("sqlite://{}/lti.db", dir.display());
    let env = [("DATABASE_URL", db.as_str())];
    let add = |deployment: &str| {
        gateway(
            &dir,
            &[
                "lti",
                "add-platform",
                "--issuer",
                "https://canvas.instructure.com",
                "--client-id",
                "10000000000001",
                "--deployment-id",
                deployment,
                "--auth-url",
                "https://sso.canvaslms.com/api/lti/authorize_redirect",
                "--jwks-url",
                "https://sso.canvaslms.com/api/lti/security/jwks",
                "--name",
                "Canvas",
            ],
            &env,
        )
    };
    let out = add("1:abc");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = add("2:def");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("deployments: 1:abc, 2:def"),
        "a second add adds the deployment"
    );
    let listed = String::from_utf8_lossy(&gateway(&dir, &["lti", "list"], &env).stdout).into_owned();
    assert!(listed.contains("https://canvas.instructure.com") && listed.contains("10000000000001"), "{listed}");
    let id = listed.split_whitespace().next().expect("id").to_owned();
    let bad = gateway(
        &dir,
        &[
            "lti",
            "add-platform",
            "--issuer",
            "x",
            "--client-id",
            "y",
            "--deployment-id",
            "d",
            "--auth-url",
            "ftp://x",
            "--jwks-url",
            "http://j",
        ],
        &env,
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--auth-url"));
    assert!(gateway(&dir, &["lti", "remove", &id], &env).status.success());
    assert!(String::from_utf8_lossy(&gateway(&dir, &["lti", "list"], &env).stdout).trim().is_empty());
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn operators_are_granted_and_revoked_from_the_command_line() {
    let dir = workdir();
    let url = format!("sqlite://{}/users.db", dir.display());
    let env = [("DATABASE_URL", url.as_str())];
    assert!(gateway(&dir, &["migrate"], &env).status.success());
    let config = ibal_gateway::config::DatabaseConfig::from_url(&url).expect("url");
    let db = ibal_gateway::store::Db::connect(&config).await.expect("db");
    let door = |issuer: &str, subject: &str| ibal_gateway::domain::IdentityClaims {
        issuer: issuer.into(),
        subject: subject.into(),
        username: "ada".into(),
        name: String::new(),
        email: String::new(),
        role: None,
    };
    let lms_ada = db.upsert_identity(&door("https://lms.example.com", "anon-1")).await.expect("user");
    db.upsert_identity(&door("https://canvas.example.com", "anon-2")).await.expect("user");
    db.close().await;

    let out = gateway(&dir, &["users", "grant-operator", "ada"], &env);
    assert_eq!(out.status.code(), Some(1), "two users are called ada: ambiguous");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&lms_ada.id), "the candidates are listed by id: {stderr}");
    let out = gateway(&dir, &["users", "grant-operator", &lms_ada.id], &env);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let operators =
        String::from_utf8_lossy(&gateway(&dir, &["users", "list", "--operators"], &env).stdout).into_owned();
    assert_eq!(operators.lines().count(), 1, "{operators}");
    assert!(
        operators.contains(&lms_ada.id) && operators.contains("admin") && operators.contains("https://lms.example.com")
    );
    let everyone = String::from_utf8_lossy(&gateway(&dir, &["users", "list"], &env).stdout).into_owned();
    assert_eq!(everyone.lines().count(), 2, "{everyone}");
    let out = gateway(&dir, &["users", "revoke-operator", &lms_ada.id], &env);
    assert!(String::from_utf8_lossy(&out.stdout).contains("learner"));
    assert!(String::from_utf8_lossy(&gateway(&dir, &["users", "list", "--operators"], &env).stdout).trim().is_empty());
    assert_eq!(gateway(&dir, &["users", "grant-operator", "nobody"], &env).status.code(), Some(1));
    std::fs::remove_dir_all(dir).ok();
}

/// Signing keys are stored sealed under SECRET_KEY; a gateway with another SECRET_KEY stops with a
/// clear error instead of minting a key of its own; `keys rewrap` moves them to a new SECRET_KEY; a
/// key stored in plain text by an earlier version is sealed when loaded.
#[tokio::test]
async fn signing_keys_are_sealed_under_the_secret_key_and_rewrapped_to_a_new_one() {
    let dir = workdir();
    let url = format!("sqlite://{}/keys.db", dir.display());
    let (old_secret, new_secret) = ("o".repeat(40), "n".repeat(40));
    let with = |secret: &str| vec![("DATABASE_URL", url.clone()), ("SECRET_KEY", secret.to_owned())];
    let run = |args: &[&str], env: Vec<(&str, String)>| {
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        gateway(&dir, args, &pairs)
    };
    assert!(run(&["keys", "rotate"], with(&old_secret)).status.success());
    let config = ibal_gateway::config::DatabaseConfig::from_url(&url).expect("url");
    let db = ibal_gateway::store::Db::connect(&config).await.expect("db");
    let stored = db.all_signing_keys().await.expect("keys");
    assert_eq!(stored.len(), 1);
    assert!(stored[0].private_key.starts_with("sealed:v1:") && !stored[0].private_key.contains("PRIVATE KEY"));

    // The wrong SECRET_KEY: the gateway refuses to start, naming the way out, and mints nothing.
    let app_config = |secret: &str| {
        ibal_gateway::config::Config::from_vars(&ibal_gateway::config::Vars::from_pairs(vec![
            ("DATABASE_URL".to_owned(), url.clone()),
            ("SECRET_KEY".to_owned(), secret.to_owned()),
        ]))
        .expect("config")
    };
    let refused = ibal_gateway::AppState::new(app_config(&new_secret), db.clone()).await.expect_err("refused");
    let message = refused.to_string();
    assert!(message.contains("another SECRET_KEY") && message.contains("keys rewrap"), "{message}");
    assert_eq!(db.all_signing_keys().await.expect("keys").len(), 1, "no key of its own");

    // SECRET_KEY rotation: re-seal under the new key from the old one.
    let mut env = with(&new_secret);
    let out = run(&["keys", "rewrap"], env.clone());
    assert_eq!(out.status.code(), Some(1), "the old key is required");
    env.push(("OLD_SECRET_KEY", old_secret.clone()));
    let out = run(&["keys", "rewrap"], env.clone());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 signing key(s) re-sealed"));
    assert!(ibal_gateway::AppState::new(app_config(&new_secret), db.clone()).await.is_ok(), "the new key opens them");
    assert!(ibal_gateway::AppState::new(app_config(&old_secret), db.clone()).await.is_err(), "the old one no more");
    let again = run(&["keys", "rewrap"], env);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 signing key(s) re-sealed"), "idempotent");

    // A key in plain text (stored before sealing existed) is sealed when a gateway loads it.
    let legacy = ibal_gateway::identity::keys::generate_key(ibal_gateway::domain::now_ms() + 10).expect("key");
    db.rotate_in_signing_key(&legacy, ibal_gateway::domain::now_ms() + 60_000).await.expect("legacy key");
    let state = ibal_gateway::AppState::new(app_config(&new_secret), db.clone()).await.expect("loads");
    let (kid, _) = state.tokens.keys().signing_key().expect("signing");
    assert_eq!(kid, legacy.kid, "the legacy key signs");
    let row = db.all_signing_keys().await.expect("keys").into_iter().find(|k| k.kid == legacy.kid).expect("row");
    assert!(row.private_key.starts_with("sealed:v1:"), "sealed in place");
    db.close().await;
    std::fs::remove_dir_all(dir).ok();
}

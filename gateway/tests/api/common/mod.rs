//! Test support shared by the integration tests: a fresh database per test on each engine.

use ibal_gateway::config::{DatabaseConfig, DbKind};
use ibal_gateway::store::Db;
use sqlx::{AnyConnection, Connection, Executor};

/// An isolated database for one test: a new SQLite file, or a new MySQL/PostgreSQL database on the
/// server named by `TEST_MYSQL_URL` / `TEST_POSTGRES_URL`. Dropped when the test ends, pass or fail.
pub struct TestDb {
    pub db: Db,
    pub url: String,
    kind: DbKind,
    admin_url: Option<String>,
    name: String,
    dir: Option<std::path::PathBuf>,
}

/// The server URL for an engine (SQLite needs none). Unset is a failure, not a skip: a suite that
/// passes without its databases proves nothing (`scripts/test.sh` points them at the local services).
pub fn server_url(kind: DbKind) -> String {
    let var = match kind {
        DbKind::Sqlite => return String::new(),
        DbKind::MySql => "TEST_MYSQL_URL",
        DbKind::Postgres => "TEST_POSTGRES_URL",
    };
    std::env::var(var).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
        panic!("{var} is not set: the {} tests need it (scripts/test.sh sets the local service)", kind.name())
    })
}

fn with_database(server: &str, name: &str) -> String {
    let mut url = url::Url::parse(server).expect("test database URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

impl TestDb {
    /// A migrated, empty database.
    pub async fn new(kind: DbKind) -> Self {
        let db = Self::empty(kind).await;
        db.db.migrate().await.expect("migrations apply");
        db
    }

    /// A database with no tables yet.
    pub async fn empty(kind: DbKind) -> Self {
        sqlx::any::install_default_drivers();
        let server = server_url(kind);
        let name = format!("ibal_t_{}", uuid::Uuid::new_v4().simple());
        let (url, admin_url, dir) = match kind {
            DbKind::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                (format!("sqlite://{}/ibal.db", dir.display()), None, Some(dir))
            }
            DbKind::MySql | DbKind::Postgres => {
                let mut admin = AnyConnection::connect(&server).await.expect("connect to the test database server");
                admin
                    .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                (with_database(&server, &name), Some(server), None)
            }
        };
        let config = DatabaseConfig::from_url(&url).expect("valid URL");
        let db = Db::connect(&config).await.expect("connect to the test database");
        Self { db, url, kind, admin_url, name, dir }
    }
}

impl TestDb {
    /// Closes the pool and drops the database: the normal end of a test.
    pub async fn cleanup(mut self) {
        self.db.close().await;
        if let Some(admin_url) = self.admin_url.take() {
            drop_database(&admin_url, self.kind, &self.name).await;
        }
    }
}

async fn drop_database(admin_url: &str, kind: DbKind, name: &str) {
    if let Ok(mut admin) = AnyConnection::connect(admin_url).await {
        let sql = match kind {
            DbKind::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            _ => format!("DROP DATABASE IF EXISTS {name}"),
        };
        let _ = admin.execute(sqlx::AssertSqlSafe(sql)).await;
        let _ = admin.close().await;
    }
}

impl Drop for TestDb {
    /// The fallback when a test panicked before `cleanup`. It must not touch the pool: its sockets
    /// belong to the test's runtime, which this blocking drop is holding up.
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        let Some(admin_url) = self.admin_url.take() else {
            return;
        };
        let (kind, name) = (self.kind, std::mem::take(&mut self.name));
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(drop_database(&admin_url, kind, &name));
        })
        .join()
        .ok();
    }
}

/// Runs one async test body against each engine: `db_test!(name, |db| async move { ... })`
/// makes `name::sqlite`, `name::mysql` and `name::postgres`. An engine whose server variable is
/// unset says so and passes; CI sets both variables, and `.ci/run` fails if they cannot be reached.
#[macro_export]
macro_rules! db_test {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            async fn run(kind: ::ibal_gateway::config::DbKind) {
                let test_db = $crate::common::TestDb::new(kind).await;
                let body = $body;
                body(test_db.db.clone()).await;
                test_db.cleanup().await;
            }
            #[tokio::test]
            async fn sqlite() {
                run(::ibal_gateway::config::DbKind::Sqlite).await
            }
            #[tokio::test]
            async fn mysql() {
                run(::ibal_gateway::config::DbKind::MySql).await
            }
            #[tokio::test]
            async fn postgres() {
                run(::ibal_gateway::config::DbKind::Postgres).await
            }
        }
    };
}

/// Configuration for tests: a throw-away SQLite database plus the given variables.
pub fn test_config(db_url: &str, pairs: &[(&str, &str)]) -> ibal_gateway::config::Config {
    let mut all = vec![("DATABASE_URL".to_owned(), db_url.to_owned()), ("SECRET_KEY".to_owned(), "t".repeat(40))];
    all.extend(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    ibal_gateway::config::Config::from_vars(&ibal_gateway::config::Vars::from_pairs(all))
        .expect("valid test configuration")
}

/// A router over a fresh, migrated SQLite database.
pub async fn test_app(pairs: &[(&str, &str)]) -> (axum::Router, ibal_gateway::AppState, TestDb) {
    let test_db = TestDb::new(DbKind::Sqlite).await;
    let config = test_config(&test_db.url, pairs);
    let state = ibal_gateway::AppState::new(config, test_db.db.clone()).await.expect("state");
    (ibal_gateway::app(state.clone()), state, test_db)
}

/// Sends one request through the router and returns status, headers and body text.
pub async fn send(
    app: &axum::Router,
    request: axum::http::Request<axum::body::Body>,
) -> (axum::http::StatusCode, axum::http::HeaderMap, String) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

pub fn get(uri: &str) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::get(uri).body(axum::body::Body::empty()).expect("request")
}

pub mod fake_flowise;
pub mod fake_llm;
pub mod fake_openedx;
pub mod service;
pub mod tickets;
pub mod ws;

/// A gateway on a real port (127.0.0.1:0), for flows that cross servers: browser redirects,
/// WebSockets. Returns its base URL.
pub struct RunningGateway {
    pub url: String,
    pub state: ibal_gateway::AppState,
    pub test_db: TestDb,
    /// The LMS whose chat tickets this gateway trusts.
    pub lms: tickets::TicketLms,
    /// Dropped with the test: the gateway then stops as on SIGTERM.
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn spawn_gateway(pairs: &[(&str, &str)]) -> RunningGateway {
    let test_db = TestDb::new(DbKind::Sqlite).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let ticket_vars = tickets::TicketLms::gateway_vars();
    let mut all: Vec<(&str, &str)> = vec![("PUBLIC_URL", &url)];
    // The test's own variables come last: they may replace the ticket configuration.
    all.extend(ticket_vars.iter().map(|(k, v)| (*k, v.as_str())));
    all.extend_from_slice(pairs);
    let config = test_config(&test_db.url, &all);
    // Built and run as `ibal-gateway serve` does: migrations, LTI platforms, housekeeping, TCP_NODELAY.
    let application =
        ibal_gateway::app::serve::Application::build_on(listener, config, true).await.expect("the gateway starts");
    let state = application.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(application.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    RunningGateway { lms: tickets::TicketLms::new(&url), url, state, test_db, _stop: stop }
}

/// Waits (at most 5 s) until `check` holds; panics naming `what` otherwise.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..250 {
        if check() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("never happened within 5 s: {what}");
}

/// A browser-like client: keeps cookies, does not follow redirects (tests follow them by hand).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// Waits (at most 30 s) for a spawned gateway (LOG_FORMAT=json on stdout, piped) to log "listening": the
/// kit's runner (ibal_test_kit::process), failing the test otherwise. Returns its address, and a task that
/// keeps draining the log and yields every later line when the child exits.
pub async fn wait_listening(child: &mut tokio::process::Child) -> (String, tokio::task::JoinHandle<Vec<String>>) {
    ibal_test_kit::process::wait_listening(child, std::time::Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

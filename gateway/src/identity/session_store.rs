//! The tower-sessions store over the gateway's database: sessions survive restarts and are shared
//! by every replica.

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result, SessionStore};

use crate::domain::now_ms;

use crate::store::{Db, DbError};

#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: Db,
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

/// The gateway's one browser session (cookie `ibal_session`: the id only, `HttpOnly`, `Secure` over
/// https, `SameSite=Lax`, 12 hours from the last request), shared by the sign-in doors and the course
/// team's dashboard, which must agree on it: an operator signed in at one is known at the other.
/// Lax: the dashboard's way in is a top-level POST from the LMS, then same-site requests.
pub fn layer(db: Db, https: bool) -> tower_sessions::SessionManagerLayer<DbSessionStore> {
    tower_sessions::SessionManagerLayer::new(DbSessionStore::new(db))
        .with_name("ibal_session")
        .with_http_only(true)
        .with_secure(https)
        .with_same_site(tower_sessions::cookie::SameSite::Lax)
        .with_expiry(tower_sessions::Expiry::OnInactivity(time::Duration::hours(12)))
}

fn expiry_ms(record: &Record) -> i64 {
    i64::try_from(record.expiry_date.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn backend(e: DbError) -> Error {
    Error::Backend(e.to_string())
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        loop {
            let data = serde_json::to_string(record).map_err(|e| Error::Encode(e.to_string()))?;
            match self.db.session_create(&record.id.to_string(), &data, expiry_ms(record)).await {
                Err(DbError::Conflict(_)) => record.id = Id::default(), // a collision: draw again
                other => return other.map_err(backend),
            }
        }
    }

    async fn save(&self, record: &Record) -> Result<()> {
        let data = serde_json::to_string(record).map_err(|e| Error::Encode(e.to_string()))?;
        self.db.session_save(&record.id.to_string(), &data, expiry_ms(record)).await.map_err(backend)
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        match self.db.session_load(&id.to_string(), now_ms()).await.map_err(backend)? {
            Some(data) => serde_json::from_str(&data).map(Some).map_err(|e| Error::Decode(e.to_string())),
            None => Ok(None),
        }
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        self.db.session_delete(&id.to_string()).await.map_err(backend)
    }
}

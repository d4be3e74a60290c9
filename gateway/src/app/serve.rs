//! Running the server: connect, migrate, listen, and shut down gracefully on SIGTERM/SIGINT.

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::app::router::app;
use crate::app::state::{AppState, StateError};
use crate::config::Config;
use crate::store::{Db, DbError};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the gateway until SIGTERM or SIGINT: what `ibal-gateway serve` does.
pub async fn serve(config: Config, migrate: bool) -> Result<(), ServeError> {
    Application::build(config, migrate).await?.run_until_stopped(shutdown_signal()).await
}

/// The gateway, built and listening but not yet serving: `serve` and the tests both start it this way
/// (build, then read its address, then run until stopped), so the tests run what production runs.
pub struct Application {
    listener: TcpListener,
    address: std::net::SocketAddr,
    state: AppState,
    db: Db,
}

impl Application {
    /// Connects to the database, migrates it (unless `migrate` is false or `AUTO_MIGRATE` is off),
    /// registers the LTI platforms of the configuration, and listens on `BIND_ADDR`.
    ///
    /// # Errors
    /// The database, the state (keys, configuration) or the address cannot be had.
    pub async fn build(config: Config, migrate: bool) -> Result<Self, ServeError> {
        let addr = config.bind_addr;
        let listener = TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })?;
        Self::build_on(listener, config, migrate).await
    }

    /// As [`Application::build`], on a listener already bound (a test binds port 0 first, to know
    /// the `PUBLIC_URL` its configuration names).
    ///
    /// # Errors
    /// As [`Application::build`].
    pub async fn build_on(listener: TcpListener, config: Config, migrate: bool) -> Result<Self, ServeError> {
        if let Some(path) = &config.secret_key.generated_at {
            tracing::warn!(path = %path.display(), "SECRET_KEY is not set: using a generated development key (set SECRET_KEY in production)");
        }
        let db = Db::connect(&config.database).await?;
        if migrate && config.database.auto_migrate {
            let report = db.migrate().await?;
            tracing::info!(
                database = config.database.kind.name(),
                applied = report.applied_now,
                total = report.total,
                "migrations up to date"
            );
        }
        register_lti_platforms(&db, &config.lti_platforms).await?;
        let address = listener.local_addr()?;
        let state = AppState::new(config, db.clone()).await?;
        Ok(Self { listener, address, state, db })
    }

    /// Where it listens.
    pub fn address(&self) -> std::net::SocketAddr {
        self.address
    }

    /// Its state (the tests read the store and the keys through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `stop` resolves, then finishes in-flight requests, closes the chat sockets (1001)
    /// and waits for them briefly, and closes the database.
    ///
    /// # Errors
    /// The server failed.
    pub async fn run_until_stopped(self, stop: impl Future<Output = ()> + Send + 'static) -> Result<(), ServeError> {
        let Self { listener, address, state, db } = self;
        tracing::info!(
            addr = %address,
            public_url = %state.config.public_url,
            chat_backend = state.config.chat.backend.name(),
            database = state.config.database.kind.name(),
            "listening"
        );
        let housekeeping = tokio::spawn(housekeeping(state.clone()));
        // One line on whether the assistant's backend is usable as configured (a wrong
        // FLOWISE_FLOW_ID is named now, not after every question has timed out).
        let announce = state.chat.clone();
        tokio::spawn(async move { announce.assistant.announce().await });
        let chat = state.chat.clone();
        let chat_for_wait = state.chat.clone();
        // Chat frames are small and often several in a row (a broadcast, a stream of tokens): with
        // Nagle's algorithm each one after the first waits for the client's delayed ACK (~40 ms).
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
        axum::serve(listener, app(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
            .with_graceful_shutdown(async move {
                stop.await;
                // Upgraded WebSockets are not the server's to drain: tell them to close (1001).
                chat.shutdown.cancel();
            })
            .await?;
        chat_for_wait.shut_down(std::time::Duration::from_secs(5)).await;
        housekeeping.abort();
        db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Platforms from `LTI_PLATFORMS`: registered when new, completed with any new deployment.
pub async fn register_lti_platforms(db: &Db, platforms: &[crate::config::LtiPlatformConfig]) -> Result<(), DbError> {
    for p in platforms {
        let existing = db.find_lti_platforms(&p.issuer, Some(&p.client_id)).await?.into_iter().next();
        let id = match existing {
            Some(platform) => platform.id,
            None => {
                let new = crate::store::NewLtiPlatform {
                    issuer: &p.issuer,
                    client_id: &p.client_id,
                    name: &p.name,
                    auth_url: &p.auth_url,
                    token_url: p.token_url.as_deref(),
                    jwks_url: &p.jwks_url,
                };
                match db.insert_lti_platform(&new, &[]).await {
                    Ok(platform) => platform.id,
                    // Another replica registered it first.
                    Err(DbError::Conflict(_)) => {
                        db.find_lti_platforms(&p.issuer, Some(&p.client_id))
                            .await?
                            .into_iter()
                            .next()
                            .ok_or(DbError::NotFound)?
                            .id
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        for deployment in &p.deployment_ids {
            db.add_lti_deployment(&id, deployment).await?;
        }
        tracing::info!(issuer = %p.issuer, client_id = %p.client_id, "LTI platform registered from configuration");
    }
    Ok(())
}

/// Background upkeep: pick up keys rotated elsewhere (`keys rotate`, another replica) every
/// minute, and purge expired sessions, one-time records, LTI nonces and spent tickets every ten.
async fn housekeeping(state: AppState) {
    // This replica's name in leases (retention runs on one replica at a time).
    let holder = crate::domain::new_id();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for round in 0u64.. {
        tick.tick().await;
        if let Err(e) = state.tokens.keys().reload().await {
            tracing::warn!(error = %e, "could not reload signing keys");
        }
        if round % 10 == 0 {
            let now = crate::domain::now_ms();
            let purged = (
                state.db.purge_expired_sessions(now).await,
                state.db.purge_expired_lti_nonces(now).await,
                state.db.purge_spent_tokens().await,
            );
            match purged {
                (Ok(sessions), Ok(nonces), Ok(tickets)) => {
                    tracing::debug!(sessions, nonces, tickets, "purged expired records");
                }
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                    tracing::warn!(error = %e, "could not purge expired records");
                }
            }
            if let Some(keep) = state.config.retention
                && let Err(e) = apply_retention(&state.db, keep, &holder).await
            {
                tracing::warn!(error = %e, "retention: could not delete old chats");
            }
        }
    }
}

/// Messages deleted per retention transaction: small enough that a busy table is never locked long.
const RETENTION_BATCH: u32 = 500;
/// How long a replica holds the retention lease: longer than a run, shorter than the schedule.
const RETENTION_LEASE_MS: i64 = 9 * 60 * 1000;

/// Deletes the chats older than `keep` (`RETENTION_DAYS`) when this replica (`holder`) gets the
/// retention lease; None when another replica holds it. Logs the counts.
///
/// # Errors
/// The database failed; what was deleted before stays deleted.
pub async fn apply_retention(
    db: &Db,
    keep: std::time::Duration,
    holder: &str,
) -> Result<Option<crate::store::Purged>, DbError> {
    if !db.try_lease("retention", holder, RETENTION_LEASE_MS).await? {
        return Ok(None);
    }
    let cutoff = crate::domain::now_ms() - i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    let purged = db.purge_older_than(cutoff, RETENTION_BATCH).await?;
    tracing::info!(
        messages = purged.messages,
        feedback = purged.feedback,
        conversations = purged.conversations,
        "retention: deleted chats older than RETENTION_DAYS"
    );
    Ok(Some(purged))
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (orchestrators): in-flight requests then finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received: finishing in-flight requests");
}

//! `ibal-gateway`: parse the command line and the configuration, then run the command.
//! Exit codes: 0 success, 1 failure at run time, 2 bad configuration or usage.

use std::process::ExitCode;

use clap::Parser;
use ibal_gateway::app::serve;
use ibal_gateway::cli::{Cli, ClientsCommand, Command, KeysCommand, LtiCommand, UsersCommand};
use ibal_gateway::config::Config;
use ibal_gateway::crypto::sealed::Sealer;
use ibal_gateway::web::error::ErrorChain;
use ibal_gateway::{check, domain, store, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_process() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("ibal-gateway: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ibal-gateway: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli.command.unwrap_or(Command::Serve { no_migrate: false }), config))
}

async fn run(command: Command, config: Config) -> ExitCode {
    match command {
        Command::Serve { no_migrate } => match serve::serve(config, !no_migrate).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %ErrorChain(&e), "gateway stopped with an error");
                eprintln!("ibal-gateway: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Migrate => {
            let result = async {
                let db = store::Db::connect(&config.database).await?;
                let report = db.migrate().await?;
                db.close().await;
                Ok::<_, store::DbError>(report)
            }
            .await;
            match result {
                Ok(report) => {
                    say(&format!(
                        "migrations up to date on {} ({} applied now, {} in total)",
                        config.database.display_url(),
                        report.applied_now,
                        report.total
                    ));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ibal-gateway: migrate failed on {}: {e}", config.database.display_url());
                    ExitCode::FAILURE
                }
            }
        }
        Command::Keys { command } => {
            let sealer = Sealer::new(&config.secret_key.value);
            admin(&config, |db| async move { keys(&db, &sealer, command).await }).await
        }
        Command::Clients { command } => admin(&config, |db| async move { clients(&db, command).await }).await,
        Command::Lti { command } => admin(&config, |db| async move { lti(&db, command).await }).await,
        Command::Users { command } => admin(&config, |db| async move { users(&db, command).await }).await,
        Command::Check => {
            let lines = check::run(&config).await;
            for line in &lines {
                say(&line.to_string());
            }
            if lines.iter().all(|l| l.ok) { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
    }
}

/// Runs an administrative command against the (migrated) database.
async fn admin<F, Fut>(config: &Config, f: F) -> ExitCode
where
    F: FnOnce(store::Db) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let db = match store::Db::connect(&config.database).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("ibal-gateway: database {}: {e}", config.database.display_url());
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = db.migrate().await {
        eprintln!("ibal-gateway: migrations failed: {e}");
        return ExitCode::FAILURE;
    }
    let result = f(db.clone()).await;
    db.close().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ibal-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn keys(db: &store::Db, sealer: &Sealer, command: KeysCommand) -> Result<(), String> {
    match command {
        KeysCommand::Rotate => {
            // Old keys stay published for one access-token lifetime plus a minute of leeway.
            let grace = std::time::Duration::from_secs(15 * 60 + 60);
            let kid = ibal_gateway::identity::keys::rotate(db, sealer, grace).await.map_err(|e| e.to_string())?;
            say(&format!("new signing key {kid}; previous keys stay published for {} minutes", grace.as_secs() / 60));
        }
        KeysCommand::Rewrap => {
            let old = std::env::var("OLD_SECRET_KEY").ok().filter(|v| !v.is_empty()).ok_or(
                "OLD_SECRET_KEY must hold the previous SECRET_KEY (the keys are re-sealed under the current one)",
            )?;
            let old = Sealer::new(&secrecy::SecretString::from(old));
            let done = ibal_gateway::identity::keys::rewrap(db, &old, sealer).await.map_err(|e| e.to_string())?;
            say(&format!("{done} signing key(s) re-sealed under the current SECRET_KEY"));
        }
        KeysCommand::List => {
            for key in db.published_signing_keys(domain::now_ms()).await.map_err(|e| e.to_string())? {
                let state = if key.retired_at.is_none() { "signing" } else { "published until expiry" };
                say(&format!("{}  {}  {state}", key.kid, key.algorithm));
            }
        }
    }
    Ok(())
}

async fn clients(db: &store::Db, command: ClientsCommand) -> Result<(), String> {
    use ibal_gateway::identity::provider::{ensured_client, new_client};
    match command {
        ClientsCommand::Add { name, redirect_uris, grants, scopes, first_party, public } => {
            let grants = registration(&redirect_uris, grants, &scopes, public)?;
            let (row, secret) = new_client(&name, &redirect_uris, &grants, &scopes, first_party, public);
            db.insert_client(&row).await.map_err(|e| e.to_string())?;
            say(&format!("client_id     {}", row.client_id));
            if let Some(secret) = secret {
                say(&format!("client_secret {secret}   (shown once: store it now)"));
            }
        }
        ClientsCommand::Ensure { client_id, secret_env, name, redirect_uris, grants, scopes, first_party } => {
            let valid_id = !client_id.is_empty()
                && client_id.len() <= 100
                && client_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !valid_id || client_id == ibal_gateway::identity::tokens::WIDGET_CLIENT_ID {
                return Err(format!(
                    "--client-id {client_id:?}: expected 1 to 100 letters, digits, '.', '_' or '-' (and not the widget's id)"
                ));
            }
            let secret = std::env::var(&secret_env).unwrap_or_default();
            if secret.chars().count() < MIN_ENSURED_SECRET_CHARS {
                return Err(format!(
                    "--secret-env {secret_env}: the variable must hold the client's secret, at least {MIN_ENSURED_SECRET_CHARS} characters"
                ));
            }
            let grants = registration(&redirect_uris, grants, &scopes, false)?;
            let row = ensured_client(&client_id, &name, &redirect_uris, &grants, &scopes, first_party, &secret);
            let done = db.ensure_client(&row).await.map_err(|e| e.to_string())?;
            say(&format!("client {client_id} {}", done.as_str()));
        }
        ClientsCommand::List => {
            for c in db.list_clients().await.map_err(|e| e.to_string())? {
                let kind = if c.secret_hash.is_some() { "confidential" } else { "public" };
                let party = if c.first_party != 0 { "first-party" } else { "third-party" };
                say(&format!(
                    "{}  {}  {kind} {party}  grants: {}  redirect: {}",
                    c.client_id, c.name, c.grant_types, c.redirect_uris
                ));
            }
        }
        ClientsCommand::Remove { client_id } => {
            if !db.delete_client(&client_id).await.map_err(|e| e.to_string())? {
                return Err(format!("no client {client_id}"));
            }
            say(&format!("removed {client_id}"));
        }
    }
    Ok(())
}

/// An ensured client's secret is at least this long (Tutor generates 32 characters).
const MIN_ENSURED_SECRET_CHARS: usize = 32;

/// Checks a client registration; returns its grant types as stored.
fn registration(
    redirect_uris: &[String],
    grants: Vec<String>,
    scopes: &[String],
    public: bool,
) -> Result<Vec<String>, String> {
    for uri in redirect_uris {
        let parsed = url::Url::parse(uri).map_err(|e| format!("--redirect-uri {uri}: {e}"))?;
        if parsed.fragment().is_some() {
            return Err(format!("--redirect-uri {uri}: a redirect URI may not have a fragment"));
        }
    }
    const KNOWN: [&str; 4] = ["authorization_code", "refresh_token", "client_credentials", "token_exchange"];
    if let Some(bad) = grants.iter().find(|g| !KNOWN.contains(&g.as_str())) {
        return Err(format!("--grant {bad}: expected one of {}", KNOWN.join(", ")));
    }
    use ibal_gateway::identity::scopes::{KNOWN as PERSONAL_SCOPES, SERVICE as SERVICE_SCOPES};
    let known_scopes: Vec<&str> = PERSONAL_SCOPES.map(|(scope, _)| scope).into_iter().chain(SERVICE_SCOPES).collect();
    if let Some(bad) = scopes.iter().find(|s| !known_scopes.contains(&s.as_str())) {
        return Err(format!("--scope {bad}: expected one of {}", known_scopes.join(", ")));
    }
    if public && grants.iter().any(|g| g == "token_exchange") {
        return Err("a public client cannot exchange tokens: it has no secret to authenticate with".into());
    }
    if public && grants.iter().any(|g| g == "client_credentials") {
        return Err("a public client cannot use client_credentials".into());
    }
    let service_scope = scopes.iter().find(|s| SERVICE_SCOPES.contains(&s.as_str()));
    if let Some(service_scope) = service_scope
        && (public || !grants.iter().any(|g| g == "client_credentials"))
    {
        return Err(format!(
            "--scope {service_scope}: a service scope is for a confidential client with --grant client_credentials"
        ));
    }
    if grants.iter().any(|g| g == "authorization_code") && redirect_uris.is_empty() {
        return Err("authorization_code needs at least one --redirect-uri".into());
    }
    Ok(grants
        .into_iter()
        .map(
            |g| {
                if g == "token_exchange" {
                    ibal_gateway::identity::provider::GRANT_TOKEN_EXCHANGE.to_owned()
                } else {
                    g
                }
            },
        )
        .collect())
}

async fn lti(db: &store::Db, command: LtiCommand) -> Result<(), String> {
    match command {
        LtiCommand::AddPlatform { issuer, client_id, deployment_ids, auth_url, jwks_url, token_url, name } => {
            for (flag, value) in
                [("--auth-url", Some(&auth_url)), ("--jwks-url", Some(&jwks_url)), ("--token-url", token_url.as_ref())]
            {
                if let Some(value) = value {
                    let url = url::Url::parse(value).map_err(|e| format!("{flag} {value}: {e}"))?;
                    if !matches!(url.scheme(), "http" | "https") {
                        return Err(format!("{flag} {value}: expected an http(s) URL"));
                    }
                }
            }
            let existing = db.find_lti_platforms(&issuer, Some(&client_id)).await.map_err(|e| e.to_string())?;
            let platform = match existing.into_iter().next() {
                Some(platform) => {
                    for deployment in &deployment_ids {
                        db.add_lti_deployment(&platform.id, deployment).await.map_err(|e| e.to_string())?;
                    }
                    platform
                }
                None => {
                    let new = store::NewLtiPlatform {
                        issuer: &issuer,
                        client_id: &client_id,
                        name: &name,
                        auth_url: &auth_url,
                        token_url: token_url.as_deref(),
                        jwks_url: &jwks_url,
                    };
                    let ids: Vec<&str> = deployment_ids.iter().map(String::as_str).collect();
                    db.insert_lti_platform(&new, &ids).await.map_err(|e| e.to_string())?
                }
            };
            let deployments = db.lti_deployments(&platform.id).await.map_err(|e| e.to_string())?;
            say(&format!(
                "platform {}  {} ({})  deployments: {}",
                platform.id,
                platform.issuer,
                platform.client_id,
                deployments.join(", ")
            ));
        }
        LtiCommand::List => {
            for p in db.list_lti_platforms().await.map_err(|e| e.to_string())? {
                let deployments = db.lti_deployments(&p.id).await.map_err(|e| e.to_string())?;
                say(&format!(
                    "{}  {}  issuer {}  client {}  deployments: {}",
                    p.id,
                    p.name,
                    p.issuer,
                    p.client_id,
                    deployments.join(", ")
                ));
            }
        }
        LtiCommand::Remove { id } => {
            if !db.delete_lti_platform(&id).await.map_err(|e| e.to_string())? {
                return Err(format!("no platform {id}"));
            }
            say(&format!("removed {id}"));
        }
    }
    Ok(())
}

async fn users(db: &store::Db, command: UsersCommand) -> Result<(), String> {
    match command {
        UsersCommand::List { operators } => {
            for (user, issuers) in db.list_users(operators).await.map_err(|e| e.to_string())? {
                say(&format!("{}  {}  {}  via {}", user.id, user.username, user.role.as_str(), issuers.join(", ")));
            }
        }
        UsersCommand::GrantOperator { user } => {
            let found = one_user(db, &user).await?;
            db.grant_role(&found.id, Some(domain::Role::Admin)).await.map_err(|e| e.to_string())?;
            say(&format!("{} ({}) is an operator", found.username, found.id));
        }
        UsersCommand::RevokeOperator { user } => {
            let found = one_user(db, &user).await?;
            db.grant_role(&found.id, None).await.map_err(|e| e.to_string())?;
            let now = db.get_user(&found.id).await.map_err(|e| e.to_string())?;
            say(&format!("{} ({}) is now: {}", now.username, now.id, now.role.as_str()));
        }
    }
    Ok(())
}

/// The one user a username or id names; several users of one name (from different doors) must be
/// told apart by id.
async fn one_user(db: &store::Db, name_or_id: &str) -> Result<domain::User, String> {
    let found = db.find_users(name_or_id).await.map_err(|e| e.to_string())?;
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!("no user {name_or_id:?}")),
        several => Err(format!(
            "{} users are called {name_or_id:?}; name one by id: {}",
            several.len(),
            several.iter().map(|u| u.id.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Command output for the operator (not a log line).
#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
}

//! The command line: `serve` (the default), `migrate`, `check`, and the administration commands.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ibal-gateway",
    version,
    about = "IBAL gateway: AI course assistant and live chat for Open edX and LTI 1.3"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP and WebSocket (the default). Runs migrations first unless AUTO_MIGRATE=false.
    Serve {
        /// Skip migrations even when AUTO_MIGRATE is on (replicas after the first).
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply the database migrations, then exit. Safe to run again.
    Migrate,
    /// Validate the configuration and reach each configured dependency, one line each.
    Check,
    /// The gateway's signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// OAuth clients registered with the gateway.
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// LTI 1.3 platforms allowed to launch the tool.
    Lti {
        #[command(subcommand)]
        command: LtiCommand,
    },
    /// Users and the gateway's operators (course roles come from the LMS, not from here).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List users: id, username, the door they came through, global role.
    List {
        /// Only the gateway's operators.
        #[arg(long)]
        operators: bool,
    },
    /// Make a user an operator (every course's analytics), whatever their sign-in door says.
    GrantOperator {
        /// A username or a user id (as `users list` shows).
        user: String,
    },
    /// Withdraw a grant made with grant-operator (Open edX global staff stay operators).
    RevokeOperator {
        /// A username or a user id.
        user: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum LtiCommand {
    /// Register a platform (or add deployments to a registered one).
    AddPlatform {
        /// The platform's issuer, exactly as in its id_tokens (e.g. https://canvas.instructure.com).
        #[arg(long)]
        issuer: String,
        /// The client id the platform gave this tool.
        #[arg(long)]
        client_id: String,
        /// A deployment id (repeat for several).
        #[arg(long = "deployment-id", required = true)]
        deployment_ids: Vec<String>,
        /// The platform's OIDC authorization endpoint.
        #[arg(long)]
        auth_url: String,
        /// The platform's public key set.
        #[arg(long)]
        jwks_url: String,
        /// The platform's OAuth2 token endpoint (for LTI services).
        #[arg(long)]
        token_url: Option<String>,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List the registered platforms and their deployments.
    List,
    /// Remove a platform (by the id `lti list` shows).
    Remove { id: String },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key. Old keys stop signing now and stay published until their tokens expire.
    Rotate,
    /// List the published keys.
    List,
    /// Re-seal the keys' private halves under the current SECRET_KEY, from the previous one given in
    /// OLD_SECRET_KEY: the step that rotates SECRET_KEY.
    Rewrap,
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client; prints its id and (for confidential clients) its secret, once.
    Add {
        /// A name shown on the consent page.
        #[arg(long)]
        name: String,
        /// An exact redirect URI (repeat for several).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Grant types: authorization_code, refresh_token, client_credentials, token_exchange (an Open
        /// edX JWT for gateway tokens; confidential clients only) (repeat for several).
        #[arg(long = "grant", default_values_t = vec!["authorization_code".to_owned(), "refresh_token".to_owned()])]
        grants: Vec<String>,
        /// Scopes the client may ask for: openid, profile, email, chat; index and retirement (the
        /// service APIs) for a confidential client with client_credentials (repeat for several).
        #[arg(long = "scope", default_values_t = vec!["openid".to_owned(), "profile".to_owned(), "chat".to_owned()])]
        scopes: Vec<String>,
        /// Skip the consent page (your own applications).
        #[arg(long)]
        first_party: bool,
        /// A public client (no secret; PKCE only), e.g. a single-page app.
        #[arg(long)]
        public: bool,
    },
    /// Create a confidential client with the given id, or bring an existing one in line (name,
    /// grants, scopes, redirect URIs, secret): safe to run at every deployment. The secret is read
    /// from the environment variable named by --secret-env, never from the command line.
    Ensure {
        /// The client id to create or update (letters, digits, `.`, `_`, `-`).
        #[arg(long)]
        client_id: String,
        /// The environment variable that holds the client's secret (at least 32 characters).
        #[arg(long)]
        secret_env: String,
        /// A name shown in `clients list` (and on the consent page).
        #[arg(long)]
        name: String,
        /// An exact redirect URI (repeat for several).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Grant types, as for `clients add` (repeat for several).
        #[arg(long = "grant", default_values_t = vec!["client_credentials".to_owned()])]
        grants: Vec<String>,
        /// Scopes the client may ask for: those of `clients add`, plus index and retirement (the
        /// service APIs, by client credentials only) (repeat for several).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Skip the consent page (your own applications).
        #[arg(long)]
        first_party: bool,
    },
    /// List the registered clients.
    List,
    /// Remove a client.
    Remove { client_id: String },
}

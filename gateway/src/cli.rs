//! The command line: `serve` (the default), `migrate`, `check`.

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
}

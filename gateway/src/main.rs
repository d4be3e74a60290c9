//! `ibal-gateway`: parse the command line and the configuration, then run the command.
//! Exit codes: 0 success, 1 failure at run time, 2 bad configuration or usage.

use std::process::ExitCode;

use clap::Parser;
use ibal_gateway::cli::{Cli, Command};
use ibal_gateway::config::Config;
use ibal_gateway::http::error::ErrorChain;
use ibal_gateway::{check, db, serve, telemetry};

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
                let db = db::Db::connect(&config.database).await?;
                let report = db.migrate().await?;
                db.close().await;
                Ok::<_, db::DbError>(report)
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
        Command::Check => {
            let lines = check::run(&config).await;
            for line in &lines {
                say(&line.to_string());
            }
            if lines.iter().all(|l| l.ok) { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
    }
}

/// Command output for the operator (not a log line).
#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
}

//! `ibal-bench`: the gateway against baselines measured in the same run. See bench/README.md.
//!
//! ```text
//! ibal-bench [--out FILE] [--gateway PATH] [--only 1,2,3,4,5,6,7] [--sockets N] [--streams N] [--postgres URL|none]
//!            [--redis URL|none]
//! ibal-bench echo <port>                       # baseline: WebSocket echo server (used by the harness)
//! ibal-bench fake-openai <port> <tokens> <rate> # baseline: OpenAI-compatible SSE stream (used by the harness)
//! ```

mod baseline;
mod fanout;
mod gateway;
mod knowledge;
mod lms;
mod lti;
mod scenarios;
mod servers;
mod stats;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use scenarios::Ctx;
use stats::Outcome;
use stats::{Row, TABLE_HEADER, Verdict};

struct Args {
    out: Option<PathBuf>,
    gateway: Option<PathBuf>,
    only: Vec<u32>,
    sockets: usize,
    streams: usize,
    postgres: Option<String>,
    redis: Option<String>,
}

fn usage() -> String {
    "usage: ibal-bench [--out FILE] [--gateway PATH] [--only 1,2,3,4,5,6,7] [--sockets N] [--streams N] \
     [--postgres URL|none] [--redis URL|none]\n\
     scenarios: 1 relay overhead, 2 connection density, 3 room throughput with persistence, \
     4 streaming, 5 fan-out across replicas, 6 auth, 7 course knowledge"
        .into()
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        out: None,
        gateway: None,
        only: vec![1, 2, 3, 4, 5, 6, 7],
        sockets: 15_000,
        streams: 500,
        postgres: Some("postgres://postgres@127.0.0.1:5432".into()),
        redis: Some("redis://127.0.0.1:6379".into()),
    };
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value\n{}", usage()));
        match a.as_str() {
            "--out" => args.out = Some(value()?.into()),
            "--gateway" => args.gateway = Some(value()?.into()),
            "--only" => {
                args.only =
                    value()?.split(',').map(|s| s.trim().parse().map_err(|_| usage())).collect::<Result<_, _>>()?
            }
            "--sockets" => args.sockets = value()?.parse().map_err(|_| usage())?,
            "--streams" => args.streams = value()?.parse().map_err(|_| usage())?,
            "--postgres" => args.postgres = Some(value()?).filter(|v| v != "none"),
            "--redis" => args.redis = Some(value()?).filter(|v| v != "none"),
            _ => return Err(usage()),
        }
    }
    if args.only.iter().any(|n| !(1..=7).contains(n)) {
        return Err(format!("--only takes scenario numbers 1 to 7\n{}", usage()));
    }
    Ok(args)
}

fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ibal-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match argv.first().map(String::as_str) {
        Some("echo") => runtime.block_on(servers::run_echo(port_arg(&argv, 1))),
        Some("fake-openai") => runtime.block_on(servers::run_fake_openai(
            port_arg(&argv, 1),
            argv.get(2).and_then(|v| v.parse().ok()).unwrap_or(50),
            argv.get(3).and_then(|v| v.parse().ok()).unwrap_or(50),
        )),
        _ => parse_args(argv.into_iter()).and_then(|args| runtime.block_on(Box::pin(run(args)))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ibal-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn port_arg(argv: &[String], i: usize) -> u16 {
    argv.get(i).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The scenarios, numbered 1 to 7.
const TITLES: [&str; 7] = [
    "relay overhead",
    "connection density",
    "room throughput with persistence",
    "streaming",
    "fan-out across replicas",
    "auth",
    "course knowledge",
];

async fn run(args: Args) -> Result<(), String> {
    let began = Instant::now();
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let gateway_bin = args.gateway.clone().unwrap_or_else(|| exe.with_file_name("ibal-gateway"));
    if !gateway_bin.exists() {
        return Err(format!(
            "{} not found: build it first (cargo build --release -p ibal-gateway) or pass --gateway",
            gateway_bin.display()
        ));
    }
    let work_dir = std::env::temp_dir().join(format!("ibal-bench-{}", std::process::id()));
    let ctx = Ctx {
        gateway_bin,
        lms: lms::Lms::new()?,
        work_dir: work_dir.clone(),
        sockets: args.sockets,
        streams: args.streams,
        postgres: args.postgres.clone(),
        redis: args.redis.clone(),
    };
    out(TABLE_HEADER);
    let mut rows: Vec<Row> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for n in 1..=7u32 {
        let title = TITLES[(n - 1) as usize];
        if !args.only.contains(&n) {
            notes.push(format!("{n}. {title}: not run"));
            continue;
        }
        let t0 = Instant::now();
        let result: Result<Outcome, String> = match n {
            1 => Box::pin(scenarios::relay(&ctx)).await,
            2 => Box::pin(scenarios::density(&ctx)).await,
            3 => Box::pin(scenarios::room(&ctx)).await,
            4 => Box::pin(scenarios::streaming(&ctx)).await,
            5 => Box::pin(fanout::fanout(&ctx)).await,
            6 => Box::pin(scenarios::auth(&ctx)).await,
            _ => Box::pin(knowledge::knowledge(&ctx)).await,
        };
        let took = t0.elapsed();
        match result {
            Ok(o) => {
                for r in &o.rows {
                    out(&r.markdown());
                }
                rows.extend(o.rows);
                notes.extend(o.notes);
                notes.push(format!("{n}. {title}: {:.0} s", took.as_secs_f64()));
            }
            Err(e) => {
                let row = Row::new(format!("{n}. {title}"), "not measured", "—", f64::NAN, "—", Verdict::Miss);
                out(&row.markdown());
                rows.push(row);
                notes.push(format!("{n}. {title}: not measured: {e}"));
            }
        }
    }
    let total = began.elapsed();
    for n in &notes {
        out(&format!("- {n}"));
    }
    out(&format!("total: {:.0} s", total.as_secs_f64()));
    if let Some(path) = &args.out {
        std::fs::write(path, report(&rows, &notes, total)).map_err(|e| format!("{}: {e}", path.display()))?;
        out(&format!("wrote {}", path.display()));
    }
    let _ = std::fs::remove_dir_all(&work_dir);
    Ok(())
}

fn report(rows: &[Row], notes: &[String], total: Duration) -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = meminfo.lines().find(|l| l.starts_with("MemTotal:")).unwrap_or("MemTotal: ?").trim().to_owned();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_owned();
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned();
    let mut s = String::new();
    s.push_str("# IBAL benchmark results\n\n");
    s.push_str("Written by `make bench` (`ibal-bench`, bench/); every figure below comes from that one run.\n\n");
    s.push_str(&format!(
        "- date: {date}\n- machine: {cores} cores (nproc), {mem}, {cpu}, Linux {kernel}\n- total run time: {:.0} s\n\n",
        total.as_secs_f64()
    ));
    s.push_str(TABLE_HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(&r.markdown());
        s.push('\n');
    }
    s.push_str("\n## Notes from the run\n\n");
    for n in notes {
        s.push_str(&format!("- {n}\n"));
    }
    s
}

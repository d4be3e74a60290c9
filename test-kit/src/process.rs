//! The gateway binary as a child process: its command with nothing of the caller's environment, what an
//! administrative command printed, and, for `serve` logging JSON on stdout, the wait for its `listening`
//! line.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::task::JoinHandle;

/// `bin` run in `dir` with `env` and nothing else in its environment (not even PATH unless given), stdin
/// closed. A `std` command: `.output()` it, or make it a `tokio::process::Command` with `From`.
pub fn command<K, V>(bin: &Path, dir: &Path, env: impl IntoIterator<Item = (K, V)>) -> Command
where
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    let mut command = Command::new(bin);
    command.current_dir(dir).env_clear().envs(env).stdin(Stdio::null());
    command
}

/// What a command printed on stdout, trimmed, when it succeeded; what it printed on stderr otherwise.
///
/// # Errors
/// The command failed: its stderr, trimmed.
pub fn printed(out: &Output) -> Result<String, String> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// Waits (at most `within`) for a gateway spawned with `LOG_FORMAT=json`, at info level, and stdout piped,
/// to log `listening`; returns its address, and a task that keeps draining the log (so the child never
/// blocks on a full pipe) and yields every later line when the child exits.
///
/// # Errors
/// Stdout was not piped, the child exited before listening, or did not listen in time.
pub async fn wait_listening(child: &mut Child, within: Duration) -> Result<(String, JoinHandle<Vec<String>>), String> {
    let mut lines = BufReader::new(child.stdout.take().ok_or("the gateway's stdout is not piped")?).lines();
    let addr = tokio::time::timeout(within, async {
        while let Some(line) = lines.next_line().await.map_err(|e| format!("reading the gateway's log: {e}"))? {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            if event["message"] == "listening" {
                return event["addr"].as_str().map(str::to_owned).ok_or_else(|| format!("no addr in {line}"));
            }
        }
        Err("the gateway exited before listening".to_owned())
    })
    .await
    .map_err(|_| format!("the gateway did not log listening within {within:?}"))??;
    let drain = tokio::spawn(async move {
        let mut rest = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push(line);
        }
        rest
    });
    Ok((addr, drain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_sees_only_the_environment_it_is_given() {
        let dir = std::env::temp_dir();
        let out = command(Path::new("/bin/sh"), &dir, [("ONLY", "this")])
            .args(["-c", "echo \"$ONLY ${HOME-unset} ${CARGO-unset}\""])
            .output()
            .expect("sh");
        assert_eq!(printed(&out), Ok("this unset unset".to_owned()));
        let out = command(Path::new("/bin/sh"), &dir, [("A", "1")]).args(["-c", "echo bad >&2; exit 3"]).output();
        assert_eq!(printed(&out.expect("sh")), Err("bad".to_owned()));
    }

    #[tokio::test]
    async fn the_listening_line_gives_the_address_and_the_rest_is_collected() {
        let script = r#"echo 'not json'; echo '{"message":"listening","addr":"127.0.0.1:9"}'; echo later; echo last"#;
        let mut child =
            tokio::process::Command::from(command(Path::new("/bin/sh"), &std::env::temp_dir(), [("A", "1")]))
                .args(["-c", script])
                .stdout(Stdio::piped())
                .spawn()
                .expect("sh");
        let (addr, drain) = wait_listening(&mut child, Duration::from_secs(10)).await.expect("listening");
        assert_eq!(addr, "127.0.0.1:9");
        assert_eq!(drain.await.expect("log"), ["later", "last"]);
        let _ = child.wait().await;

        let mut child = tokio::process::Command::new("/bin/sh")
            .args(["-c", "echo starting"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh");
        let error = wait_listening(&mut child, Duration::from_secs(10)).await.err();
        assert_eq!(error.as_deref(), Some("the gateway exited before listening"));
        let _ = child.wait().await;
    }
}

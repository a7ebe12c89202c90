//! The notification hook: a program run once per event with `TANDEM_*` environment
//! variables, like a Pacemaker alert agent. The daemon's loop only queues events
//! ([`HookSender::send`] never waits); one runner task runs the hook for each in order,
//! kills it at the timeout, and counts what happened.

use crate::metrics::HookCounters;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Events waiting for the hook. Events come a few per decision; a hook slower than that for
/// long fills the queue, and further events are dropped (and counted) rather than delaying
/// the engine or growing memory.
pub const HOOK_QUEUE_CAPACITY: usize = 64;

/// What the hook is told: each field becomes one `TANDEM_*` variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEvent {
    /// `TANDEM_EVENT`: what happened, e.g. `decision`, `switchover`, `failover`, `fence`.
    pub event: String,
    /// `TANDEM_REASON`: the decision's sentence, or the event's detail.
    pub reason: String,
    /// `TANDEM_ROLE`: this node's DRBD role when it happened.
    pub role: String,
    /// `TANDEM_TIME_UNIX_MS`.
    pub unix_ms: u64,
    /// More `TANDEM_*` variables for this kind of event, e.g. `("TANDEM_TARGET", "b")`.
    pub extra: Vec<(String, String)>,
}

/// The hook's fixed facts: `TANDEM_NODE`, `TANDEM_PEER`, `TANDEM_CLUSTER`.
#[derive(Debug, Clone)]
pub struct HookSpec {
    /// argv; no shell.
    pub command: Vec<String>,
    pub timeout_ms: u64,
    pub node: String,
    pub peer: String,
    pub cluster: String,
}

/// The loop's end of the queue.
#[derive(Debug, Clone)]
pub struct HookSender {
    queue: mpsc::Sender<HookEvent>,
    counters: Arc<Mutex<HookCounters>>,
}

impl HookSender {
    /// Queues `event` without waiting; when the queue is full it is dropped and counted.
    pub fn send(&self, event: HookEvent) {
        if let Err(error) = self.queue.try_send(event) {
            let dropped = count(&self.counters, |c| &mut c.dropped);
            tracing::warn!(dropped, event = %error.into_inner().event,
                "hook queue full: event not given to the hook");
        }
    }

    pub fn counters(&self) -> HookCounters {
        self.counters.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

fn count(counters: &Mutex<HookCounters>, field: fn(&mut HookCounters) -> &mut u64) -> u64 {
    counters
        .lock()
        .map(|mut c| {
            let slot = field(&mut c);
            *slot += 1;
            *slot
        })
        .unwrap_or(0)
}

/// Starts the runner task.
pub fn spawn(spec: HookSpec) -> HookSender {
    let (queue, events) = mpsc::channel(HOOK_QUEUE_CAPACITY);
    let counters = Arc::new(Mutex::new(HookCounters::default()));
    tokio::spawn(run(spec, events, counters.clone()));
    HookSender { queue, counters }
}

async fn run(
    spec: HookSpec,
    mut events: mpsc::Receiver<HookEvent>,
    counters: Arc<Mutex<HookCounters>>,
) {
    let mut sequence = 0u64;
    while let Some(event) = events.recv().await {
        sequence += 1;
        match run_once(&spec, &event, sequence).await {
            Ok(()) => {
                count(&counters, |c| &mut c.succeeded);
            }
            Err(failure) => {
                let failed = count(&counters, |c| &mut c.failed);
                if matches!(failure, HookFailure::TimedOut { .. }) {
                    count(&counters, |c| &mut c.timed_out);
                }
                tracing::warn!(event = %event.event, %failure, failed, "hook failed");
            }
        }
    }
}

/// Why one run failed.
#[derive(Debug, thiserror::Error)]
pub enum HookFailure {
    #[error("cannot start {program}: {error}")]
    Spawn { program: String, error: String },
    #[error("{program} exited with {status}")]
    Exit { program: String, status: String },
    #[error("{program} still ran after {timeout_ms} ms: killed (its process group)")]
    TimedOut { program: String, timeout_ms: u64 },
}

/// Runs the hook once for `event`, in its own process group, killed with it at the timeout.
pub async fn run_once(
    spec: &HookSpec,
    event: &HookEvent,
    sequence: u64,
) -> Result<(), HookFailure> {
    let program = spec.command.first().cloned().unwrap_or_default();
    let mut command = tokio::process::Command::new(&program);
    command
        .args(spec.command.iter().skip(1))
        .env("TANDEM_EVENT", &event.event)
        .env("TANDEM_NODE", &spec.node)
        .env("TANDEM_PEER", &spec.peer)
        .env("TANDEM_CLUSTER", &spec.cluster)
        .env("TANDEM_REASON", &event.reason)
        .env("TANDEM_ROLE", &event.role)
        .env("TANDEM_TIME_UNIX_MS", event.unix_ms.to_string())
        .env("TANDEM_SEQUENCE", sequence.to_string())
        .envs(event.extra.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| HookFailure::Spawn {
        program: program.clone(),
        error: e.to_string(),
    })?;
    let timeout = Duration::from_millis(spec.timeout_ms);
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(HookFailure::Exit {
            program,
            status: match status.signal() {
                Some(signal) => format!("signal {signal}"),
                None => status.to_string(),
            },
        }),
        Ok(Err(error)) => Err(HookFailure::Spawn {
            program,
            error: error.to_string(),
        }),
        Err(_) => {
            if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
                let group = nix::unistd::Pid::from_raw(pid);
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            }
            let _ = child.kill().await;
            Err(HookFailure::TimedOut {
                program,
                timeout_ms: spec.timeout_ms,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(script: &str, timeout_ms: u64) -> HookSpec {
        HookSpec {
            command: vec!["/bin/sh".into(), "-c".into(), script.into()],
            timeout_ms,
            node: "a".into(),
            peer: "b".into(),
            cluster: "c".into(),
        }
    }

    fn event() -> HookEvent {
        HookEvent {
            event: "switchover".into(),
            reason: "operator: switchover to b".into(),
            role: "Primary".into(),
            unix_ms: 1_700_000_000_000,
            extra: vec![("TANDEM_TARGET".into(), "b".into())],
        }
    }

    #[tokio::test]
    async fn the_hook_gets_the_variables() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("env");
        let script = format!("env | grep ^TANDEM_ | sort > {}", out.display());
        run_once(&spec(&script, 5_000), &event(), 7)
            .await
            .expect("runs");
        let text = std::fs::read_to_string(out).expect("written");
        for line in [
            "TANDEM_EVENT=switchover",
            "TANDEM_NODE=a",
            "TANDEM_PEER=b",
            "TANDEM_REASON=operator: switchover to b",
            "TANDEM_ROLE=Primary",
            "TANDEM_SEQUENCE=7",
            "TANDEM_TARGET=b",
            "TANDEM_TIME_UNIX_MS=1700000000000",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in {text}");
        }
    }

    #[tokio::test]
    async fn failures_and_a_hang_killed_at_the_timeout_with_its_children() {
        let failed = run_once(&spec("exit 3", 5_000), &event(), 1).await;
        assert!(
            matches!(failed, Err(HookFailure::Exit { .. })),
            "{failed:?}"
        );
        let started = std::time::Instant::now();
        let hung = run_once(&spec("sleep 30 & wait", 200), &event(), 2).await;
        assert!(
            matches!(hung, Err(HookFailure::TimedOut { .. })),
            "{hung:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        let missing = spec("", 100);
        let missing = HookSpec {
            command: vec!["/nonexistent/hook".into()],
            ..missing
        };
        let result = run_once(&missing, &event(), 3).await;
        assert!(
            matches!(result, Err(HookFailure::Spawn { .. })),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let sender = spawn(spec("sleep 5", 10_000));
        for _ in 0..HOOK_QUEUE_CAPACITY + 10 {
            sender.send(event());
        }
        let dropped = sender.counters().dropped;
        // One event may already be with the runner, leaving room for one more.
        assert!((9..=10).contains(&dropped), "{dropped}");
    }
}

//! exec/drbdadm.rs and exec/events2.rs against the host's real drbd-utils (no DRBD module
//! here) and real child processes: typed errors, verification after exit 0, timeouts that
//! kill, and the supervised events2 child with restarts and kill-on-drop.

use std::path::{Path, PathBuf};
use std::time::Duration;
use tandem::drbd::{ObjectKind, Verb};
use tandem::exec::drbdadm::{DrbdError, Drbdadm};
use tandem::exec::events2::{Events2Command, Events2Message, Events2Supervisor};
use tandem::exec::host;
use tokio::time::timeout;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A DRBD 9-grammar resource: plain `drbdadm` on this module-less host uses that grammar,
/// and then `secondary`, `down` and `disconnect` print an error but exit 0.
fn drbd9_resource() -> tempfile::NamedTempFile {
    let me = host::node_name().unwrap();
    host::temp_file_with(&format!(
        "resource r0 {{\n  device /dev/drbd0 minor 0;\n  disk /dev/loop0;\n  meta-disk internal;\n  \
         on {me} {{ address 10.99.0.1:7789; node-id 0; }}\n  \
         on other {{ address 10.99.0.2:7789; node-id 1; }}\n}}\n"
    ))
    .unwrap()
}

fn script(body: &str) -> tempfile::TempPath {
    use std::os::unix::fs::PermissionsExt;
    let file = host::temp_file_with(&format!("#!/bin/sh\n{body}\n")).unwrap();
    let path = file.into_temp_path();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn alive(pid: i32) -> bool {
    // A killed child may linger as a zombie until reaped; that counts as dead.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.split_whitespace().nth(2).is_none_or(|s| s != "Z"),
        Err(_) => false,
    }
}

async fn wait_pid_file(path: &Path) -> i32 {
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse() {
                return pid;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no pid in {}", path.display());
}

#[tokio::test]
async fn exit_zero_is_not_trusted() {
    let file = drbd9_resource();
    let mut drbdadm = Drbdadm::new("r0");
    drbdadm.config_file = Some(file.path().to_path_buf());
    // The raw command claims success although nothing happened...
    drbdadm
        .run(&["secondary"])
        .await
        .expect("drbdadm secondary exits 0 here");
    // ...and the verified operation sees through it.
    let err = drbdadm.secondary().await.unwrap_err();
    assert!(matches!(err, DrbdError::ModuleMissing { .. }), "{err:?}");
    let err = drbdadm.down().await.unwrap_err();
    assert!(matches!(err, DrbdError::ModuleMissing { .. }), "{err:?}");
    let err = drbdadm.disconnect().await.unwrap_err();
    assert!(matches!(err, DrbdError::ModuleMissing { .. }), "{err:?}");
}

#[tokio::test]
async fn refusals_are_typed() {
    let file = drbd9_resource();
    let mut drbdadm = Drbdadm::new("r0");
    drbdadm.config_file = Some(file.path().to_path_buf());
    let err = drbdadm.primary(false).await.unwrap_err();
    assert!(matches!(err, DrbdError::ModuleMissing { .. }), "{err:?}");
    let mut unknown = drbdadm.clone();
    unknown.resource = "nosuch".into();
    let err = unknown.role().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "resource nosuch is not defined in the DRBD configuration for this host"
    );
    let mut missing = drbdadm.clone();
    missing.binary = PathBuf::from("/nonexistent/drbdadm");
    assert!(matches!(missing.role().await, Err(DrbdError::Spawn { .. })));
}

#[tokio::test]
async fn a_hung_command_times_out_and_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let hung = script(&format!("echo $$ > {}\nexec sleep 60", pid_file.display()));
    let mut drbdadm = Drbdadm::new("r0");
    drbdadm.binary = hung.to_path_buf();
    drbdadm.timeout = Duration::from_millis(300);
    let err = drbdadm.run(&["role"]).await.unwrap_err();
    assert_eq!(
        err,
        DrbdError::Timeout {
            command: "drbdadm role r0".into(),
            timeout_ms: 300
        }
    );
    let pid = wait_pid_file(&pid_file).await;
    for _ in 0..100 {
        if !alive(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed-out child {pid} is still running");
}

async fn next(rx: &mut tokio::sync::mpsc::Receiver<Events2Message>) -> Events2Message {
    timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no events2 message within 10 s")
        .expect("channel closed")
}

#[tokio::test]
async fn events2_child_is_parsed_restarted_with_backoff_and_killed_on_drop() {
    let log = fixture("drbd84/events2-splitbrain-nodeA.log");
    let lines = std::fs::read_to_string(&log).unwrap().lines().count();
    let child = script(&format!(
        "cat {}\necho 'garbage-line'\nexit 3",
        log.display()
    ));
    let command = Events2Command {
        // Through sh, not exec'd directly: another test thread's fork may still hold the
        // script's write descriptor for a moment (exec would fail with ETXTBSY).
        program: PathBuf::from("/bin/sh"),
        args: vec![child.to_string_lossy().into_owned()],
    };
    let (supervisor, mut rx) = Events2Supervisor::spawn(command);
    for round in 0..2u64 {
        let first = next(&mut rx).await;
        let Events2Message::Event(event) = first else {
            panic!("{first:?}")
        };
        assert_eq!(
            (event.verb, event.kind),
            (Verb::Exists, ObjectKind::Resource)
        );
        for _ in 1..lines {
            assert!(matches!(next(&mut rx).await, Events2Message::Event(_)));
        }
        let unparsed = next(&mut rx).await;
        assert!(
            matches!(unparsed, Events2Message::Unparsed { ref line, .. } if line == "garbage-line"),
            "{unparsed:?}"
        );
        let exited = next(&mut rx).await;
        assert!(
            matches!(exited, Events2Message::Exited { ref status, .. } if status.contains("3")),
            "{exited:?}"
        );
        assert_eq!(
            next(&mut rx).await,
            Events2Message::Restarting {
                delay_ms: 100 << round
            }
        );
    }
    drop(supervisor);

    // Kill on drop: a long-running child is gone once its supervisor is dropped.
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let child = script(&format!(
        "echo $$ > {}\necho 'exists -'\nexec sleep 60",
        pid_file.display()
    ));
    let (supervisor, mut rx) = Events2Supervisor::spawn(Events2Command {
        // Through sh, not exec'd directly: another test thread's fork may still hold the
        // script's write descriptor for a moment (exec would fail with ETXTBSY).
        program: PathBuf::from("/bin/sh"),
        args: vec![child.to_string_lossy().into_owned()],
    });
    assert!(matches!(next(&mut rx).await, Events2Message::Event(_)));
    let pid = wait_pid_file(&pid_file).await;
    assert!(alive(pid));
    drop(supervisor);
    for _ in 0..200 {
        if !alive(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("events2 child {pid} survived its supervisor");
}

#[tokio::test]
async fn real_drbdsetup_without_module_is_reported_and_retried() {
    let (_supervisor, mut rx) = Events2Supervisor::spawn(Events2Command::drbdsetup("r0"));
    let exited = next(&mut rx).await;
    let Events2Message::Exited { status, stderr } = exited else {
        panic!("{exited:?}")
    };
    assert!(status.contains("20"), "{status}");
    assert!(stderr.contains("modprobe"), "{stderr}");
    assert_eq!(
        next(&mut rx).await,
        Events2Message::Restarting { delay_ms: 100 }
    );
    assert!(matches!(next(&mut rx).await, Events2Message::Exited { .. }));
}

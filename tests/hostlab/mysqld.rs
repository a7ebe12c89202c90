//! `exec::mysqld` against a real MariaDB in the host lab: the server runs inside node a's
//! network and mount namespaces, its datadir on the shared loop disk, its socket in the node's
//! private tmpfs. Timings are printed (run with --nocapture), not asserted, except where the
//! refusal's promptness is the point.

use crate::fixture::{mariadb_template, Lab};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::Path;
use std::time::{Duration, Instant};
use tandem::config::MysqldSettings;
use tandem::exec::mysqld::{
    datadir_lock, health, read_only, set_read_only, socket_answers, DatadirLock, MysqldError,
    MysqldExit, MysqldProcess, ER_OPTION_PREVENTS_STATEMENT,
};

/// A lab with the shared disk mounted on node a and a fresh datadir on it.
fn lab_with_datadir() -> (Lab, MysqldSettings) {
    let lab = Lab::new();
    lab.mount_shared(&lab.a);
    let cfg = lab.mysqld_config();
    (lab, cfg)
}

async fn connect(cfg: &MysqldSettings, user: &str, password: Option<&str>) -> Conn {
    let opts = OptsBuilder::default()
        .socket(Some(cfg.socket.to_str().unwrap()))
        .user(Some(user))
        .pass(password);
    Conn::new(opts).await.unwrap()
}

/// Runs statements as root (unix_socket authentication, as tandemd does).
async fn as_root(cfg: &MysqldSettings, statements: &[&str]) {
    let mut conn = connect(cfg, "root", None).await;
    for sql in statements {
        conn.query_drop(*sql).await.unwrap();
    }
    conn.disconnect().await.unwrap();
}

async fn count_rows(cfg: &MysqldSettings, table: &str) -> i64 {
    let mut conn = connect(cfg, "root", None).await;
    let sql = format!("SELECT COUNT(*) FROM {table}");
    let count: i64 = conn.query_first(sql).await.unwrap().unwrap();
    conn.disconnect().await.unwrap();
    count
}

/// Whether a process exists at all (a zombie still does: this checks that it was reaped).
fn process_exists(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn mysqld_starts_answers_health_and_stops_gracefully_reaped() {
    let (lab, cfg) = lab_with_datadir();
    lab.a.run(|| async move {
        let started = Instant::now();
        let server = MysqldProcess::start(&cfg).await.unwrap();
        let start_ms = started.elapsed().as_millis();
        let pid = server.pid();
        health(&cfg).await.unwrap();
        assert!(!read_only(&cfg).await.unwrap());
        assert_eq!(
            datadir_lock(&cfg.datadir).unwrap(),
            DatadirLock::Held { pid: Some(pid) }
        );
        let report = server.stop().await.unwrap();
        eprintln!(
            "mysqld pid {pid}: start→ready {start_ms} ms, SIGTERM→reaped {} ms",
            report.elapsed_ms
        );
        assert!(!report.killed, "{report:?}");
        assert_eq!(report.exit, MysqldExit::Exited { code: 0 });
        assert_eq!(report.pid, pid);
        assert!(!process_exists(pid), "pid {pid} was not reaped");
        assert_eq!(datadir_lock(&cfg.datadir).unwrap(), DatadirLock::Free);
        assert!(!socket_answers(&cfg.socket));
        let down = health(&cfg).await.unwrap_err();
        assert!(matches!(down, MysqldError::Connect { .. }), "{down}");
    });
}

/// A fresh /run has no socket directory (no systemd tmpfiles here): the start makes it, owned
/// by the server's user, and the server creates its socket in it.
#[test]
fn mysqld_start_creates_a_missing_socket_directory_owned_by_its_user() {
    let (lab, mut cfg) = lab_with_datadir();
    let dir = cfg.socket.parent().unwrap().join("fresh-run/mysqld");
    cfg.socket = dir.join("mysqld.sock");
    assert!(!dir.exists());
    lab.a.run(|| async move {
        let server = MysqldProcess::start(&cfg).await.unwrap();
        health(&cfg).await.unwrap();
        let mysql = nix::unistd::User::from_name("mysql").unwrap().unwrap();
        let meta = std::fs::metadata(&dir).unwrap();
        assert_eq!(
            std::os::unix::fs::MetadataExt::uid(&meta),
            mysql.uid.as_raw()
        );
        server.stop().await.unwrap();
    });
}

#[test]
fn mysqld_kill_9_is_seen_as_signal_9_and_restart_keeps_committed_rows() {
    let (lab, cfg) = lab_with_datadir();
    lab.a.run(|| async move {
        let mut server = MysqldProcess::start(&cfg).await.unwrap();
        as_root(
            &cfg,
            &[
                "CREATE DATABASE t",
                "CREATE TABLE t.c (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB",
            ],
        )
        .await;
        let mut conn = connect(&cfg, "root", None).await;
        for i in 0..200 {
            conn.query_drop(format!("INSERT INTO t.c (v) VALUES ('row{i}')"))
                .await
                .unwrap();
        }
        conn.disconnect().await.unwrap();
        assert_eq!(server.try_exit().unwrap(), None);

        kill(Pid::from_raw(server.pid()), Signal::SIGKILL).unwrap();
        let exit = server.wait_exit().await.unwrap();
        assert_eq!(
            exit,
            MysqldExit::Signaled {
                signal: 9,
                core_dumped: false
            }
        );
        assert!(exit.is_sigkill());
        assert_eq!(exit.to_string(), "was killed by signal 9 (SIGKILL)");
        assert!(!process_exists(server.pid()));
        // A stop after the crash only reports what happened.
        let report = server.stop().await.unwrap();
        assert!(report.exit.is_sigkill() && !report.killed);

        let started = Instant::now();
        let server = MysqldProcess::start(&cfg).await.unwrap();
        eprintln!(
            "mysqld crash recovery after kill -9: ready in {} ms",
            started.elapsed().as_millis()
        );
        assert_eq!(count_rows(&cfg, "t.c").await, 200);
        server.stop().await.unwrap();
    });
}

#[test]
fn mysqld_second_start_on_the_same_datadir_is_refused_at_once() {
    let (lab, cfg) = lab_with_datadir();
    let run_dir = lab.run_dir();
    let other_datadir = lab.mountpoint().join("data2");
    lab.a.sh_ok(&format!(
        "cp -a {} {d} && chown -R mysql:mysql {d}",
        mariadb_template().display(),
        d = other_datadir.display()
    ));
    lab.a.run(|| async move {
        let server = MysqldProcess::start(&cfg).await.unwrap();

        // Same datadir, other socket: only the InnoDB lock tells.
        let mut same_datadir = cfg.clone();
        same_datadir.socket = run_dir.join("second.sock");
        let started = Instant::now();
        let refused = MysqldProcess::start(&same_datadir).await.unwrap_err();
        let refused_after = started.elapsed();
        eprintln!(
            "second start refused after {} µs: {refused}",
            refused_after.as_micros()
        );
        assert!(refused_after < Duration::from_secs(2));
        assert_eq!(
            refused,
            MysqldError::DatadirInUse {
                datadir: cfg.datadir.clone(),
                pid: Some(server.pid())
            }
        );
        let message = refused.to_string();
        assert!(
            message.starts_with("refused: datadir ")
                && message.contains(&format!("pid {} holds the InnoDB lock", server.pid())),
            "{message}"
        );
        assert!(!same_datadir.socket.exists(), "a second server was spawned");

        // Other datadir, same socket: the live socket tells.
        let mut same_socket = cfg.clone();
        same_socket.datadir = other_datadir.clone();
        let refused = MysqldProcess::start(&same_socket).await.unwrap_err();
        assert_eq!(
            refused,
            MysqldError::SocketInUse {
                socket: cfg.socket.clone()
            }
        );
        assert_eq!(datadir_lock(&other_datadir).unwrap(), DatadirLock::Free);

        health(&cfg).await.unwrap();
        server.stop().await.unwrap();
    });
}

/// Inserts as `user`; the server error code if refused.
async fn insert_as(cfg: &MysqldSettings, user: &str, password: Option<&str>) -> Result<(), u16> {
    let mut conn = connect(cfg, user, password).await;
    let result = conn
        .query_drop(format!("INSERT INTO t.w VALUES ('{user}')"))
        .await;
    conn.disconnect().await.unwrap();
    match result {
        Ok(()) => Ok(()),
        Err(mysql_async::Error::Server(e)) => Err(e.code),
        Err(other) => panic!("INSERT as {user} failed unexpectedly: {other}"),
    }
}

#[test]
fn mysqld_read_only_stops_plain_users_but_not_read_only_admin_or_root() {
    let (lab, cfg) = lab_with_datadir();
    lab.a.run(|| async move {
        let server = MysqldProcess::start(&cfg).await.unwrap();
        as_root(
            &cfg,
            &[
                "CREATE DATABASE t",
                "CREATE TABLE t.w (who VARCHAR(20)) ENGINE=InnoDB",
                "CREATE USER plain@localhost IDENTIFIED BY 'pw'",
                "GRANT SELECT, INSERT ON t.* TO plain@localhost",
                "CREATE USER su@localhost IDENTIFIED BY 'pw'",
                "GRANT SUPER ON *.* TO su@localhost",
                "GRANT INSERT ON t.* TO su@localhost",
                "CREATE USER roadmin@localhost IDENTIFIED BY 'pw'",
                "GRANT READ ONLY ADMIN ON *.* TO roadmin@localhost",
                "GRANT INSERT ON t.* TO roadmin@localhost",
            ],
        )
        .await;

        set_read_only(&cfg, true).await.unwrap();
        assert!(read_only(&cfg).await.unwrap());
        let refused = Err(ER_OPTION_PREVENTS_STATEMENT);
        assert_eq!(insert_as(&cfg, "plain", Some("pw")).await, refused);
        // On MariaDB 10.11.19 SUPER alone no longer bypasses read_only (READ ONLY ADMIN was
        // split out of it); on older servers this account would write.
        assert_eq!(insert_as(&cfg, "su", Some("pw")).await, refused);
        // The lab fact: read_only is not a fence. READ ONLY ADMIN, and root (ALL PRIVILEGES
        // includes it), still write.
        assert_eq!(insert_as(&cfg, "roadmin", Some("pw")).await, Ok(()));
        assert_eq!(insert_as(&cfg, "root", None).await, Ok(()));

        set_read_only(&cfg, false).await.unwrap();
        assert!(!read_only(&cfg).await.unwrap());
        assert_eq!(insert_as(&cfg, "plain", Some("pw")).await, Ok(()));
        assert_eq!(insert_as(&cfg, "su", Some("pw")).await, Ok(()));
        assert_eq!(count_rows(&cfg, "t.w").await, 4);
        server.stop().await.unwrap();
    });
}

#[test]
fn mysqld_stop_escalates_to_sigkill_when_sigterm_is_not_acted_on() {
    let (lab, mut cfg) = lab_with_datadir();
    const STOP_TIMEOUT_MS: u64 = 500;
    cfg.stop_timeout_ms = STOP_TIMEOUT_MS;
    lab.a.run(|| async move {
        let server = MysqldProcess::start(&cfg).await.unwrap();
        let pid = server.pid();
        as_root(
            &cfg,
            &[
                "CREATE DATABASE t",
                "CREATE TABLE t.k (id INT) ENGINE=InnoDB",
                "INSERT INTO t.k VALUES (1)",
            ],
        )
        .await;
        // A stopped process keeps SIGTERM pending and never acts on it; SIGKILL still works.
        kill(Pid::from_raw(pid), Signal::SIGSTOP).unwrap();
        let report = server.stop().await.unwrap();
        eprintln!("stop of a SIGSTOPped mysqld: {report:?}");
        assert!(report.killed);
        assert!(report.exit.is_sigkill(), "{report:?}");
        assert!(report.elapsed_ms >= STOP_TIMEOUT_MS, "{report:?}");
        assert!(report.elapsed_ms < STOP_TIMEOUT_MS + 2_000, "{report:?}");
        assert!(!process_exists(pid));

        let server = MysqldProcess::start(&cfg).await.unwrap();
        assert_eq!(count_rows(&cfg, "t.k").await, 1);
        server.stop().await.unwrap();
    });
}

#[test]
fn mysqld_exit_during_start_carries_the_error_log_tail() {
    let (lab, mut cfg) = lab_with_datadir();
    cfg.args.push("--no-such-option-for-tandem".into());
    lab.a.run(|| async move {
        let failed = MysqldProcess::start(&cfg).await.unwrap_err();
        let MysqldError::ExitedDuringStart { exit, log_tail } = &failed else {
            panic!("expected ExitedDuringStart, got {failed}");
        };
        assert!(
            matches!(exit, MysqldExit::Exited { code } if *code != 0),
            "{exit}"
        );
        assert!(
            log_tail.contains("unknown option '--no-such-option-for-tandem'"),
            "{log_tail}"
        );
        assert_eq!(datadir_lock(&cfg.datadir).unwrap(), DatadirLock::Free);
    });
}

#[test]
fn mysqld_start_timeout_stops_the_server_it_spawned() {
    let (lab, mut cfg) = lab_with_datadir();
    // Far shorter than any start: the timeout path, deterministically.
    cfg.start_timeout_ms = 1;
    cfg.stop_timeout_ms = 5_000;
    lab.a.run(|| async move {
        let failed = MysqldProcess::start(&cfg).await.unwrap_err();
        assert!(
            matches!(failed, MysqldError::StartTimeout { timeout_ms: 1, .. }),
            "{failed}"
        );
        assert_eq!(datadir_lock(&cfg.datadir).unwrap(), DatadirLock::Free);
        assert!(!socket_answers(&cfg.socket));
    });
}

#[test]
fn mysqld_refuses_a_datadir_that_is_not_mounted() {
    let lab = Lab::new();
    let cfg = lab.mysqld_config();
    lab.a.run(|| async move {
        let refused = MysqldProcess::start(&cfg).await.unwrap_err();
        assert_eq!(
            refused,
            MysqldError::DatadirNotInitialised {
                datadir: cfg.datadir.clone()
            }
        );
    });
}

#[test]
fn mysqld_handle_works_from_another_runtime_and_drop_leaves_the_server_running() {
    let (lab, cfg) = lab_with_datadir();
    let first = cfg.clone();
    let server = lab
        .a
        .run(|| async move { MysqldProcess::start(&first).await.unwrap() });
    let pid = server.pid();
    // The runtime that spawned it is gone; waiting re-registers with the current one.
    let second = cfg.clone();
    lab.a.run(|| async move {
        health(&second).await.unwrap();
        let report = server.stop().await.unwrap();
        assert_eq!(report.exit, MysqldExit::Exited { code: 0 });
    });
    assert!(!process_exists(pid));

    // Dropping the handle (a daemon restart) must not stop the server: it is adopted later.
    lab.a.run(|| async move {
        let server = MysqldProcess::start(&cfg).await.unwrap();
        let pid = server.pid();
        drop(server);
        tokio::time::sleep(Duration::from_millis(200)).await;
        health(&cfg).await.unwrap();
        let datadir = &cfg.datadir;
        assert_eq!(
            datadir_lock(datadir).unwrap(),
            DatadirLock::Held { pid: Some(pid) }
        );
        // Clean up by hand, as an operator (or the adopting daemon) would.
        kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while datadir_lock(datadir).unwrap() != DatadirLock::Free {
            assert!(Instant::now() < deadline, "pid {pid} ignored SIGTERM");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

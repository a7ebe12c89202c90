//! `tandem proxy` with real clients: the pair as the primary (through the VIP) and two real
//! MariaDB replicas fed by tandemd, the proxy in the client's namespace. The mariadb CLI,
//! pymysql, mysql_async and sysbench through the proxy: writes land on the primary,
//! autocommit reads on a replica, a transaction stays on the primary, a client that writes
//! and reads at once never misses its write, a wrong password is refused, a rule and USE
//! work, the client limit holds, garbage closes only its own connection, a replica that
//! stops replicating is drained, and a switchover fails an open session's next write
//! without replaying it while new sessions reach the new primary. Then the moves under load
//! (`proxy/failover.rs`): sysbench oltp_read_write and a writer across a switchover and a
//! power loss, and an immediate refusal naming tandemd's state while nobody serves.

mod bench;
mod checks;
mod failover;
mod limit;

use crate::engine::{engine_config, serving, start_daemon, wait_for};
use crate::fixture::{mariadb_template, Lab, LabNode, SUBNET};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TANDEM: &str = env!("CARGO_BIN_EXE_tandem");
/// The proxy binary: the test build's `tandem`, unless TANDEM_PROXY_BIN names another (a
/// release build, for meaningful sysbench figures: the test build is unoptimised).
fn proxy_bin() -> String {
    std::env::var("TANDEM_PROXY_BIN").unwrap_or_else(|_| TANDEM.to_string())
}
/// A replica server starts in well under a second; this is the stall limit.
const REPLICA_START_TIMEOUT: Duration = Duration::from_secs(30);
/// Replicas replicate within a few of tandemd's checks (2 s each).
pub(super) const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// The proxy listens at once and reads each replica every second.
pub(super) const PROXY_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The proxy inside the client's namespace: its own loopback.
pub(super) const PROXY: &str = "127.0.0.1:3307";
/// The proxy's client limit in the lab: sysbench's 4 threads and a few CLI sessions fit.
const MAX_CONNECTIONS: u32 = 8;
/// Read-your-writes: this many write-then-read rounds.
const RYW_ROUNDS: u32 = 200;

/// `tandem proxy` with `config` on the lab's client, logging to `DIR/proxy.log`.
fn spawn_proxy(lab: &Lab, config: &Path) -> std::process::Child {
    let log = lab.dir.join("proxy.log");
    lab.client.spawn(
        "sh",
        &[
            "-c",
            &format!(
                "exec env RUST_LOG=info {} --config {} proxy 2>>{}",
                proxy_bin(),
                config.display(),
                log.display()
            ),
        ],
    )
}

fn credentials(lab: &Lab, name: &str, user: &str, password: &str) -> PathBuf {
    let path = lab.dir.join(format!("{name}.cred"));
    std::fs::write(&path, format!("user = {user}\npassword = {password}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

pub(super) fn sql_on(socket: &Path, sql: &str) -> String {
    format!("mariadb -N -B -S {} -e \"{sql}\"", socket.display())
}

/// A replica server on `node` from the source's initial datadir, with tandem's account.
fn start_replica(lab: &Lab, node: &LabNode, server_id: u32) -> std::process::Child {
    let data = lab.dir.join(format!("{}-data", node.role));
    let socket = lab.run_dir().join("replica.sock");
    node.sh_ok(&format!(
        "cp -a --sparse=always {t} {d} && chown -R mysql:mysql {d}",
        t = mariadb_template().display(),
        d = data.display()
    ));
    let log = lab.dir.join(format!("{}.err", node.role));
    let child = node.spawn(
        "sh",
        &[
            "-c",
            &format!(
                "exec mariadbd --no-defaults --user=mysql --datadir={d} --socket={s} \
                 --pid-file={r}/replica.pid --port=3306 --bind-address=0.0.0.0 \
                 --skip-name-resolve --innodb-buffer-pool-size=32M --server-id={server_id} \
                 --gtid-strict-mode=ON --log-error={l}",
                d = data.display(),
                s = socket.display(),
                r = lab.run_dir().display(),
                l = log.display()
            ),
        ],
    );
    let started = Instant::now();
    while node.sh(&sql_on(&socket, "SELECT 1")).status.code() != Some(0) {
        assert!(
            started.elapsed() < REPLICA_START_TIMEOUT,
            "replica {} did not start",
            node.role
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    node.sh_ok(&sql_on(
        &socket,
        "SET sql_log_bin = 0; CREATE USER tandem@'%' IDENTIFIED BY 'tandem-pw'; \
         GRANT REPLICATION SLAVE ADMIN, REPLICA MONITOR ON *.* TO tandem@'%'",
    ));
    child
}

/// Each node's tandemd metrics endpoint, on its own address (the proxy reads both).
const METRICS_PORT: u16 = 9942;
/// The proxy's own metrics endpoint, in the client's namespace.
const PROXY_METRICS: &str = "127.0.0.1:9943";

/// The engine config with the lab's power fence, [metrics], [replication], r1 and r2, and
/// [proxy] following both tandemd.
fn proxy_config(lab: &Lab) -> PathBuf {
    let fence = crate::engine::fence_script(lab);
    let tandem = credentials(lab, "tandem", "tandem", "tandem-pw");
    let repl = credentials(lab, "repl", "repl", "repl-pw");
    let proxy = credentials(lab, "proxy", "proxy", "proxy-pw");
    let replica = |name: &str, host: u8| {
        format!(
            "[[replica]]\nname = \"{name}\"\nhost = \"{SUBNET}.{host}\"\ncredentials_file = \"{}\"\n",
            tandem.display()
        )
    };
    let text = format!(
        "{}power_fence_command = [\"/bin/sh\", \"{}\"]\n[metrics]\nlisten = \"0.0.0.0:{METRICS_PORT}\"\n\
         [replication]\nbinlog_dir = \"{}/binlog\"\nserver_ids = {{ a = 1, b = 2 }}\n\
         credentials_file = \"{}\"\n{}{}[proxy]\nlisten = \"{PROXY}\"\ncredentials_file = \"{}\"\n\
         max_lag_s = 5\nmax_connections = {MAX_CONNECTIONS}\n\
         tandemd_metrics = [\"{}:{METRICS_PORT}\", \"{}:{METRICS_PORT}\"]\n\
         metrics_listen = \"{PROXY_METRICS}\"\n\
         [[proxy.rule]]\npattern = \"primary, please\"\nroute = \"primary\"\n",
        std::fs::read_to_string(engine_config(lab)).unwrap(),
        fence.display(),
        lab.mountpoint().display(),
        repl.display(),
        replica("r1", 11),
        replica("r2", 12),
        proxy.display(),
        lab.a.ip,
        lab.b.ip
    );
    let path = lab.dir.join("proxy.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `mariadb` through the proxy as `app`; the output, or the error.
pub(super) fn through_proxy(lab: &Lab, password: &str, sql: &str) -> Result<String, String> {
    let (host, port) = PROXY.split_once(':').unwrap();
    let out = lab.client.sh(&format!(
        "mariadb -h {host} -P {port} -u app -p{password} -N -B -e \"{sql}\""
    ));
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

const PYMYSQL_CLIENT: &str = include_str!("proxy/ryw.py");

const PYMYSQL_LIMIT: &str = include_str!("proxy/limit.py");

/// Five clients that answer the greeting with 100 kB of random bytes.
const GARBAGE_CLIENT: &str = include_str!("proxy/garbage.py");

/// The pair serving with two real replicas, the accounts and `proxylab.t`, and the proxy
/// running in the client's namespace: the children to kill at the end, the config, r1, r2.
fn start_all(lab: &Lab) -> (Vec<std::process::Child>, PathBuf, LabNode, LabNode) {
    lab.mount_shared(&lab.a);
    lab.umount(&lab.a);
    let r1 = lab.extra_node("r1", 11);
    let r2 = lab.extra_node("r2", 12);
    let mut children = vec![start_replica(lab, &r1, 11), start_replica(lab, &r2, 12)];
    let config = proxy_config(lab);
    children.push(start_daemon(lab, &lab.a, &config));
    children.push(start_daemon(lab, &lab.b, &config));
    wait_for(lab, "a to serve", Duration::from_secs(30), || {
        serving(&lab.a, &config)
    });
    lab.a.sh_ok(&sql_on(
        &lab.run_dir().join("mysqld.sock"),
        "CREATE USER repl@'%' IDENTIFIED BY 'repl-pw'; GRANT REPLICATION SLAVE ON *.* TO repl@'%'; \
         CREATE USER app@'%' IDENTIFIED BY 'app-pw'; GRANT ALL ON proxylab.* TO app@'%'; \
         CREATE USER proxy@'%' IDENTIFIED BY 'proxy-pw'; \
         GRANT SELECT ON mysql.global_priv TO proxy@'%'; CREATE DATABASE proxylab; \
         CREATE TABLE proxylab.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
    ));
    for node in [&r1, &r2] {
        let socket = lab.run_dir().join("replica.sock");
        wait_for(lab, "replicas to have the table", CATCH_UP_TIMEOUT, || {
            node.sh(&sql_on(&socket, "SELECT 1 FROM proxylab.t LIMIT 0"))
                .status
                .success()
        });
    }
    children.push(spawn_proxy(lab, &config));
    let replica_ids = ["11", "12"];
    wait_for(
        lab,
        "the proxy to read from a replica",
        PROXY_READY_TIMEOUT,
        || {
            through_proxy(lab, "app-pw", "SELECT @@server_id")
                .is_ok_and(|id| replica_ids.contains(&id.as_str()))
        },
    );
    (children, config, r1, r2)
}

#[test]
fn proxy_splits_reads_and_writes_for_real_clients() {
    let lab = Lab::new();
    let (children, config, r1, r2) = start_all(&lab);
    let replica_ids = ["11", "12"];

    // mariadb CLI: a write lands on the primary, an autocommit read on a replica, a
    // transaction's read on the primary.
    through_proxy(&lab, "app-pw", "INSERT INTO proxylab.t (v) VALUES (4242)").unwrap();
    let on_primary = lab.a.sh_ok(&sql_on(
        &lab.run_dir().join("mysqld.sock"),
        "SELECT COUNT(*) FROM proxylab.t WHERE v = 4242",
    ));
    assert_eq!(on_primary, "1");
    let read = through_proxy(&lab, "app-pw", "SELECT @@server_id").unwrap();
    assert!(
        replica_ids.contains(&read.as_str()),
        "read served by {read}"
    );
    let in_transaction = through_proxy(
        &lab,
        "app-pw",
        "BEGIN; SELECT @@server_id; SELECT COUNT(*) FROM proxylab.t; COMMIT",
    )
    .unwrap();
    assert!(in_transaction.starts_with("1\n"), "{in_transaction}");
    let rule = through_proxy(
        &lab,
        "app-pw",
        "SELECT @@server_id FROM DUAL WHERE 'primary, please' <> ''",
    )
    .unwrap();
    assert_eq!(rule, "1", "the rule sends this read to the primary");
    // USE runs on the primary and is re-issued on the replica before the read.
    let used = through_proxy(
        &lab,
        "app-pw",
        "USE proxylab; SELECT @@server_id, DATABASE()",
    )
    .unwrap();
    assert!(used == "11\tproxylab" || used == "12\tproxylab", "{used}");
    let kill = through_proxy(&lab, "app-pw", "KILL QUERY 1").unwrap_err();
    assert!(
        kill.contains("tandem proxy does not relay this statement"),
        "{kill}"
    );
    let wrong = through_proxy(&lab, "not-the-password", "SELECT 1").unwrap_err();
    assert!(wrong.contains("Access denied for user 'app'"), "{wrong}");

    // pymysql: read-your-writes, RYW_ROUNDS times; then a transaction.
    let script = lab.dir.join("ryw.py");
    std::fs::write(&script, PYMYSQL_CLIENT).unwrap();
    let (host, port) = PROXY.split_once(':').unwrap();
    let out = lab.client.sh_ok(&format!(
        "/usr/bin/python3 {} {host} {port} {RYW_ROUNDS}",
        script.display()
    ));
    eprintln!("pymysql through the proxy: {out}");
    assert!(out.contains("missed=0 "), "{out}");
    assert!(out.ends_with("in_transaction=1"), "{out}");
    let on_replica: u32 = out
        .split_whitespace()
        .find_map(|w| w.strip_prefix("on_replica="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        on_replica > 0,
        "no read after a write was served by a replica: {out}"
    );

    checks::mysql_async_client(&lab);

    // One client more than max_connections gets MariaDB's "Too many connections".
    let limit = lab.dir.join("limit.py");
    std::fs::write(&limit, PYMYSQL_LIMIT).unwrap();
    let out = lab.client.sh_ok(&format!(
        "/usr/bin/python3 {} {host} {port} {MAX_CONNECTIONS}",
        limit.display()
    ));
    assert_eq!(out, "refused 1040", "{out}");

    // Random bytes instead of a login close that client only; the proxy serves on.
    let garbage = lab.dir.join("garbage.py");
    std::fs::write(&garbage, GARBAGE_CLIENT).unwrap();
    lab.client.sh_ok(&format!(
        "/usr/bin/python3 {} {host} {port}",
        garbage.display()
    ));
    assert_eq!(through_proxy(&lab, "app-pw", "SELECT 1").unwrap(), "1");

    // A replica that stops replicating is drained: reads go to the other one.
    let r1_socket = lab.run_dir().join("replica.sock");
    r1.sh_ok(&sql_on(&r1_socket, "STOP SLAVE"));
    wait_for(&lab, "the proxy to drain r1", PROXY_READY_TIMEOUT, || {
        through_proxy(&lab, "app-pw", "SELECT @@server_id").is_ok_and(|id| id == "12")
    });
    for _ in 0..5 {
        let id = through_proxy(&lab, "app-pw", "SELECT @@server_id").unwrap();
        assert_eq!(id, "12", "a read went to the drained replica");
    }
    r1.sh_ok(&sql_on(&r1_socket, "START SLAVE"));
    checks::lag_drains(&lab, &r1);
    checks::sysbench_figures(&lab, &[&r1, &r2]);
    checks::switchover(&lab, &config);
    failover::create_writer_table(&lab, &lab.b);
    let to_a = failover::Change::Switchover {
        from: &lab.b,
        to: &lab.a,
    };
    failover::under_load(&lab, &config, to_a, "switchover", 0);
    failover::no_active_node(&lab, &config, &lab.a);
    let fence = lab.dir.join("power-fence.sh");
    let power_loss = failover::Change::PowerLoss {
        from: &lab.a,
        to: &lab.b,
        fence: &fence,
    };
    failover::under_load(&lab, &config, power_loss, "power-loss", 1_000_000);
    checks::proxy_metrics(&lab, PROXY_METRICS);
    let log = std::fs::read_to_string(lab.dir.join("proxy.log")).unwrap_or_default();
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    eprintln!("{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("primary changed") && l.contains("from=b") && l.contains("to=a")),
        "the proxy's log does not say the primary moved to a:\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("primary changed") && l.contains("from=a") && l.contains("to=b")),
        "the proxy's log does not say the primary moved to b:\n{log}"
    );
}

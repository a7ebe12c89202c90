//! Seeding a replica on real MariaDB 10.11 with `tandem replica add` and `rebuild`: the pair
//! (shared-disk) serves, a client writes through the VIP, `tandem replica receive` runs on a
//! fresh replica host and `tandem replica add` on the active node streams a mariadb-backup to
//! it. Started on the prepared datadir, the replica is pointed at the VIP by tandemd and ends
//! at the source's GTID position with the same rows. `rebuild` moves the old datadir aside
//! and seeds it again. Unsafe receives are refused with a sentence.

use crate::client;
use crate::engine::{engine_config, serving, start_daemon, status, tandem, wait_for};
use crate::fixture::{Lab, LabNode, SUBNET, VIP};
use crate::replica::{
    credentials, replica_entry, replica_sql, source_sql, sql_on, TANDEM_PASSWORD,
};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const TANDEM: &str = env!("CARGO_BIN_EXE_tandem");
/// A seed of the lab's small datadir streams and prepares in seconds.
const SEED_TIMEOUT: Duration = Duration::from_secs(120);
const START_TIMEOUT: Duration = Duration::from_secs(30);
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);
const RECEIVER_PORT: u16 = 4444;
const REPLICA_HOST: u8 = 21;

/// The lab's engine config with [replication] and one [[replica]] s1.
fn seed_config(lab: &Lab) -> PathBuf {
    let base = engine_config(lab);
    let tandem_creds = credentials(lab, "tandem", "tandem", TANDEM_PASSWORD);
    let repl = credentials(lab, "repl", "repl", "repl-pw");
    let text = format!(
        "{}[replication]\nbinlog_dir = \"{}/binlog\"\nserver_ids = {{ a = 1, b = 2 }}\n\
         credentials_file = \"{}\"\n[[replica]]\nname = \"s1\"\nhost = \"{SUBNET}.{REPLICA_HOST}\"\n\
         credentials_file = \"{}\"\n",
        std::fs::read_to_string(&base).unwrap(),
        lab.mountpoint().display(),
        repl.display(),
        tandem_creds.display(),
    );
    let path = lab.dir.join("seed.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A replica server on a seeded datadir (no template copy, no account: both come from the
/// source).
pub(crate) fn start_server(lab: &Lab, node: &LabNode, data: &Path, server_id: u32) -> Child {
    let socket = lab.run_dir().join("replica.sock");
    let log = lab.run_dir().join(format!("{}-{server_id}.err", node.role));
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
            started.elapsed() < START_TIMEOUT,
            "seeded server on {} did not start: {}",
            node.role,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn stop_server(lab: &Lab, node: &LabNode, mut child: Child) {
    let socket = lab.run_dir().join("replica.sock");
    node.sh_ok(&format!("mariadb-admin -S {} shutdown", socket.display()));
    let _ = child.wait();
}

/// `tandem replica receive` on `node`, in the background, once it listens.
fn start_receiver(lab: &Lab, node: &LabNode, data: &Path, force: bool) -> Child {
    let log = lab.dir.join("receiver.log");
    let child = node
        .command("sh")
        .arg("-c")
        .arg(format!(
            "exec {TANDEM} replica receive --datadir {} --listen {}:{RECEIVER_PORT} \
             --from {SUBNET}.1,{SUBNET}.2 {} >>{l} 2>&1",
            data.display(),
            node.ip,
            if force { "--force" } else { "" },
            l = log.display()
        ))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(lab, "the receiver to listen", START_TIMEOUT, || {
        node.sh(&format!("ss -ltn | grep -q ':{RECEIVER_PORT} '"))
            .status
            .success()
    });
    child
}

fn seed(lab: &Lab, config: &Path, verb: &str, mut receiver: Child) -> String {
    let out = tandem(
        &lab.a,
        config,
        &format!("replica {verb} s1 --to {SUBNET}.{REPLICA_HOST}:{RECEIVER_PORT}"),
    );
    let log = std::fs::read_to_string(lab.dir.join("receiver.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "{verb}: {}\nreceiver: {log}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started = Instant::now();
    let code = loop {
        if let Some(code) = receiver.try_wait().unwrap() {
            break code;
        }
        assert!(
            started.elapsed() < SEED_TIMEOUT,
            "receiver still running: {log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(code.success(), "receiver failed: {log}");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!("$ tandem replica {verb} s1 …\n{stdout}receiver:\n{log}");
    stdout
}

fn caught_up(lab: &Lab, config: &Path) -> bool {
    let r = replica_entry(&status(&lab.a, config), "s1");
    r["state"] == "replicating" && r["gtid_behind"] == 0
}

fn assert_same_as_source(lab: &Lab, node: &LabNode) {
    let source_rows = source_sql(lab, &lab.a, "SELECT id FROM lab.writes ORDER BY id");
    let source_pos = source_sql(lab, &lab.a, "SELECT @@gtid_binlog_pos");
    assert_eq!(
        replica_sql(lab, node, "SELECT id FROM lab.writes ORDER BY id"),
        source_rows,
        "the seeded replica's rows differ from the source's"
    );
    assert_eq!(
        replica_sql(lab, node, "SELECT @@gtid_current_pos"),
        source_pos,
        "the seeded replica is not at the source's position"
    );
}

#[test]
fn replica_add_seeds_while_a_client_writes_and_rebuild_moves_the_old_datadir_aside() {
    let lab = Lab::new();
    lab.mount_shared(&lab.a);
    lab.umount(&lab.a);
    let config = seed_config(&lab);
    let daemons = [
        start_daemon(&lab, &lab.a, &config),
        start_daemon(&lab, &lab.b, &config),
    ];
    wait_for(&lab, "a to serve", Duration::from_secs(30), || {
        serving(&lab.a, &config)
    });
    source_sql(
        &lab,
        &lab.a,
        &format!(
            "CREATE USER repl@'%' IDENTIFIED BY 'repl-pw'; GRANT REPLICATION SLAVE ON *.* TO \
             repl@'%'; CREATE USER tandem@'%' IDENTIFIED BY '{TANDEM_PASSWORD}'; GRANT \
             REPLICATION SLAVE ADMIN, REPLICA MONITOR, READ_ONLY ADMIN ON *.* TO tandem@'%'"
        ),
    );
    let cfg = lab.config();
    lab.a.run(|| client::setup_schema(&cfg.settings.mysqld));
    let s1 = lab.extra_node("s1", REPLICA_HOST);
    let data = lab.dir.join("s1-data");

    // Seeded while the client writes through the VIP.
    let stop = AtomicBool::new(false);
    let (log, server) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| lab.client.run(|| client::write_until(&stop, VIP, 0)));
        std::thread::sleep(Duration::from_millis(300));
        let receiver = start_receiver(&lab, &s1, &data, false);
        let out = seed(&lab, &config, "add", receiver);
        assert!(out.contains("is seeded at GTID position 0-1-"), "{out}");
        let server = start_server(&lab, &s1, &data, 21);
        wait_for(&lab, "s1 to replicate", CATCH_UP_TIMEOUT, || {
            replica_entry(&status(&lab.a, &config), "s1")["state"] == "replicating"
        });
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::SeqCst);
        (writer.join().unwrap(), server)
    });
    assert!(!log.acked.is_empty());
    wait_for(&lab, "s1 to catch up", CATCH_UP_TIMEOUT, || {
        caught_up(&lab, &config)
    });
    assert_same_as_source(&lab, &s1);
    let r = replica_entry(&status(&lab.a, &config), "s1");
    assert_eq!(r["source"], format!("{VIP}:3306"), "{r}");

    // add is for new replicas, on the active node; unsafe receives are refused.
    let standby = tandem(&lab.b, &config, "replica add s1 --to 10.99.0.21:4444");
    let stderr = String::from_utf8_lossy(&standby.stderr);
    assert_eq!(standby.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(
            "refused: b is not the active node (Primary, Mount, Vip, Mysqld not up here)"
        ),
        "{stderr}"
    );
    let again = tandem(&lab.a, &config, "replica add s1 --to 10.99.0.21:4444");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("s1 already replicates (replicating); use `tandem replica rebuild s1`"),
        "{stderr}"
    );
    let receive = |force: &str| {
        s1.sh(&format!(
            "{TANDEM} replica receive --datadir {} --listen {}:{RECEIVER_PORT} --from {SUBNET}.1 {force}",
            data.display(),
            s1.ip
        ))
    };
    let running = receive("--force");
    let stderr = String::from_utf8_lossy(&running.stderr);
    assert!(
        stderr.contains(&format!("a server is running on {}", data.display())),
        "{stderr}"
    );
    stop_server(&lab, &s1, server);
    let not_empty = receive("");
    let stderr = String::from_utf8_lossy(&not_empty.stderr);
    assert!(
        stderr.contains("is not empty") && stderr.contains("add --force"),
        "{stderr}"
    );

    // rebuild: the old datadir is moved aside, a fresh copy is seeded.
    source_sql(&lab, &lab.a, "INSERT INTO lab.writes VALUES (1000000, 0)");
    let receiver = start_receiver(&lab, &s1, &data, true);
    let out = seed(&lab, &config, "rebuild", receiver);
    assert!(out.contains("is seeded at GTID position"), "{out}");
    let aside = lab
        .dir
        .read_dir()
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("s1-data.before-seed-")
        });
    let aside = aside.expect("the old datadir was moved aside").path();
    assert!(aside.join("ibdata1").exists(), "{}", aside.display());
    let server = start_server(&lab, &s1, &data, 21);
    wait_for(
        &lab,
        "s1 to catch up after the rebuild",
        CATCH_UP_TIMEOUT,
        || caught_up(&lab, &config),
    );
    assert_same_as_source(&lab, &s1);
    for mut child in daemons.into_iter().chain([server]) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

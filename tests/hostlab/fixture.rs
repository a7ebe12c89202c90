//! The host lab: per test, network namespaces `<id>-a`, `<id>-b`, `<id>-client` wired to a
//! bridge in `<id>-sw` through veths named `lan0` (10.99.0.0/24 exists only inside them), a
//! persistent mount namespace per node, loop-device disks (one per node, one shared "SAN"),
//! and a MariaDB datadir template. `Drop` tears all of it down, also after a failed test.
//!
//! The fixture refuses to run anything outside its own namespaces: `LabNode::run` checks, after
//! entering, that the thread's network namespace is the lab's and not the host's.
// Each test module uses a different part of the fixture.
#![allow(dead_code)]

use std::future::Future;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The lab subnet; it exists only inside the lab's namespaces, never on the host.
pub const SUBNET: &str = "10.99.0";
pub const VIP: &str = "10.99.0.100";
/// Loop disks: small, sparse, quick to mkfs; big enough for a MariaDB datadir.
const DISK_MB: u64 = 512;
/// How long cleanup waits for killed processes to disappear.
const KILL_WAIT_MS: u64 = 3_000;

static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

/// Runs a host command and panics with its output if it fails: fixture steps must not fail
/// silently.
pub fn host(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Like [`host`], but failures are only reported (cleanup must go on).
fn host_quiet(cmd: &str) {
    let out = Command::new("sh").arg("-c").arg(cmd).output();
    if let Ok(out) = out {
        if !out.status.success() {
            eprintln!(
                "lab cleanup: `{cmd}`: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
}

/// One lab machine: its network namespace and its persistent mount namespace.
pub struct LabNode {
    pub role: &'static str,
    pub netns: String,
    pub ip: String,
    pub mnt_ns: PathBuf,
    /// This node's own loop disk.
    pub disk: PathBuf,
}

impl LabNode {
    fn nsenter(&self) -> String {
        format!(
            "nsenter --net=/run/netns/{} --mount={} --",
            self.netns,
            self.mnt_ns.display()
        )
    }

    /// A command line prefixed to run inside this node's namespaces.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.netns))
            .arg(format!("--mount={}", self.mnt_ns.display()))
            .arg("--")
            .arg(program);
        cmd
    }

    /// Runs `sh -c cmd` inside this node's namespaces.
    pub fn sh(&self, cmd: &str) -> Output {
        self.command("sh").arg("-c").arg(cmd).output().unwrap()
    }

    /// Like [`LabNode::sh`], panicking with the output on failure; returns stdout.
    pub fn sh_ok(&self, cmd: &str) -> String {
        let out = self.sh(cmd);
        assert!(
            out.status.success(),
            "[{}] `{cmd}` failed: {}{}",
            self.role,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Runs `f()` to completion on a thread that has entered this node's network and mount
    /// namespaces, on a current-thread runtime (setns is per thread). Refuses to run if the
    /// thread did not end up in the lab's network namespace.
    pub fn run<F, Fut, T>(&self, f: F) -> T
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = T>,
        T: Send,
    {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    self.enter();
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(f())
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Moves the calling thread into this node's namespaces, and checks it.
    fn enter(&self) {
        use nix::sched::{setns, unshare, CloneFlags};
        let net_path = format!("/run/netns/{}", self.netns);
        let host = std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino();
        let net = std::fs::File::open(&net_path).unwrap();
        let mnt = std::fs::File::open(&self.mnt_ns).unwrap();
        // A thread shares its filesystem context with the process; it must have its own before
        // it may join another mount namespace.
        unshare(CloneFlags::CLONE_FS).unwrap();
        setns(net.as_fd(), CloneFlags::CLONE_NEWNET).unwrap();
        setns(mnt.as_fd(), CloneFlags::CLONE_NEWNS).unwrap();
        let mine = std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino();
        let lab = std::fs::metadata(&net_path).unwrap().ino();
        assert!(
            mine == lab && mine != host,
            "refusing to run: this thread is not inside lab namespace {}",
            self.netns
        );
    }

    /// Starts `program args…` in the background inside this node's namespaces.
    pub fn spawn(&self, program: &str, args: &[&str]) -> std::process::Child {
        self.command(program)
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    }
}

/// One test's lab. Every name in it carries the lab's unique id.
pub struct Lab {
    pub id: String,
    pub dir: PathBuf,
    pub a: LabNode,
    pub b: LabNode,
    pub client: LabNode,
    switch: String,
    /// The shared loop disk that plays a SAN LUN for `storage = "shared-disk"`.
    pub shared_disk: PathBuf,
    loops: Vec<PathBuf>,
    /// Namespaces added by [`Lab::extra_node`], torn down with the rest.
    extra_netns: std::sync::Mutex<Vec<(String, PathBuf)>>,
    _tempdir: tempfile::TempDir,
}

impl Lab {
    pub fn new() -> Lab {
        assert!(nix::unistd::geteuid().is_root(), "the host lab needs root");
        let id = format!(
            "tl{}x{}",
            std::process::id() % 100_000,
            NEXT_LAB.fetch_add(1, Ordering::SeqCst)
        );
        let tempdir = tempfile::Builder::new()
            .prefix(&format!("tandem-{id}-"))
            .tempdir()
            .unwrap();
        let dir = tempdir.path().to_path_buf();
        // mysqld runs as user mysql and must traverse the lab directory.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let switch = format!("{id}-sw");
        let mut lab = Lab {
            id: id.clone(),
            dir: dir.clone(),
            a: node(&id, "a", 1, &dir),
            b: node(&id, "b", 2, &dir),
            client: node(&id, "client", 3, &dir),
            switch,
            shared_disk: PathBuf::new(),
            loops: Vec::new(),
            extra_netns: std::sync::Mutex::new(Vec::new()),
            _tempdir: tempdir,
        };
        lab.network();
        lab.mount_namespaces();
        lab.disks();
        lab
    }

    fn nodes(&self) -> [&LabNode; 3] {
        [&self.a, &self.b, &self.client]
    }

    /// Another machine on the lab network (`<id>-<role>`, `10.99.0.<host_part>` on lan0, its
    /// own mount namespace and `run/` tmpfs), e.g. a replica server; removed on drop.
    pub fn extra_node(&self, role: &'static str, host_part: u8) -> LabNode {
        let n = node(&self.id, role, host_part, &self.dir);
        if let Ok(mut extra) = self.extra_netns.lock() {
            extra.push((n.netns.clone(), n.mnt_ns.clone()));
        }
        self.wire(&n);
        std::fs::write(&n.mnt_ns, "").unwrap();
        host(&format!(
            "unshare --mount={} --propagation private true",
            n.mnt_ns.display()
        ));
        n.sh_ok(&format!(
            "mount -t tmpfs -o mode=0755 tmpfs {r} && chown mysql:mysql {r}",
            r = self.run_dir().display()
        ));
        n
    }

    fn wire(&self, n: &LabNode) {
        let sw = &self.switch;
        let ns = &n.netns;
        host(&format!("ip netns add {ns}"));
        // Created from inside the switch namespace: the host's namespace never sees it.
        host(&format!(
            "ip -n {sw} link add p-{r} type veth peer name lan0 netns {ns} && \
             ip -n {sw} link set p-{r} master br0 up && \
             ip -n {ns} link set lo up && \
             ip -n {ns} addr add {ip}/24 dev lan0 && ip -n {ns} link set lan0 up",
            r = n.role,
            ip = n.ip
        ));
    }

    fn network(&self) {
        let sw = &self.switch;
        host(&format!("ip netns add {sw}"));
        host(&format!(
            "ip -n {sw} link add br0 type bridge && ip -n {sw} link set br0 up"
        ));
        for n in self.nodes() {
            let ns = &n.netns;
            host(&format!("ip netns add {ns}"));
            // Created from inside the switch namespace: the host's namespace never sees it.
            host(&format!(
                "ip -n {sw} link add p-{r} type veth peer name lan0 netns {ns} && \
                 ip -n {sw} link set p-{r} master br0 up && \
                 ip -n {ns} link set lo up && \
                 ip -n {ns} addr add {ip}/24 dev lan0 && ip -n {ns} link set lan0 up",
                r = n.role,
                ip = n.ip
            ));
        }
    }

    fn mount_namespaces(&self) {
        let ns_dir = self.dir.join("ns");
        std::fs::create_dir_all(&ns_dir).unwrap();
        let d = ns_dir.display();
        host(&format!("mount --bind {d} {d} && mount --make-private {d}"));
        for n in self.nodes() {
            std::fs::write(&n.mnt_ns, "").unwrap();
            host(&format!(
                "unshare --mount={} --propagation private true",
                n.mnt_ns.display()
            ));
            // A private /run-like directory per node, at the same path on every node.
            let run = self.run_dir();
            std::fs::create_dir_all(&run).unwrap();
            n.sh_ok(&format!(
                "mount -t tmpfs -o mode=0755 tmpfs {r} && chown mysql:mysql {r}",
                r = run.display()
            ));
        }
        std::fs::create_dir_all(self.mountpoint()).unwrap();
    }

    fn disks(&mut self) {
        let mut attach = |name: &str| -> PathBuf {
            let image = self.dir.join(format!("{name}.img"));
            host(&format!("truncate -s {DISK_MB}M {}", image.display()));
            let dev = PathBuf::from(host(&format!("losetup -f --show {}", image.display())));
            self.loops.push(dev.clone());
            host(&format!("mkfs.ext4 -q -F {}", dev.display()));
            dev
        };
        self.a.disk = attach("disk-a");
        self.b.disk = attach("disk-b");
        self.client.disk = PathBuf::new();
        self.shared_disk = attach("shared");
    }

    /// Where the filesystem is mounted, on every node (each in its own mount namespace).
    pub fn mountpoint(&self) -> PathBuf {
        self.dir.join("mnt")
    }

    /// A per-node tmpfs at the same path on every node: sockets and pid files.
    pub fn run_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    /// Peer key, mode 0600.
    pub fn peer_key(&self) -> PathBuf {
        let key = self.dir.join("peer.key");
        if !key.exists() {
            std::fs::write(&key, [0x5a; 32]).unwrap();
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        key
    }

    /// The lab's tandem.toml text: shared-disk storage on the shared loop disk, MariaDB with
    /// its datadir in the mountpoint, the VIP on lan0.
    pub fn config_text(&self) -> String {
        let mnt = self.mountpoint();
        format!(
            "cluster = \"{id}\"\nstorage = \"shared-disk\"\npeer_key_file = \"{key}\"\n\
             [[node]]\nname = \"a\"\npeer_addresses = [\"{s}.1:7800\"]\n\
             replication_address = \"{s}.1:7789\"\n\
             [[node]]\nname = \"b\"\npeer_addresses = [\"{s}.2:7800\"]\n\
             replication_address = \"{s}.2:7789\"\n\
             [filesystem]\ndevice = \"{disk}\"\nmountpoint = \"{mnt}\"\nfstype = \"ext4\"\n\
             [mysqld]\ndatadir = \"{mnt}/data\"\nsocket = \"{run}/mysqld.sock\"\n\
             args = [\"--bind-address=0.0.0.0\", \"--skip-name-resolve\", \
             \"--innodb-buffer-pool-size=32M\"]\nstart_timeout_ms = 30000\n\
             stop_timeout_ms = 10000\n\
             [vip]\naddress = \"{VIP}/24\"\ninterface = \"lan0\"\n\
             gratuitous_arp_count = 2\ngratuitous_arp_interval_ms = 20\n",
            id = self.id,
            key = self.peer_key().display(),
            s = SUBNET,
            disk = self.shared_disk.display(),
            mnt = mnt.display(),
            run = self.run_dir().display(),
        )
    }

    pub fn config(&self) -> tandem::config::Config {
        let path = self.dir.join("tandem.toml");
        let text = self.config_text();
        std::fs::write(&path, &text).unwrap();
        tandem::config::Config::parse(&text, &path).unwrap()
    }

    pub fn mysqld_config(&self) -> tandem::config::MysqldSettings {
        self.config().settings.mysqld
    }

    /// Mounts the shared disk on `node` and, the first time, puts a fresh MariaDB datadir on
    /// it (copied from a once-per-machine template).
    pub fn mount_shared(&self, node: &LabNode) {
        let mnt = self.mountpoint();
        node.sh_ok(&format!(
            "mount -t ext4 {} {}",
            self.shared_disk.display(),
            mnt.display()
        ));
        let data = mnt.join("data");
        if !data.exists() {
            let template = mariadb_template();
            node.sh_ok(&format!(
                "cp -a --sparse=always {t} {d} && chown -R mysql:mysql {d}",
                t = template.display(),
                d = data.display()
            ));
        }
    }

    pub fn umount(&self, node: &LabNode) {
        node.sh_ok(&format!("umount {}", self.mountpoint().display()));
    }
}

fn node(id: &str, role: &'static str, host_part: u8, dir: &Path) -> LabNode {
    LabNode {
        role,
        netns: format!("{id}-{role}"),
        ip: format!("{SUBNET}.{host_part}"),
        mnt_ns: dir.join("ns").join(format!("{role}.mnt")),
        disk: PathBuf::new(),
    }
}

/// A MariaDB datadir made once per machine by mariadb-install-db (~1 s), then copied per
/// test (~15 ms). Kept under /var/tmp with a completion marker so an interrupted run redoes it.
pub fn mariadb_template() -> PathBuf {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let root = PathBuf::from("/var/tmp/tandem-hostlab");
            let template = root.join("mariadb-template");
            let done = root.join("mariadb-template.complete");
            if !done.exists() {
                host(&format!(
                    "rm -rf {t} && mkdir -p {t} && chmod 755 {r} && \
                     mariadb-install-db --no-defaults --user=mysql --datadir={t} \
                     --auth-root-authentication-method=socket --skip-test-db >/dev/null",
                    t = template.display(),
                    r = root.display()
                ));
                std::fs::write(&done, "").unwrap();
            }
            template
        })
        .clone()
}

/// PIDs whose network namespace is one of ours (this test process is never among them: only
/// its helper threads enter lab namespaces).
fn pids_in(netns: &str) -> Vec<i32> {
    let out = Command::new("ip")
        .args(["netns", "pids", netns])
        .output()
        .unwrap();
    let me = std::process::id() as i32;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|p| *p != me)
        .collect()
}

impl Drop for Lab {
    fn drop(&mut self) {
        let extra: Vec<(String, PathBuf)> = self
            .extra_netns
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default();
        let netns: Vec<String> = self
            .nodes()
            .iter()
            .map(|n| n.netns.clone())
            .chain(extra.iter().map(|(ns, _)| ns.clone()))
            .chain([self.switch.clone()])
            .collect();
        let deadline = Instant::now() + Duration::from_millis(KILL_WAIT_MS);
        loop {
            let pids: Vec<i32> = netns.iter().flat_map(|ns| pids_in(ns)).collect();
            if pids.is_empty() || Instant::now() > deadline {
                if !pids.is_empty() {
                    eprintln!("lab cleanup: pids {pids:?} survived SIGKILL");
                }
                break;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let dir = self.dir.display().to_string();
        for n in self.nodes() {
            // Unmount everything under the lab dir inside the node's mount namespace.
            host_quiet(&format!(
                "{} sh -c \"awk '{{print \\$5}}' /proc/self/mountinfo | grep '^{dir}' | sort -r | \
                 xargs -r -n1 umount -l\"",
                n.nsenter()
            ));
            host_quiet(&format!("umount {}", n.mnt_ns.display()));
        }
        for (ns, mnt_ns) in &extra {
            host_quiet(&format!(
                "nsenter --net=/run/netns/{ns} --mount={} -- umount -l {dir}/run",
                mnt_ns.display()
            ));
            host_quiet(&format!("umount {}", mnt_ns.display()));
        }
        host_quiet(&format!("umount {dir}/ns"));
        for ns in &netns {
            host_quiet(&format!("ip netns del {ns}"));
        }
        for dev in &self.loops {
            host_quiet(&format!("losetup -d {}", dev.display()));
        }
    }
}

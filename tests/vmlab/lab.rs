//! The pair: two guests `vm-a` and `vm-b`, each with two private L2 links to the other —
//! `lan0` (management: peer link, VIP, 10.99.0.0/24) and `repl0` (DRBD replication,
//! 10.99.1.0/24) — carried as UDP between qemu processes on host loopback, and one DRBD
//! backing disk each. The addresses exist only inside the guests.
//!
//! Everything in a guest goes through its agent; the lab has no way to run a lab command on
//! the host. `Drop` (of the guests) kills only the process groups the lab started.

use crate::env::LabEnv;
use crate::guest::{Guest, GuestOutput, GuestSpec};
use std::fs;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Small disks: the initial sync is skipped anyway, and a resync of dirty blocks is what the
/// scenarios measure; 128 MiB holds the MariaDB template (26 MiB) with room to spare.
const DISK_BYTES: u64 = 128 * 1024 * 1024;
/// Timeout of an ordinary guest command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// The resource name in the lab config.
pub const RESOURCE: &str = "r0";
/// Where the DRBD filesystem is mounted in the guests (`/srv` is writable there).
pub const MOUNTPOINT: &str = "/srv/tandem";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    A,
    B,
}

pub const NODES: [Node; 2] = [Node::A, Node::B];

impl Node {
    pub fn index(self) -> usize {
        match self {
            Node::A => 0,
            Node::B => 1,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Node::A => "vm-a",
            Node::B => "vm-b",
        }
    }
    pub fn peer(self) -> Node {
        match self {
            Node::A => Node::B,
            Node::B => Node::A,
        }
    }
    /// Last octet of its addresses, last byte of its MACs.
    pub fn number(self) -> u8 {
        self.index() as u8 + 1
    }
}

/// The two networks between the guests; qemu netdev ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// `lan0`: management (peer link, VIP).
    Management,
    /// `repl0`: DRBD replication.
    Replication,
}

impl Link {
    fn netdev(self) -> &'static str {
        match self {
            Link::Management => "lan",
            Link::Replication => "repl",
        }
    }
}

pub struct Lab {
    pub env: LabEnv,
    pub run_dir: PathBuf,
    pub captures: PathBuf,
    guests: Vec<Guest>,
    /// (what, how long) for the report.
    pub timings: Vec<(String, Duration)>,
    pub(crate) next_spawn: u32,
    /// Serves the guests' power-fence requests on its own thread.
    _fence: crate::fence_service::FenceService,
}

impl Lab {
    /// Creates the run directory, disks and configs, boots both guests and prepares them.
    pub fn start(env: &LabEnv) -> Result<Lab, String> {
        crate::sweep::stale_labs(&labs_dir());
        let run_dir = labs_dir().join(format!("run-{}", std::process::id()));
        let _ = fs::remove_dir_all(&run_dir);
        fs::create_dir_all(run_dir.join("captures")).map_err(|e| e.to_string())?;
        fs::write(run_dir.join("owner"), std::process::id().to_string())
            .map_err(|e| e.to_string())?;
        crate::files::install_binaries(&run_dir)?;
        crate::files::write_configs(&run_dir)?;
        let token = token();
        let ports = free_udp_ports(4)?;
        let mut guests = Vec::new();
        for node in NODES {
            let spec = guest_spec(&run_dir, node, &token, &ports)?;
            guests.push(Guest::launch(env, spec));
        }
        let shares = [0, 1].map(|i| guests[i].spec.share.clone());
        let mut lab = Lab {
            env: env.clone(),
            captures: run_dir.join("captures"),
            _fence: crate::fence_service::FenceService::start(shares, run_dir.clone()),
            run_dir,
            guests,
            timings: Vec::new(),
            next_spawn: 0,
        };
        let started = Instant::now();
        for node in NODES {
            lab.guest(node).wait_ready()?;
        }
        lab.timings
            .push(("boot both guests (parallel, TCG)".into(), started.elapsed()));
        let started = Instant::now();
        let run_dir = lab.run_dir.clone();
        lab.both(|node, guest| prepare(guest, node, &run_dir));
        lab.timings.push((
            "prepare both guests (modules, links, config)".into(),
            started.elapsed(),
        ));
        Ok(lab)
    }

    pub fn guest(&mut self, node: Node) -> &mut Guest {
        &mut self.guests[node.index()]
    }

    /// Runs `f` on both guests at once (each has its own vCPU), A's result first.
    pub fn both<T: Send>(&mut self, f: impl Fn(Node, &mut Guest) -> T + Sync) -> [T; 2] {
        let (a, b) = self.guests.split_at_mut(1);
        let f = &f;
        std::thread::scope(|scope| {
            let on_a = scope.spawn(move || f(Node::A, &mut a[0]));
            let on_b = scope.spawn(move || f(Node::B, &mut b[0]));
            let join = |handle: std::thread::ScopedJoinHandle<'_, T>| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            };
            [join(on_a), join(on_b)]
        })
    }

    pub fn exec(&mut self, node: Node, script: &str) -> GuestOutput {
        self.guest(node)
            .exec(script, COMMAND_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `script` in the guest; panics with its output unless it exits 0. Returns stdout.
    pub fn sh(&mut self, node: Node, script: &str) -> String {
        self.guest(node).sh(script)
    }

    /// `tandem ARGS` in the guest.
    pub fn tandem(&mut self, node: Node, args: &str) -> GuestOutput {
        self.exec(node, &format!("tandem {args}"))
    }

    /// `tandem ARGS`, which must succeed; returns stdout.
    pub fn tandem_ok(&mut self, node: Node, args: &str) -> String {
        self.sh(node, &format!("tandem {args}"))
    }

    /// `tandem ARGS`, which DRBD must refuse (exit 3); returns the refusal's name, e.g.
    /// `PeerIsPrimary`, as `tandem` printed it after `refused:`.
    pub fn tandem_refused(&mut self, node: Node, args: &str) -> String {
        let output = self.tandem(node, args);
        assert_eq!(
            output.code,
            3,
            "[{}] `tandem {args}` should be refused (exit 3), got {}:\n{}{}",
            node.name(),
            output.code,
            output.stdout,
            output.stderr
        );
        refusal_name(&output.stderr)
            .unwrap_or_else(|| panic!("no `refused: NAME:` in {:?}", output.stderr))
    }

    /// Pulls the cable of `link` at both guests' ends (a switch failure between them).
    pub fn cut(&mut self, link: Link) {
        for node in NODES {
            self.guest(node).set_link(link.netdev(), false);
        }
    }

    pub fn heal(&mut self, link: Link) {
        for node in NODES {
            self.guest(node).set_link(link.netdev(), true);
        }
    }

    /// Kills the guest's qemu at once (power loss). Its disk stays as qemu left it.
    pub fn power_off_hard(&mut self, node: Node) {
        self.guest(node).power_off_hard();
    }

    /// Boots the guest again with the same disk and links, and prepares it; DRBD is not up.
    pub fn boot_again(&mut self, node: Node) -> Duration {
        let started = Instant::now();
        let run_dir = self.run_dir.clone();
        let guest = self.guest(node);
        guest.power_on();
        guest.wait_ready().unwrap_or_else(|e| panic!("{e}"));
        prepare(guest, node, &run_dir);
        started.elapsed()
    }

    pub fn is_running(&mut self, node: Node) -> bool {
        self.guest(node).is_running()
    }

    /// Console, dmesg and transcript of both guests into `run_dir/failures/NAME`.
    pub fn collect_failure(&mut self, name: &str) -> PathBuf {
        let dir = self.run_dir.join("failures").join(name);
        for node in NODES {
            self.guest(node).collect_artifacts(&dir);
        }
        dir
    }

    pub fn console_tail(&mut self, node: Node, lines: usize) -> String {
        self.guest(node).console_tail(lines)
    }

    /// Powers both guests off cleanly.
    pub fn shutdown(&mut self) -> Duration {
        let started = Instant::now();
        self.both(|_, guest| guest.shutdown());
        started.elapsed()
    }
}

/// The name after `refused: ` in tandem's stderr, e.g. `PeerIsPrimary`.
pub fn refusal_name(stderr: &str) -> Option<String> {
    let rest = stderr.split("refused: ").nth(1)?;
    let name = rest.split(':').next()?.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// `target/tmp/vmlab`: one `run-PID` directory per lab, kept after the run for post-mortems.
pub fn labs_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("vmlab")
}

fn guest_spec(run_dir: &Path, node: Node, token: &str, ports: &[u16]) -> Result<GuestSpec, String> {
    let name = node.name();
    let disk = run_dir.join(format!("disk-{name}.img"));
    let file = fs::File::create(&disk).map_err(|e| e.to_string())?;
    file.set_len(DISK_BYTES).map_err(|e| e.to_string())?;
    // Ports: [lan A, lan B, repl A, repl B]; each end sends to the other's port.
    let (me, peer) = (node.index(), node.peer().index());
    let n = node.number();
    let qemu_options = format!(
        "-netdev socket,id=lan,udp=127.0.0.1:{},localaddr=127.0.0.1:{} \
         -device virtio-net-pci,netdev=lan,mac={} \
         -netdev socket,id=repl,udp=127.0.0.1:{},localaddr=127.0.0.1:{} \
         -device virtio-net-pci,netdev=repl,mac={} \
         -drive if=none,id=drbd,file={},format=raw,cache=unsafe \
         -device virtio-blk-pci,drive=drbd,serial=tandem-drbd \
         -qmp unix:{},server=on,wait=off",
        ports[peer],
        ports[me],
        mac(Link::Management, n),
        ports[2 + peer],
        ports[2 + me],
        mac(Link::Replication, n),
        disk.display(),
        run_dir.join(format!("{name}.qmp")).display(),
    );
    Ok(GuestSpec {
        name: name.to_string(),
        share: run_dir.join(name),
        console: run_dir.join(format!("{name}.console.log")),
        qmp: run_dir.join(format!("{name}.qmp")),
        token: token.to_string(),
        qemu_options,
    })
}

/// Locally administered MACs: 52:54:00:99:LINK:NODE.
fn mac(link: Link, node: u8) -> String {
    let link = match link {
        Link::Management => 0,
        Link::Replication => 1,
    };
    format!("52:54:00:99:{link:02x}:{node:02x}")
}

/// Modules, interface names and addresses, the tandem binaries and config, the rendered DRBD
/// resource. Idempotent only across boots (a fresh guest each time).
fn prepare(guest: &mut Guest, node: Node, run_dir: &Path) {
    let n = node.number();
    let bin = run_dir.join("bin");
    let config = crate::files::config_path(run_dir, 'C');
    let script = format!(
        "set -e\n\
         modprobe -a virtio_net virtio_blk drbd ext4\n\
         for i in /sys/class/net/*; do\n  \
           case $(cat $i/address) in\n    \
             {lan}) ip link set ${{i##*/}} name lan0 ;;\n    \
             {repl}) ip link set ${{i##*/}} name repl0 ;;\n  \
           esac\n\
         done\n\
         ip addr add 10.99.0.{n}/24 dev lan0 && ip link set lan0 up\n\
         ip addr add 10.99.1.{n}/24 dev repl0 && ip link set repl0 up\n\
         test \"$(cat /sys/block/vda/serial)\" = tandem-drbd\n\
         install -m 0755 {bin}/tandem {bin}/tandemd /usr/sbin/\n\
         install -D -m 0755 {bin}/tandem-drbd-helper /usr/lib/tandem/tandem-drbd-helper\n\
         mkdir -p /etc/tandem /run/tandem/lab {MOUNTPOINT}\n\
         install -m 0600 {key} /etc/tandem/peer.key\n\
         cp {config} /etc/tandem/tandem.toml\n\
         tandem drbd render > /etc/drbd.d/{RESOURCE}.res\n",
        lan = mac(Link::Management, n),
        repl = mac(Link::Replication, n),
        bin = bin.display(),
        key = run_dir.join("peer.key").display(),
        config = config.display(),
    );
    guest.sh(&script);
}

/// A random token for this lab instance (kernel command line, checked by the agent).
fn token() -> String {
    let mut bytes = [0u8; 8];
    let _ = fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `count` UDP ports free on host loopback right now (the OS picks them).
fn free_udp_ports(count: usize) -> Result<Vec<u16>, String> {
    let sockets: Vec<UdpSocket> = (0..count)
        .map(|_| UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    sockets
        .iter()
        .map(|s| s.local_addr().map(|a| a.port()).map_err(|e| e.to_string()))
        .collect()
}

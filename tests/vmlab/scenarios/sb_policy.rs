//! The automatic split-brain policies DRBD 8.4 applies at reconnect, rendered from tandem's
//! config: one scenario per policy. The replication link is cut, each side becomes Primary
//! and writes (its own marker, plus `extra_mib` of bulk), steps down or stays Primary, and the
//! link heals. DRBD must then resolve it by itself, as the policy says: Connected and
//! UpToDate/UpToDate again, the winner's marker on both disks and the loser's gone. tandem's
//! events2 watch sees the `initial-split-brain` helper and never the unresolved `split-brain`.

use crate::files::config_text;
use crate::lab::{Lab, Link, Node, NODES, RESOURCE};
use crate::observe::{in_sync, Watch};
use std::time::{Duration, Instant};
use tandem::cli::drbd_watch::WatchRecord;
use tandem::drbd::{Change, ConnectionState};

const TIMEOUT: Duration = Duration::from_secs(60);
/// 512-byte sectors of each side's marker; bulk writes go past 16 MiB.
const A_SECTOR: u32 = 2048;
const B_SECTOR: u32 = 4096;
const BULK_SEEK_MIB: u32 = 16;

/// One policy and the split that shows it deciding.
pub struct Case {
    /// `after_sb_0pri` / `after_sb_1pri` values in tandem.toml.
    pub zero: &'static str,
    pub one: &'static str,
    /// What each side (A, B) writes while split: its marker plus this many MiB of bulk, or,
    /// with `None`, nothing at all (it is Primary for a moment without a change).
    pub writes: (Option<u32>, Option<u32>),
    /// vm-a is Primary already before the cut (the "primary before the split-brain").
    pub a_primary_before_cut: bool,
    /// vm-a is still Primary at the heal (an after-sb-1pri case); otherwise both stepped down.
    pub a_stays_primary: bool,
    /// Whose data survives.
    pub winner: Node,
}

pub fn run(lab: &mut Lab, case: &Case) {
    install_policy(lab, case);
    let watches: Vec<Watch> = NODES.iter().map(|n| lab.start_watch(*n, "watch")).collect();
    if case.a_primary_before_cut {
        lab.tandem_ok(Node::A, "drbd primary");
    }
    lab.cut(Link::Replication);
    for node in NODES {
        lab.wait_state(node, "Connecting", TIMEOUT, |r| {
            r.state.connection == ConnectionState::Connecting
        });
    }
    // vm-a becomes Primary first, vm-b after it.
    write_side(lab, Node::A, A_SECTOR, case, case.a_stays_primary);
    std::thread::sleep(Duration::from_secs(1));
    write_side(lab, Node::B, B_SECTOR, case, false);

    let healed = Instant::now();
    lab.heal(Link::Replication);
    lab.wait_in_sync(TIMEOUT);
    let took = healed.elapsed();
    let loser = case.winner.peer();
    let dmesg = lab.sh(loser, "dmesg");
    assert!(
        dmesg.contains("automatically solved. Sync from peer node"),
        "{} was not the automatic SyncTarget:\n{dmesg}",
        loser.name()
    );
    for watch in &watches {
        lab.wait_watch(watch, "initial-split-brain", TIMEOUT, |r| {
            helper_seen(r, "initial-split-brain")
        });
        assert!(
            !helper_seen(&watch.records(), "split-brain"),
            "[{}] an unresolved split-brain was reported",
            watch.node.name()
        );
        lab.stop(watch.node, &watch.name);
    }

    let reader = Node::A;
    if !case.a_stays_primary {
        lab.tandem_ok(reader, "drbd primary");
    }
    for (node, sector) in [(Node::A, A_SECTOR), (Node::B, B_SECTOR)] {
        let wrote = if node == Node::A {
            case.writes.0
        } else {
            case.writes.1
        };
        if wrote.is_none() {
            continue;
        }
        let found = read_marker(lab, reader, sector);
        if node == case.winner {
            assert_eq!(found, marker(node, case), "the winner's write is gone");
        } else {
            assert_ne!(found, marker(node, case), "the loser's write survived");
        }
    }
    lab.tandem_ok(reader, "drbd secondary");
    for node in NODES {
        assert!(in_sync(&lab.state(node)));
    }
    // Back to the lab's policies (disconnect everywhere) for the scenarios after this one.
    let config = crate::files::config_path(&lab.run_dir, 'C');
    apply_config(lab, &config);
    println!(
        "    after-sb-0pri {} / after-sb-1pri {}: resolved by DRBD {:.1} s after the heal; \
         {} kept, {} resynced from it",
        case.zero,
        case.one,
        took.as_secs_f64(),
        case.winner.name(),
        loser.name()
    );
}

/// The protocol-C lab config with the case's policies, rendered and applied on both nodes
/// (`drbdadm adjust` changes the net options of the live connection).
fn install_policy(lab: &mut Lab, case: &Case) {
    let text = config_text('C').replacen(
        "protocol = \"C\"\n",
        &format!(
            "protocol = \"C\"\nafter_sb_0pri = \"{}\"\nafter_sb_1pri = \"{}\"\n",
            case.zero, case.one
        ),
        1,
    );
    let path = lab
        .run_dir
        .join("config")
        .join(format!("tandem-sb-{}-{}.toml", case.zero, case.one));
    std::fs::write(&path, text).unwrap();
    apply_config(lab, &path);
    lab.wait_in_sync(TIMEOUT);
    let shown = lab.sh(Node::A, &format!("drbdsetup show {RESOURCE}"));
    for policy in [case.zero, case.one] {
        // drbdadm turns discard-node-NAME into discard-local / discard-remote per node.
        let policy = match policy.strip_prefix("discard-node-") {
            Some(name) if name == Node::A.name() => "discard-local",
            Some(_) => "discard-remote",
            None => policy,
        };
        if policy != "disconnect" {
            assert!(
                shown.contains(policy),
                "{policy} is not in effect:\n{shown}"
            );
        }
    }
}

/// Installs `config` as tandem.toml on both nodes, renders the DRBD file from it and lets
/// `drbdadm adjust` apply it to the live resource.
fn apply_config(lab: &mut Lab, config: &std::path::Path) {
    for node in NODES {
        lab.sh(
            node,
            &format!(
                "cp {} /etc/tandem/tandem.toml && tandem drbd render > /etc/drbd.d/{RESOURCE}.res \
                 && drbdadm adjust {RESOURCE}",
                config.display()
            ),
        );
    }
}

/// Promote, write the node's marker and `extra_mib` of bulk (or nothing), and step down
/// unless told not to.
fn write_side(lab: &mut Lab, node: Node, sector: u32, case: &Case, stay_primary: bool) {
    let writes = if node == Node::A {
        case.writes.0
    } else {
        case.writes.1
    };
    let primary = lab.state(node).state.role == tandem::drbd::Role::Primary;
    if !primary {
        lab.tandem_ok(node, "drbd primary");
    }
    let Some(extra_mib) = writes else {
        if !stay_primary {
            lab.tandem_ok(node, "drbd secondary");
        }
        return;
    };
    let marker = marker(node, case);
    lab.sh(
        node,
        &format!(
            "printf {marker} | dd of=/dev/drbd0 bs=512 seek={sector} conv=sync oflag=direct 2>/dev/null"
        ),
    );
    if extra_mib > 0 {
        lab.sh(
            node,
            &format!(
                "dd if=/dev/urandom of=/dev/drbd0 bs=1M seek={BULK_SEEK_MIB} count={extra_mib} \
                 oflag=direct 2>/dev/null"
            ),
        );
    }
    if !stay_primary {
        lab.tandem_ok(node, "drbd secondary");
    }
}

/// Unique per case: the disks keep what earlier scenarios wrote at the same sectors.
fn marker(node: Node, case: &Case) -> String {
    format!("{}-{}-{}", node.name(), case.zero, case.one)
}

fn read_marker(lab: &mut Lab, node: Node, sector: u32) -> String {
    lab.sh(
        node,
        &format!("dd if=/dev/drbd0 bs=512 skip={sector} count=1 iflag=direct 2>/dev/null | tr -d '\\000'"),
    )
    .trim()
    .to_string()
}

fn helper_seen(records: &[WatchRecord], helper: &str) -> bool {
    records.iter().any(|r| {
        matches!(r, WatchRecord::Change { change: Change::HelperCalled { name }, .. } if name == helper)
    })
}

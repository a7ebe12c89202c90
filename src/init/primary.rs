//! The steps of the initial primary only (`--initial-primary`): the initial sync or its skip,
//! the filesystem, the datadir, and back to Secondary so that tandemd decides who serves.

use super::plan::{self, Action, Verdict};
use super::steps::verdict_outcome;
use super::{ending_of, Ending, Init, Outcome};
use crate::drbd::{ConnectionState, Role};
use crate::exec::mount::{self, MountOutcome, MountSpec};
use crate::exec::{blkid, copy_tree, mariadb_install_db, mkfs};
use std::path::Path;
use std::time::{Duration, Instant};

/// Skipping the initial sync needs the peer connected; its own `tandem init` may still be
/// bringing its side up, so wait this long for it.
const PEER_CONNECT_WAIT_MS: u64 = 120_000;
const POLL_MS: u64 = 500;
/// Unmounting after the datadir step: nothing but init uses the filesystem yet.
const UMOUNT_GRACE_MS: u64 = 10_000;
/// The names a MySQL/MariaDB server process runs under.
const SERVER_NAMES: [&str; 2] = ["mariadbd", "mysqld"];

impl Init<'_> {
    pub(super) async fn primary_steps(&mut self) -> Option<Ending> {
        const STEPS: [(&str, &str); 4] = [
            (
                "initial sync",
                "both disks must hold the same data before either may serve",
            ),
            (
                "filesystem",
                "holds the MariaDB datadir; it moves with DRBD's Primary role",
            ),
            (
                "MariaDB datadir",
                "the data tandemd's mysqld serves, on the DRBD filesystem",
            ),
            (
                "DRBD Secondary",
                "tandemd, once started, decides which node serves",
            ),
        ];
        if !self.options.initial_primary {
            for (what, why) in STEPS {
                let skipped = Outcome::Skipped(format!(
                    "only with --initial-primary, on ONE node once {} and {} are up (the \
                     other node receives its data through DRBD)",
                    self.me, self.peer
                ));
                self.report(what, why, &skipped);
            }
            return None;
        }
        let was_primary = matches!(self.drbdadm.role().await, Ok((Role::Primary, _)));
        let mut mounted_here = false;
        let mut outcome = self.initial_sync().await;
        let mut stopped = self.report(STEPS[0].0, STEPS[0].1, &outcome);
        if !stopped {
            outcome = self.filesystem().await;
            stopped = self.report(STEPS[1].0, STEPS[1].1, &outcome);
        }
        if !stopped {
            outcome = self.datadir(&mut mounted_here).await;
            stopped = self.report(STEPS[2].0, STEPS[2].1, &outcome);
        }
        let secondary = self.back_to_secondary(was_primary, mounted_here).await;
        let secondary_stops = self.report(STEPS[3].0, STEPS[3].1, &secondary);
        match (stopped, secondary_stops) {
            (true, _) => Some(ending_of(&outcome)),
            (false, true) => Some(ending_of(&secondary)),
            (false, false) => None,
        }
    }

    async fn drbd_facts(&self) -> Result<plan::DrbdFacts, String> {
        let (role, _) = self.drbdadm.role().await.map_err(|e| e.to_string())?;
        let (disk, peer_disk) = self.drbdadm.dstate().await.map_err(|e| e.to_string())?;
        let (connection, _) = self.drbdadm.cstate().await.map_err(|e| e.to_string())?;
        Ok(plan::DrbdFacts {
            role,
            disk,
            peer_disk,
            connection,
        })
    }

    async fn initial_sync(&mut self) -> Outcome {
        let mut facts = match self.drbd_facts().await {
            Ok(facts) => facts,
            Err(e) => return Outcome::Failed(e),
        };
        let started = Instant::now();
        let skip = self.options.skip_initial_sync;
        while skip
            && facts.connection != ConnectionState::Connected
            && started.elapsed() < Duration::from_millis(PEER_CONNECT_WAIT_MS)
        {
            tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
            facts = match self.drbd_facts().await {
                Ok(facts) => facts,
                Err(e) => return Outcome::Failed(e),
            };
        }
        match plan::initial_sync(&facts, skip) {
            Verdict::Do(Action::ClearBitmap) => {
                match self.drbdadm.clear_bitmap_new_current_uuid().await {
                    Ok(()) => Outcome::Done(
                        "skipped on two blank disks: `drbdadm -- --clear-bitmap \
                         new-current-uuid` declared both UpToDate"
                            .into(),
                    ),
                    Err(e) => Outcome::Failed(e.to_string()),
                }
            }
            Verdict::Do(_) => match self.drbdadm.primary(true).await {
                Ok(()) => Outcome::Done(format!(
                    "`drbdadm primary --force`: this disk is the source; the full sync to {} \
                     runs in the background (`tandem drbd state` shows its progress)",
                    self.peer
                )),
                Err(e) => Outcome::Failed(e.to_string()),
            },
            other => verdict_outcome(other),
        }
    }

    async fn filesystem(&mut self) -> Outcome {
        if let Err(e) = self.ensure_primary().await {
            return Outcome::Failed(e);
        }
        let device = self.config.filesystem_device();
        let fstype = self.config.filesystem.fstype.clone();
        let found = match blkid::filesystem_type(&device).await {
            Ok(found) => found,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        match plan::filesystem(found.as_deref(), &fstype) {
            Verdict::Do(_) => match mkfs::make(&fstype, &device).await {
                Ok(()) => Outcome::Done(format!("`mkfs -t {fstype} {}`", device.display())),
                Err(e) => Outcome::Failed(e.to_string()),
            },
            other => verdict_outcome(other),
        }
    }

    async fn ensure_primary(&self) -> Result<(), String> {
        match self.drbdadm.role().await {
            Ok((Role::Primary, _)) => Ok(()),
            _ => self.drbdadm.primary(false).await.map_err(|e| e.to_string()),
        }
    }

    async fn datadir(&mut self, mounted_here: &mut bool) -> Outcome {
        let spec = MountSpec {
            fsck: false,
            ..MountSpec::from_config(self.config)
        };
        if let Err(e) = std::fs::create_dir_all(&spec.mountpoint) {
            return Outcome::Failed(format!("cannot create {}: {e}", spec.mountpoint.display()));
        }
        match mount::mount(&spec).await {
            Ok(MountOutcome::Mounted) => *mounted_here = true,
            Ok(MountOutcome::AlreadyMounted) => {}
            Err(e) => return Outcome::Failed(e.to_string()),
        }
        let mysqld = &self.config.mysqld;
        let datadir = mysqld.datadir.get_ref().clone();
        let facts = datadir_facts(&datadir, self.options.move_datadir.as_deref());
        let what = datadir.display();
        match plan::datadir(&facts) {
            Verdict::Do(Action::MoveDatadir(from)) => move_datadir(&from, &datadir).await,
            Verdict::Do(_) => match mariadb_install_db::install(mysqld).await {
                Ok(()) => Outcome::Done(format!(
                    "`mariadb-install-db {}`: a new datadir at {what}",
                    mariadb_install_db::args(mysqld).join(" ")
                )),
                Err(e) => Outcome::Failed(e.to_string()),
            },
            other => verdict_outcome(other),
        }
    }

    async fn back_to_secondary(&mut self, was_primary: bool, mounted_here: bool) -> Outcome {
        let mountpoint = self.config.filesystem.mountpoint.get_ref().clone();
        if mounted_here {
            let grace = Duration::from_millis(UMOUNT_GRACE_MS);
            if let Err(e) = mount::umount(&mountpoint, grace).await {
                return Outcome::Failed(e.to_string());
            }
        }
        match self.drbdadm.role().await {
            Ok((Role::Primary, _)) if was_primary => Outcome::Skipped(
                "it was Primary before this run (tandemd's, or an earlier init's); if tandemd \
                 does not run here, `tandem drbd secondary`"
                    .into(),
            ),
            Ok((Role::Primary, _)) => match self.drbdadm.secondary().await {
                Ok(()) => Outcome::Done(
                    "unmounted, `drbdadm secondary` (it was Secondary before this run)".into(),
                ),
                Err(e) => Outcome::Failed(e.to_string()),
            },
            Ok(_) => Outcome::AlreadyDone("this node is Secondary".into()),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}

fn datadir_facts(datadir: &Path, move_from: Option<&Path>) -> plan::DatadirFacts {
    let other_entries = std::fs::read_dir(datadir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name() != "lost+found" && e.file_name() != "mysql")
                .count()
        })
        .unwrap_or(0);
    plan::DatadirFacts {
        initialized: datadir.join("mysql").is_dir(),
        other_entries,
        move_from: move_from.map(Path::to_path_buf),
        source_initialized: move_from.is_some_and(|from| from.join("mysql").is_dir()),
        server_running: server_running(),
    }
}

/// Whether a live mysqld/mariadbd process runs on this host (from /proc/PID/comm and stat).
fn server_running() -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        is_live_server(&comm, &stat)
    })
}

/// A server process that is not a zombie: a killed mysqld whose parent never reaped it (an
/// init that does not reap orphans) holds no files and must not block the datadir's move.
fn is_live_server(comm: &str, stat: &str) -> bool {
    // The state follows the last ')' of /proc/PID/stat (the name may contain one).
    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
    SERVER_NAMES.contains(&comm.trim()) && state.is_some_and(|s| !s.starts_with(['Z', 'X']))
}

async fn move_datadir(from: &Path, to: &Path) -> Outcome {
    let owner = match std::fs::metadata(from) {
        Ok(meta) => meta,
        Err(e) => return Outcome::Failed(format!("cannot read {}: {e}", from.display())),
    };
    let made = std::fs::create_dir_all(to).and_then(|()| {
        use std::os::unix::fs::MetadataExt;
        std::os::unix::fs::chown(to, Some(owner.uid()), Some(owner.gid()))
    });
    if let Err(e) = made {
        return Outcome::Failed(format!("cannot create {}: {e}", to.display()));
    }
    match copy_tree::copy_and_verify(from, to).await {
        Ok(count) => Outcome::Done(format!(
            "`cp -a {}/. {}`, then verified: {count} entries with the same type, size, owner \
             and mode; {} is left as it was (remove it once the cluster runs)",
            from.display(),
            to.display(),
            from.display()
        )),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::is_live_server;

    #[test]
    fn a_zombie_server_does_not_count_as_running() {
        let live = "1234 (mariadbd) S 1 1234 1234 0 -1 4194560";
        let zombie = "1234 (mariadbd) Z 1 1234 1234 0 -1 4194564";
        assert!(is_live_server("mariadbd\n", live));
        assert!(is_live_server(
            "mysqld\n",
            &live.replace("mariadbd", "mysqld")
        ));
        assert!(!is_live_server("mariadbd\n", zombie));
        assert!(
            !is_live_server("mariadbd\n", ""),
            "gone between the two reads"
        );
        assert!(!is_live_server(
            "bash\n",
            live.replace("mariadbd", "bash").as_str()
        ));
    }
}

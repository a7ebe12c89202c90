//! The steps every node runs: the peer key, the DRBD resource file, the distribution's MariaDB
//! service, the DRBD metadata and bringing the resource up.

use super::plan::{self, Action, Verdict};
use super::{ending_of, Ending, Init, Outcome, DISTRIBUTION_UNIT, DRBD_CONFIG_DIR};
use crate::exec::{host, systemctl, wipefs};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The key `init` generates: 32 random bytes, HMAC-SHA256's block strength.
const GENERATED_KEY_BYTES: usize = 32;

impl Init<'_> {
    /// Runs the steps; `Some(ending)` when one of them stops the run.
    pub(super) async fn node_steps(&mut self) -> Option<Ending> {
        let outcome = self.peer_key();
        let key = self.config.peer_key_file.display().to_string();
        if self.report(
            &format!("peer key {key}"),
            "authenticates the peer link; both nodes must hold the same bytes",
            &outcome,
        ) {
            return Some(ending_of(&outcome));
        }
        let (outcome, path) = self.resource_file();
        if self.report(
            &format!("DRBD resource file {}", path.display()),
            "drbdadm reads the resource from it; it must equal `tandem drbd render`",
            &outcome,
        ) {
            return Some(ending_of(&outcome));
        }
        let outcome = self.distribution_service().await;
        if self.report(
            &format!("the distribution's {DISTRIBUTION_UNIT} service"),
            "only tandemd may start mysqld, and only on the active node",
            &outcome,
        ) {
            return Some(ending_of(&outcome));
        }
        let outcome = self.metadata().await;
        if self.report(
            &format!("DRBD metadata on {}", self.backing_disk().display()),
            "DRBD keeps its generation identifiers and its bitmap of changes there",
            &outcome,
        ) {
            return Some(ending_of(&outcome));
        }
        let outcome = self.bring_up().await;
        let what = format!("DRBD resource {} up", self.drbdadm.resource);
        if self.report(
            &what,
            "attaches the disk and connects to the peer",
            &outcome,
        ) {
            return Some(ending_of(&outcome));
        }
        None
    }

    pub(super) fn backing_disk(&self) -> PathBuf {
        self.config
            .node_named(&self.me)
            .and_then(|node| node.backing_disk.as_ref())
            .map(|disk| disk.get_ref().clone())
            .unwrap_or_default()
    }

    fn peer_key(&mut self) -> Outcome {
        let path = self.config.peer_key_file.clone();
        let existing = host::file_mode_and_size(&path).ok();
        let key_from = self.options.key_from.clone();
        let from_bytes = match &key_from {
            Some(from) => match std::fs::read(from) {
                Ok(bytes) => Some(bytes),
                Err(e) => return Outcome::Failed(format!("cannot read {}: {e}", from.display())),
            },
            None => None,
        };
        let same_as_key_from = existing.is_some() && from_bytes == std::fs::read(&path).ok();
        let facts = plan::KeyFacts {
            existing,
            key_from,
            same_as_key_from,
        };
        let result = match plan::peer_key(&facts) {
            Verdict::Do(Action::GenerateKey) => generate_key(&path).map(|()| {
                format!(
                    "generated {GENERATED_KEY_BYTES} random bytes, mode 0600; {peer} needs the \
                     same: `scp -p {key} root@{peer}:/tmp/peer.key`, then `tandem init \
                     --key-from /tmp/peer.key` there",
                    peer = self.peer,
                    key = path.display()
                )
            }),
            Verdict::Do(Action::CopyKey(from)) => {
                write_private(&path, from_bytes.as_deref().unwrap_or_default())
                    .map(|()| format!("copied from {}, mode 0600", from.display()))
            }
            Verdict::Do(_) => std::fs::set_permissions(&path, PermissionsExt::from_mode(0o600))
                .map(|()| "mode set to 0600 (it was readable by others)".to_string()),
            other => return verdict_outcome(other),
        };
        match result {
            Ok(done) => Outcome::Done(done),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    fn resource_file(&mut self) -> (Outcome, PathBuf) {
        let path = Path::new(DRBD_CONFIG_DIR).join(format!("{}.res", self.drbdadm.resource));
        let source = self.config_path.display().to_string();
        let Some(rendered) = crate::config::render::drbd_resource(self.config, &source) else {
            return (Outcome::Failed("no DRBD resource to render".into()), path);
        };
        let installed = std::fs::read_to_string(&path).ok();
        let outcome = match plan::resource_file(&rendered, installed.as_deref()) {
            Verdict::Do(_) => {
                let word = if installed.is_some() {
                    "replaced a different file"
                } else {
                    "written"
                };
                match std::fs::write(&path, &rendered) {
                    Ok(()) => {
                        self.file_changed = true;
                        Outcome::Done(format!("{word}: the output of `tandem drbd render`"))
                    }
                    Err(e) => Outcome::Failed(format!("cannot write {}: {e}", path.display())),
                }
            }
            other => verdict_outcome(other),
        };
        (outcome, path)
    }

    async fn distribution_service(&mut self) -> Outcome {
        let systemd = systemctl::systemd_running();
        let state = match systemd {
            true => match systemctl::unit_state(DISTRIBUTION_UNIT).await {
                Ok(state) => state,
                Err(e) => return Outcome::Failed(e.to_string()),
            },
            false => systemctl::parse_state("", ""),
        };
        let facts = plan::ServiceFacts {
            unit: DISTRIBUTION_UNIT.to_string(),
            systemd,
            enabled: state.enabled,
            active: state.active,
            missing: state.missing,
        };
        match plan::distribution_service(&facts) {
            Verdict::Do(_) => match systemctl::disable_now(DISTRIBUTION_UNIT).await {
                Ok(()) => Outcome::Done(format!(
                    "`systemctl disable --now {DISTRIBUTION_UNIT}`: stopped, not started at boot"
                )),
                Err(e) => Outcome::Failed(e.to_string()),
            },
            other => verdict_outcome(other),
        }
    }

    pub(super) async fn is_up(&self) -> bool {
        self.drbdadm.role().await.is_ok()
    }

    async fn metadata(&mut self) -> Outcome {
        let disk = self.backing_disk();
        let up = self.is_up().await;
        let metadata = match up {
            true => true,
            false => match self.drbdadm.has_metadata().await {
                Ok(found) => found,
                Err(e) => return Outcome::Failed(e.to_string()),
            },
        };
        let signatures = match (up || metadata, wipefs::signatures(&disk).await) {
            (true, _) => Vec::new(),
            (false, Ok(found)) => found
                .into_iter()
                .filter(|s| !s.is_drbd_metadata())
                .collect(),
            (false, Err(e)) => return Outcome::Failed(e.to_string()),
        };
        let facts = plan::DiskFacts {
            disk: disk.clone(),
            up,
            metadata,
            signatures: signatures.clone(),
        };
        let erased = match plan::metadata(&facts, self.options.force_data.as_deref()) {
            Verdict::Do(Action::EraseThenCreateMetadata) => {
                if let Err(e) = wipefs::erase_all(&disk).await {
                    return Outcome::Failed(e.to_string());
                }
                let list: Vec<String> = signatures.iter().map(|s| s.to_string()).collect();
                format!("erased {} (--force-data), then ", list.join(", "))
            }
            Verdict::Do(_) => String::new(),
            other => return verdict_outcome(other),
        };
        match self.drbdadm.create_md().await {
            Ok(()) => Outcome::Done(format!("{erased}`drbdadm create-md`: new metadata")),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    async fn bring_up(&mut self) -> Outcome {
        let up = self.is_up().await;
        match plan::up(up, self.file_changed) {
            Verdict::Do(Action::Up) => match self.drbdadm.up().await {
                Ok(()) => Outcome::Done("`drbdadm up`: attached, connecting to the peer".into()),
                Err(e) => Outcome::Failed(e.to_string()),
            },
            Verdict::Do(_) => match self.drbdadm.adjust().await {
                Ok(()) => Outcome::Done("`drbdadm adjust`: the changed file is in effect".into()),
                Err(e) => Outcome::Failed(e.to_string()),
            },
            other => verdict_outcome(other),
        }
    }
}

/// A verdict that needs no action, as an outcome.
pub(super) fn verdict_outcome(verdict: Verdict) -> Outcome {
    match verdict {
        Verdict::AlreadyDone(why) => Outcome::AlreadyDone(why),
        Verdict::Skip(why) => Outcome::Skipped(why),
        Verdict::Refuse(why) => Outcome::Refused(why),
        Verdict::Do(action) => Outcome::Failed(format!("bug: {action:?} not carried out")),
    }
}

fn generate_key(path: &Path) -> std::io::Result<()> {
    let mut key = [0u8; GENERATED_KEY_BYTES];
    getrandom::fill(&mut key).map_err(std::io::Error::other)?;
    write_private(path, &key)
}

/// Writes a new file of mode 0600 (never readable by others, not even briefly).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

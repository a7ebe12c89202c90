//! The receiving replica host's datadir: is a server running on it, how many entries it
//! has, moving it aside (never deleting), handing it to the server's user, and setting
//! `gtid_slave_pos` in it through a short-lived server that listens on no network.

use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::time::{sleep, timeout, Instant};

/// The short-lived server starts on a prepared datadir (crash recovery is done by
/// `--prepare`); this bounds it, and its shutdown.
pub const SEED_SERVER_TIMEOUT_MS: u64 = 120_000;
/// `chown -R` of a large datadir.
pub const CHOWN_TIMEOUT_MS: u64 = 600_000;
const POLL_MS: u64 = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("{what} {path}: {error}")]
    Io {
        what: String,
        path: String,
        error: String,
    },
    #[error("{0}")]
    Tool(#[from] super::tool::ToolError),
    #[error(
        "the short-lived server on {datadir} could not set gtid_slave_pos: {error}; its log: {log}"
    )]
    SeedServer {
        datadir: String,
        error: String,
        log: String,
    },
}

fn io(what: &str, path: &Path, error: std::io::Error) -> TargetError {
    TargetError::Io {
        what: what.to_string(),
        path: path.display().to_string(),
        error: error.to_string(),
    }
}

/// True when some process holds a lock on `datadir/ibdata1`: InnoDB locks it (fcntl) for
/// as long as a server runs on the datadir.
pub fn server_running(datadir: &Path) -> Result<bool, TargetError> {
    let path = datadir.join("ibdata1");
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io("cannot open", &path, e)),
    };
    // SAFETY: flock is plain data; F_GETLK only fills it in.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: a valid descriptor and a valid flock for the call's duration.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut lock) };
    if rc != 0 {
        return Err(io(
            "cannot test the lock on",
            &path,
            std::io::Error::last_os_error(),
        ));
    }
    Ok(lock.l_type != libc::F_UNLCK as libc::c_short)
}

/// Entries in `datadir`; a missing directory is created (mode 0750) and has none.
pub fn entries(datadir: &Path) -> Result<usize, TargetError> {
    match std::fs::read_dir(datadir) {
        Ok(dir) => Ok(dir.count()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(datadir).map_err(|e| io("cannot create", datadir, e))?;
            let mode = std::fs::Permissions::from_mode(0o750);
            std::fs::set_permissions(datadir, mode).map_err(|e| io("cannot chmod", datadir, e))?;
            Ok(0)
        }
        Err(e) => Err(io("cannot read", datadir, e)),
    }
}

/// Renames `datadir` to `datadir.before-seed-UNIXTIME` and creates an empty one with the
/// same mode; returns where the old one went.
pub fn move_aside(datadir: &Path, unix_s: u64) -> Result<PathBuf, TargetError> {
    let mut aside = datadir.as_os_str().to_owned();
    aside.push(format!(".before-seed-{unix_s}"));
    let aside = PathBuf::from(aside);
    let mode = std::fs::metadata(datadir)
        .map_err(|e| io("cannot read", datadir, e))?
        .permissions();
    std::fs::rename(datadir, &aside).map_err(|e| io("cannot move aside", datadir, e))?;
    std::fs::create_dir(datadir).map_err(|e| io("cannot create", datadir, e))?;
    std::fs::set_permissions(datadir, mode).map_err(|e| io("cannot chmod", datadir, e))?;
    Ok(aside)
}

/// `chown -R user: datadir`.
pub async fn chown(datadir: &Path, user: &str) -> Result<(), TargetError> {
    let owner = format!("{user}:");
    let path = datadir.display().to_string();
    let bound = Duration::from_millis(CHOWN_TIMEOUT_MS);
    super::tool::run_ok("chown", &["-R", &owner, &path], bound).await?;
    Ok(())
}

/// Starts `mariadbd` on `datadir` with no network, no grant checks and no replication, sets
/// `gtid_slave_pos`, shuts it down. The replica's own server, started next by the operator,
/// continues from there.
pub async fn set_gtid_slave_pos(
    binary: &str,
    datadir: &Path,
    user: &str,
    gtid: &str,
) -> Result<(), TargetError> {
    let socket = datadir.join("tandem-seed.sock");
    let log = datadir.join("tandem-seed.err");
    let fail = |error: String| TargetError::SeedServer {
        datadir: datadir.display().to_string(),
        error,
        log: std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .join(" | "),
    };
    let mut child = tokio::process::Command::new(binary)
        .arg("--no-defaults")
        .arg(format!("--user={user}"))
        .arg(format!("--datadir={}", datadir.display()))
        .arg(format!("--socket={}", socket.display()))
        .arg(format!(
            "--pid-file={}",
            datadir.join("tandem-seed.pid").display()
        ))
        .arg(format!("--log-error={}", log.display()))
        .args([
            "--skip-networking",
            "--skip-grant-tables",
            "--skip-slave-start",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| fail(format!("cannot run {binary}: {e}")))?;
    let result = seed_sql(&socket, gtid, &mut child).await;
    let bound = Duration::from_millis(SEED_SERVER_TIMEOUT_MS);
    let exited = timeout(bound, child.wait()).await;
    if !matches!(exited, Ok(Ok(_))) {
        let _ = child.kill().await;
    }
    result.map_err(&fail)?;
    let _ = std::fs::remove_file(&log);
    Ok(())
}

async fn seed_sql(
    socket: &Path,
    gtid: &str,
    child: &mut tokio::process::Child,
) -> Result<(), String> {
    use mysql_async::prelude::Queryable;
    let deadline = Instant::now() + Duration::from_millis(SEED_SERVER_TIMEOUT_MS);
    let opts = mysql_async::OptsBuilder::default()
        .socket(Some(socket.to_string_lossy().to_string()))
        .user(Some("root"));
    let mut conn = loop {
        match mysql_async::Conn::new(opts.clone()).await {
            Ok(conn) => break conn,
            Err(e) if Instant::now() > deadline => {
                return Err(format!(
                    "it did not answer within {SEED_SERVER_TIMEOUT_MS} ms: {e}"
                ))
            }
            Err(e) => {
                if let Ok(Some(exit)) = child.try_wait() {
                    return Err(format!("it exited ({exit}) before it answered: {e}"));
                }
                sleep(Duration::from_millis(POLL_MS)).await
            }
        }
    };
    let quoted = gtid.replace('\'', "");
    let statements = [
        format!("SET GLOBAL gtid_slave_pos = '{quoted}'"),
        "SHUTDOWN".into(),
    ];
    for sql in statements {
        let run = tokio::time::timeout_at(deadline, conn.query_drop(&sql)).await;
        match run {
            Ok(Ok(())) => {}
            // SHUTDOWN may close the connection before it answers.
            Ok(Err(_)) if sql == "SHUTDOWN" => {}
            Ok(Err(e)) => return Err(format!("`{sql}`: {e}")),
            Err(_) => return Err(format!("`{sql}` did not finish in time")),
        }
    }
    Ok(())
}

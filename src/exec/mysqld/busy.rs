//! Refusals checked before a server is spawned. A second server on the same datadir only gives
//! up after ~30 s of InnoDB lock retries, and in the meantime it may touch files the running
//! server owns; tandem refuses at once instead, by asking the kernel who holds the lock.

use super::MysqldError;
use crate::config::MysqldSettings;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// The InnoDB system tablespace. A running server holds an fcntl (POSIX) write lock on it for
/// its whole life, and the kernel drops that lock when the process dies, so the lock is a
/// truthful "a server is using this datadir" even after kill -9.
pub const INNODB_LOCK_FILE: &str = "ibdata1";
/// The system schema directory every initialised datadir has. Its absence usually means the
/// filesystem is not mounted and the datadir path is an empty directory on the root disk.
pub const SYSTEM_SCHEMA_DIR: &str = "mysql";

/// Who holds the InnoDB lock of a datadir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatadirLock {
    Free,
    /// `pid` is the holder as the kernel reports it; `None` when it cannot name one (an OFD
    /// lock, or a holder in another PID namespace).
    Held {
        pid: Option<i32>,
    },
}

/// Asks the kernel (fcntl `F_GETLK`) whether a process holds a lock on `<datadir>/ibdata1`
/// that would conflict with a write lock. A missing file means no server has run there yet.
/// Also usable at daemon start, to find a running server to adopt.
///
/// `F_GETLK` never reports this process's own locks, and tandem takes none on datadir files.
pub fn datadir_lock(datadir: &Path) -> Result<DatadirLock, MysqldError> {
    let path = datadir.join(INNODB_LOCK_FILE);
    let probe_error = |error: String| MysqldError::LockProbe {
        path: path.clone(),
        error,
    };
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DatadirLock::Free),
        Err(e) => return Err(probe_error(e.to_string())),
    };
    let mut query = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0, // to the end of the file: the whole file
        l_pid: 0,
    };
    nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_GETLK(&mut query))
        .map_err(|e| probe_error(e.to_string()))?;
    // Closing `file` is harmless: it would drop only this process's locks, and it has none.
    if query.l_type == libc::F_UNLCK as libc::c_short {
        return Ok(DatadirLock::Free);
    }
    let pid = (query.l_pid > 0).then_some(query.l_pid);
    Ok(DatadirLock::Held { pid })
}

/// Whether a server accepts connections on `socket`. A refused connection is a stale socket
/// file, which the server replaces; an accepted one means a live server, whose socket a new
/// server would steal (the old one keeps running, unreachable by its socket path).
pub fn socket_answers(socket: &Path) -> bool {
    UnixStream::connect(socket).is_ok()
}

/// Every refusal, in the order an operator would fix them.
pub fn refuse_if_busy(cfg: &MysqldSettings) -> Result<(), MysqldError> {
    let datadir: &PathBuf = &cfg.datadir;
    if !datadir.join(SYSTEM_SCHEMA_DIR).is_dir() {
        return Err(MysqldError::DatadirNotInitialised {
            datadir: datadir.clone(),
        });
    }
    if let DatadirLock::Held { pid } = datadir_lock(datadir)? {
        return Err(MysqldError::DatadirInUse {
            datadir: datadir.clone(),
            pid,
        });
    }
    if socket_answers(&cfg.socket) {
        return Err(MysqldError::SocketInUse {
            socket: cfg.socket.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fcntl_lock_holder_is_reported_by_pid() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(datadir_lock(dir.path()).unwrap(), DatadirLock::Free);
        let path = dir.path().join(INNODB_LOCK_FILE);
        std::fs::write(&path, b"x").unwrap();
        assert_eq!(datadir_lock(dir.path()).unwrap(), DatadirLock::Free);
        // Another process takes the lock as mariadbd does: flock(1) -x uses flock(2), not
        // fcntl, so use a tiny helper that holds an fcntl lock.
        let mut holder = std::process::Command::new("python3")
            .args([
                "-c",
                "import fcntl,sys,time; f=open(sys.argv[1],'r+'); \
                 fcntl.lockf(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)",
            ])
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .spawn();
        let Ok(child) = holder.as_mut() else {
            eprintln!("python3 not available; skipping the lock holder part");
            return;
        };
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        if line.trim() != "locked" {
            eprintln!("the python3 lock helper did not start; skipping the lock holder part");
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        let pid = child.id() as i32;
        assert_eq!(
            datadir_lock(dir.path()).unwrap(),
            DatadirLock::Held { pid: Some(pid) }
        );
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(datadir_lock(dir.path()).unwrap(), DatadirLock::Free);
    }
}

//! One qemu guest: booted by virtme-ng in its own process group, reached only through the
//! guest agent (`guest-agent.sh`) over a 9p-shared directory, powered off hard by killing that
//! process group. `Drop` kills the group, so a panicking test leaves no guest behind; it never
//! signals any process outside the group it started.

use crate::env::LabEnv;
use crate::qmp;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One vCPU and 768 MiB: two guests fill the two host cores; DRBD and MariaDB fit the memory.
const GUEST_CPUS: &str = "1";
const GUEST_MEMORY: &str = "768M";
/// TCG boots a guest to its agent in ~8–11 s; more than this means it is stuck.
const BOOT_TIMEOUT_MS: u64 = 120_000;
/// After the agent's own `timeout` (plus its 2 s kill grace), the host gives up this much later.
const EXEC_GRACE_MS: u64 = 10_000;
/// How often the host looks for a reply; a request round trip takes ~0.1 s under TCG.
const POLL_MS: u64 = 20;
/// A clean power-off (agent exits, virtme-ng powers down) takes ~1 s.
const POWEROFF_TIMEOUT_MS: u64 = 15_000;

/// The agent's script, from the source tree (the guests see the host's files).
pub const AGENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vmlab/guest-agent.sh");

/// Everything that stays the same across reboots of one guest.
#[derive(Debug, Clone)]
pub struct GuestSpec {
    /// Host name in the guest, and DRBD's `on NAME`.
    pub name: String,
    /// The directory shared with the guest (same path inside), holding the agent's queue.
    pub share: PathBuf,
    /// Where the guest's console (kernel log, virtme-ng) goes.
    pub console: PathBuf,
    /// qemu's monitor socket.
    pub qmp: PathBuf,
    /// Lab instance token: on the kernel command line, checked by the agent.
    pub token: String,
    /// `-netdev`/`-device` options of the private links, and the disk.
    pub qemu_options: String,
}

/// What a guest command printed and its exit code.
#[derive(Debug, Clone)]
pub struct GuestOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A running (or powered-off) guest.
pub struct Guest {
    pub spec: GuestSpec,
    env: LabEnv,
    child: Option<Child>,
    seq: u64,
    /// How many times it was booted.
    pub boots: u32,
    /// Every command and its output, for post-mortems and the demo.
    transcript: PathBuf,
}

impl Guest {
    /// Launches the guest (does not wait for it; see [`Guest::wait_ready`]).
    pub fn launch(env: &LabEnv, spec: GuestSpec) -> Guest {
        let transcript = spec.share.with_extension("transcript.txt");
        let mut guest = Guest {
            spec,
            env: env.clone(),
            child: None,
            seq: 0,
            boots: 0,
            transcript,
        };
        guest.power_on();
        guest
    }

    /// Boots the guest with its spec (same disk, same links).
    pub fn power_on(&mut self) {
        assert!(
            self.child.is_none(),
            "{} is already running",
            self.spec.name
        );
        let share = &self.spec.share;
        let _ = fs::remove_dir_all(share);
        fs::create_dir_all(share).unwrap();
        let console = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.spec.console)
            .unwrap();
        let _ = writeln!(
            &console,
            "===== tandem vmlab: boot #{} of {}",
            self.boots + 1,
            self.spec.name
        );
        let path = format!(
            "{}:{}:{}",
            self.env.tools.display(),
            self.env.venv_bin().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let agent = format!(
            "sh {AGENT} {} {} {} {}",
            share.display(),
            self.spec.name,
            self.spec.token,
            self.env.tools.display()
        );
        let mut command = Command::new(&self.env.vng);
        command
            .env("PATH", path)
            .args(["-v", "--disable-kvm", "-p", GUEST_CPUS, "-m", GUEST_MEMORY])
            .arg("--name")
            .arg(&self.spec.name)
            .arg("--run")
            .arg(&self.env.kernel)
            .arg("--qemu")
            .arg(&self.env.qemu)
            .arg("--busybox")
            .arg(&self.env.busybox)
            .arg(format!("--rwdir={}", share.display()))
            .arg("--append")
            .arg(format!("tandem_vmlab={}", self.spec.token))
            .arg(format!("--qemu-opts={}", self.spec.qemu_options))
            .arg("--exec")
            .arg(agent)
            .stdin(Stdio::null())
            .stdout(console.try_clone().unwrap())
            .stderr(console);
        // Its own process group (and session): vng, its shell, virtme-run and qemu, and
        // nothing else, are what power_off_hard and Drop kill.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.env.vng.display()));
        fs::write(share.with_extension("pgid"), child.id().to_string()).unwrap();
        self.child = Some(child);
        self.boots += 1;
    }

    /// Waits until the agent serves requests.
    pub fn wait_ready(&mut self) -> Result<Duration, String> {
        let started = Instant::now();
        let ready = self.spec.share.join("ready");
        let refused = self.spec.share.join("refused");
        while !ready.exists() {
            if let Ok(reason) = fs::read_to_string(&refused) {
                return Err(format!("the agent in {} refused: {reason}", self.spec.name));
            }
            if !self.is_running() {
                return Err(format!("{} exited while booting", self.spec.name));
            }
            if started.elapsed() > Duration::from_millis(BOOT_TIMEOUT_MS) {
                return Err(format!(
                    "{} did not boot within {BOOT_TIMEOUT_MS} ms",
                    self.spec.name
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(started.elapsed())
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(|child| child.try_wait()) {
            Some(Ok(None)) => true,
            Some(Ok(Some(_))) | Some(Err(_)) => {
                // Exited (the fence service killed it, or qemu died): reaped now.
                self.child = None;
                let _ = fs::remove_file(self.spec.share.with_extension("pgid"));
                false
            }
            None => false,
        }
    }

    /// Runs `script` with `sh` in the guest, through the agent.
    pub fn exec(&mut self, script: &str, timeout: Duration) -> Result<GuestOutput, String> {
        if !self.is_running() {
            return Err(format!("{} is not running", self.spec.name));
        }
        self.seq += 1;
        let seq = format!("{:06}", self.seq);
        let limit_s = timeout.as_secs().max(1);
        let share = self.spec.share.clone();
        let staged = share.join(format!(".{seq}.sh"));
        fs::write(&staged, script).map_err(|e| e.to_string())?;
        fs::rename(
            &staged,
            share.join("req").join(format!("{seq}-{limit_s}.sh")),
        )
        .map_err(|e| e.to_string())?;
        let sent = Instant::now();
        let rc = share.join("res").join(format!("{seq}.rc"));
        let deadline = Instant::now() + timeout + Duration::from_millis(EXEC_GRACE_MS);
        // The agent writes the exit code last, in one write: a number means it is done.
        let code = loop {
            let text = fs::read_to_string(&rc).unwrap_or_default();
            if let Ok(code) = text.trim().parse::<i32>() {
                break code;
            }
            if Instant::now() > deadline || !self.is_running() {
                let running = self.is_running();
                return Err(format!(
                    "{}: no reply to `{script}` (guest running: {running})",
                    self.spec.name
                ));
            }
            std::thread::sleep(Duration::from_millis(POLL_MS));
        };
        let _ = fs::remove_file(share.join("req").join(format!("{seq}-{limit_s}.sh")));
        let _ = fs::remove_file(&rc);
        let read = |ext: &str| {
            let path = share.join("res").join(format!("{seq}.{ext}"));
            let text = fs::read_to_string(&path).unwrap_or_default();
            let _ = fs::remove_file(&path);
            text
        };
        let output = GuestOutput {
            code,
            stdout: read("out"),
            stderr: read("err"),
        };
        self.log(script, &output, sent.elapsed());
        Ok(output)
    }

    /// Runs `script` and panics unless it exits 0; returns stdout.
    pub fn sh(&mut self, script: &str) -> String {
        let output = self
            .exec(script, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            output.code, 0,
            "[{}] `{script}` exited {}:\n{}{}",
            self.spec.name, output.code, output.stdout, output.stderr
        );
        output.stdout
    }

    fn log(&self, script: &str, output: &GuestOutput, took: Duration) {
        let mut entry = String::new();
        let _ = writeln!(
            entry,
            "[{} {:.2}s]# {}",
            self.spec.name,
            took.as_secs_f64(),
            script.trim_end()
        );
        entry.push_str(&output.stdout);
        entry.push_str(&output.stderr);
        let _ = writeln!(entry, "(exit {})", output.code);
        if let Ok(mut file) = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.transcript)
        {
            let _ = file.write_all(entry.as_bytes());
        }
    }

    /// Pulls (or plugs back) the virtual cable of netdev `link` (`lan` or `repl`).
    pub fn set_link(&self, link: &str, up: bool) {
        qmp::set_link(&self.spec.qmp, link, up)
            .unwrap_or_else(|e| panic!("{}: set_link {link} {up}: {e}", self.spec.name));
    }

    /// Pulls the plug: kills the guest's process group (qemu included) at once, as a power
    /// loss would. The disk keeps whatever qemu had written.
    pub fn power_off_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&child);
            let _ = child.wait();
        }
        // The fence service kills by this file's pid: none while the guest is off.
        let _ = fs::remove_file(self.spec.share.with_extension("pgid"));
    }

    /// Asks the agent to exit (the guest powers off); pulls the plug if it does not.
    pub fn shutdown(&mut self) {
        if !self.is_running() {
            self.child = None;
            return;
        }
        let _ = File::create(self.spec.share.join("poweroff"));
        let deadline = Instant::now() + Duration::from_millis(POWEROFF_TIMEOUT_MS);
        while self.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        self.power_off_hard();
    }

    /// Copies the console and, if the guest still answers, its dmesg into `dir`.
    pub fn collect_artifacts(&mut self, dir: &Path) {
        let _ = fs::create_dir_all(dir);
        let name = self.spec.name.clone();
        let _ = fs::copy(&self.spec.console, dir.join(format!("{name}.console.log")));
        let _ = fs::copy(&self.transcript, dir.join(format!("{name}.transcript.txt")));
        if self.is_running() {
            match self.exec("dmesg", Duration::from_secs(20)) {
                Ok(output) => {
                    let _ = fs::write(dir.join(format!("{name}.dmesg.txt")), output.stdout);
                }
                Err(e) => {
                    let _ = fs::write(dir.join(format!("{name}.dmesg.txt")), e);
                }
            }
        }
    }

    /// The last `lines` lines of the console, for a failure report.
    pub fn console_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(&self.spec.console).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        self.power_off_hard();
    }
}

/// SIGKILL to the process group the child leads (it called setsid), never to anyone else.
fn kill_group(child: &Child) {
    let Ok(pgid) = i32::try_from(child.id()) else {
        return;
    };
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals exactly that process group.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

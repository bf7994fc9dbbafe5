//! Processes that tests start: a [`Server`] guard that always stops its process (even when the
//! test panics), free loopback ports, waiting for a port to accept connections, and running a
//! short-lived command with a hang guard.

use std::collections::HashSet;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a stopped server gets to exit after SIGTERM before it is sent SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(5);

/// How much of a server's stdout is kept in memory.
const STDOUT_CAP: usize = 1 << 20;

/// The cargo target directory the running test executable was built into.
///
/// Test executables live in `<target>/<profile>/deps/`; `CARGO_TARGET_DIR` and the workspace
/// root (`CARGO_MANIFEST_DIR/..`) are the fallbacks.
pub fn target_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(profile_dir) = profile_dir() {
            if let Some(target) = profile_dir.parent() {
                return target.to_path_buf();
            }
        }
        if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
            return PathBuf::from(dir);
        }
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target")
    })
    .clone()
}

/// `<target>/<profile>` of the running test executable (`debug` or `release`), if it can be told.
pub fn profile_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    if deps.file_name()? != "deps" {
        return None;
    }
    Some(deps.parent()?.to_path_buf())
}

/// `<target>/test-artifacts/<sub>`, created: logs, captures and images kept for inspection.
pub fn artifacts_dir(sub: &str) -> PathBuf {
    let dir = target_dir().join("test-artifacts").join(sub);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create artifacts dir {}: {e}", dir.display()));
    dir
}

/// A name unique within this test run (process id + counter), for files of parallel tests.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A loopback TCP port that was free a moment ago and that no other test of this process has
/// been handed. (Another process can still take it in between; callers that start a server on
/// it should retry with a new port if the server fails to listen.)
pub fn free_port() -> u16 {
    static HANDED_OUT: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let handed = HANDED_OUT.get_or_init(|| Mutex::new(HashSet::new()));
    for _ in 0..100 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        // Keep clear of the X11 (6000+) and default VNC (5900+) ranges other tools might use.
        if (5900..6100).contains(&port) {
            continue;
        }
        if handed.lock().unwrap_or_else(|e| e.into_inner()).insert(port) {
            return port;
        }
    }
    panic!("could not find a free loopback port in 100 tries");
}

/// A running process owned by a test. Dropping it stops the process: SIGTERM, a grace period,
/// then SIGKILL, always followed by `wait` so nothing is left behind, panicking test or not.
///
/// stderr goes to a log file under `target/test-artifacts/logs/`; stdout is collected in memory
/// (see [`Server::stdout_line`]) and appended to the same log when the server stops.
pub struct Server {
    name: String,
    child: Option<Child>,
    log: PathBuf,
    stdout: Arc<Mutex<Vec<u8>>>,
    stdout_thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts `cmd` (its stdin is closed). Panics with a clear message if it cannot be started.
    pub fn spawn(name: &str, mut cmd: Command) -> Server {
        let log = artifacts_dir("logs").join(format!("{}.log", unique_name(name)));
        let log_file =
            std::fs::File::create(&log).unwrap_or_else(|e| panic!("cannot create log {}: {e}", log.display()));
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log_file);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name} ({:?}): {e}", cmd.get_program()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let mut pipe = child.stdout.take().expect("stdout is piped");
        let sink = Arc::clone(&stdout);
        let stdout_thread = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut out = sink.lock().unwrap_or_else(|e| e.into_inner());
                        // Keep at most STDOUT_CAP bytes; the rest is drained and dropped.
                        let room = STDOUT_CAP.saturating_sub(out.len()).min(n);
                        out.extend_from_slice(&buf[..room]);
                    }
                }
            }
        });
        Server { name: name.to_string(), child: Some(child), log, stdout, stdout_thread: Some(stdout_thread) }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last lines of the server's stderr log and its stdout so far, for failure messages.
    pub fn diagnostics(&self) -> String {
        let log = std::fs::read(&self.log).unwrap_or_default();
        let stdout = self.stdout.lock().unwrap_or_else(|e| e.into_inner()).clone();
        format!(
            "--- {} (pid {}) stderr, last lines of {} ---\n{}\n--- stdout ---\n{}",
            self.name,
            self.pid(),
            self.log.display(),
            tail(&String::from_utf8_lossy(&log), 25),
            tail(&String::from_utf8_lossy(&stdout), 10),
        )
    }

    /// `Some(status)` if the process has already exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Panics (with the server's log) if the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.exited() {
            panic!("{} exited unexpectedly ({status})\n{}", self.name, self.diagnostics());
        }
    }

    /// Waits for the first complete line on stdout (e.g. the display number an X server writes
    /// with `-displayfd 1`). `Err` with diagnostics if the process exits or `limit` passes first.
    pub fn stdout_line(&mut self, limit: Duration) -> Result<String, String> {
        let deadline = Instant::now() + limit;
        loop {
            {
                let out = self.stdout.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(end) = out.iter().position(|&b| b == b'\n') {
                    return Ok(String::from_utf8_lossy(&out[..end]).trim().to_string());
                }
            }
            if let Some(status) = self.exited() {
                return Err(format!("{} exited ({status}) before writing a line\n{}", self.name, self.diagnostics()));
            }
            if Instant::now() >= deadline {
                return Err(format!("{} wrote no line on stdout within {limit:?}\n{}", self.name, self.diagnostics()));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until 127.0.0.1:`port` accepts TCP connections. `Err` with diagnostics if the
    /// process exits or `limit` passes first.
    pub fn wait_for_port(&mut self, port: u16, limit: Duration) -> Result<(), String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        self.wait_until_accepting(&format!("port {port}"), limit, || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
        })
    }

    /// Waits until the Unix socket `path` accepts connections; `Err` as [`Server::wait_for_port`].
    pub fn wait_for_unix_socket(&mut self, path: &Path, limit: Duration) -> Result<(), String> {
        self.wait_until_accepting(&path.display().to_string(), limit, || {
            std::os::unix::net::UnixStream::connect(path).is_ok()
        })
    }

    fn wait_until_accepting(&mut self, place: &str, limit: Duration, accepts: impl Fn() -> bool) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                return Err(format!(
                    "{} exited ({status}) before listening on {place}\n{}",
                    self.name,
                    self.diagnostics()
                ));
            }
            if accepts() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not accept connections on {place} within {limit:?}\n{}",
                    self.name,
                    self.diagnostics()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the process now (same as dropping the guard).
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if child.try_wait().ok().flatten().is_none() {
            // The child has not been waited for, so its PID cannot have been reused.
            let pid = child.id() as libc::pid_t;
            // SAFETY: kill(2) with a PID we own and a valid signal number has no memory effects.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + TERM_GRACE;
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
            }
        }
        let _ = child.wait();
        if let Some(t) = self.stdout_thread.take() {
            let _ = t.join();
        }
        let stdout = self.stdout.lock().unwrap_or_else(|e| e.into_inner());
        if !stdout.is_empty() {
            if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&self.log) {
                use std::io::Write;
                let _ = writeln!(f, "\n--- stdout ---");
                let _ = f.write_all(&stdout);
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// What a finished short-lived command printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Finished {
    /// stdout as text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs `cmd` to completion (stdin closed, stdout and stderr collected). A hang guard, not a
/// timing check: if it is still running after `limit` it is killed and this panics.
pub fn run_with_limit(mut cmd: Command, limit: Duration) -> Finished {
    let program = format!("{:?}", cmd.get_program());
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let mut out_pipe = child.stdout.take().expect("piped");
    let mut err_pipe = child.stderr.take().expect("piped");
    let out_thread = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_thread = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = err_thread.join().unwrap_or_default();
            panic!(
                "{program} was still running after {limit:?} and was killed; stderr:\n{}",
                String::from_utf8_lossy(&stderr)
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    let stdout = out_thread.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&err_thread.join().unwrap_or_default()).into_owned();
    Finished { status, stdout, stderr }
}

/// `root` and all its descendants, from `/proc/*/stat` (processes that end meanwhile may be
/// missed, or listed and gone).
pub fn process_tree(root: u32) -> Vec<u32> {
    let mut children: std::collections::HashMap<u32, Vec<u32>> = std::collections::HashMap::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The parent is the second field after the command name, which may contain spaces.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        if let Some(c) = children.get(&tree[i]) {
            tree.extend(c);
        }
        i += 1;
    }
    tree
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

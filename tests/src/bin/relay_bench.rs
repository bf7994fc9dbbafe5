//! `relay_bench`: `oxvnc serve` against websockify 0.13 (the reference relay) and direct TCP (no
//! relay at all), every figure measured in the same run on this machine. `cargo xtask bench relay`
//! builds the relay and this binary in release and runs it; see docs/benchmarks.md.
//!
//! The VNC server is a stand-in in this process: on accept it sends a 12-byte RFB greeting, reads
//! a 16-byte command and then sends N pattern bytes (server→browser), takes N bytes and checks
//! every one against the pattern (browser→server), echoes (round trips), or stays idle. The
//! "browser" is a WebSocket client in this process that parses frames in place (no copy or
//! allocation per message) so that the load generator costs far less than what it measures;
//! every relayed byte is compared with the deterministic pattern at its offset.
//!
//! A third relay, `forward`, takes part in the round trips only: this binary run as a bare TCP
//! forwarder (`--forward LISTEN TARGET`: blocking reads and writes, a thread per direction, no
//! WebSocket at all), the least any relay process can add to a round trip on this machine.
//!
//! Relays run as deployments run them by default: `oxvnc serve --vnc … --listen …` (one process,
//! info logging) and `websockify LISTEN TARGET` (a process forked per connection, numpy for
//! unmasking, its per-connection log lines going to a file). Every process started here is
//! stopped by PID when its guard drops, session processes included, failure or not.
//!
//! Benchmarks are not tests: nothing here judges timings except the report's PASS/MISS column.
//! The exit status is non-zero only when something broke (a relay failed, a byte was wrong).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tungstenite::handshake::client::generate_key;
use tungstenite::handshake::derive_accept_key;

use oxvnc_tests::servers::process_tree;

/// What the target sends first, as a VNC server does.
const GREETING: &[u8; 12] = b"RFB 003.008\n";
/// Command opcodes (first byte of the 16-byte command; bytes 8..16 are a little-endian length).
const OP_SOURCE: u8 = 1;
const OP_SINK: u8 = 2;
const OP_ECHO: u8 = 3;
/// Payload of each WebSocket message the client sends, and of each write in direct TCP.
const MSG: usize = 64 * 1024;
/// Socket read buffer of the client and the target.
const READ_BUF: usize = 256 * 1024;
/// Size of the round-trip messages.
const RTT_BYTES: usize = 100;
/// Round trips before the measured ones.
const RTT_WARMUP: usize = 2000;
/// Idle sessions opened at once while filling the relay.
const IDLE_OPEN_CONCURRENCY: usize = 50;
/// Hang guards.
const TRANSFER_LIMIT: Duration = Duration::from_secs(120);
const START_LIMIT: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(3);
/// 1 MB = 10^6 bytes, 1 GB = 10^9 bytes throughout.
const MB: u64 = 1_000_000;
const GB: f64 = 1e9;

#[derive(Parser, Debug)]
#[command(about = "Relay benchmark: oxvnc serve vs websockify vs direct TCP (see docs/benchmarks.md)")]
struct Args {
    /// The oxvnc binary (default: `oxvnc` next to this executable)
    #[arg(long, value_name = "PATH")]
    oxvnc: Option<PathBuf>,
    /// The websockify script (default: target/tools/venv/bin/websockify)
    #[arg(long, value_name = "PATH")]
    websockify: Option<PathBuf>,
    /// Where to write the JSON report (default: target/bench/relay.json)
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Which measurements to make
    #[arg(long, value_delimiter = ',', default_value = "throughput,sessions,handshakes,idle,rtt")]
    phases: Vec<Phase>,
    /// Which peers to measure (`forward` only in the round trips)
    #[arg(long, value_delimiter = ',', default_value = "direct,oxvnc,websockify,forward")]
    peers: Vec<PeerKind>,
    /// MB (10^6 bytes) each way through one session
    #[arg(long, default_value_t = 1000)]
    mb: u64,
    /// Concurrent sessions of the aggregate test
    #[arg(long, default_value_t = 50)]
    sessions: usize,
    /// MB each of them moves
    #[arg(long, default_value_t = 10)]
    session_mb: u64,
    /// Idle sessions of the memory test
    #[arg(long, default_value_t = 1000)]
    idle: usize,
    /// Rounds of the throughput measurements (the report shows the median)
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Simultaneous WebSocket handshakes
    #[arg(long, default_value_t = 50)]
    handshakes: usize,
    /// Measured round trips per peer and round (after 2000 warm-up ones)
    #[arg(long, default_value_t = 20_000)]
    rtt_samples: usize,
    /// Rounds of round trips, each taking every peer in turn (the report shows the median of
    /// each percentile over the rounds)
    #[arg(long, default_value_t = 5)]
    rtt_rounds: usize,
    /// Run the round-trip phase (client, target, relays, all on CPU 0) as SCHED_FIFO, so that
    /// other processes on a busy machine do not preempt it (needs root or CAP_SYS_NICE)
    #[arg(long)]
    realtime: bool,
    /// Run as the `forward` peer: relay plain TCP from LISTEN to TARGET until killed
    #[arg(long, num_args = 2, value_names = ["LISTEN", "TARGET"], hide = true)]
    forward: Option<Vec<SocketAddr>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
enum PeerKind {
    /// The client connects to the target itself: no relay
    Direct,
    /// `oxvnc serve`
    Oxvnc,
    /// websockify 0.13
    Websockify,
    /// A bare TCP forwarder, no WebSocket (round trips only): the floor of any relay process
    Forward,
}

impl PeerKind {
    fn key(self) -> &'static str {
        match self {
            PeerKind::Direct => "direct",
            PeerKind::Oxvnc => "oxvnc",
            PeerKind::Websockify => "websockify",
            PeerKind::Forward => "forward",
        }
    }
    fn ws(self) -> bool {
        matches!(self, PeerKind::Oxvnc | PeerKind::Websockify)
    }
    /// Whether it takes part in the phases other than round trips.
    fn bulk(self) -> bool {
        self != PeerKind::Forward
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Phase {
    /// One session each way
    Throughput,
    /// Concurrent sessions each way
    Sessions,
    /// Simultaneous handshakes
    Handshakes,
    /// Memory of idle sessions
    Idle,
    /// Round trips on one CPU
    Rtt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    /// Target → client: what a VNC server sends to the browser.
    ToBrowser,
    /// Client → target.
    ToServer,
}

impl Dir {
    fn label(self) -> &'static str {
        match self {
            Dir::ToBrowser => "server→browser",
            Dir::ToServer => "browser→server",
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(addrs) = &args.forward {
        return match forward(addrs[0], addrs[1]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("relay_bench --forward: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    REALTIME.store(args.realtime, Ordering::Relaxed);
    raise_fd_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("relay_bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("relay_bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The run

/// Paths and settings every phase needs.
#[derive(Clone)]
struct Ctx {
    /// This executable, which is also the `forward` peer.
    bench: PathBuf,
    oxvnc: PathBuf,
    websockify: PathBuf,
    logs: PathBuf,
}

#[derive(Default, Debug)]
struct PeerResults {
    /// One per round.
    to_browser: Vec<Transfer>,
    to_server: Vec<Transfer>,
    many_to_browser: Vec<Transfer>,
    many_to_server: Vec<Transfer>,
    rtt: Option<Rtt>,
    handshakes: Option<Handshakes>,
    idle: Option<IdleMemory>,
}

async fn run(args: Args) -> Result<()> {
    let exe = std::env::current_exe().context("locating this executable")?;
    let profile_dir = exe.parent().context("executable without a folder")?.to_path_buf();
    let target_dir = profile_dir.parent().map(Path::to_path_buf).unwrap_or_else(|| profile_dir.clone());
    let mut kinds = args.peers.clone();
    kinds.sort();
    kinds.dedup();
    let ctx = Ctx {
        bench: exe.clone(),
        oxvnc: args.oxvnc.clone().unwrap_or_else(|| profile_dir.join("oxvnc")),
        websockify: args
            .websockify
            .clone()
            .unwrap_or_else(|| target_dir.join("tools").join("venv").join("bin").join("websockify")),
        logs: target_dir.join("bench").join("logs"),
    };
    if kinds.contains(&PeerKind::Oxvnc) {
        ensure!(ctx.oxvnc.is_file(), "{} does not exist (cargo xtask bench relay builds it)", ctx.oxvnc.display());
    }
    if kinds.contains(&PeerKind::Websockify) {
        ensure!(
            ctx.websockify.is_file(),
            "{} does not exist (`cargo xtask install` puts websockify into target/tools/venv)",
            ctx.websockify.display()
        );
    }
    std::fs::create_dir_all(&ctx.logs).with_context(|| format!("creating {}", ctx.logs.display()))?;
    let out = args.out.clone().unwrap_or_else(|| target_dir.join("bench").join("relay.json"));
    let versions = versions(&ctx, &kinds);
    let started = Instant::now();
    let load_before = loadavg();
    eprintln!(
        "relay_bench: {} CPUs, load average {load_before}; peers: {}",
        cpus(),
        kinds.iter().map(|k| k.key()).collect::<Vec<_>>().join(", ")
    );
    for (k, v) in &versions {
        eprintln!("relay_bench: {k}: {v}");
    }

    let mut results: BTreeMap<PeerKind, PeerResults> = kinds.iter().map(|k| (*k, PeerResults::default())).collect();
    let target = Target::start().await?;

    // Throughput, aggregate throughput and handshakes: one relay instance per peer.
    {
        let mut peers = Vec::new();
        for &kind in kinds.iter().filter(|k| k.bulk()) {
            peers.push(Peer::start(kind, target.addr, false, &ctx, "main")?);
        }
        // Rounds, each measuring every peer in turn, so that drift on the machine hits all alike.
        let bytes = args.mb * MB;
        for round in (1..=args.rounds).filter(|_| args.phases.contains(&Phase::Throughput)) {
            for dir in [Dir::ToBrowser, Dir::ToServer] {
                for peer in &mut peers {
                    peer.wait_sessions_gone(Duration::from_secs(5));
                    let t = timed(single_transfer(peer, dir, bytes))
                        .await
                        .with_context(|| format!("{}: {} 1 session", peer.kind.key(), dir.label()))?;
                    eprintln!(
                        "relay_bench: [{round}] {:<10} {} {} MB, 1 session: {}",
                        peer.kind.key(),
                        dir.label(),
                        args.mb,
                        t.describe()
                    );
                    let r = results.get_mut(&peer.kind).expect("peer");
                    match dir {
                        Dir::ToBrowser => r.to_browser.push(t),
                        Dir::ToServer => r.to_server.push(t),
                    }
                    peer.check_alive()?;
                }
            }
        }
        let each = args.session_mb * MB;
        for round in (1..=args.rounds).filter(|_| args.phases.contains(&Phase::Sessions)) {
            for dir in [Dir::ToBrowser, Dir::ToServer] {
                for peer in &mut peers {
                    peer.wait_sessions_gone(Duration::from_secs(5));
                    let t = timed(concurrent_transfer(peer, dir, args.sessions, each)).await.with_context(|| {
                        format!("{}: {} × {} sessions", peer.kind.key(), dir.label(), args.sessions)
                    })?;
                    eprintln!(
                        "relay_bench: [{round}] {:<10} {} {} sessions × {} MB: {}",
                        peer.kind.key(),
                        dir.label(),
                        args.sessions,
                        args.session_mb,
                        t.describe()
                    );
                    let r = results.get_mut(&peer.kind).expect("peer");
                    match dir {
                        Dir::ToBrowser => r.many_to_browser.push(t),
                        Dir::ToServer => r.many_to_server.push(t),
                    }
                    peer.check_alive()?;
                }
            }
        }
        for peer in peers.iter_mut().filter(|_| args.phases.contains(&Phase::Handshakes)) {
            // Let the sessions of the previous step end (websockify reaps its processes).
            peer.wait_sessions_gone(Duration::from_secs(5));
            let h = timed(handshakes(peer.addr, peer.kind.ws(), args.handshakes))
                .await
                .with_context(|| format!("{}: {} handshakes", peer.kind.key(), args.handshakes))?;
            eprintln!(
                "relay_bench: {:<10} {} simultaneous handshakes: slowest {:.1} ms, median {:.1} ms",
                peer.kind.key(),
                args.handshakes,
                h.slowest_ms,
                h.median_ms
            );
            results.get_mut(&peer.kind).expect("peer").handshakes = Some(h);
            peer.check_alive()?;
        }
    }

    // Memory of idle sessions: a fresh relay each, measured before and after.
    for &kind in kinds.iter().filter(|k| k.ws() && args.phases.contains(&Phase::Idle)) {
        let mut peer = Peer::start(kind, target.addr, false, &ctx, "idle")?;
        let m = idle_memory(&mut peer, args.idle)
            .await
            .with_context(|| format!("{}: {} idle sessions", kind.key(), args.idle))?;
        eprintln!(
            "relay_bench: {:<10} {} idle sessions: PSS {:.1} MiB → {:.1} MiB in {} processes, {:.1} KiB per session",
            kind.key(),
            m.sessions,
            m.base_kib as f64 / 1024.0,
            m.loaded_kib as f64 / 1024.0,
            m.processes,
            m.per_session_kib
        );
        results.get_mut(&kind).expect("peer").idle = Some(m);
    }

    // Round trips, with everything on CPU 0: fresh pinned relays, a pinned thread for the rest.
    let rtts = if !args.phases.contains(&Phase::Rtt) {
        Vec::new()
    } else {
        let kinds = kinds.clone();
        let ctx = ctx.clone();
        let (samples, rounds) = (args.rtt_samples, args.rtt_rounds);
        std::thread::Builder::new()
            .name("rtt".into())
            .spawn(move || rtt_phase(&kinds, &ctx, samples, rounds))
            .context("starting the round-trip thread")?
            .join()
            .map_err(|_| anyhow!("the round-trip thread panicked"))??
    };
    for (kind, r) in rtts {
        eprintln!(
            "relay_bench: {:<10} RTT {RTT_BYTES} B (CPU 0, median of the rounds): p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs, \
             p99.9 {:.1} µs, mean {:.1} µs",
            kind.key(),
            r.p50_us,
            r.p90_us,
            r.p99_us,
            r.p999_us,
            r.mean_us
        );
        results.get_mut(&kind).expect("peer").rtt = Some(r);
    }
    drop(target);

    let report = Report::new(&args, &results);
    let elapsed = started.elapsed();
    let transfers = || {
        results.values().flat_map(|p| [&p.to_browser, &p.to_server, &p.many_to_browser, &p.many_to_server]).flatten()
    };
    let noisy = transfers().filter(|t| t.noisy()).count();
    let mut notes = Vec::new();
    for (kind, p) in &results {
        if let Some(m) = p.idle.as_ref().filter(|m| m.sessions < m.wanted) {
            notes.push(format!(
                "{} held {} of {} idle sessions (the rest failed: {}); its per-session memory is over those {}.",
                kind.key(),
                m.sessions,
                m.wanted,
                m.failures.join("; "),
                m.sessions
            ));
        }
    }
    if let Some(note) = floor_note(&results) {
        notes.push(note);
    }
    if noisy > 0 {
        notes.push(format!(
            "other processes used more than a tenth of a CPU during {noisy} of {} throughput measurements \
             (load average {load_before} before the run): those figures are noisy.",
            transfers().count()
        ));
    }
    println!();
    println!("{}", report.markdown());
    for n in &notes {
        println!("note: {n}");
    }
    println!("measured in {:.0} s; report: {}", elapsed.as_secs_f64(), out.display());
    let mut doc = report.json(&args, &results, &versions, elapsed);
    doc["load_average_before"] = json!(load_before);
    doc["load_average_after"] = json!(loadavg());
    doc["notes"] = json!(notes);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&doc)? + "\n")
        .with_context(|| format!("writing {}", out.display()))?;
    let mut md = report.markdown() + "\n";
    for n in &notes {
        md += &format!("\nNote: {n}\n");
    }
    std::fs::write(out.with_extension("md"), md)
        .with_context(|| format!("writing {}", out.with_extension("md").display()))?;
    Ok(())
}

async fn timed<T>(f: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(TRANSFER_LIMIT, f).await.map_err(|_| anyhow!("no result within {TRANSFER_LIMIT:?}"))?
}

// ---------------------------------------------------------------------------------------------
// Measurements

/// CPU clocks read when a transfer starts, to turn the readings at its end into a [`Transfer`].
struct CpuMark {
    relay: Option<f64>,
    relay_system: Option<f64>,
    bench: f64,
    machine: f64,
    start: Instant,
}

impl CpuMark {
    fn start(peer: &Peer) -> CpuMark {
        CpuMark {
            relay: peer.cpu_s(),
            relay_system: peer.system_s(),
            bench: self_cpu_s(),
            machine: machine_busy_s(),
            start: Instant::now(),
        }
    }

    /// Elapsed seconds since [`CpuMark::start`] (read right after the last byte).
    fn secs(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// The CPU used since [`CpuMark::start`], with the transfer's figures.
    fn transfer(&self, peer: &Peer, bytes: u64, secs: f64, messages: Option<u64>) -> Transfer {
        let all = machine_busy_s() - self.machine;
        let relay_cpu_s = peer.cpu_s().zip(self.relay).map(|(b, a)| b - a);
        let bench_cpu_s = self_cpu_s() - self.bench;
        let others_cpu_s = (all - bench_cpu_s - relay_cpu_s.unwrap_or(0.0)).max(0.0);
        let relay_system_s = peer.system_s().zip(self.relay_system).map(|(b, a)| b - a);
        Transfer { bytes, secs, relay_cpu_s, relay_system_s, bench_cpu_s, messages, others_cpu_s }
    }
}

#[derive(Debug, Clone)]
struct Transfer {
    bytes: u64,
    secs: f64,
    /// CPU time of the relay's process tree (None for direct TCP).
    relay_cpu_s: Option<f64>,
    /// Of `relay_cpu_s`, the part spent in the kernel (from 10 ms ticks).
    relay_system_s: Option<f64>,
    /// CPU time of this process (client and target together).
    bench_cpu_s: f64,
    /// WebSocket messages the client received (server→browser through a relay).
    messages: Option<u64>,
    /// CPU time the rest of the machine used meanwhile (other processes, interrupts): noise.
    others_cpu_s: f64,
}

impl Transfer {
    fn gb_per_s(&self) -> f64 {
        self.bytes as f64 / self.secs / GB
    }
    fn relay_cpu_per_gb(&self) -> Option<f64> {
        self.relay_cpu_s.map(|c| c / (self.bytes as f64 / GB))
    }
    fn bench_cpu_per_gb(&self) -> f64 {
        self.bench_cpu_s / (self.bytes as f64 / GB)
    }
    fn mean_message(&self) -> Option<f64> {
        self.messages.filter(|m| *m > 0).map(|m| self.bytes as f64 / m as f64)
    }
    fn describe(&self) -> String {
        let mut s = format!("{:.2} GB/s ({:.2} s)", self.gb_per_s(), self.secs);
        if let Some(c) = self.relay_cpu_per_gb() {
            s += &format!(", relay {c:.2} CPU-s/GB");
            if let (Some(sys), Some(all)) = (self.relay_system_s, self.relay_cpu_s.filter(|a| *a > 0.0)) {
                s += &format!(" ({:.0}% kernel)", 100.0 * (sys / all).min(1.0));
            }
        }
        s += &format!(", bench {:.2} CPU-s/GB", self.bench_cpu_per_gb());
        if let Some(m) = self.mean_message() {
            s += &format!(", {:.1} KiB per message", m / 1024.0);
        }
        if self.noisy() {
            s += &format!(" [other processes used {:.2} CPU-s meanwhile]", self.others_cpu_s);
        }
        s
    }
    /// Whether the rest of the machine took more than a tenth of one CPU during the measurement.
    fn noisy(&self) -> bool {
        self.others_cpu_s > 0.1 * self.secs
    }
    fn json(&self) -> Value {
        json!({
            "bytes": self.bytes,
            "seconds": self.secs,
            "gb_per_s": self.gb_per_s(),
            "relay_cpu_s": self.relay_cpu_s,
            "relay_cpu_s_per_gb": self.relay_cpu_per_gb(),
            "relay_system_s": self.relay_system_s,
            "bench_cpu_s": self.bench_cpu_s,
            "messages_received": self.messages,
            "others_cpu_s": self.others_cpu_s,
            "mean_message_bytes": self.mean_message(),
        })
    }
}

/// One session, `bytes` one way, every byte checked.
async fn single_transfer(peer: &Peer, dir: Dir, bytes: u64) -> Result<Transfer> {
    let mut c = Conn::open(peer.addr, peer.kind.ws()).await?;
    let mark = CpuMark::start(peer);
    let frames0 = c.frames;
    move_bytes(&mut c, dir, bytes).await?;
    let secs = mark.secs();
    let messages = (c.ws && dir == Dir::ToBrowser).then_some(c.frames - frames0);
    let transfer = mark.transfer(peer, bytes, secs, messages);
    c.close().await;
    Ok(transfer)
}

/// `n` sessions opened first, then all moving `each` bytes at once; the time is from the start
/// to the last byte of the last session.
async fn concurrent_transfer(peer: &Peer, dir: Dir, n: usize, each: u64) -> Result<Transfer> {
    let conns = open_many(peer.addr, peer.kind.ws(), n, n).await?;
    let mark = CpuMark::start(peer);
    let mut set = JoinSet::new();
    let frames0: u64 = conns.iter().map(|c| c.frames).sum();
    for mut c in conns {
        set.spawn(async move {
            move_bytes(&mut c, dir, each).await?;
            Ok::<_, anyhow::Error>(c)
        });
    }
    let mut done = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        done.push(r.context("session task")??);
    }
    let secs = mark.secs();
    let frames: u64 = done.iter().map(|c| c.frames).sum();
    let messages = (peer.kind.ws() && dir == Dir::ToBrowser).then_some(frames - frames0);
    let transfer = mark.transfer(peer, each * n as u64, secs, messages);
    let mut set = JoinSet::new();
    for c in done {
        set.spawn(c.close());
    }
    while set.join_next().await.is_some() {}
    Ok(transfer)
}

/// Opens `n` sessions (at most `concurrency` handshakes at a time), each past the greeting.
async fn open_many(addr: SocketAddr, ws: bool, n: usize, concurrency: usize) -> Result<Vec<Conn>> {
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = JoinSet::new();
    for _ in 0..n {
        let gate = Arc::clone(&gate);
        set.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            Conn::open(addr, ws).await
        });
    }
    let mut conns = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        conns.push(r.context("session task")??);
    }
    Ok(conns)
}

/// Asks the target to send or take `bytes` and checks every byte.
async fn move_bytes(c: &mut Conn, dir: Dir, bytes: u64) -> Result<()> {
    let pat = pattern();
    match dir {
        Dir::ToBrowser => {
            c.send(&command(OP_SOURCE, bytes)).await?;
            let mut pos = 0u64;
            while pos < bytes {
                let want = usize::try_from(bytes - pos).unwrap_or(usize::MAX);
                let got = c.recv(want).await.with_context(|| format!("after {pos} of {bytes} bytes"))?;
                if let Err(at) = pat.check(pos, got) {
                    bail!("byte {at} of {bytes} differs from what the target sent");
                }
                pos += got.len() as u64;
            }
        }
        Dir::ToServer => {
            c.send(&command(OP_SINK, bytes)).await?;
            let mut pos = 0u64;
            while pos < bytes {
                let n = MSG.min(usize::try_from(bytes - pos).unwrap_or(MSG));
                c.send(pat.slice(pos, n)).await.with_context(|| format!("after {pos} of {bytes} bytes"))?;
                pos += n as u64;
            }
            let mut status = [0u8; 9];
            c.recv_exact(&mut status).await.context("waiting for the target's verdict")?;
            if status[0] != 0 {
                let at = u64::from_le_bytes(status[1..9].try_into().expect("8 bytes"));
                bail!("byte {at} of {bytes} reached the target changed");
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
struct Handshakes {
    n: usize,
    slowest_ms: f64,
    median_ms: f64,
}

/// `n` sessions started at the same instant; each time is from that instant to the target's
/// first byte (TCP connect + WebSocket upgrade + the relay's connection to the target).
async fn handshakes(addr: SocketAddr, ws: bool, n: usize) -> Result<Handshakes> {
    let (go, start) = watch::channel(None::<Instant>);
    let mut set = JoinSet::new();
    for _ in 0..n {
        let mut start = start.clone();
        set.spawn(async move {
            let t0 = *start.wait_for(Option::is_some).await?;
            let t0 = t0.expect("checked");
            let c = Conn::open(addr, ws).await?;
            Ok::<_, anyhow::Error>((t0.elapsed(), c))
        });
    }
    // Every task waits on the channel before the clock starts.
    tokio::time::sleep(Duration::from_millis(100)).await;
    go.send(Some(Instant::now())).map_err(|_| anyhow!("handshake tasks are gone"))?;
    let mut times = Vec::with_capacity(n);
    let mut conns = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        let (t, c) = r.context("handshake task")??;
        times.push(t.as_secs_f64() * 1e3);
        conns.push(c);
    }
    drop(conns);
    times.sort_by(f64::total_cmp);
    Ok(Handshakes { n, slowest_ms: *times.last().unwrap_or(&0.0), median_ms: percentile(&times, 0.5) })
}

#[derive(Debug, Clone)]
struct IdleMemory {
    /// Sessions asked for.
    wanted: usize,
    /// Sessions that got as far as the target's greeting (and were held open).
    sessions: usize,
    /// Why the others failed (the first few distinct reasons).
    failures: Vec<String>,
    base_kib: u64,
    loaded_kib: u64,
    processes: usize,
    per_session_kib: f64,
}

/// PSS of the relay's process tree with no session, then with `n` idle sessions open. A relay
/// that cannot hold them all is measured with those it did open, and the report says how many
/// (websockify's forked session processes fail once their descriptors pass select()'s 1024).
async fn idle_memory(peer: &mut Peer, n: usize) -> Result<IdleMemory> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let base_kib = peer.pss_kib()?;
    let gate = Arc::new(Semaphore::new(IDLE_OPEN_CONCURRENCY));
    let mut set = JoinSet::new();
    let (addr, ws) = (peer.addr, peer.kind.ws());
    for _ in 0..n {
        let gate = Arc::clone(&gate);
        set.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            tokio::time::timeout(Duration::from_secs(30), Conn::open(addr, ws))
                .await
                .map_err(|_| anyhow!("no greeting within 30 s"))?
        });
    }
    let mut conns = Vec::with_capacity(n);
    let mut failures: Vec<String> = Vec::new();
    let mut failed = 0;
    while let Some(r) = set.join_next().await {
        match r.context("session task")? {
            Ok(c) => conns.push(c),
            Err(e) => {
                failed += 1;
                let e = format!("{e:#}");
                if failures.len() < 5 && !failures.contains(&e) {
                    failures.push(e);
                }
            }
        }
    }
    ensure!(!conns.is_empty(), "no session opened: {}", failures.join("; "));
    if failed > 0 {
        eprintln!("relay_bench: {}: {failed} of {n} idle sessions failed: {}", peer.kind.key(), failures.join("; "));
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // Only sessions still open count.
    let closed = conns.iter().filter(|c| !c.is_quiet()).count();
    if closed > 0 {
        eprintln!("relay_bench: {}: {closed} idle sessions ended or got data after opening", peer.kind.key());
        failures.push(format!("{closed} ended after opening"));
    }
    let sessions = conns.len() - closed;
    ensure!(sessions > 0, "no idle session stayed open");
    peer.check_alive()?;
    let loaded_kib = peer.pss_kib()?;
    let processes = peer.tree().len();
    drop(conns);
    Ok(IdleMemory {
        wanted: n,
        sessions,
        failures,
        base_kib,
        loaded_kib,
        processes,
        per_session_kib: (loaded_kib as f64 - base_kib as f64) / sessions as f64,
    })
}

#[derive(Debug, Clone)]
struct Rtt {
    samples: usize,
    p50_us: f64,
    /// p90 and p99.9 show the tail's shape: which share of round trips the machine's periodic
    /// interrupts hit depends on how long a round trip is (see docs/benchmarks.md).
    p90_us: f64,
    p99_us: f64,
    p999_us: f64,
    mean_us: f64,
    /// Every round's own figures, when this is their median.
    rounds: Vec<Rtt>,
}

impl Rtt {
    /// Each figure the median of the rounds' (a transient stall of the machine, which a short
    /// round cannot escape, moves one round's p99, not the median).
    fn median_of(rounds: Vec<Rtt>) -> Rtt {
        let m = |f: fn(&Rtt) -> f64| median(rounds.iter().map(f)).unwrap_or(f64::NAN);
        Rtt {
            samples: rounds.iter().map(|r| r.samples).sum(),
            p50_us: m(|r| r.p50_us),
            p90_us: m(|r| r.p90_us),
            p99_us: m(|r| r.p99_us),
            p999_us: m(|r| r.p999_us),
            mean_us: m(|r| r.mean_us),
            rounds,
        }
    }

    fn json(&self) -> Value {
        json!({
            "samples": self.samples,
            "p50": self.p50_us,
            "p90": self.p90_us,
            "p99": self.p99_us,
            "p99.9": self.p999_us,
            "mean": self.mean_us,
            "rounds": self.rounds.iter().map(Rtt::json).collect::<Vec<_>>(),
        })
    }
}

/// Runs in its own thread pinned to CPU 0 with a single-threaded runtime; the echo target runs
/// in another such thread (a VNC server is another process: direct round trips cross between
/// two threads too), and the relays are pinned to CPU 0 as well (as with `taskset -c 0`), so
/// no wake-up crosses CPUs.
fn rtt_phase(kinds: &[PeerKind], ctx: &Ctx, samples: usize, rounds: usize) -> Result<Vec<(PeerKind, Rtt)>> {
    pin_to_cpu0(0).context("pinning the round-trip thread to CPU 0")?;
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let echo = std::thread::Builder::new().name("echo-target".into()).spawn(move || -> Result<()> {
        pin_to_cpu0(0).context("pinning the target thread to CPU 0")?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async {
            let target = Target::start().await?;
            let _ = addr_tx.send(target.addr);
            let _ = stop_rx.await;
            Ok(())
        })
    })?;
    let Ok(target) = addr_rx.recv() else {
        return Err(echo
            .join()
            .map_err(|_| anyhow!("the target thread panicked"))?
            .err()
            .unwrap_or_else(|| anyhow!("no target")));
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let result = rt.block_on(async {
        let peers =
            kinds.iter().map(|&kind| Peer::start(kind, target, true, ctx, "rtt")).collect::<Result<Vec<_>>>()?;
        let mut measured: Vec<Vec<Rtt>> = vec![Vec::new(); peers.len()];
        for round in 1..=rounds.max(1) {
            // Every peer in turn, the first one changing from round to round.
            for i in (0..peers.len()).map(|i| (i + round - 1) % peers.len()) {
                let peer = &peers[i];
                // The phases before leave work behind (1000 idle sessions and websockify's 500
                // session processes torn down, their memory freed), and a relay that just
                // started may still be settling: round trips on a busy CPU 0 would measure that
                // work, not the relay. Wait until the machine is quiet first.
                let waited = settle(Duration::from_secs(20)).await;
                let r = timed(round_trips(peer.addr, peer.kind.ws(), samples))
                    .await
                    .with_context(|| format!("{}: round trips", peer.kind.key()))?;
                eprintln!(
                    "relay_bench: [{round}] {:<10} RTT p50 {:.1} µs, p99 {:.1} µs (started after {waited})",
                    peer.kind.key(),
                    r.p50_us,
                    r.p99_us
                );
                measured[i].push(r);
            }
        }
        Ok(peers.iter().zip(measured).map(|(p, r)| (p.kind, Rtt::median_of(r))).collect())
    });
    let _ = stop_tx.send(());
    echo.join().map_err(|_| anyhow!("the target thread panicked"))??;
    result
}

/// The `forward` peer: accepts on `listen` and relays each connection's bytes to and from
/// `target` with blocking reads and writes, a thread per direction: two system calls per message
/// and hop, no event loop, no framing. Runs until killed.
fn forward(listen: SocketAddr, target: SocketAddr) -> Result<()> {
    use std::io::{Read, Write};
    fn pump(mut from: std::net::TcpStream, mut to: std::net::TcpStream) {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    }
    let listener = StdListener::bind(listen).with_context(|| format!("listening on {listen}"))?;
    for client in listener.incoming() {
        let client = client.context("accepting")?;
        let server = match std::net::TcpStream::connect(target) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("relay_bench --forward: cannot reach {target}: {e}");
                continue;
            }
        };
        for s in [&client, &server] {
            s.set_nodelay(true)?;
        }
        let (c2, s2) = (client.try_clone()?, server.try_clone()?);
        std::thread::spawn(move || pump(client, server));
        std::thread::spawn(move || pump(s2, c2));
    }
    Ok(())
}

/// What the bare forwarder added to direct TCP's round trip, beside websockify's: the part of
/// the relays' added latency that no relay process can avoid.
fn floor_note(results: &BTreeMap<PeerKind, PeerResults>) -> Option<String> {
    let rtt = |k| results.get(&k).and_then(|p| p.rtt.as_ref());
    let d = rtt(PeerKind::Direct)?;
    let added = |r: &Rtt| (r.p50_us - d.p50_us, r.p99_us - d.p99_us);
    let (f50, f99) = added(rtt(PeerKind::Forward)?);
    let mut note = format!(
        "a bare TCP forwarder (no WebSocket, blocking I/O: the least a relay process adds) added {f50:.1} µs \
         at p50 and {f99:.1} µs at p99"
    );
    if let Some((w50, w99)) = rtt(PeerKind::Websockify).map(added) {
        note += &format!(" ({:.2}× and {:.2}× websockify's)", f50 / w50, f99 / w99);
    }
    Some(note + ".")
}

/// Waits until other processes use under a twentieth of a CPU over half a second (this
/// process is idle meanwhile), or `limit` has passed; says how long it waited and how busy the
/// machine still was.
async fn settle(limit: Duration) -> String {
    const WINDOW: Duration = Duration::from_millis(500);
    let start = Instant::now();
    loop {
        let (busy0, own0) = (machine_busy_s(), self_cpu_s());
        tokio::time::sleep(WINDOW).await;
        let other = (machine_busy_s() - busy0) - (self_cpu_s() - own0);
        let share = other / WINDOW.as_secs_f64();
        let quiet = share < 0.05;
        if quiet || start.elapsed() >= limit {
            return format!(
                "{:.2} s (other processes at {:.0} % of a CPU{})",
                start.elapsed().as_secs_f64(),
                share.max(0.0) * 100.0,
                if quiet { "" } else { ", still busy after the limit" }
            );
        }
    }
}

async fn round_trips(addr: SocketAddr, ws: bool, samples: usize) -> Result<Rtt> {
    let pat = pattern();
    let mut c = Conn::open(addr, ws).await?;
    c.send(&command(OP_ECHO, 0)).await?;
    let mut back = [0u8; RTT_BYTES];
    let mut times = Vec::with_capacity(samples);
    for i in 0..RTT_WARMUP + samples {
        let msg = pat.slice((i * RTT_BYTES) as u64, RTT_BYTES);
        let t0 = Instant::now();
        c.send(msg).await?;
        c.recv_exact(&mut back).await?;
        let dt = t0.elapsed();
        ensure!(back == msg, "round trip {i} came back changed");
        if i >= RTT_WARMUP {
            times.push(dt.as_secs_f64() * 1e6);
        }
    }
    c.close().await;
    let mean_us = times.iter().sum::<f64>() / times.len().max(1) as f64;
    times.sort_by(f64::total_cmp);
    Ok(Rtt {
        samples,
        p50_us: percentile(&times, 0.50),
        p90_us: percentile(&times, 0.90),
        p99_us: percentile(&times, 0.99),
        p999_us: percentile(&times, 0.999),
        mean_us,
        rounds: Vec::new(),
    })
}

/// The median of some values (the mean of the middle two for an even count).
fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 })
}

/// Every round of a transfer measurement and the medians the table shows.
fn rounds_json(t: &[Transfer]) -> Value {
    json!({
        "median_gb_per_s": median(t.iter().map(Transfer::gb_per_s)),
        "median_relay_cpu_s_per_gb": median(t.iter().filter_map(Transfer::relay_cpu_per_gb)),
        "median_bench_cpu_s_per_gb": median(t.iter().map(Transfer::bench_cpu_per_gb)),
        "rounds": t.iter().map(Transfer::json).collect::<Vec<_>>(),
    })
}

/// The `q` quantile of sorted values (nearest rank).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

// ---------------------------------------------------------------------------------------------
// The deterministic byte pattern

/// Pseudo-random bytes with a period that is no power of two (so a lost or repeated 64 KiB
/// message cannot line up with it), stored twice so any window up to the period is one slice.
struct Pattern(Vec<u8>);

const PERIOD: usize = (4 << 20) + 4093;

fn pattern() -> &'static Pattern {
    static P: OnceLock<Pattern> = OnceLock::new();
    P.get_or_init(|| {
        let mut v = Vec::with_capacity(2 * PERIOD + 8);
        let mut state = 0x6f78_766e_635f_7270u64;
        while v.len() < PERIOD {
            v.extend_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        v.truncate(PERIOD);
        v.extend_from_within(..PERIOD);
        Pattern(v)
    })
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Pattern {
    /// The `len` bytes at stream offset `pos` (`len` at most the period).
    fn slice(&self, pos: u64, len: usize) -> &[u8] {
        assert!(len <= PERIOD, "pattern window larger than its period");
        let o = (pos % PERIOD as u64) as usize;
        &self.0[o..o + len]
    }

    /// Whether `data` is the stream at `pos`; on a mismatch, the offset of the first wrong byte.
    fn check(&self, pos: u64, data: &[u8]) -> Result<(), u64> {
        let mut p = pos;
        for chunk in data.chunks(PERIOD) {
            let want = self.slice(p, chunk.len());
            if want != chunk {
                let i = want.iter().zip(chunk).position(|(a, b)| a != b).unwrap_or(0);
                return Err(p + i as u64);
            }
            p += chunk.len() as u64;
        }
        Ok(())
    }
}

fn command(op: u8, len: u64) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = op;
    c[8..].copy_from_slice(&len.to_le_bytes());
    c
}

// ---------------------------------------------------------------------------------------------
// The VNC server stand-in

/// A listener in this process; its accept loop ends when the guard drops.
struct Target {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Target {
    async fn start() -> Result<Target> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.context("binding the target")?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((s, _)) => {
                        tokio::spawn(async move {
                            if let Err(e) = serve_target(s).await {
                                if !matches!(
                                    e.kind(),
                                    ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof
                                ) {
                                    eprintln!("relay_bench: target session: {e}");
                                }
                            }
                        });
                    }
                    // Out of descriptors and the like: back off instead of spinning.
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        });
        Ok(Target { addr, task })
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_target(mut s: TcpStream) -> io::Result<()> {
    s.set_nodelay(true)?;
    s.write_all(GREETING).await?;
    let mut cmd = [0u8; 16];
    match s.read_exact(&mut cmd).await {
        Ok(_) => {}
        // An idle session or a handshake probe that ends without a command.
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(()),
        Err(e) => return Err(e),
    }
    let len = u64::from_le_bytes(cmd[8..].try_into().expect("8 bytes"));
    let pat = pattern();
    let mut buf = vec![0u8; READ_BUF];
    match cmd[0] {
        OP_SOURCE => {
            let mut pos = 0u64;
            while pos < len {
                let n = READ_BUF.min(usize::try_from(len - pos).unwrap_or(READ_BUF));
                s.write_all(pat.slice(pos, n)).await?;
                pos += n as u64;
            }
        }
        OP_SINK => {
            let mut pos = 0u64;
            let mut bad = None;
            while pos < len {
                let want = READ_BUF.min(usize::try_from(len - pos).unwrap_or(READ_BUF));
                let n = s.read(&mut buf[..want]).await?;
                if n == 0 {
                    return Err(io::Error::new(
                        ErrorKind::UnexpectedEof,
                        format!("sink: end after {pos} of {len} bytes"),
                    ));
                }
                if bad.is_none() {
                    bad = pat.check(pos, &buf[..n]).err();
                }
                pos += n as u64;
            }
            let mut verdict = [0u8; 9];
            if let Some(at) = bad {
                verdict[0] = 1;
                verdict[1..].copy_from_slice(&at.to_le_bytes());
            }
            s.write_all(&verdict).await?;
        }
        OP_ECHO => loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            s.write_all(&buf[..n]).await?;
        },
        op => return Err(io::Error::new(ErrorKind::InvalidData, format!("unknown command {op}"))),
    }
    // Wait for the client to go, reading whatever it still sends.
    while s.read(&mut buf).await? > 0 {}
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The client: plain TCP, or a WebSocket with frames parsed in place

struct Conn {
    s: TcpStream,
    ws: bool,
    buf: Vec<u8>,
    rpos: usize,
    wpos: usize,
    /// Payload bytes of the current data frame not yet handed out.
    frame_left: u64,
    out: Vec<u8>,
    mask_state: u64,
    /// Data frames received.
    frames: u64,
}

fn io_err(msg: impl Into<String>) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, msg.into())
}

impl Conn {
    /// Connects, upgrades to a WebSocket when `ws`, and reads the target's greeting.
    async fn open(addr: SocketAddr, ws: bool) -> Result<Conn> {
        let s = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        s.set_nodelay(true)?;
        let mut c = Conn {
            s,
            ws,
            buf: vec![0; READ_BUF],
            rpos: 0,
            wpos: 0,
            frame_left: 0,
            out: Vec::with_capacity(MSG + 14),
            mask_state: next_seed(),
            frames: 0,
        };
        if ws {
            c.upgrade(addr).await?;
        }
        let mut greeting = [0u8; GREETING.len()];
        c.recv_exact(&mut greeting).await.context("waiting for the target's greeting")?;
        ensure!(&greeting == GREETING, "the greeting came through changed: {greeting:?}");
        Ok(c)
    }

    async fn upgrade(&mut self, addr: SocketAddr) -> Result<()> {
        let key = generate_key();
        let request = format!(
            "GET /websockify HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n\r\n"
        );
        self.s.write_all(request.as_bytes()).await?;
        let end = loop {
            if let Some(i) = self.buf[..self.wpos].windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            ensure!(self.wpos < 16 * 1024, "HTTP response head too long");
            let n = self.s.read(&mut self.buf[self.wpos..]).await?;
            ensure!(n > 0, "the relay closed the connection during the upgrade");
            self.wpos += n;
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap_or_default();
        ensure!(status.split_whitespace().nth(1) == Some("101"), "upgrade refused: {status}");
        let accept = derive_accept_key(key.as_bytes());
        let accepted = lines
            .filter_map(|l| l.split_once(':'))
            .any(|(k, v)| k.trim().eq_ignore_ascii_case("sec-websocket-accept") && v.trim() == accept);
        ensure!(accepted, "wrong or missing Sec-WebSocket-Accept in\n{head}");
        // What came after the head is already WebSocket frames.
        self.rpos = end;
        Ok(())
    }

    fn next_mask(&mut self) -> [u8; 4] {
        let m = splitmix64(&mut self.mask_state).to_le_bytes();
        [m[0], m[1], m[2], m[3]]
    }

    /// Builds one masked client frame in `self.out`.
    fn frame(&mut self, opcode: u8, payload: &[u8]) {
        let mask = self.next_mask();
        let out = &mut self.out;
        out.clear();
        out.push(0x80 | opcode);
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        let start = out.len();
        out.extend_from_slice(payload);
        apply_mask(&mut out[start..], mask);
    }

    /// Sends `data`: as it is over TCP, as binary messages of at most 64 KiB over a WebSocket.
    async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        if !self.ws {
            return self.s.write_all(data).await;
        }
        for chunk in data.chunks(MSG) {
            self.frame(0x2, chunk);
            self.s.write_all(&self.out).await?;
        }
        Ok(())
    }

    /// The next received data bytes, at most `max` (and at least one).
    async fn recv(&mut self, max: usize) -> io::Result<&[u8]> {
        let (a, b) = self.next_range(max).await?;
        Ok(&self.buf[a..b])
    }

    async fn recv_exact(&mut self, out: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        while filled < out.len() {
            let got = self.recv(out.len() - filled).await?;
            out[filled..filled + got.len()].copy_from_slice(got);
            filled += got.len();
        }
        Ok(())
    }

    async fn next_range(&mut self, max: usize) -> io::Result<(usize, usize)> {
        loop {
            if !self.ws || self.frame_left > 0 {
                if self.rpos == self.wpos {
                    self.rpos = 0;
                    self.wpos = 0;
                    self.fill().await?;
                }
                let mut n = (self.wpos - self.rpos).min(max);
                if self.ws {
                    n = n.min(usize::try_from(self.frame_left).unwrap_or(usize::MAX));
                    self.frame_left -= n as u64;
                }
                let a = self.rpos;
                self.rpos += n;
                return Ok((a, a + n));
            }
            self.ensure(2).await?;
            let (b0, b1) = (self.buf[self.rpos], self.buf[self.rpos + 1]);
            if b1 & 0x80 != 0 {
                return Err(io_err("masked frame from the relay"));
            }
            if b0 & 0x70 != 0 {
                return Err(io_err("frame with reserved bits set (no extension was negotiated)"));
            }
            let (len, head) = match b1 & 0x7F {
                126 => {
                    self.ensure(4).await?;
                    (u64::from(u16::from_be_bytes([self.buf[self.rpos + 2], self.buf[self.rpos + 3]])), 4)
                }
                127 => {
                    self.ensure(10).await?;
                    let b: [u8; 8] = self.buf[self.rpos + 2..self.rpos + 10].try_into().expect("8 bytes");
                    (u64::from_be_bytes(b), 10)
                }
                n => (u64::from(n), 2),
            };
            match b0 & 0x0F {
                0x0 | 0x2 => {
                    self.rpos += head;
                    self.frame_left = len;
                    self.frames += 1;
                }
                0x1 => return Err(io_err("text frame from the relay")),
                op @ 0x8..=0xA => {
                    if len > 125 {
                        return Err(io_err("control frame longer than 125 bytes"));
                    }
                    let total = head + len as usize;
                    self.ensure(total).await?;
                    let payload = self.buf[self.rpos + head..self.rpos + total].to_vec();
                    self.rpos += total;
                    match op {
                        0x8 => {
                            let code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                            let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or_default()).into_owned();
                            return Err(io::Error::new(
                                ErrorKind::ConnectionAborted,
                                format!("the relay closed the WebSocket: {code:?} {reason}"),
                            ));
                        }
                        0x9 => {
                            self.frame(0xA, &payload);
                            self.s.write_all(&self.out).await?;
                        }
                        _ => {}
                    }
                }
                op => return Err(io_err(format!("unknown opcode {op}"))),
            }
        }
    }

    /// Reads once into the free end of the buffer.
    async fn fill(&mut self) -> io::Result<()> {
        let n = self.s.read(&mut self.buf[self.wpos..]).await?;
        if n == 0 {
            return Err(io::Error::new(ErrorKind::UnexpectedEof, "the connection ended"));
        }
        self.wpos += n;
        Ok(())
    }

    /// Makes at least `k` unread bytes available.
    async fn ensure(&mut self, k: usize) -> io::Result<()> {
        while self.wpos - self.rpos < k {
            if self.rpos > 0 {
                self.buf.copy_within(self.rpos..self.wpos, 0);
                self.wpos -= self.rpos;
                self.rpos = 0;
            }
            self.fill().await?;
        }
        Ok(())
    }

    /// Whether the connection is open with nothing to read (an idle session still idle).
    fn is_quiet(&self) -> bool {
        use std::os::fd::AsRawFd;
        let mut b = [0u8; 1];
        // SAFETY: recv with MSG_PEEK into a 1-byte local buffer; the descriptor is ours.
        let n =
            unsafe { libc::recv(self.s.as_raw_fd(), b.as_mut_ptr().cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
        n < 0 && io::Error::last_os_error().kind() == ErrorKind::WouldBlock && self.rpos == self.wpos
    }

    /// Ends the session politely (close frame, then wait briefly for the other side to end).
    async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            if self.ws {
                self.frame(0x8, &1000u16.to_be_bytes());
                self.s.write_all(&self.out).await?;
            } else {
                self.s.shutdown().await?;
            }
            loop {
                self.rpos = 0;
                self.wpos = 0;
                self.frame_left = 0;
                self.fill().await?;
            }
            #[allow(unreachable_code)]
            Ok::<(), io::Error>(())
        })
        .await;
    }
}

/// A different mask-key seed for every connection.
fn next_seed() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0x5eed);
    N.fetch_add(0x9E37_79B9, Ordering::Relaxed) ^ u64::from(std::process::id())
}

fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let m = u64::from_ne_bytes([mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]]);
    let mut words = data.chunks_exact_mut(8);
    for w in &mut words {
        let v = u64::from_ne_bytes((&*w).try_into().expect("8 bytes")) ^ m;
        w.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
}

// ---------------------------------------------------------------------------------------------
// Relays as processes

/// A peer to measure: direct TCP (the target's own address) or a relay in front of it.
struct Peer {
    kind: PeerKind,
    addr: SocketAddr,
    proc: Option<Proc>,
}

impl Peer {
    /// Starts the relay (nothing for direct TCP) and waits until it listens.
    fn start(kind: PeerKind, target: SocketAddr, pin: bool, ctx: &Ctx, tag: &str) -> Result<Peer> {
        if kind == PeerKind::Direct {
            return Ok(Peer { kind, addr: target, proc: None });
        }
        let mut last = None;
        for attempt in 0..3 {
            let port = free_port()?;
            let listen = format!("127.0.0.1:{port}");
            let mut cmd = match kind {
                PeerKind::Oxvnc => {
                    let mut c = Command::new(&ctx.oxvnc);
                    c.args(["serve", "--vnc", &target.to_string(), "--listen", &listen]);
                    c
                }
                PeerKind::Websockify => {
                    let mut c = Command::new(&ctx.websockify);
                    c.arg(&listen).arg(target.to_string());
                    c
                }
                PeerKind::Forward => {
                    let mut c = Command::new(&ctx.bench);
                    c.arg("--forward").arg(&listen).arg(target.to_string());
                    c
                }
                PeerKind::Direct => unreachable!(),
            };
            for (k, _) in std::env::vars_os() {
                if k.to_string_lossy().starts_with("OXVNC_") {
                    cmd.env_remove(k);
                }
            }
            cmd.env_remove("RUST_LOG");
            let log = ctx.logs.join(format!("{}-{tag}-{attempt}.log", kind.key()));
            let mut proc = Proc::spawn(kind.key(), cmd, &log, pin)?;
            let deadline = Instant::now() + START_LIMIT;
            loop {
                if let Some(st) = proc.exited() {
                    last = Some(anyhow!("{} exited ({st}) before listening; log: {}", kind.key(), log.display()));
                    break;
                }
                if is_listening(port) {
                    return Ok(Peer { kind, addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)), proc: Some(proc) });
                }
                if Instant::now() > deadline {
                    bail!("{} did not listen on {listen} within {START_LIMIT:?}; log: {}", kind.key(), log.display());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("{} did not start", kind.key())))
    }

    fn check_alive(&mut self) -> Result<()> {
        if let Some(p) = &mut self.proc {
            if let Some(st) = p.exited() {
                bail!("{} exited during the benchmark ({st}); log: {}", self.kind.key(), p.log.display());
            }
        }
        Ok(())
    }

    fn tree(&self) -> Vec<u32> {
        self.proc.as_ref().map(|p| process_tree(p.pid())).unwrap_or_default()
    }

    /// CPU seconds (user + system) of the relay's process tree: every live process from its
    /// CPU clock (nanoseconds, ended threads included), plus the reaped children each has waited
    /// for (websockify's ended session processes). The clock rather than /proc/PID/stat's
    /// utime+stime, whose 10 ms ticks would drop most of what 50 short-lived processes use.
    fn cpu_s(&self) -> Option<f64> {
        self.proc.as_ref()?;
        let tick = clock_ticks();
        let total = self
            .tree()
            .iter()
            .filter_map(|&p| {
                let st = proc_stat(p)?;
                let own = process_cpu_s(p).unwrap_or((st.utime + st.stime) as f64 / tick);
                Some(own + (st.cutime + st.cstime) as f64 / tick)
            })
            .sum();
        Some(total)
    }

    /// System (kernel) CPU seconds of the relay's tree, reaped children included, in 10 ms ticks.
    fn system_s(&self) -> Option<f64> {
        self.proc.as_ref()?;
        let ticks: u64 = self.tree().iter().filter_map(|&p| proc_stat(p)).map(|s| s.stime + s.cstime).sum();
        Some(ticks as f64 / clock_ticks())
    }

    /// Proportional set size of the relay's tree, KiB.
    fn pss_kib(&self) -> Result<u64> {
        let mut total = 0;
        for pid in self.tree() {
            let path = format!("/proc/{pid}/smaps_rollup");
            let Ok(text) = std::fs::read_to_string(&path) else { continue }; // a process that just ended
            let pss = text
                .lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .with_context(|| format!("no Pss line in {path}"))?;
            total += pss;
        }
        Ok(total)
    }

    /// Waits (up to `limit`) until the relay has no session processes left (websockify).
    fn wait_sessions_gone(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.proc.is_some() && self.tree().len() > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A process started here: stopped on drop (SIGTERM, then SIGKILL), together with every
/// process it forked that is still running.
struct Proc {
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command, log: &Path, pin: bool) -> Result<Proc> {
        let f = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::null()).stdout(f.try_clone()?).stderr(f);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // Should this process die without dropping the guard, the relay goes too.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                if pin {
                    pin_to_cpu0(0)?;
                }
                Ok(())
            });
        }
        let child =
            cmd.spawn().with_context(|| format!("starting {name} ({})", cmd.get_program().to_string_lossy()))?;
        Ok(Proc { child: Some(child), log: log.to_path_buf() })
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pid = child.id();
        // The forked session processes, with their start times so a reused PID is left alone.
        let forked: Vec<(u32, u64)> = process_tree(pid)
            .into_iter()
            .filter(|&p| p != pid)
            .filter_map(|p| Some((p, proc_stat(p)?.starttime)))
            .collect();
        if child.try_wait().ok().flatten().is_none() {
            // SAFETY: kill(2) on our own child, not yet waited for, so its PID is still ours.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + STOP_GRACE;
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
        }
        let _ = child.wait();
        for (p, start) in forked {
            if proc_stat(p).is_some_and(|s| s.starttime == start) {
                // SAFETY: kill(2) on a process this one's child forked (same PID and start time).
                unsafe { libc::kill(p as libc::pid_t, libc::SIGKILL) };
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// /proc, limits, CPUs

struct ProcStat {
    utime: u64,
    stime: u64,
    cutime: u64,
    cstime: u64,
    starttime: u64,
}

fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i)?.parse::<u64>().ok();
    // f[0] is field 3 (state), so field N is f[N - 3].
    Some(ProcStat { utime: num(11)?, stime: num(12)?, cutime: num(13)?, cstime: num(14)?, starttime: num(19)? })
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// The CPU clock of process `pid` (all its threads, ended ones included), in seconds.
fn process_cpu_s(pid: u32) -> Option<f64> {
    // What glibc's clock_getcpuclockid(pid) returns: MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)
    // of the kernel's ABI, i.e. (~pid << 3) | 2.
    let clock = ((!(pid as libc::clockid_t)) << 3) | 2;
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we pass.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None; // gone, or a zombie
    }
    Some(ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9)
}

/// Busy CPU seconds of the whole machine since boot, all CPUs (user, nice, system, irq,
/// softirq, steal of /proc/stat's first line).
fn machine_busy_s() -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> =
        text.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    (at(0) + at(1) + at(2) + at(5) + at(6) + at(7)) as f64 / clock_ticks()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// User + system CPU seconds of this process (all threads).
fn self_cpu_s() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// `--realtime`: the round-trip phase's threads and relays run SCHED_FIFO.
static REALTIME: AtomicBool = AtomicBool::new(false);

/// Pins the thread `tid` (0: the calling thread or, before exec, the new process) to CPU 0, and
/// with `--realtime` makes it SCHED_FIFO (priority 1) so that other processes on a busy machine
/// cannot preempt it. Async-signal-safe (it also runs between fork and exec).
fn pin_to_cpu0(tid: libc::pid_t) -> io::Result<()> {
    if REALTIME.load(Ordering::Relaxed) {
        let param = libc::sched_param { sched_priority: 1 };
        // SAFETY: sched_setscheduler reads the parameter we pass.
        if unsafe { libc::sched_setscheduler(tid, libc::SCHED_FIFO, &param) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET and sched_setaffinity only touch it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        if libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Raises the open-files soft limit to the hard limit: 1000 idle sessions are 2000 sockets here
/// (client and target ends), and the relays inherit the limit.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit with a valid resource and a pointer to a local struct.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                eprintln!("relay_bench: cannot raise the open-files limit: {}", io::Error::last_os_error());
            }
        }
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<u16> {
    let l = StdListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// Whether something listens on 127.0.0.1:`port` (from /proc/net/tcp, so that no probe
/// connection makes websockify fork a session process).
fn is_listening(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| {
        t.lines().skip(1).any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&want.as_str()) && f.get(3) == Some(&"0A")
        })
    })
}

/// Versions of the peers, for the report.
fn versions(ctx: &Ctx, kinds: &[PeerKind]) -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    if kinds.contains(&PeerKind::Oxvnc) {
        let out = Command::new(&ctx.oxvnc).arg("--version").stdin(Stdio::null()).output();
        if let Ok(o) = out {
            v.insert("oxvnc".into(), String::from_utf8_lossy(&o.stdout).trim().to_owned());
        }
    }
    if kinds.contains(&PeerKind::Websockify) {
        // <venv>/bin/websockify → <venv>/lib/python3.X/site-packages/NAME-VERSION.dist-info
        let venv = ctx.websockify.parent().and_then(Path::parent);
        let mut found = Vec::new();
        if let Some(lib) = venv.map(|d| d.join("lib")) {
            for py in std::fs::read_dir(lib).into_iter().flatten().flatten() {
                for e in std::fs::read_dir(py.path().join("site-packages")).into_iter().flatten().flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if let Some(nv) = name.strip_suffix(".dist-info") {
                        if nv.starts_with("websockify-") || nv.starts_with("numpy-") {
                            found.push(nv.replacen('-', " ", 1));
                        }
                    }
                }
            }
        }
        found.sort();
        found.reverse(); // websockify first
        v.insert("websockify".into(), if found.is_empty() { "unknown version".into() } else { found.join(", ") });
    }
    v
}

// ---------------------------------------------------------------------------------------------
// The report

struct Row {
    metric: String,
    unit: &'static str,
    direct: Option<f64>,
    oxvnc: Option<f64>,
    websockify: Option<f64>,
    /// oxvnc ÷ websockify, when the row compares them.
    ratio: Option<f64>,
    target: Option<Goal>,
    decimals: usize,
}

#[derive(Clone, Copy)]
enum Goal {
    /// oxvnc ÷ websockify at least this.
    RatioAtLeast(f64),
    /// oxvnc ÷ websockify at most this.
    RatioAtMost(f64, &'static str),
    /// oxvnc's value at most this.
    AtMost(f64),
}

impl Row {
    fn verdict(&self) -> Option<bool> {
        match self.target? {
            Goal::RatioAtLeast(t) => self.ratio.map(|r| r >= t),
            Goal::RatioAtMost(t, _) => self.ratio.map(|r| r <= t),
            Goal::AtMost(t) => self.oxvnc.map(|v| v <= t),
        }
    }
    fn target_text(&self) -> String {
        match self.target {
            None => "—".into(),
            Some(Goal::RatioAtLeast(t)) => format!("≥ {t}×"),
            Some(Goal::RatioAtMost(_, text)) => format!("≤ {text}"),
            Some(Goal::AtMost(t)) => format!("≤ {t} {}", self.unit),
        }
    }
}

struct Report {
    rows: Vec<Row>,
}

impl Report {
    fn new(args: &Args, r: &BTreeMap<PeerKind, PeerResults>) -> Report {
        let get = |k: PeerKind, f: &dyn Fn(&PeerResults) -> Option<f64>| r.get(&k).and_then(f);
        let ratio = |o: Option<f64>, w: Option<f64>| match (o, w) {
            (Some(o), Some(w)) if w > 0.0 => Some(o / w),
            _ => None,
        };
        let mut rows = Vec::new();
        let mut row = |metric: String,
                       unit: &'static str,
                       f: &dyn Fn(&PeerResults) -> Option<f64>,
                       compare: bool,
                       target: Option<Goal>,
                       decimals: usize| {
            let (d, o, w) = (get(PeerKind::Direct, f), get(PeerKind::Oxvnc, f), get(PeerKind::Websockify, f));
            rows.push(Row {
                metric,
                unit,
                direct: d,
                oxvnc: o,
                websockify: w,
                ratio: if compare { ratio(o, w) } else { None },
                target,
                decimals,
            });
        };
        let mb = args.mb;
        let gbps = |t: &[Transfer]| median(t.iter().map(Transfer::gb_per_s));
        let cpu = |t: &[Transfer]| median(t.iter().filter_map(Transfer::relay_cpu_per_gb));
        row(
            format!("server→browser, 1 session × {mb} MB (GB/s)"),
            "GB/s",
            &|p| gbps(&p.to_browser),
            true,
            Some(Goal::RatioAtLeast(1.3)),
            2,
        );
        row(
            format!("browser→server, 1 session × {mb} MB (GB/s)"),
            "GB/s",
            &|p| gbps(&p.to_server),
            true,
            Some(Goal::RatioAtLeast(3.0)),
            2,
        );
        row(
            "relay CPU per GB, server→browser (CPU-s)".into(),
            "s",
            &|p| cpu(&p.to_browser),
            true,
            Some(Goal::RatioAtMost(0.5, "½×")),
            2,
        );
        row(
            "relay CPU per GB, browser→server (CPU-s)".into(),
            "s",
            &|p| cpu(&p.to_server),
            true,
            Some(Goal::RatioAtMost(0.5, "½×")),
            2,
        );
        let (n, each) = (args.sessions, args.session_mb);
        row(
            format!("{n} sessions × {each} MB server→browser, aggregate (GB/s)"),
            "GB/s",
            &|p| gbps(&p.many_to_browser),
            true,
            Some(Goal::RatioAtLeast(1.5)),
            2,
        );
        row(
            format!("{n} sessions × {each} MB browser→server, aggregate (GB/s)"),
            "GB/s",
            &|p| gbps(&p.many_to_server),
            true,
            None,
            2,
        );
        row(
            format!("relay CPU per GB, {n} sessions server→browser (CPU-s)"),
            "s",
            &|p| cpu(&p.many_to_browser),
            true,
            None,
            2,
        );
        row(
            format!("relay CPU per GB, {n} sessions browser→server (CPU-s)"),
            "s",
            &|p| cpu(&p.many_to_server),
            true,
            None,
            2,
        );
        let cpu0 = if args.realtime { "all on CPU 0, SCHED_FIFO" } else { "all on CPU 0" };
        row(
            format!("RTT p50, {RTT_BYTES} B, {cpu0} (µs)"),
            "µs",
            &|p| p.rtt.as_ref().map(|x| x.p50_us),
            false,
            None,
            1,
        );
        row(
            format!("RTT p99, {RTT_BYTES} B, {cpu0} (µs)"),
            "µs",
            &|p| p.rtt.as_ref().map(|x| x.p99_us),
            false,
            None,
            1,
        );
        let direct_rtt = r.get(&PeerKind::Direct).and_then(|p| p.rtt.clone());
        let added = |q: fn(&Rtt) -> f64| {
            let d = direct_rtt.clone();
            move |p: &PeerResults| Some(q(p.rtt.as_ref()?) - q(d.as_ref()?))
        };
        let added50 = added(|x| x.p50_us);
        let added99 = added(|x| x.p99_us);
        let mut relay_only = |metric: String,
                              unit: &'static str,
                              f: &dyn Fn(&PeerResults) -> Option<f64>,
                              target: Option<Goal>,
                              decimals: usize| {
            let o = get(PeerKind::Oxvnc, f);
            let w = get(PeerKind::Websockify, f);
            rows.push(Row {
                metric,
                unit,
                direct: None,
                oxvnc: o,
                websockify: w,
                ratio: ratio(o, w),
                target,
                decimals,
            });
        };
        relay_only("added RTT p50 (relay − direct, µs)".into(), "µs", &added50, None, 1);
        relay_only(
            "added RTT p99 (relay − direct, µs)".into(),
            "µs",
            &added99,
            Some(Goal::RatioAtMost(1.0 / 3.0, "⅓×")),
            1,
        );
        let hs = args.handshakes;
        rows.push({
            let f = |p: &PeerResults| p.handshakes.as_ref().map(|h| h.slowest_ms);
            let (d, o, w) = (get(PeerKind::Direct, &f), get(PeerKind::Oxvnc, &f), get(PeerKind::Websockify, &f));
            Row {
                metric: format!("slowest of {hs} simultaneous handshakes (ms)"),
                unit: "ms",
                direct: d,
                oxvnc: o,
                websockify: w,
                ratio: ratio(o, w),
                target: Some(Goal::AtMost(50.0)),
                decimals: 1,
            }
        });
        rows.push({
            let f = |p: &PeerResults| p.idle.as_ref().map(|m| m.per_session_kib);
            let (o, w) = (get(PeerKind::Oxvnc, &f), get(PeerKind::Websockify, &f));
            Row {
                metric: format!("PSS per idle session, {} sessions (KiB)", args.idle),
                unit: "KiB",
                direct: None,
                oxvnc: o,
                websockify: w,
                ratio: ratio(o, w),
                target: Some(Goal::AtMost(20.0)),
                decimals: 1,
            }
        });
        Report { rows }
    }

    fn markdown(&self) -> String {
        let fmt = |v: Option<f64>, d: usize| v.map_or("—".to_owned(), |v| format!("{v:.d$}"));
        let mut table = vec![vec![
            "metric".to_owned(),
            "direct TCP".into(),
            "oxvnc".into(),
            "websockify".into(),
            "oxvnc ÷ websockify".into(),
            "target".into(),
            "result".into(),
        ]];
        for r in &self.rows {
            table.push(vec![
                r.metric.clone(),
                fmt(r.direct, r.decimals),
                fmt(r.oxvnc, r.decimals),
                fmt(r.websockify, r.decimals),
                r.ratio.map_or("—".into(), |x| if x < 0.1 { format!("{x:.3}×") } else { format!("{x:.2}×") }),
                r.target_text(),
                match r.verdict() {
                    None if r.target.is_some() => "n/a".into(),
                    None => "".into(),
                    Some(true) => "PASS".into(),
                    Some(false) => "MISS".into(),
                },
            ]);
        }
        let widths: Vec<usize> =
            (0..table[0].len()).map(|c| table.iter().map(|row| row[c].chars().count()).max().unwrap_or(0)).collect();
        let mut out = String::new();
        for (i, row) in table.iter().enumerate() {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(c, s)| {
                    let pad = widths[c] - s.chars().count();
                    if c == 0 { format!("{s}{}", " ".repeat(pad)) } else { format!("{}{s}", " ".repeat(pad)) }
                })
                .collect();
            out += &format!("| {} |\n", cells.join(" | "));
            if i == 0 {
                let rule: Vec<String> = widths
                    .iter()
                    .enumerate()
                    .map(|(c, w)| if c == 0 { "-".repeat(*w) } else { format!("{}:", "-".repeat(w - 1)) })
                    .collect();
                out += &format!("| {} |\n", rule.join(" | "));
            }
        }
        out.trim_end().to_owned()
    }

    fn json(
        &self,
        args: &Args,
        r: &BTreeMap<PeerKind, PeerResults>,
        versions: &BTreeMap<String, String>,
        elapsed: Duration,
    ) -> Value {
        let peers: serde_json::Map<String, Value> = r
            .iter()
            .map(|(k, p)| {
                (
                    k.key().to_owned(),
                    json!({
                        "server_to_browser": rounds_json(&p.to_browser),
                        "browser_to_server": rounds_json(&p.to_server),
                        "sessions_server_to_browser": rounds_json(&p.many_to_browser),
                        "sessions_browser_to_server": rounds_json(&p.many_to_server),
                        "rtt_us": p.rtt.as_ref().map(Rtt::json),
                        "handshakes_ms": p.handshakes.as_ref().map(|h| json!({"n": h.n, "slowest": h.slowest_ms, "median": h.median_ms})),
                        "idle_memory": p.idle.as_ref().map(|m| json!({
                            "sessions_wanted": m.wanted,
                            "sessions": m.sessions,
                            "failures": m.failures,
                            "pss_before_kib": m.base_kib,
                            "pss_after_kib": m.loaded_kib,
                            "processes": m.processes,
                            "pss_per_session_kib": m.per_session_kib,
                        })),
                    }),
                )
            })
            .collect();
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                json!({
                    "metric": row.metric,
                    "direct": row.direct,
                    "oxvnc": row.oxvnc,
                    "websockify": row.websockify,
                    "oxvnc_over_websockify": row.ratio,
                    "target": row.target.map(|_| row.target_text()),
                    "pass": row.verdict(),
                })
            })
            .collect();
        json!({
            "benchmark": "relay",
            "command": "cargo xtask bench relay",
            "cpus": cpus(),
            "seconds": elapsed.as_secs_f64(),
            "versions": versions,
            "settings": {
                "mb_per_direction": args.mb,
                "rounds": args.rounds,
                "concurrent_sessions": args.sessions,
                "mb_per_concurrent_session": args.session_mb,
                "idle_sessions": args.idle,
                "simultaneous_handshakes": args.handshakes,
                "rtt_samples": args.rtt_samples,
                "rtt_rounds": args.rtt_rounds,
                "rtt_warmup": RTT_WARMUP,
                "rtt_message_bytes": RTT_BYTES,
                "rtt_sched_fifo": args.realtime,
                "client_message_bytes": MSG,
                "websockify_mode": "default: one forked process per connection (not --libserver), not verbose, no heartbeat, stderr to a log file",
                "oxvnc_mode": "default settings: oxvnc serve --vnc TARGET --listen ADDR (info log to a file)",
            },
            "peers": peers,
            "table": rows,
        })
    }
}

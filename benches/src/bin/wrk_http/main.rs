//! Load test under a real client: the `http` example's server (hyper 1.x
//! hello world on weft, `examples/examples/http.rs`) and the same server on
//! Tokio (hyper-util's `TokioIo`/`TokioExecutor`, see `tokio_server`), each
//! in its own process, loaded by wrk (`wrk -t1 -c64 -d<secs>s --latency`)
//! on 127.0.0.1, so every figure is taken from outside the server.
//!
//! Two setups: `pinned`, each server with one worker under
//! `taskset -c 0` and wrk under `taskset -c 1`; `unpinned`, each server
//! with one worker per CPU it may use (the example's default; Tokio gets
//! the same count) and wrk where the kernel puts it. Each run measures
//! both runtimes, alternating which goes first; every measurement starts
//! a fresh server, loads it for a 1 s warm-up and then for the measured
//! duration. The report gives, per runtime, the median over the runs of
//! requests per second and of wrk's p50 and p99 latency, and the
//! weft/Tokio ratios (req/s: higher is better; latency: lower is better).
//!
//! ```text
//! cargo build --release -p weft-examples --example http
//! cargo build --release -p weft-benches --bin wrk_http
//! target/release/wrk_http [--runs N] [--duration SECS] [--quick] [--setup pinned|unpinned|both]
//!                         [--weft-server PATH]
//! ```
//!
//! Defaults: 5 runs of 10 s per runtime and setup (about 4 minutes);
//! `--quick` is 1 run of 3 s. Without wrk on the PATH it prints how to
//! install it and exits 0 ("skipped"); without `taskset` (or with one CPU)
//! the pinned setup is skipped. Servers and wrk are killed on every exit
//! path (see `child`).

mod child;
mod tokio_server;
mod wrk;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use child::Child;
use wrk::WrkResult;

/// wrk's connections (`-c`), as in the issue's setup.
const CONNECTIONS: usize = 64;
const DEFAULT_RUNS: usize = 5;
const MAX_RUNS: usize = 25;
const DEFAULT_SECS: u64 = 10;
const MAX_SECS: u64 = 60;
const QUICK_RUNS: usize = 1;
const QUICK_SECS: u64 = 3;
/// Load before each measured wrk run, on the same server.
const WARMUP_SECS: u64 = 1;
/// How long a fresh server may take to accept connections.
const START_LIMIT: Duration = Duration::from_secs(20);
/// wrk may overrun its duration by this much before it is killed.
const WRK_GRACE: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, PartialEq)]
enum Runtime {
    Weft,
    Tokio,
}

impl Runtime {
    fn name(self) -> &'static str {
        match self {
            Runtime::Weft => "weft",
            Runtime::Tokio => "tokio",
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Setup {
    Pinned,
    Unpinned,
}

struct Options {
    runs: usize,
    secs: u64,
    setups: Vec<Setup>,
    weft_server: Option<PathBuf>,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: wrk_http [--runs N<={MAX_RUNS}] [--duration SECS<={MAX_SECS}] [--quick] \
         [--setup pinned|unpinned|both] [--weft-server PATH]"
    );
    ExitCode::from(2)
}

fn parse_args(args: &[String]) -> Option<Options> {
    let mut options = Options {
        runs: DEFAULT_RUNS,
        secs: DEFAULT_SECS,
        setups: vec![Setup::Pinned, Setup::Unpinned],
        weft_server: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => (options.runs, options.secs) = (QUICK_RUNS, QUICK_SECS),
            "--runs" => {
                options.runs = args.next()?.parse().ok().filter(|n| (1..=MAX_RUNS).contains(n))?
            }
            "--duration" => {
                options.secs = args.next()?.parse().ok().filter(|n| (1..=MAX_SECS).contains(n))?
            }
            "--setup" => {
                options.setups = match args.next()?.as_str() {
                    "pinned" => vec![Setup::Pinned],
                    "unpinned" => vec![Setup::Unpinned],
                    "both" => vec![Setup::Pinned, Setup::Unpinned],
                    _ => return None,
                }
            }
            "--weft-server" => options.weft_server = Some(PathBuf::from(args.next()?)),
            _ => return None,
        }
    }
    Some(options)
}

/// `name` if an executable of that name is on the PATH.
fn on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(name))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// A port free right now on 127.0.0.1 (the server binds it a moment
/// later; a clash shows up as a server that fails to start).
fn free_addr() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// Waits until `server` accepts connections on `addr`.
fn wait_ready(server: &mut Child, addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + START_LIMIT;
    loop {
        if let Some(status) = server.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("server exited before serving: {status}"));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("server not accepting on {addr} after {START_LIMIT:?}"));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// One wrk run against `addr`, pinned to `cpu` if given.
fn run_wrk(addr: SocketAddr, secs: u64, cpu: Option<usize>) -> Result<WrkResult, String> {
    let args: Vec<String> = vec![
        "-t1".into(),
        format!("-c{CONNECTIONS}"),
        format!("-d{secs}s"),
        "--latency".into(),
        format!("http://{addr}/"),
    ];
    let wrk = Child::spawn("wrk", &args, cpu, true).map_err(|e| format!("starting wrk: {e}"))?;
    let (status, out) =
        wrk.wait_output(Duration::from_secs(secs) + WRK_GRACE).map_err(|e| format!("wrk: {e}"))?;
    if !status.success() {
        return Err(format!("wrk failed ({status}):\n{out}"));
    }
    let result = wrk::parse(&out)?;
    if result.bad_status > 0 {
        return Err(format!("{} responses were not 2xx/3xx:\n{out}", result.bad_status));
    }
    Ok(result)
}

/// Starts a fresh server for `runtime`, warms it up and measures it once.
fn measure(
    runtime: Runtime,
    setup: Setup,
    secs: u64,
    weft_server: &Path,
    workers: usize,
) -> Result<WrkResult, String> {
    let addr = free_addr().map_err(|e| format!("finding a free port: {e}"))?;
    let (server_cpu, wrk_cpu) = match setup {
        Setup::Pinned => (Some(0), Some(1)),
        Setup::Unpinned => (None, None),
    };
    let self_exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let (program, args) = match runtime {
        Runtime::Weft => (weft_server.to_path_buf(), vec!["--serve".into(), addr.to_string()]),
        Runtime::Tokio => {
            (self_exe, vec!["--serve-tokio".into(), addr.to_string(), workers.to_string()])
        }
    };
    let program = program.to_str().ok_or("server path is not UTF-8")?.to_owned();
    // Dropped (killed and reaped) on every return below.
    let mut server = Child::spawn(&program, &args, server_cpu, false)
        .map_err(|e| format!("starting {}: {e}", runtime.name()))?;
    wait_ready(&mut server, addr)?;
    run_wrk(addr, WARMUP_SECS, wrk_cpu)?;
    let result = run_wrk(addr, secs, wrk_cpu)?;
    if let Some(status) = server.try_wait().map_err(|e| e.to_string())? {
        return Err(format!("{} server exited during the run: {status}", runtime.name()));
    }
    Ok(result)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Medians of one runtime's samples: (req/s, p50 us, p99 us).
fn medians(samples: &[WrkResult]) -> (f64, f64, f64) {
    (
        median(samples.iter().map(|s| s.rps).collect()),
        median(samples.iter().map(|s| s.p50_us).collect()),
        median(samples.iter().map(|s| s.p99_us).collect()),
    )
}

fn print_setup(title: &str, weft: &[WrkResult], tokio: &[WrkResult]) {
    println!("\n## {title}\n");
    println!("| runtime | req/s | p50 | p99 | req/s per run | socket errors |");
    println!("|---|---:|---:|---:|---|---:|");
    for (name, samples) in [("weft", weft), ("tokio", tokio)] {
        let (rps, p50, p99) = medians(samples);
        let runs: Vec<String> = samples.iter().map(|s| format!("{:.0}", s.rps)).collect();
        let errors: u64 = samples.iter().map(|s| s.socket_errors).sum();
        println!(
            "| {name} | {rps:.0} | {:.0} us | {:.0} us | {} | {errors} |",
            p50,
            p99,
            runs.join(", ")
        );
    }
    let (w, t) = (medians(weft), medians(tokio));
    println!(
        "| weft/tokio | {:.2} | {:.2} | {:.2} | (req/s: higher is better; latency: lower) | |",
        w.0 / t.0,
        w.1 / t.1,
        w.2 / t.2
    );
}

fn run(options: &Options) -> Result<(), String> {
    let weft_server = match &options.weft_server {
        Some(path) => path.clone(),
        None => {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            exe.parent().ok_or("no directory for this binary")?.join("examples").join("http")
        }
    };
    if !weft_server.is_file() {
        return Err(format!(
            "the weft server {} is missing; build it with \
             `cargo build --release -p weft-examples --example http` (or pass --weft-server)",
            weft_server.display()
        ));
    }
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    for &setup in &options.setups {
        let (title, workers) = match setup {
            Setup::Pinned => {
                if cpus < 2 || !on_path("taskset") {
                    println!("\npinned setup skipped: it needs `taskset` and 2 CPUs ({cpus} here)");
                    continue;
                }
                ("pinned: server 1 worker on CPU 0 (taskset), wrk on CPU 1".to_owned(), 1)
            }
            Setup::Unpinned => (format!("unpinned: server {cpus} workers, wrk anywhere"), cpus),
        };
        let title = format!(
            "{title}; wrk -t1 -c{CONNECTIONS} -d{}s, {} run(s), medians",
            options.secs, options.runs
        );
        let (mut weft, mut tokio) = (Vec::new(), Vec::new());
        for round in 0..options.runs {
            let order = if round % 2 == 0 {
                [Runtime::Weft, Runtime::Tokio]
            } else {
                [Runtime::Tokio, Runtime::Weft]
            };
            for runtime in order {
                let result = measure(runtime, setup, options.secs, &weft_server, workers)?;
                eprintln!(
                    "{} run {}/{}: {}: {:.0} req/s, p50 {:.0} us, p99 {:.0} us",
                    if setup == Setup::Pinned { "pinned" } else { "unpinned" },
                    round + 1,
                    options.runs,
                    runtime.name(),
                    result.rps,
                    result.p50_us,
                    result.p99_us
                );
                match runtime {
                    Runtime::Weft => weft.push(result),
                    Runtime::Tokio => tokio.push(result),
                }
            }
        }
        print_setup(&title, &weft, &tokio);
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve-tokio") {
        let (Some(addr), Some(workers)) = (
            args.get(1).and_then(|a| a.parse().ok()),
            args.get(2).and_then(|w| w.parse::<usize>().ok()).filter(|&w| w > 0),
        ) else {
            return usage();
        };
        return match tokio_server::serve(addr, workers) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tokio server: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let Some(options) = parse_args(&args) else {
        return usage();
    };
    if !on_path("wrk") {
        println!(
            "wrk_http skipped: `wrk` is not on the PATH. Install it (Debian/Ubuntu: \
             `sudo apt-get install wrk`) and run again."
        );
        return ExitCode::SUCCESS;
    }
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wrk_http failed: {e}");
            ExitCode::FAILURE
        }
    }
}

//! The networking rows: `tcp_echo`, `http_hello`, and `idle_conns` (each
//! sample in a child process).

use super::*;

/// Messages per connection in the untimed warm-up run of `tcp_echo`.
pub(super) const ECHO_WARM_MSGS: usize = 100;
/// Requests per connection in the untimed warm-up run of `http_hello`.
pub(super) const HTTP_WARM_REQS: usize = 50;
/// Hidden first argument: run one `idle_conns` measurement and print it
/// (see `idle_conns_sample`).
pub(super) const IDLE_CHILD_ARG: &str = "--idle-conns-child";

/// `tcp_echo` on a fresh `R` runtime of `flavor`: a warm-up run of
/// [`ECHO_WARM_MSGS`] messages per connection, then ns per message of a
/// timed run.
pub(super) fn echo_sample<R: Rt>(flavor: Flavor, dog: &Watchdog) -> f64 {
    dog.starting(format!("tcp_echo ({flavor:?}) on {}", R::NAME));
    let rt: R = flavor.build();
    net::tcp_echo(&rt, ECHO_CONNS, ECHO_WARM_MSGS);
    let elapsed = net::tcp_echo(&rt, ECHO_CONNS, ECHO_MSGS);
    drop(rt);
    elapsed.as_secs_f64() * 1e9 / (ECHO_CONNS * ECHO_MSGS) as f64
}

/// `http_hello` on a fresh `R` runtime: a warm-up run of
/// [`HTTP_WARM_REQS`] requests per connection, then ns per request of a
/// timed run.
pub(super) fn http_sample<R: HyperRt>(dog: &Watchdog) -> f64 {
    dog.starting(format!("http_hello on {}", R::NAME));
    let rt = R::with_workers(WORKER_THREADS);
    http::http_hello(&rt, HTTP_CONNS, HTTP_WARM_REQS);
    let elapsed = http::http_hello(&rt, HTTP_CONNS, HTTP_REQS);
    drop(rt);
    elapsed.as_secs_f64() * 1e9 / (HTTP_CONNS * HTTP_REQS) as f64
}

/// `axum_hello` on a fresh `R` runtime: a warm-up run of
/// [`HTTP_WARM_REQS`] requests per connection, then ns per request of a
/// timed run (as [`http_sample`], through each runtime's axum server loop).
pub(super) fn axum_sample<R: AxumRt>(dog: &Watchdog) -> f64 {
    dog.starting(format!("axum_hello on {}", R::NAME));
    let rt = R::with_workers(WORKER_THREADS);
    axum::axum_hello(&rt, HTTP_CONNS, HTTP_WARM_REQS);
    let elapsed = axum::axum_hello(&rt, HTTP_CONNS, HTTP_REQS);
    drop(rt);
    elapsed.as_secs_f64() * 1e9 / (HTTP_CONNS * HTTP_REQS) as f64
}

/// The networking rows measured round by round.
pub(super) struct NetRows {
    pub(super) echo: Row,
    pub(super) http: Row,
    pub(super) axum: Row,
}

impl NetRows {
    pub(super) fn new() -> NetRows {
        NetRows {
            echo: Row::new(format!(
                "tcp_echo ({ECHO_CONNS} conns × {ECHO_MSGS} msgs of {ECHO_MSG_SIZE} B; ns/msg)"
            )),
            http: Row::new(format!(
                "http_hello (hyper, {HTTP_CONNS} keep-alive conns × {HTTP_REQS} reqs; ns/req)"
            )),
            axum: Row::new(format!(
                "axum_hello (axum Router, {HTTP_CONNS} keep-alive conns × {HTTP_REQS} reqs; ns/req)"
            )),
        }
    }

    pub(super) fn sample(&mut self, weft_first: bool, dog: &Watchdog) {
        if weft_first {
            self.echo.weft.push(echo_sample::<Weft>(Flavor::MultiThread, dog));
            self.echo.tokio.push(echo_sample::<Tokio>(Flavor::MultiThread, dog));
            self.http.weft.push(http_sample::<Weft>(dog));
            self.http.tokio.push(http_sample::<Tokio>(dog));
            self.axum.weft.push(axum_sample::<Weft>(dog));
            self.axum.tokio.push(axum_sample::<Tokio>(dog));
        } else {
            self.echo.tokio.push(echo_sample::<Tokio>(Flavor::MultiThread, dog));
            self.echo.weft.push(echo_sample::<Weft>(Flavor::MultiThread, dog));
            self.http.tokio.push(http_sample::<Tokio>(dog));
            self.http.weft.push(http_sample::<Weft>(dog));
            self.axum.tokio.push(axum_sample::<Tokio>(dog));
            self.axum.weft.push(axum_sample::<Weft>(dog));
        }
    }
}

/// The `idle_conns` measurement of `runtime` ("weft" or "tokio") with
/// `conns` connections, in a child process (this binary with
/// [`IDLE_CHILD_ARG`]), so each runtime starts from a fresh heap and
/// resident set rather than reusing pages the previous sample freed.
pub(super) fn idle_conns_sample(
    runtime: &str,
    conns: usize,
    dog: &Watchdog,
) -> Option<net::IdleConns> {
    dog.starting(format!("idle_conns ({conns}) on {runtime}"));
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new(exe)
        .args([IDLE_CHILD_ARG, runtime, &conns.to_string()])
        .output()
        .map_err(|e| eprintln!("compare: cannot start the idle_conns child: {e}"))
        .ok()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let parsed = stdout.lines().find_map(|line| {
        let mut fields = line.strip_prefix("idle_conns ")?.split_whitespace();
        let conns = fields.next()?.parse().ok()?;
        let rss_per_conn = fields.next()?.parse().ok()?;
        let heap: f64 = fields.next()?.parse().ok()?;
        Some(net::IdleConns {
            conns,
            rss_per_conn,
            heap_per_conn: (!heap.is_nan()).then_some(heap),
        })
    });
    if parsed.is_none() {
        eprintln!(
            "compare: idle_conns on {runtime} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parsed
}

/// The child side of [`idle_conns_sample`]: measures on a fresh runtime
/// and prints one `idle_conns CONNS RSS_PER_CONN HEAP_PER_CONN` line.
pub(super) fn idle_conns_child(runtime: &str, conns: &str) -> ExitCode {
    let Ok(conns) = conns.parse::<usize>() else {
        eprintln!("compare: bad connection count {conns:?}");
        return ExitCode::from(2);
    };
    if let Err(e) = weft_dev_support::raise_fd_limit() {
        eprintln!("compare: cannot raise the open-file limit: {e}");
    }
    pub(super) fn measure<R: Rt>(conns: usize) -> net::IdleConns {
        let rt = R::with_workers(WORKER_THREADS);
        let result = net::idle_conns(&rt, conns);
        drop(rt);
        result
    }
    let result = match runtime {
        "weft" => measure::<Weft>(conns),
        "tokio" => measure::<Tokio>(conns),
        other => {
            eprintln!("compare: unknown runtime {other:?}");
            return ExitCode::from(2);
        }
    };
    println!(
        "idle_conns {} {} {}",
        result.conns,
        result.rss_per_conn,
        result.heap_per_conn.unwrap_or(f64::NAN)
    );
    ExitCode::SUCCESS
}

/// The `idle_conns` rows, [`ALLOC_REPS`] child processes per runtime, and
/// the connection count used.
pub(super) fn idle_conns_rows(fd_limit: u64, dog: &Watchdog) -> (Vec<Row>, usize) {
    let conns = net::idle_conns_target(fd_limit);
    let mut rss = Row::new(format!("idle_conns RSS growth/conn ({conns} conns; bytes)"));
    let mut heap = Row::new(format!("idle_conns heap growth/conn ({conns} conns; bytes)"));
    for rep in 0..ALLOC_REPS {
        let (w, t) = if rep % 2 == 0 {
            (idle_conns_sample("weft", conns, dog), idle_conns_sample("tokio", conns, dog))
        } else {
            let t = idle_conns_sample("tokio", conns, dog);
            (idle_conns_sample("weft", conns, dog), t)
        };
        for (sample, rss_col, heap_col) in
            [(w, &mut rss.weft, &mut heap.weft), (t, &mut rss.tokio, &mut heap.tokio)]
        {
            let Some(sample) = sample else { continue };
            rss_col.push(sample.rss_per_conn);
            if let Some(h) = sample.heap_per_conn {
                heap_col.push(h);
            }
        }
    }
    (vec![rss, heap], conns)
}

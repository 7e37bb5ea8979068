//! Reading wrk's report (`wrk --latency`): requests per second, the 50th
//! and 99th latency percentiles, and the error lines.

/// What one wrk run measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct WrkResult {
    /// `Requests/sec:`.
    pub(crate) rps: f64,
    /// The `50%` row of `Latency Distribution`, in microseconds.
    pub(crate) p50_us: f64,
    /// The `99%` row, in microseconds.
    pub(crate) p99_us: f64,
    /// The `N requests in ...` total.
    pub(crate) requests: u64,
    /// Sum of the `Socket errors:` counts (connect, read, write, timeout).
    pub(crate) socket_errors: u64,
    /// `Non-2xx or 3xx responses:`.
    pub(crate) bad_status: u64,
}

/// A wrk duration such as `812.00us`, `1.25ms`, `2.00s` or `1.50m`, in
/// microseconds.
fn parse_latency(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    Some(value * scale)
}

/// Parses the report wrk prints with `--latency`.
pub(crate) fn parse(report: &str) -> Result<WrkResult, String> {
    let (mut rps, mut p50, mut p99, mut requests) = (None, None, None, None);
    let (mut socket_errors, mut bad_status) = (0, 0);
    for line in report.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        match first {
            "Requests/sec:" => rps = words.next().and_then(|w| w.parse::<f64>().ok()),
            "50%" => p50 = words.next().and_then(parse_latency),
            "99%" => p99 = words.next().and_then(parse_latency),
            _ if line.contains(" requests in ") => {
                requests = first.parse::<u64>().ok();
            }
            _ if line.starts_with("Socket errors:") => {
                // `Socket errors: connect 0, read 0, write 0, timeout 0`
                socket_errors = line
                    .split([',', ':'])
                    .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .sum();
            }
            _ if line.starts_with("Non-2xx or 3xx responses:") => {
                bad_status = line.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
            }
            _ => {}
        }
    }
    match (rps, p50, p99, requests) {
        (Some(rps), Some(p50_us), Some(p99_us), Some(requests)) => {
            Ok(WrkResult { rps, p50_us, p99_us, requests, socket_errors, bad_status })
        }
        _ => Err(format!("could not read wrk's report (run with --latency?):\n{report}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "\
Running 3s test @ http://127.0.0.1:40123/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   612.31us  201.10us   9.87ms   91.02%
    Req/Sec   101.23k     3.21k  105.00k    80.00%
  Latency Distribution
     50%  580.00us
     75%  650.00us
     90%  740.00us
     99%    1.52ms
  302345 requests in 3.00s, 26.24MB read
  Socket errors: connect 0, read 3, write 1, timeout 0
  Non-2xx or 3xx responses: 2
Requests/sec: 100781.67
Transfer/sec:      8.75MB
";

    #[test]
    fn reads_rate_percentiles_and_errors() {
        let result = parse(REPORT).unwrap();
        assert_eq!(result.rps, 100781.67);
        assert_eq!(result.p50_us, 580.0);
        assert_eq!(result.p99_us, 1520.0);
        assert_eq!(result.requests, 302345);
        assert_eq!(result.socket_errors, 4);
        assert_eq!(result.bad_status, 2);
    }

    #[test]
    fn clean_report_has_no_errors() {
        let clean: String = REPORT
            .lines()
            .filter(|l| !l.contains("errors") && !l.contains("Non-2xx"))
            .map(|l| format!("{l}\n"))
            .collect();
        let result = parse(&clean).unwrap();
        assert_eq!((result.socket_errors, result.bad_status), (0, 0));
    }

    #[test]
    fn latency_units() {
        assert_eq!(parse_latency("812.00us"), Some(812.0));
        assert_eq!(parse_latency("2.00s"), Some(2e6));
        assert_eq!(parse_latency("1.50m"), Some(90e6));
        assert_eq!(parse_latency("12"), None);
        assert_eq!(parse_latency("3.0xs"), None);
    }

    #[test]
    fn report_without_latency_table_is_an_error() {
        let short: String =
            REPORT.lines().filter(|l| !l.contains('%')).map(|l| format!("{l}\n")).collect();
        assert!(parse(&short).is_err());
    }
}

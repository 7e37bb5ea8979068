//! Summary statistics and the markdown tables: weft against Tokio, and
//! any other pair of runtimes (weft with stall detection on against off).

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// Median, minimum and maximum of a set of samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Median (mean of the two middle samples for an even count).
    pub median: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
}

impl Summary {
    /// Summarizes `samples`; `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = match n {
            0 => return None,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Some(Summary { median, min: sorted[0], max: sorted[n - 1] })
    }
}

/// One table row: a cost measured on both runtimes (lower is better). In a
/// [`table_between`] of two other runtimes, `weft` holds the left one's
/// samples and `tokio` the right one's.
#[derive(Clone, Debug)]
pub struct Row {
    /// What was measured (workload name, or `bytes/task`, ...).
    pub name: String,
    /// Samples from weft (the left column).
    pub weft: Vec<f64>,
    /// Samples from Tokio (the right column).
    pub tokio: Vec<f64>,
}

impl Row {
    /// A row with no samples yet.
    pub fn new(name: impl Into<String>) -> Row {
        Row { name: name.into(), weft: Vec::new(), tokio: Vec::new() }
    }

    /// weft's median over Tokio's; `None` if either is missing or Tokio's is 0.
    pub fn ratio(&self) -> Option<f64> {
        let weft = Summary::of(&self.weft)?;
        let tokio = Summary::of(&self.tokio)?;
        (tokio.median > 0.0).then(|| weft.median / tokio.median)
    }
}

/// Three significant digits, as every table here prints values.
pub fn fmt_value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_median(s: Option<Summary>) -> String {
    s.map_or_else(|| "n/a".to_owned(), |s| fmt_value(s.median))
}

fn fmt_range(s: Option<Summary>) -> String {
    s.map_or_else(|| "n/a".to_owned(), |s| format!("{}–{}", fmt_value(s.min), fmt_value(s.max)))
}

/// Renders `rows` as a markdown table: medians, ratio weft/Tokio and ranges.
pub fn table(rows: &[Row]) -> String {
    table_between(rows, "weft", "Tokio")
}

/// Renders `rows` as a markdown table whose columns are named `left` (the
/// rows' `weft` samples) and `right` (their `tokio` samples): medians,
/// ratio left/right and ranges.
pub fn table_between(rows: &[Row], left: &str, right: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| workload | {left} median | {right} median | ratio {left}/{right} (lower is better) \
         | {left} min–max | {right} min–max |"
    );
    out.push_str("|---|---:|---:|---:|---:|---:|\n");
    for row in rows {
        let (weft, tokio) = (Summary::of(&row.weft), Summary::of(&row.tokio));
        let ratio = row.ratio().map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}"));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            row.name,
            fmt_median(weft),
            fmt_median(tokio),
            ratio,
            fmt_range(weft),
            fmt_range(tokio),
        );
    }
    out
}

/// CPU model from `/proc/cpuinfo`, or `"unknown CPU"`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

/// One line naming the machine: available parallelism and CPU model.
pub fn machine() -> String {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("nproc {nproc}, {}", cpu_model())
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub fn today_utc() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day)
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_and_even() {
        assert_eq!(Summary::of(&[3.0, 1.0, 2.0]).unwrap().median, 2.0);
        let s = Summary::of(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
        assert!(Summary::of(&[]).is_none());
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_000), (2024, 10, 4));
    }

    #[test]
    fn ratio_and_table() {
        let mut row = Row::new("x");
        row.weft = vec![2.0];
        row.tokio = vec![4.0];
        assert_eq!(row.ratio(), Some(0.5));
        assert!(table(&[row.clone()]).contains("| x | 2.00 | 4.00 | 0.50 |"));
        let between = table_between(&[row], "on", "off");
        assert!(between.starts_with("| workload | on median | off median | ratio on/off "));
        assert!(between.contains("| x | 2.00 | 4.00 | 0.50 |"));
    }
}

//! A hand-written SVG bar chart of the ratios weft/Tokio, one horizontal
//! bar per row of the `compare` table (rows without a ratio are skipped).
//!
//! The axis is linear from 0, with a marked vertical line at 1.0 (parity);
//! bars below 1.0 (weft cheaper or faster) are drawn in one colour, bars
//! above it in another, each labelled with its ratio.

use std::fmt::Write as _;

use crate::report::Row;

/// Bar colour for a ratio below 1.0 (weft lower: better).
pub const BELOW_COLOUR: &str = "#2a9d8f";
/// Bar colour for a ratio of 1.0 or more (weft higher or equal).
pub const ABOVE_COLOUR: &str = "#e76f51";

/// Height of one bar's row, in px.
const ROW_H: f64 = 22.0;
/// Height of a bar, in px.
const BAR_H: f64 = 14.0;
/// Width of the plotting area, in px.
const PLOT_W: f64 = 460.0;
/// Approximate width of one character of the 12 px labels, in px.
const CHAR_W: f64 = 6.6;
/// Space above the bars (title), in px.
const TOP: f64 = 40.0;
/// Space below the bars (axis ticks and caption), in px.
const BOTTOM: f64 = 64.0;
/// Space right of the plotting area (ratio labels), in px.
const RIGHT: f64 = 56.0;

/// Escapes `s` for SVG text and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// The axis maximum for ratios up to `max`: at least 1.25, rounded up to a
/// multiple of the tick step (0.25 up to 2, then 0.5 up to 5, then whole
/// numbers), so the 1.0 line is always inside the plot.
fn axis(max: f64) -> (f64, f64) {
    let max = max.max(1.2) * 1.04;
    let step = if max <= 2.0 {
        0.25
    } else if max <= 5.0 {
        0.5
    } else {
        (max / 8.0).ceil()
    };
    ((max / step).ceil() * step, step)
}

/// Renders the ratios of `rows` as an SVG document, with `title` above
/// the bars and `caption` (the machine line and date) below the axis.
pub fn svg(rows: &[Row], title: &str, caption: &str) -> String {
    let bars: Vec<(&str, f64)> = rows
        .iter()
        .filter_map(|row| Some((row.name.as_str(), row.ratio().filter(|r| r.is_finite())?)))
        .collect();
    let label_w =
        bars.iter().map(|(name, _)| name.chars().count()).max().unwrap_or(0) as f64 * CHAR_W + 16.0;
    let (axis_max, step) = axis(bars.iter().map(|&(_, r)| r).fold(0.0, f64::max));
    let x = |ratio: f64| label_w + ratio / axis_max * PLOT_W;
    let plot_h = bars.len() as f64 * ROW_H;
    let width = label_w + PLOT_W + RIGHT;
    let height = TOP + plot_h + BOTTOM;
    let caption_w = caption.chars().count() as f64 * CHAR_W + 16.0;
    let width = width.max(caption_w).ceil();

    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(out, "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>");
    let _ = writeln!(
        out,
        "<text x=\"8\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{}</text>",
        escape(title)
    );
    // Grid lines and tick labels.
    let ticks = (axis_max / step).round() as usize;
    for i in 0..=ticks {
        let v = i as f64 * step;
        let tx = x(v);
        let _ = writeln!(
            out,
            "<line x1=\"{tx:.1}\" y1=\"{TOP}\" x2=\"{tx:.1}\" y2=\"{:.1}\" stroke=\"#dddddd\"/>",
            TOP + plot_h
        );
        let _ = writeln!(
            out,
            "<text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555555\">{v}</text>",
            TOP + plot_h + 16.0
        );
    }
    // The bars, their row labels and values.
    for (i, &(name, ratio)) in bars.iter().enumerate() {
        let y = TOP + i as f64 * ROW_H;
        let mid = y + ROW_H / 2.0 + 4.0;
        let colour = if ratio < 1.0 { BELOW_COLOUR } else { ABOVE_COLOUR };
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{mid:.1}\" text-anchor=\"end\">{}</text>",
            label_w - 8.0,
            escape(name)
        );
        let _ = writeln!(
            out,
            "<rect x=\"{label_w:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{BAR_H}\" \
             fill=\"{colour}\"><title>{}: {ratio:.2}</title></rect>",
            y + (ROW_H - BAR_H) / 2.0,
            (x(ratio) - label_w).max(1.0),
            escape(name)
        );
        let _ = writeln!(out, "<text x=\"{:.1}\" y=\"{mid:.1}\">{ratio:.2}</text>", x(ratio) + 4.0);
    }
    // Axis line and the parity line at 1.0.
    let _ = writeln!(
        out,
        "<line x1=\"{label_w:.1}\" y1=\"{TOP}\" x2=\"{label_w:.1}\" y2=\"{:.1}\" stroke=\"#333333\"/>",
        TOP + plot_h
    );
    let one = x(1.0);
    let _ = writeln!(
        out,
        "<line x1=\"{one:.1}\" y1=\"{:.1}\" x2=\"{one:.1}\" y2=\"{:.1}\" stroke=\"#000000\" \
         stroke-width=\"2\" stroke-dasharray=\"6 3\"/>",
        TOP - 6.0,
        TOP + plot_h
    );
    let _ = writeln!(
        out,
        "<text x=\"{one:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-weight=\"bold\">1.0 = Tokio</text>",
        TOP - 9.0
    );
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">ratio weft/Tokio \
         (lower is better; <tspan fill=\"{BELOW_COLOUR}\">■ below 1.0</tspan>, \
         <tspan fill=\"{ABOVE_COLOUR}\">■ 1.0 or above</tspan>)</text>",
        label_w + PLOT_W / 2.0,
        TOP + plot_h + 34.0
    );
    let _ = writeln!(
        out,
        "<text x=\"8\" y=\"{:.1}\" fill=\"#555555\">{}</text>",
        TOP + plot_h + 54.0,
        escape(caption)
    );
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, weft: f64, tokio: f64) -> Row {
        let mut row = Row::new(name);
        row.weft = vec![weft];
        row.tokio = vec![tokio];
        row
    }

    #[test]
    fn one_bar_per_ratio_coloured_by_side_of_one() {
        let rows = [row("fast <a&b>", 1.0, 2.0), row("slow", 3.0, 2.0), Row::new("no samples"), {
            let mut r = row("zero", 1.0, 0.0);
            r.name = "tokio zero".into();
            r
        }];
        let doc = svg(&rows, "title", "Machine: nproc 2; date 2026-01-01");
        assert!(doc.starts_with("<svg") && doc.trim_end().ends_with("</svg>"));
        assert_eq!(doc.matches("<rect x=").count(), 2, "n/a rows are skipped");
        assert!(doc.contains("fast &lt;a&amp;b&gt;"));
        assert!(!doc.contains("no samples") && !doc.contains("tokio zero"));
        assert!(doc.contains(&format!("fill=\"{BELOW_COLOUR}\"><title>fast")));
        assert!(doc.contains(&format!("fill=\"{ABOVE_COLOUR}\"><title>slow")));
        assert!(doc.contains(">0.50<") && doc.contains(">1.50<"));
        assert!(doc.contains("1.0 = Tokio") && doc.contains("stroke-dasharray"));
        assert!(doc.contains("Machine: nproc 2; date 2026-01-01"));
    }

    #[test]
    fn axis_keeps_parity_inside() {
        assert_eq!(axis(0.1), (1.25, 0.25));
        assert_eq!(axis(1.13), (1.25, 0.25));
        assert_eq!(axis(1.9), (2.0, 0.25));
        assert_eq!(axis(3.0), (3.5, 0.5));
        assert_eq!(axis(10.0), (12.0, 2.0));
    }
}

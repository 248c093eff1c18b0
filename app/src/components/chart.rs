//! Charts drawn with plotters into SVG strings: a trend with axes and a bare sparkline.
//! Pure functions, the same on the server (first render) and in the browser.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::line::{Band, Point};

const LINE: RGBColor = RGBColor(0x0b, 0x5c, 0xad);
/// How strongly the min–max band behind a trend line is tinted with the line's colour.
const BAND_OPACITY: f64 = 0.18;
const GRID: RGBColor = RGBColor(0xd8, 0xdd, 0xe3);
const AXIS: RGBColor = RGBColor(0x33, 0x3b, 0x45);

/// The y range that holds every finite value, with a little room above and below.
fn y_range(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    let pad = if span > 0.0 {
        span * 0.1
    } else {
        lo.abs().max(1.0) * 0.05
    };
    (lo - pad, hi + pad)
}

/// Decimals that tell ticks `step` apart.
fn decimals_for(step: f64) -> usize {
    if !(step.is_finite() && step > 0.0) {
        return 0;
    }
    (-step.log10().floor()).clamp(0.0, 6.0) as usize
}

/// Minutes in a day.
const DAY_MINUTES: f64 = 1440.0;

/// Minutes per unit of the time labels that suit a window: seconds up to 5 min,
/// minutes up to 2 h, hours up to 2 days, days beyond.
fn label_unit_minutes(window_minutes: f64) -> f64 {
    if window_minutes <= 5.0 {
        1.0 / 60.0
    } else if window_minutes <= 120.0 {
        1.0
    } else if window_minutes <= 2.0 * DAY_MINUTES {
        60.0
    } else {
        DAY_MINUTES
    }
}

/// Relative time label for `minutes` before now, in the unit that suits the window.
fn time_label(minutes: f64, window_minutes: f64) -> String {
    if minutes.abs() < 1e-9 {
        return "now".into();
    }
    let unit = label_unit_minutes(window_minutes);
    let name = match unit {
        u if u < 1.0 => "s",
        u if u < 60.0 => "min",
        u if u < DAY_MINUTES => "h",
        _ => "d",
    };
    format!("−{:.0} {name}", -minutes / unit)
}

/// Steps between time labels, in minutes, smallest first: each a whole number of
/// seconds, minutes, hours or days.
const TICK_STEPS_MIN: [f64; 24] = [
    0.25,
    0.5,
    1.0,
    2.0,
    3.0,
    5.0,
    10.0,
    15.0,
    20.0,
    30.0,
    60.0,
    120.0,
    180.0,
    240.0,
    360.0,
    720.0,
    DAY_MINUTES,
    2.0 * DAY_MINUTES,
    5.0 * DAY_MINUTES,
    7.0 * DAY_MINUTES,
    10.0 * DAY_MINUTES,
    30.0 * DAY_MINUTES,
    60.0 * DAY_MINUTES,
    90.0 * DAY_MINUTES,
];

/// At most this many steps between time labels, so they stay readable on a tablet.
const MAX_TICK_STEPS: f64 = 7.0;

/// Where the time labels go, in minutes before now (`0.0` is now): every whole step
/// of the label unit back to the window's start, so a label always names its place.
fn x_ticks(window_minutes: f64) -> Vec<f64> {
    if !(window_minutes.is_finite() && window_minutes > 0.0) {
        return vec![0.0];
    }
    let unit = label_unit_minutes(window_minutes);
    let whole = |step: f64| {
        let n = step / unit;
        n >= 1.0 - 1e-9 && (n - n.round()).abs() < 1e-9
    };
    let step = TICK_STEPS_MIN
        .into_iter()
        .find(|&s| whole(s) && window_minutes / s <= MAX_TICK_STEPS + 1e-9)
        .unwrap_or_else(|| unit * (window_minutes / unit / MAX_TICK_STEPS).ceil());
    let n = (window_minutes / step + 1e-9).floor() as usize;
    (0..=n).rev().map(|k| -(k as f64) * step).collect()
}

/// The time axis of a trend, in minutes before now, with its grid lines and labels
/// at [`x_ticks`] rather than wherever plotters' decimal steps would fall.
struct TimeAxis {
    minutes: RangedCoordf64,
    ticks: Vec<f64>,
}

impl TimeAxis {
    fn new(window_minutes: f64) -> Self {
        TimeAxis {
            minutes: (-window_minutes..0.0).into(),
            ticks: x_ticks(window_minutes),
        }
    }
}

impl Ranged for TimeAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.minutes.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.minutes.range()
    }
}

/// A trend over the `window_ms` before `now_ms`: x in minutes before now, y in `unit`.
/// Behind the line, `band` (each bucket's lowest and highest value, at the points'
/// times) is a light area, so a spike between two points still shows; an empty band
/// draws the line alone.
pub fn trend_svg(
    points: &[Point],
    band: &[Band],
    now_ms: i64,
    window_ms: i64,
    unit: &str,
    size: (u32, u32),
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let _ = draw_trend(&root, points, band, now_ms, window_ms, unit);
        let _ = root.present();
    }
    svg
}

fn draw_trend<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    points: &[Point],
    band: &[Band],
    now_ms: i64,
    window_ms: i64,
    unit: &str,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let minutes = window_ms as f64 / 60_000.0;
    let from_ms = now_ms - window_ms;
    let visible: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| p.1.is_finite() && p.0 >= from_ms)
        .collect();
    let band: Vec<Band> = band
        .iter()
        .filter(|b| b.1.is_finite() && b.2.is_finite() && b.0 >= from_ms)
        .map(|&(t, a, b)| (t, a.min(b), a.max(b)))
        .collect();
    // The range holds what is drawn: the line and its band, so a spike stays inside.
    let (y0, y1) = y_range(
        visible
            .iter()
            .map(|p| p.1)
            .chain(band.iter().flat_map(|b| [b.1, b.2])),
    );
    let mut chart = ChartBuilder::on(root)
        .margin(8)
        // Room for the "now" label centred on the right edge.
        .margin_right(16)
        .x_label_area_size(28)
        .y_label_area_size(56)
        .build_cartesian_2d(TimeAxis::new(minutes), y0..y1)?;
    chart
        .configure_mesh()
        .light_line_style(GRID.mix(0.0))
        .bold_line_style(GRID)
        .axis_style(AXIS)
        .y_labels(5)
        .x_label_formatter(&|m| time_label(*m, minutes))
        .y_label_formatter(&|v| format!("{v:.prec$}", prec = decimals_for((y1 - y0) / 5.0)))
        .y_desc(unit)
        .label_style(("sans-serif", 13).into_font().color(&AXIS))
        .draw()?;
    let x = |t: i64| (t - now_ms) as f64 / 60_000.0;
    // A gap in the data (the line or CellGuard was down) is a gap in the line and in
    // its band, never a straight line drawn across it. The bands go first, behind.
    let gap = gap_ms(window_ms);
    let tint = LINE.mix(BAND_OPACITY);
    for segment in segments(&band, gap, |b| b.0) {
        if let Some(outline) = band_outline(segment) {
            let outline: Vec<(f64, f64)> = outline.into_iter().map(|(t, v)| (x(t), v)).collect();
            chart.draw_series(std::iter::once(Polygon::new(outline, tint.filled())))?;
        }
    }
    for segment in segments(&visible, gap, |p| p.0) {
        let line = segment.iter().map(|p| (x(p.0), p.1));
        chart.draw_series(LineSeries::new(line, LINE.stroke_width(2)))?;
    }
    Ok(())
}

/// The outline of a gap-free stretch of band: the highs forward, then the lows
/// back. `None` where there is nothing to see (fewer than two entries, or every
/// lowest equal to its highest).
fn band_outline(segment: &[Band]) -> Option<Vec<Point>> {
    if segment.len() < 2 || segment.iter().all(|b| b.1 == b.2) {
        return None;
    }
    let highs = segment.iter().map(|b| (b.0, b.2));
    let lows = segment.iter().rev().map(|b| (b.0, b.1));
    Some(highs.chain(lows).collect())
}

/// The longest time between two points that a line still joins, for a window.
fn gap_ms(window_ms: i64) -> i64 {
    (window_ms / 100).max(5_000)
}

/// Splits time-ordered items where consecutive ones are more than `gap_ms` apart.
fn segments<T>(items: &[T], gap_ms: i64, time: impl Fn(&T) -> i64) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..items.len() {
        if time(&items[i]) - time(&items[i - 1]) > gap_ms {
            out.push(&items[start..i]);
            start = i;
        }
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
}

/// A small line with no axes, for overview cards.
pub fn sparkline_svg(points: &[Point], size: (u32, u32)) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let _ = draw_sparkline(&root, points);
        let _ = root.present();
    }
    svg
}

fn draw_sparkline<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    points: &[Point],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Ok(());
    };
    let x1 = if last.0 > first.0 {
        last.0
    } else {
        first.0 + 1
    };
    let (y0, y1) = y_range(points.iter().map(|p| p.1));
    let mut chart = ChartBuilder::on(root)
        .margin(3)
        .build_cartesian_2d(first.0..x1, y0..y1)?;
    chart.draw_series(LineSeries::new(
        points.iter().copied(),
        LINE.stroke_width(2),
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text of every x label in a chart, in drawing order.
    fn time_labels(svg: &str) -> Vec<String> {
        svg.split("</text>")
            .filter_map(|s| s.rsplit('>').next())
            .map(|s| s.trim().to_string())
            .filter(|s| s == "now" || s.starts_with('−'))
            .collect()
    }

    /// The highest value a y label of a chart shows.
    fn top_y_label(svg: &str) -> f64 {
        svg.split("</text>")
            .filter_map(|s| s.rsplit('>').next())
            .filter_map(|s| s.trim().parse::<f64>().ok())
            .fold(f64::NEG_INFINITY, f64::max)
    }

    #[test]
    fn a_trend_draws_its_line_and_labels() {
        let pts: Vec<Point> = (0..60)
            .map(|i| (i * 1000, 45.0 + (i as f64).sin()))
            .collect();
        let svg = trend_svg(&pts, &[], 60_000, 120_000, "°C", (600, 240));
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("<polyline"), "no line drawn");
        assert!(svg.contains("now"), "no x label");
        assert!(svg.contains("−60 s"), "no relative x label: {svg}");
        assert!(svg.contains("°C"), "no unit");
    }

    #[test]
    fn the_band_is_a_light_area_behind_the_line() {
        let pts: Vec<Point> = (0..10).map(|i| (i * 1000, 5.0)).collect();
        let band: Vec<Band> = (0..10).map(|i| (i * 1000, 4.0, 6.0)).collect();
        let svg = trend_svg(&pts, &band, 10_000, 120_000, "", (600, 240));
        assert_eq!(svg.matches("<polygon").count(), 1, "{svg}");
        let area = svg.find("<polygon");
        let line = svg.find("stroke-width=\"2\"");
        assert!(
            area.is_some() && line.is_some() && area < line,
            "the band is not behind the line"
        );
        assert!(svg.contains("opacity=\"0.18\""), "not a light tint: {svg}");
        // Highs forward, lows back: the outline visits every entry twice.
        let outline = band_outline(&band).expect("a band with lows below highs has an outline");
        assert_eq!(outline.len(), 20);
        assert_eq!(outline[0], (0, 6.0));
        assert_eq!(outline[9], (9000, 6.0));
        assert_eq!(outline[10], (9000, 4.0));
        assert_eq!(outline[19], (0, 4.0));
    }

    #[test]
    fn a_spike_in_the_band_widens_the_y_range() {
        let pts: Vec<Point> = (0..10).map(|i| (i * 1000, 5.0 + i as f64 * 0.1)).collect();
        let flat: Vec<Band> = pts.iter().map(|p| (p.0, p.1, p.1)).collect();
        let mut spiky = flat.clone();
        spiky[4].2 = 50.0;
        let without = trend_svg(&pts, &flat, 10_000, 120_000, "", (600, 240));
        let with = trend_svg(&pts, &spiky, 10_000, 120_000, "", (600, 240));
        assert!(top_y_label(&without) < 7.0, "{without}");
        assert!(
            top_y_label(&with) >= 40.0,
            "the spike is outside the chart: {with}"
        );
        // A band outside the window does not stretch the range.
        let old: Vec<Band> = vec![(-500_000, 0.0, 500.0)];
        let svg = trend_svg(&pts, &old, 10_000, 120_000, "", (600, 240));
        assert!(top_y_label(&svg) < 7.0, "{svg}");
        assert!(!svg.contains("<polygon"));
    }

    #[test]
    fn no_band_or_a_flat_band_draws_the_line_alone() {
        let pts: Vec<Point> = (0..10).map(|i| (i * 1000, i as f64)).collect();
        let alone = trend_svg(&pts, &[], 10_000, 120_000, "", (600, 240));
        assert!(!alone.contains("<polygon"), "{alone}");
        assert_eq!(alone.matches("stroke-width=\"2\"").count(), 1);
        // Lowest equal to highest everywhere: nothing to see, the same chart.
        let flat: Vec<Band> = pts.iter().map(|p| (p.0, p.1, p.1)).collect();
        assert_eq!(
            trend_svg(&pts, &flat, 10_000, 120_000, "", (600, 240)),
            alone
        );
        assert_eq!(band_outline(&flat), None);
        // One entry, a non-finite one, or lows and highs swapped: nothing breaks.
        assert_eq!(band_outline(&[(0, 1.0, 2.0)]), None);
        let odd = vec![
            (0, f64::NAN, 1.0),
            (1000, 3.0, 1.0),
            (2000, 2.0, f64::INFINITY),
        ];
        assert!(trend_svg(&pts, &odd, 10_000, 120_000, "", (600, 240)).contains("<polyline"));
    }

    #[test]
    fn a_gap_in_the_data_breaks_the_line() {
        let pts = vec![
            (0, 1.0),
            (1000, 2.0),
            (60_000, 3.0),
            (61_000, 4.0),
            (62_000, 5.0),
        ];
        let s = segments(&pts, 5_000, |p| p.0);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].len(), 2);
        assert_eq!(s[1].len(), 3);
        assert!(segments(&[] as &[Point], 5_000, |p| p.0).is_empty());
        let svg = trend_svg(&pts, &[], 62_000, 120_000, "", (300, 200));
        assert_eq!(svg.matches("stroke-width=\"2\"").count(), 2, "{svg}");
        assert_eq!(gap_ms(120_000), 5_000);
        assert_eq!(gap_ms(24 * 3_600_000), 864_000);
    }

    #[test]
    fn a_gap_in_the_data_breaks_the_band_too() {
        let pts = vec![
            (0, 1.0),
            (1000, 2.0),
            (60_000, 3.0),
            (61_000, 4.0),
            (62_000, 5.0),
        ];
        let band: Vec<Band> = pts.iter().map(|p| (p.0, p.1 - 0.5, p.1 + 0.5)).collect();
        let svg = trend_svg(&pts, &band, 62_000, 120_000, "", (300, 200));
        assert_eq!(svg.matches("<polygon").count(), 2, "{svg}");
        assert_eq!(svg.matches("stroke-width=\"2\"").count(), 2, "{svg}");
        // Nothing of a band's polygon lies in the gap between 1 s and 60 s.
        for polygon in svg.split("<polygon").skip(1) {
            let points = polygon.split("points=\"").nth(1).unwrap_or_default();
            let points = points.split('"').next().unwrap_or_default();
            let xs: Vec<i32> = points
                .split_whitespace()
                .filter_map(|xy| xy.split(',').next()?.parse().ok())
                .collect();
            assert!(xs.len() >= 4, "not a band's outline: {points}");
            let span = xs.iter().max().zip(xs.iter().min()).map(|(hi, lo)| hi - lo);
            assert!(span < Some(50), "a band spans the gap: {xs:?}");
        }
    }

    #[test]
    fn labels_suit_the_window_and_the_span() {
        assert_eq!(time_label(-0.5, 2.0), "−30 s");
        assert_eq!(time_label(-10.0, 15.0), "−10 min");
        assert_eq!(time_label(-360.0, 1440.0), "−6 h");
        assert_eq!(time_label(-2880.0, 2880.0), "−48 h");
        assert_eq!(time_label(-3.0 * 1440.0, 7.0 * 1440.0), "−3 d");
        assert_eq!(time_label(-360.0 * 1440.0, 365.0 * 1440.0), "−360 d");
        assert_eq!(time_label(0.0, 15.0), "now");
        assert_eq!(decimals_for(0.002), 3);
        assert_eq!(decimals_for(5.0), 0);
        assert_eq!(decimals_for(0.5), 1);
        assert_eq!(decimals_for(f64::NAN), 0);
    }

    #[test]
    fn time_labels_sit_on_whole_units() {
        let day = 1440.0;
        assert_eq!(x_ticks(2.0), vec![-2.0, -1.5, -1.0, -0.5, 0.0]);
        assert_eq!(x_ticks(15.0), vec![-15.0, -12.0, -9.0, -6.0, -3.0, 0.0]);
        assert_eq!(x_ticks(60.0).len(), 7);
        assert_eq!(
            x_ticks(8.0 * 60.0),
            vec![-480.0, -360.0, -240.0, -120.0, 0.0]
        );
        assert_eq!(x_ticks(day).len(), 7);
        let week = x_ticks(7.0 * day);
        assert_eq!(week.len(), 8);
        assert_eq!(week[0], -7.0 * day);
        assert_eq!(
            x_ticks(30.0 * day),
            (0..=6)
                .rev()
                .map(|k| -5.0 * day * k as f64)
                .collect::<Vec<_>>()
        );
        let year = x_ticks(365.0 * day);
        assert_eq!(year.len(), 7);
        assert_eq!(year[0], -360.0 * day);
        // Past the longest step: still a handful of whole days.
        let long = x_ticks(3650.0 * day);
        assert!(
            long.len() <= 8 && long.iter().all(|m| (m / day).fract() == 0.0),
            "{long:?}"
        );
        assert_eq!(x_ticks(0.0), vec![0.0]);
        assert_eq!(x_ticks(f64::NAN), vec![0.0]);
    }

    #[test]
    fn long_windows_are_labelled_in_days() {
        let d = 86_400_000;
        let chart = |days: i64| {
            let now = 400 * d;
            let pts: Vec<Point> = (0..=days * 24)
                .map(|h| (now - days * d + h * 3_600_000, 1.0))
                .collect();
            time_labels(&trend_svg(&pts, &[], now, days * d, "", (720, 260)))
        };
        assert_eq!(
            chart(7),
            [
                "−7 d", "−6 d", "−5 d", "−4 d", "−3 d", "−2 d", "−1 d", "now"
            ]
        );
        assert_eq!(
            chart(30),
            ["−30 d", "−25 d", "−20 d", "−15 d", "−10 d", "−5 d", "now"]
        );
        assert_eq!(
            chart(365),
            [
                "−360 d", "−300 d", "−240 d", "−180 d", "−120 d", "−60 d", "now"
            ]
        );
        assert_eq!(
            time_labels(&trend_svg(&[], &[], 0, 24 * 3_600_000, "", (720, 260))),
            ["−24 h", "−20 h", "−16 h", "−12 h", "−8 h", "−4 h", "now"]
        );
    }

    #[test]
    fn empty_and_flat_data_draw_without_panicking() {
        assert!(trend_svg(&[], &[], 0, 60_000, "", (300, 200)).starts_with("<svg"));
        assert!(
            trend_svg(&[(0, 5.0), (1, 5.0)], &[], 1, 60_000, "", (300, 200)).contains("<polyline")
        );
        assert!(sparkline_svg(&[], (100, 30)).starts_with("<svg"));
        assert!(sparkline_svg(&[(0, 1.0)], (100, 30)).starts_with("<svg"));
        assert!(trend_svg(&[(0, f64::NAN)], &[], 0, 60_000, "", (300, 200)).starts_with("<svg"));
        assert!(
            trend_svg(
                &[],
                &[(0, 1.0, 2.0), (1, 1.0, 3.0)],
                1,
                60_000,
                "",
                (300, 200)
            )
            .contains("<polygon")
        );
    }
}

//! Charts drawn with plotters into SVG strings: a trend with axes and a bare sparkline.
//! Pure functions, the same on the server (first render) and in the browser.

use plotters::prelude::*;

use crate::line::Point;

const LINE: RGBColor = RGBColor(0x0b, 0x5c, 0xad);
const GRID: RGBColor = RGBColor(0xd8, 0xdd, 0xe3);
const AXIS: RGBColor = RGBColor(0x33, 0x3b, 0x45);

fn y_range(points: &[Point]) -> (f64, f64) {
    let (lo, hi) = points
        .iter()
        .map(|p| p.1)
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

/// Relative time label for `minutes` before now, in the unit that suits the window.
fn time_label(minutes: f64, window_minutes: f64) -> String {
    if minutes.abs() < 1e-9 {
        return "now".into();
    }
    if window_minutes <= 5.0 {
        format!("−{:.0} s", -minutes * 60.0)
    } else if window_minutes <= 120.0 {
        format!("−{:.0} min", -minutes)
    } else {
        format!("−{:.0} h", -minutes / 60.0)
    }
}

/// A trend over the `window_ms` before `now_ms`: x in minutes before now, y in `unit`.
pub fn trend_svg(
    points: &[Point],
    now_ms: i64,
    window_ms: i64,
    unit: &str,
    size: (u32, u32),
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let _ = draw_trend(&root, points, now_ms, window_ms, unit);
        let _ = root.present();
    }
    svg
}

fn draw_trend<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    points: &[Point],
    now_ms: i64,
    window_ms: i64,
    unit: &str,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let minutes = window_ms as f64 / 60_000.0;
    let (y0, y1) = y_range(points);
    let mut chart = ChartBuilder::on(root)
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(56)
        .build_cartesian_2d(-minutes..0.0, y0..y1)?;
    chart
        .configure_mesh()
        .light_line_style(GRID.mix(0.0))
        .bold_line_style(GRID)
        .axis_style(AXIS)
        .x_labels(6)
        .y_labels(5)
        .x_label_formatter(&|m| time_label(*m, minutes))
        .y_label_formatter(&|v| format!("{v:.prec$}", prec = decimals_for((y1 - y0) / 5.0)))
        .y_desc(unit)
        .label_style(("sans-serif", 13).into_font().color(&AXIS))
        .draw()?;
    // A gap in the data (the line or CellGuard was down) is a gap in the line,
    // never a straight line drawn across it.
    let visible: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| p.1.is_finite() && p.0 >= now_ms - window_ms)
        .collect();
    for segment in segments(&visible, gap_ms(window_ms)) {
        let line = segment
            .iter()
            .map(|p| ((p.0 - now_ms) as f64 / 60_000.0, p.1));
        chart.draw_series(LineSeries::new(line, LINE.stroke_width(2)))?;
    }
    Ok(())
}

/// The longest time between two points that a line still joins, for a window.
fn gap_ms(window_ms: i64) -> i64 {
    (window_ms / 100).max(5_000)
}

/// Splits time-ordered points where consecutive ones are more than `gap_ms` apart.
fn segments(points: &[Point], gap_ms: i64) -> Vec<&[Point]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..points.len() {
        if points[i].0 - points[i - 1].0 > gap_ms {
            out.push(&points[start..i]);
            start = i;
        }
    }
    if start < points.len() {
        out.push(&points[start..]);
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
    let (y0, y1) = y_range(points);
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

    #[test]
    fn a_trend_draws_its_line_and_labels() {
        let pts: Vec<Point> = (0..60)
            .map(|i| (i * 1000, 45.0 + (i as f64).sin()))
            .collect();
        let svg = trend_svg(&pts, 60_000, 120_000, "°C", (600, 240));
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("<polyline"), "no line drawn");
        assert!(svg.contains("now"), "no x label");
        assert!(svg.contains("−60 s"), "no relative x label: {svg}");
        assert!(svg.contains("°C"), "no unit");
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
        let s = segments(&pts, 5_000);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].len(), 2);
        assert_eq!(s[1].len(), 3);
        assert!(segments(&[], 5_000).is_empty());
        let svg = trend_svg(&pts, 62_000, 120_000, "", (300, 200));
        assert_eq!(svg.matches("stroke-width=\"2\"").count(), 2, "{svg}");
        assert_eq!(gap_ms(120_000), 5_000);
        assert_eq!(gap_ms(24 * 3_600_000), 864_000);
    }

    #[test]
    fn labels_suit_the_window_and_the_span() {
        assert_eq!(time_label(-0.5, 2.0), "−30 s");
        assert_eq!(time_label(-10.0, 15.0), "−10 min");
        assert_eq!(time_label(-360.0, 1440.0), "−6 h");
        assert_eq!(time_label(0.0, 15.0), "now");
        assert_eq!(decimals_for(0.002), 3);
        assert_eq!(decimals_for(5.0), 0);
        assert_eq!(decimals_for(0.5), 1);
        assert_eq!(decimals_for(f64::NAN), 0);
    }

    #[test]
    fn empty_and_flat_data_draw_without_panicking() {
        assert!(trend_svg(&[], 0, 60_000, "", (300, 200)).starts_with("<svg"));
        assert!(trend_svg(&[(0, 5.0), (1, 5.0)], 1, 60_000, "", (300, 200)).contains("<polyline"));
        assert!(sparkline_svg(&[], (100, 30)).starts_with("<svg"));
        assert!(sparkline_svg(&[(0, 1.0)], (100, 30)).starts_with("<svg"));
        assert!(trend_svg(&[(0, f64::NAN)], 0, 60_000, "", (300, 200)).starts_with("<svg"));
    }
}

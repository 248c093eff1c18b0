//! A control chart drawn with plotters into an SVG string: the plotted values with
//! their centre line and control limits (each point's own, so a p chart's limits
//! step with the lot size), the points that break a rule in red. Pure, the same on
//! the server (first render) and in the browser (zooming redraws it).

use plotters::prelude::*;

use crate::spc::ChartPoint;

const LINE: RGBColor = RGBColor(0x0b, 0x5c, 0xad);
const LIMIT: RGBColor = RGBColor(0xb4, 0x23, 0x18);
const CENTRE: RGBColor = RGBColor(0x2e, 0x7d, 0x32);
const OUT: RGBColor = RGBColor(0xd3, 0x2f, 0x2f);
const GRID: RGBColor = RGBColor(0xd8, 0xdd, 0xe3);
const AXIS: RGBColor = RGBColor(0x33, 0x3b, 0x45);

/// The points of `points` whose index lies in `from..=to` (indices of the chart).
pub fn window(points: &[ChartPoint], from: usize, to: usize) -> &[ChartPoint] {
    let start = points.partition_point(|p| p.index < from);
    let end = points.partition_point(|p| p.index <= to);
    &points[start..end.max(start)]
}

/// The chart of `points` (already the window to show); `flagged(index)` says which
/// points break a rule. An empty window draws an empty frame.
pub fn control_chart_svg(
    points: &[ChartPoint],
    flagged: &dyn Fn(usize) -> bool,
    unit: &str,
    size: (u32, u32),
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let _ = draw(&root, points, flagged, unit);
        let _ = root.present();
    }
    svg
}

fn y_range(points: &[ChartPoint]) -> (f64, f64) {
    let (lo, hi) = points
        .iter()
        .flat_map(|p| [p.value, p.lcl, p.ucl, p.centre])
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.08
    } else {
        lo.abs().max(1.0) * 0.05
    };
    (lo - pad, hi + pad)
}

fn decimals(span: f64) -> usize {
    if !(span.is_finite() && span > 0.0) {
        return 2;
    }
    (2.0 - span.log10().floor()).clamp(0.0, 6.0) as usize
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    points: &[ChartPoint],
    flagged: &dyn Fn(usize) -> bool,
    unit: &str,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let (first, last) = match (points.first(), points.last()) {
        (Some(a), Some(b)) => (a.index as f64, b.index as f64),
        _ => (0.0, 1.0),
    };
    let (x0, x1) = (first - 0.5, last.max(first + 1.0) + 0.5);
    let (y0, y1) = y_range(points);
    let prec = decimals(y1 - y0);
    let mut chart = ChartBuilder::on(root)
        .margin(8)
        .margin_right(16)
        .x_label_area_size(28)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .light_line_style(GRID.mix(0.0))
        .bold_line_style(GRID)
        .axis_style(AXIS)
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&|x| format!("{}", x.round() as i64 + 1))
        .y_label_formatter(&|v| format!("{v:.prec$}"))
        .y_desc(unit)
        .label_style(("sans-serif", 13).into_font().color(&AXIS))
        .draw()?;
    // Limits as steps: each point's limit spans its half-width either side.
    let step = |f: fn(&ChartPoint) -> f64| {
        points
            .iter()
            .flat_map(move |p| {
                let x = p.index as f64;
                [(x - 0.5, f(p)), (x + 0.5, f(p))]
            })
            .filter(|(_, y)| y.is_finite())
            .collect::<Vec<_>>()
    };
    for (line, colour) in [
        (step(|p| p.ucl), LIMIT),
        (step(|p| p.lcl), LIMIT),
        (step(|p| p.centre), CENTRE),
    ] {
        chart.draw_series(LineSeries::new(line, colour.stroke_width(1)))?;
    }
    chart.draw_series(LineSeries::new(
        points
            .iter()
            .filter(|p| p.value.is_finite())
            .map(|p| (p.index as f64, p.value)),
        LINE.stroke_width(2),
    ))?;
    // Markers only where they stay readable; flagged points always.
    let marks = points.len() <= 200;
    chart.draw_series(
        points
            .iter()
            .filter(|p| p.value.is_finite() && (marks || flagged(p.index)))
            .map(|p| {
                let out = flagged(p.index);
                let style = if out { OUT.filled() } else { LINE.filled() };
                Circle::new((p.index as f64, p.value), if out { 4 } else { 2 }, style)
            }),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(index: usize, value: f64) -> ChartPoint {
        ChartPoint {
            index,
            n: 1,
            value,
            centre: 10.0,
            lcl: 9.0,
            ucl: 11.0,
            sigma: 1.0 / 3.0,
            z: (value - 10.0) * 3.0,
        }
    }

    #[test]
    fn the_window_is_by_point_index() {
        let pts: Vec<ChartPoint> = (3..10).map(|i| point(i, 10.0)).collect();
        assert_eq!(
            window(&pts, 5, 7)
                .iter()
                .map(|p| p.index)
                .collect::<Vec<_>>(),
            [5, 6, 7]
        );
        assert!(window(&pts, 20, 30).is_empty());
        assert!(window(&pts, 7, 5).is_empty());
        assert_eq!(window(&pts, 0, 100).len(), 7);
    }

    #[test]
    fn flagged_points_are_red_and_the_others_blue() {
        let pts: Vec<ChartPoint> = (0..10)
            .map(|i| point(i, if i == 4 { 12.0 } else { 10.0 }))
            .collect();
        let svg = control_chart_svg(&pts, &|i| i == 4, "Ah", (600, 240));
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<circle").count(), 10);
        assert_eq!(svg.matches("#D32F2F").count(), 1, "one red point: {svg}");
        // Empty and non-finite input draw a frame, never panic.
        let empty = control_chart_svg(&[], &|_| false, "", (600, 240));
        assert!(empty.starts_with("<svg"));
        let nan = control_chart_svg(&[point(0, f64::NAN)], &|_| true, "", (600, 240));
        assert!(nan.starts_with("<svg"));
    }
}

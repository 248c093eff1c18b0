//! Risk charts drawn with plotters into SVG strings: the score histogram of the
//! quality overview, and a model's precision–recall and calibration curves.
//! Pure functions, the same on the server (first render) and in the browser; empty
//! input draws an explicit "no data" message instead of an empty frame.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::fmt::format_share;

const BAR: RGBColor = RGBColor(0x0b, 0x5c, 0xad);
const CURVE: RGBColor = RGBColor(0x0b, 0x5c, 0xad);
const THRESHOLD: RGBColor = RGBColor(0xb3, 0x12, 0x1f);
const REFERENCE: RGBColor = RGBColor(0x6b, 0x74, 0x80);
const GRID: RGBColor = RGBColor(0xd8, 0xdd, 0xe3);
const AXIS: RGBColor = RGBColor(0x33, 0x3b, 0x45);

/// The text drawn when a chart has nothing to show.
pub const NO_DATA: &str = "No data yet";

fn render(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        // A drawing error leaves a partial chart; the page stays usable either way.
        let _ = draw(&root);
        let _ = root.present();
    }
    svg
}

fn no_data<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, message: &str) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (w, h) = root.dim_in_pixel();
    let style = ("sans-serif", 20)
        .into_font()
        .color(&AXIS)
        .pos(Pos::new(HPos::Center, VPos::Center));
    root.draw(&Text::new(
        message.to_owned(),
        ((w / 2) as i32, (h / 2) as i32),
        style,
    ))
    .map_err(|e| e.to_string())
}

/// Histogram of risk scores: `bins[i]` counts scores in `[i/n, (i+1)/n)`, with the
/// model's threshold drawn as a labelled dashed line. Each non-empty bin gets one bar
/// and its count written above it (a tall low-risk bin would otherwise hide the few
/// high-risk cells).
pub fn histogram_svg(bins: &[u64], threshold: Option<f64>, size: (u32, u32)) -> String {
    render(size, |root| {
        if bins.iter().all(|&c| c == 0) {
            return no_data(root, NO_DATA);
        }
        draw_histogram(root, bins, threshold).map_err(|e| e.to_string())
    })
}

fn draw_histogram<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    bins: &[u64],
    threshold: Option<f64>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let n = bins.len() as f64;
    let max = bins.iter().copied().max().unwrap_or(0).max(1) as f64;
    let top = max * 1.18;
    let mut chart = ChartBuilder::on(root)
        .margin(10)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..1f64, 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(GRID.mix(0.0))
        .bold_line_style(GRID)
        .axis_style(AXIS)
        .x_labels(11)
        .y_labels(5)
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_desc("risk score")
        .y_desc("cells")
        .label_style(("sans-serif", 18).into_font().color(&AXIS))
        .axis_desc_style(("sans-serif", 18).into_font().color(&AXIS))
        .draw()?;
    // Tiny counts beside a big bin still get a visible bar; the number above it is exact.
    let min_height = max * 0.012;
    let gap = 0.08 / n;
    let bars = bins
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(i, &c)| {
            let x0 = i as f64 / n;
            let x1 = (i + 1) as f64 / n;
            Rectangle::new(
                [(x0 + gap, 0.0), (x1 - gap, (c as f64).max(min_height))],
                BAR.filled(),
            )
        });
    chart.draw_series(bars)?;
    let count_style = ("sans-serif", 18)
        .into_font()
        .color(&AXIS)
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    chart.draw_series(
        bins.iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, &c)| {
                Text::new(
                    c.to_string(),
                    (
                        (i as f64 + 0.5) / n,
                        (c as f64).max(min_height) + max * 0.02,
                    ),
                    count_style.clone(),
                )
            }),
    )?;
    if let Some(t) = threshold.filter(|t| t.is_finite() && (0.0..=1.0).contains(t)) {
        chart.draw_series(DashedLineSeries::new(
            [(t, 0.0), (t, top)],
            8,
            5,
            THRESHOLD.stroke_width(3),
        ))?;
        let anchor = if t > 0.7 { HPos::Right } else { HPos::Left };
        let dx = if t > 0.7 { -0.01 } else { 0.01 };
        chart.draw_series(std::iter::once(Text::new(
            format!("threshold {t:.2}"),
            (t + dx, top * 0.97),
            ("sans-serif", 18)
                .into_font()
                .color(&THRESHOLD)
                .pos(Pos::new(anchor, VPos::Top)),
        )))?;
    }
    Ok(())
}

/// Corrective actions written per hour over the last 24 hours before `now_ms`:
/// one bar per hour (`per_hour` holds (hour start ms, count)), oldest left.
pub fn actions_per_hour_svg(per_hour: &[(i64, u32)], now_ms: i64, size: (u32, u32)) -> String {
    const HOUR: i64 = 3_600_000;
    let this_hour = now_ms.div_euclid(HOUR) * HOUR;
    // Slot 0 is 23 hours before this hour, slot 23 this hour.
    let mut slots = [0u32; 24];
    for &(start, n) in per_hour {
        let back = (this_hour - start).div_euclid(HOUR);
        if (0..24).contains(&back) {
            slots[(23 - back) as usize] += n;
        }
    }
    render(size, |root| {
        if slots.iter().all(|&n| n == 0) {
            return no_data(root, "No writes in the last 24 hours");
        }
        draw_per_hour(root, &slots).map_err(|e| e.to_string())
    })
}

fn draw_per_hour<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    slots: &[u32; 24],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let max = f64::from(slots.iter().copied().max().unwrap_or(0).max(1));
    let mut chart = ChartBuilder::on(root)
        .margin(10)
        .x_label_area_size(44)
        .y_label_area_size(48)
        .build_cartesian_2d(-24f64..0f64, 0f64..max * 1.15)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(GRID.mix(0.0))
        .bold_line_style(GRID)
        .axis_style(AXIS)
        .x_labels(7)
        .y_labels(max.min(5.0) as usize + 1)
        .x_label_formatter(&|v| {
            if *v >= -0.5 {
                "now".into()
            } else {
                format!("{:.0} h", v)
            }
        })
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_desc("hours ago")
        .y_desc("writes")
        .label_style(("sans-serif", 18).into_font().color(&AXIS))
        .axis_desc_style(("sans-serif", 18).into_font().color(&AXIS))
        .draw()?;
    chart.draw_series(
        slots
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, &n)| {
                let x0 = i as f64 - 24.0;
                Rectangle::new([(x0 + 0.1, 0.0), (x0 + 0.9, f64::from(n))], BAR.filled())
            }),
    )?;
    Ok(())
}

fn finite_unit(points: impl IntoIterator<Item = (f64, f64)>) -> Vec<(f64, f64)> {
    points
        .into_iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(x, y)| (x.clamp(0.0, 1.0), y.clamp(0.0, 1.0)))
        .collect()
}

/// Precision (y) against recall (x), with the base rate (the precision of flagging
/// at random) as a dashed line and the operating point at the threshold marked.
pub fn pr_curve_svg(
    curve: &[(f64, f64)],
    base_rate: f64,
    operating: Option<(f64, f64)>,
    size: (u32, u32),
) -> String {
    let mut pts = finite_unit(curve.iter().copied());
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    render(size, |root| {
        if pts.is_empty() {
            return no_data(root, NO_DATA);
        }
        draw_unit_chart(root, "recall", "precision", |chart| {
            if base_rate.is_finite() && (0.0..=1.0).contains(&base_rate) {
                chart.draw_series(DashedLineSeries::new(
                    [(0.0, base_rate), (1.0, base_rate)],
                    8,
                    5,
                    REFERENCE.stroke_width(2),
                ))?;
                chart.draw_series(std::iter::once(Text::new(
                    format!("base rate {}", format_share(Some(base_rate))),
                    (0.98, (base_rate + 0.02).min(0.95)),
                    ("sans-serif", 17)
                        .into_font()
                        .color(&REFERENCE)
                        .pos(Pos::new(HPos::Right, VPos::Bottom)),
                )))?;
            }
            chart.draw_series(LineSeries::new(pts.iter().copied(), CURVE.stroke_width(3)))?;
            if let Some((r, p)) = operating.filter(|(r, p)| r.is_finite() && p.is_finite()) {
                chart.draw_series(std::iter::once(Circle::new(
                    (r.clamp(0.0, 1.0), p.clamp(0.0, 1.0)),
                    7,
                    THRESHOLD.filled(),
                )))?;
                chart.draw_series(std::iter::once(Text::new(
                    "at threshold".to_owned(),
                    ((r + 0.03).clamp(0.0, 0.7), p.clamp(0.04, 0.96)),
                    ("sans-serif", 17)
                        .into_font()
                        .color(&THRESHOLD)
                        .pos(Pos::new(HPos::Left, VPos::Bottom)),
                )))?;
            }
            Ok(())
        })
        .map_err(|e| e.to_string())
    })
}

/// Observed defect rate (y) against mean predicted score (x) per bin, with the
/// diagonal of a perfectly calibrated model; each bin is a dot on the line.
pub fn calibration_svg(bins: &[(f64, f64, u64)], size: (u32, u32)) -> String {
    let mut pts = finite_unit(
        bins.iter()
            .filter(|(_, _, n)| *n > 0)
            .map(|&(pred, obs, _)| (pred, obs)),
    );
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    render(size, |root| {
        if pts.is_empty() {
            return no_data(root, NO_DATA);
        }
        draw_unit_chart(
            root,
            "mean predicted risk",
            "observed defect rate",
            |chart| {
                chart.draw_series(DashedLineSeries::new(
                    [(0.0, 0.0), (1.0, 1.0)],
                    8,
                    5,
                    REFERENCE.stroke_width(2),
                ))?;
                chart.draw_series(std::iter::once(Text::new(
                    "perfect calibration".to_owned(),
                    (0.45, 0.52),
                    ("sans-serif", 17)
                        .into_font()
                        .color(&REFERENCE)
                        .pos(Pos::new(HPos::Right, VPos::Bottom)),
                )))?;
                chart.draw_series(LineSeries::new(pts.iter().copied(), CURVE.stroke_width(3)))?;
                chart.draw_series(pts.iter().map(|&p| Circle::new(p, 5, CURVE.filled())))?;
                Ok(())
            },
        )
        .map_err(|e| e.to_string())
    })
}

type UnitChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A chart over [0, 1] × [0, 1] with both axes labelled; `series` draws the data.
fn draw_unit_chart<'a, DB: DrawingBackend + 'a>(
    root: &'a DrawingArea<DB, Shift>,
    x_desc: &str,
    y_desc: &str,
    series: impl FnOnce(&mut UnitChart<'a, DB>) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(52)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
    chart
        .configure_mesh()
        .light_line_style(GRID.mix(0.0))
        .bold_line_style(GRID)
        .axis_style(AXIS)
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(("sans-serif", 17).into_font().color(&AXIS))
        .axis_desc_style(("sans-serif", 18).into_font().color(&AXIS))
        .draw()?;
    series(&mut chart)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_text(svg: &str, text: &str) -> bool {
        svg.contains(&format!(">\n{text}\n</text>"))
    }

    fn bars(svg: &str) -> usize {
        svg.matches("fill=\"#0B5CAD\" stroke=\"none\"").count()
    }

    #[test]
    fn the_histogram_draws_one_bar_per_non_empty_bin_and_the_threshold() {
        let bins = [900, 40, 0, 12, 5, 0, 0, 1, 0, 0];
        let svg = histogram_svg(&bins, Some(0.3), (700, 300));
        assert!(svg.starts_with("<svg"), "{svg}");
        assert_eq!(bars(&svg), 5, "{svg}");
        assert!(has_text(&svg, "threshold 0.30"), "no threshold label");
        assert!(has_text(&svg, "900"), "no count above the tallest bar");
        assert!(has_text(&svg, "1"), "no count above the smallest bar");
        assert!(!svg.contains(NO_DATA));
    }

    #[test]
    fn actions_per_hour_draws_the_last_24_hours_only() {
        const H: i64 = 3_600_000;
        let now = 1_000 * H + 1_234;
        let per_hour = [(1_000 * H, 2), (990 * H, 1), (976 * H, 5), (900 * H, 9)];
        let svg = actions_per_hour_svg(&per_hour, now, (700, 260));
        // This hour, 10 h ago; 24 h ago and older are outside the window.
        assert_eq!(bars(&svg), 2, "{svg}");
        let empty = actions_per_hour_svg(&[(900 * H, 9)], now, (700, 260));
        assert!(empty.contains("No writes in the last 24 hours"), "{empty}");
    }

    #[test]
    fn an_empty_histogram_says_so() {
        for bins in [&[][..], &[0u64; 10][..]] {
            let svg = histogram_svg(bins, Some(0.3), (700, 300));
            assert!(svg.contains(NO_DATA), "{svg}");
            assert_eq!(bars(&svg), 0);
        }
    }

    #[test]
    fn a_threshold_outside_the_axis_is_not_drawn() {
        let svg = histogram_svg(&[1, 2], Some(f64::NAN), (400, 200));
        assert!(!svg.contains("threshold"));
        let svg = histogram_svg(&[1, 2], None, (400, 200));
        assert_eq!(bars(&svg), 2);
    }

    #[test]
    fn the_pr_curve_shows_the_base_rate_and_the_operating_point() {
        let curve = [(0.0, 1.0), (0.3, 0.8), (0.6, 0.55), (1.0, 0.09)];
        let svg = pr_curve_svg(&curve, 0.085, Some((0.58, 0.56)), (480, 360));
        assert!(svg.contains("<polyline"), "no curve: {svg}");
        assert!(
            has_text(&svg, "base rate 8.5 %"),
            "no base-rate label: {svg}"
        );
        assert!(svg.contains("<circle"), "no operating point");
        assert!(svg.contains("recall") && svg.contains("precision"));
    }

    #[test]
    fn the_calibration_chart_has_the_diagonal_and_a_dot_per_bin() {
        let bins = [
            (0.04, 0.03, 2097),
            (0.14, 0.07, 400),
            (0.5, 0.4, 0),
            (0.8, 0.7, 20),
        ];
        let svg = calibration_svg(&bins, (480, 360));
        assert!(svg.contains("perfect calibration"));
        assert_eq!(
            svg.matches("<circle").count(),
            3,
            "empty bins are not drawn"
        );
    }

    #[test]
    fn empty_or_broken_curves_draw_no_data_without_panicking() {
        assert!(pr_curve_svg(&[], 0.1, None, (300, 200)).contains(NO_DATA));
        assert!(pr_curve_svg(&[(f64::NAN, 0.5)], f64::NAN, None, (300, 200)).contains(NO_DATA));
        assert!(calibration_svg(&[], (300, 200)).contains(NO_DATA));
        assert!(calibration_svg(&[(0.5, 0.5, 0)], (300, 200)).contains(NO_DATA));
        let svg = pr_curve_svg(
            &[(2.0, -1.0), (0.5, 0.5)],
            0.1,
            Some((f64::NAN, 0.0)),
            (300, 200),
        );
        assert!(svg.contains("<polyline"));
        assert!(!svg.contains("<circle"));
    }
}

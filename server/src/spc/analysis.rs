//! From values to a chart: subgroups, the baseline, limits (computed or frozen),
//! the rules and capability. Pure: the values come in, a view goes out.

use app::spc::view::{
    Baseline, ChartSpec, DEFAULT_BASELINE, Grouping, LimitsOrigin, LimitsVersion, PointMeta,
};
use app::spc::{
    Capability, Chart, ChartKind, Count, Limits, RuleSet, SpcError, SpecLimits, Violation,
    capability, individuals, np_chart, p_chart, xbar_r, xbar_s,
};

/// One value of a chart, oldest first: a cell's measurement or a tag's interval mean.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// When it was measured (Unix ms).
    pub ts_ms: i64,
    /// The cell's serial (empty for a tag).
    pub serial: String,
    /// The cell's lot.
    pub lot: String,
    /// The cell's order.
    pub order: String,
    /// The value.
    pub value: f64,
    /// Whether it was within the spec limits.
    pub pass: bool,
}

/// What the chart page shows, apart from what the query and the store give.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// The chart, or why there is none.
    pub chart: Result<Chart, String>,
    /// What each point stands for.
    pub meta: Vec<PointMeta>,
    /// The rules checked.
    pub rules: RuleSet,
    /// Their violations.
    pub violations: Vec<Violation>,
    /// Where the limits come from.
    pub origin: Option<LimitsOrigin>,
    /// Capability, or why there is none.
    pub capability: Result<Capability, String>,
}

/// The points of a chart before limits: individual values, subgroups or counts.
enum Points {
    Values(Vec<f64>),
    Subgroups(Vec<Vec<f64>>),
    Counts(Vec<Count>),
}

impl Points {
    fn len(&self) -> usize {
        match self {
            Points::Values(v) => v.len(),
            Points::Subgroups(v) => v.len(),
            Points::Counts(v) => v.len(),
        }
    }

    /// The points whose index `keep` accepts.
    fn select(&self, keep: impl Fn(usize) -> bool) -> Points {
        fn pick<T: Clone>(v: &[T], keep: &dyn Fn(usize) -> bool) -> Vec<T> {
            v.iter()
                .enumerate()
                .filter(|(i, _)| keep(*i))
                .map(|(_, x)| x.clone())
                .collect()
        }
        match self {
            Points::Values(v) => Points::Values(pick(v, &keep)),
            Points::Subgroups(v) => Points::Subgroups(pick(v, &keep)),
            Points::Counts(v) => Points::Counts(pick(v, &keep)),
        }
    }

    fn limits(&self, kind: ChartKind) -> Result<Limits, SpcError> {
        match (self, kind) {
            (Points::Values(v), _) => individuals(v),
            (Points::Subgroups(g), ChartKind::XbarR) => xbar_r(g),
            (Points::Subgroups(g), _) => xbar_s(g),
            (Points::Counts(c), ChartKind::Np) => np_chart(c),
            (Points::Counts(c), _) => p_chart(c),
        }
    }

    fn chart(&self, limits: &Limits) -> Result<Chart, SpcError> {
        match self {
            Points::Values(v) => limits.chart_individuals(v),
            Points::Subgroups(g) => limits.chart_subgroups(g),
            Points::Counts(c) => limits.chart_counts(c),
        }
    }
}

/// Consecutive runs of values with the same key, each with its key and last time.
fn runs(values: &[Value], key: impl Fn(&Value) -> &str) -> Vec<(String, &[Value])> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=values.len() {
        if i == values.len() || key(&values[i]) != key(&values[start]) {
            if i > start {
                out.push((key(&values[start]).to_string(), &values[start..i]));
            }
            start = i;
        }
    }
    out
}

/// The points of `spec`'s kind from `values` (oldest first), with what each stands for.
fn points(spec: &ChartSpec, values: &[Value]) -> (Points, Vec<PointMeta>) {
    let last = |g: &[Value]| g.last().map_or(0, |v| v.ts_ms);
    match (spec.kind, spec.grouping) {
        (ChartKind::P | ChartKind::Np, _) => {
            let lots = runs(values, |v| &v.lot);
            let counts = lots
                .iter()
                .map(|(_, g)| Count {
                    defective: g.iter().filter(|v| !v.pass).count() as u64,
                    inspected: g.len() as u64,
                })
                .collect();
            let meta = lots
                .iter()
                .map(|(lot, g)| PointMeta {
                    label: lot.clone(),
                    ts_ms: last(g),
                })
                .collect();
            (Points::Counts(counts), meta)
        }
        (_, Some((grouping, n))) => {
            let groups: Vec<(String, &[Value])> = match grouping {
                Grouping::Lot => runs(values, |v| &v.lot),
                Grouping::Order => runs(values, |v| &v.order),
                // Whole subgroups only: the newest cells wait for their subgroup to fill.
                Grouping::Cells => values
                    .chunks_exact(n.max(1) as usize)
                    .map(|g| (g[0].serial.clone(), g))
                    .collect(),
            };
            let meta = groups
                .iter()
                .map(|(label, g)| PointMeta {
                    label: label.clone(),
                    ts_ms: last(g),
                })
                .collect();
            let subgroups = groups
                .iter()
                .map(|(_, g)| g.iter().map(|v| v.value).collect())
                .collect();
            (Points::Subgroups(subgroups), meta)
        }
        _ => (
            Points::Values(values.iter().map(|v| v.value).collect()),
            values
                .iter()
                .map(|v| PointMeta {
                    label: v.serial.clone(),
                    ts_ms: v.ts_ms,
                })
                .collect(),
        ),
    }
}

/// The chart of `values` (oldest first) as `spec` asks: limits from `frozen` unless
/// the query names a baseline, else from the default baseline; the rules the query
/// names, else the frozen version's, else Nelson 1–8; capability against `spec_limits`
/// for a variables chart.
pub fn analyse(
    spec: &ChartSpec,
    values: &[Value],
    frozen: Option<&LimitsVersion>,
    spec_limits: Option<SpecLimits>,
) -> Analysis {
    let (pts, meta) = points(spec, values);
    let rules = spec
        .rules
        .or(frozen.map(|f| f.rules))
        .unwrap_or_else(RuleSet::nelson);
    let limits = match (spec.baseline, frozen) {
        (None, Some(f)) => Ok((f.limits.clone(), LimitsOrigin::Frozen(f.version))),
        (baseline, _) => {
            let baseline = baseline.unwrap_or(Baseline::First(DEFAULT_BASELINE));
            let chosen = match baseline {
                Baseline::First(k) => pts.select(|i| i < k as usize),
                Baseline::Range { from_ms, to_ms } => {
                    pts.select(|i| (from_ms..=to_ms).contains(&meta[i].ts_ms))
                }
            };
            if chosen.len() == 0 && pts.len() > 0 {
                Err(format!(
                    "no point falls in the baseline ({})",
                    baseline.describe()
                ))
            } else {
                chosen
                    .limits(spec.kind)
                    .map(|l| (l, LimitsOrigin::Baseline(baseline.describe())))
                    .map_err(|e| format!("no limits from {}: {e}", baseline.describe()))
            }
        }
    };
    let (chart, origin) = match limits {
        Ok((limits, origin)) => (pts.chart(&limits).map_err(|e| e.to_string()), Some(origin)),
        Err(e) => (Err(e), None),
    };
    let violations = chart
        .as_ref()
        .map(|c| c.violations(&rules))
        .unwrap_or_default();
    let capability = match (&chart, spec_limits) {
        (_, None) => Err("no spec limits: capability needs them".to_string()),
        (_, Some(_)) if spec.kind.is_attributes() => {
            Err("capability is for variables charts (I-MR, X̄-R, X̄-S)".to_string())
        }
        (Err(_), Some(_)) => Err("no chart, so no within-subgroup σ".to_string()),
        (Ok(c), Some(s)) => {
            let all: Vec<f64> = values.iter().map(|v| v.value).collect();
            capability(&all, c.limits.sigma, s).map_err(|e| e.to_string())
        }
    };
    Analysis {
        chart,
        meta,
        rules,
        violations,
        origin,
        capability,
    }
}

/// A measurement's capability from its values alone (the capability table): σ within
/// from the moving ranges of the values in time order (I-MR), as a chart of them
/// would have it.
pub fn capability_of(values: &[f64], spec: SpecLimits) -> Result<Capability, String> {
    let limits = individuals(values).map_err(|e| e.to_string())?;
    capability(values, limits.sigma, spec).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::spc::Rule;
    use app::spc::view::ChartQuery;

    fn cells(values: &[f64], lot_size: usize) -> Vec<Value> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| Value {
                ts_ms: 1_000 * i as i64,
                serial: format!("C{i:04}"),
                lot: format!("L{}", i / lot_size),
                order: "O1".into(),
                value: v,
                pass: v < 10.5,
            })
            .collect()
    }

    fn spec(pairs: &[(&str, &str)]) -> ChartSpec {
        let q = ChartQuery::from_pairs(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .expect("parses");
        q.spec("HC").expect("valid")
    }

    /// Alternates around 10 by ±0.1 (MR̄ = 0.2, σ̂ = 0.2/1.128), then shifts up.
    fn shifted(before: usize, after: usize, by: f64) -> Vec<f64> {
        (0..before + after)
            .map(|i| {
                let wiggle = if i % 2 == 0 { 0.1 } else { -0.1 };
                10.0 + wiggle + if i >= before { by } else { 0.0 }
            })
            .collect()
    }

    #[test]
    fn a_shifted_process_breaks_nelson_2_from_the_ninth_point_after_the_shift() {
        let values = cells(&shifted(30, 12, 0.15), 1000);
        let a = analyse(
            &spec(&[("measurement", "capacity")]),
            &values,
            None,
            Some(SpecLimits {
                lsl: Some(9.0),
                usl: Some(11.0),
            }),
        );
        let chart = a.chart.expect("chart");
        assert_eq!(chart.points.len(), 42);
        // The first 25 points: 13 at 10.1 and 12 at 9.9.
        assert!(
            (chart.limits.centre - 10.004).abs() < 1e-12,
            "baseline: first 25"
        );
        let n2: Vec<&Violation> = a.violations.iter().filter(|v| v.rule == Rule::N2).collect();
        assert_eq!(
            n2.first().map(|v| v.at),
            Some(38),
            "9th point at or above: 30..=38"
        );
        assert_eq!(n2[0].points, (30..=38).collect::<Vec<_>>());
        assert_eq!(a.meta[38].label, "C0038");
        assert!(matches!(a.origin, Some(LimitsOrigin::Baseline(_))));
        let cap = a.capability.expect("capability");
        assert_eq!(cap.n, 42);
        assert!((cap.sigma_within - chart.limits.sigma).abs() < 1e-15);
    }

    #[test]
    fn frozen_limits_apply_unless_a_baseline_is_asked_for() {
        let values = cells(&shifted(30, 30, 1.0), 1000);
        let computed = analyse(&spec(&[("measurement", "capacity")]), &values, None, None);
        let mut limits = computed.chart.expect("chart").limits;
        limits.centre = 11.0;
        let frozen = LimitsVersion {
            chart: "measurement:HC/capacity:imr".into(),
            version: 3,
            limits,
            rules: RuleSet::none(),
            baseline: "the first 25 points".into(),
            note: "after the coater change".into(),
            by: "qe".into(),
            frozen_ms: 0,
        };
        let a = analyse(
            &spec(&[("measurement", "capacity")]),
            &values,
            Some(&frozen),
            None,
        );
        assert_eq!(a.origin, Some(LimitsOrigin::Frozen(3)));
        assert_eq!(a.chart.expect("chart").limits.centre, 11.0);
        assert!(a.violations.is_empty(), "the frozen version's rules: none");
        assert_eq!(
            a.capability,
            Err("no spec limits: capability needs them".into())
        );
        // Rules in the query win over the version's; a baseline in the query wins too.
        let a = analyse(
            &spec(&[
                ("measurement", "capacity"),
                ("rules", "N1"),
                ("baseline_first", "20"),
            ]),
            &values,
            Some(&frozen),
            None,
        );
        assert!(matches!(a.origin, Some(LimitsOrigin::Baseline(_))));
        assert!(a.violations.iter().all(|v| v.rule == Rule::N1));
        assert!(!a.violations.is_empty());
    }

    #[test]
    fn subgroups_by_cells_lot_and_order_and_counts_per_lot() {
        let values = cells(&shifted(40, 0, 0.0), 10);
        let x = analyse(
            &spec(&[("measurement", "capacity"), ("kind", "xbar-r"), ("n", "4")]),
            &values,
            None,
            None,
        );
        let chart = x.chart.expect("X̄-R");
        assert_eq!(chart.points.len(), 10);
        assert!(chart.points.iter().all(|p| p.n == 4));
        assert_eq!(
            x.meta[1].label, "C0004",
            "a subgroup is named by its first cell"
        );
        assert_eq!(x.meta[1].ts_ms, 7_000, "at its last cell's time");

        let by_lot = analyse(
            &spec(&[
                ("measurement", "capacity"),
                ("kind", "xbar-s"),
                ("by", "lot"),
            ]),
            &values,
            None,
            None,
        );
        assert_eq!(
            by_lot
                .meta
                .iter()
                .map(|m| m.label.as_str())
                .collect::<Vec<_>>(),
            ["L0", "L1", "L2", "L3"]
        );
        // Lots of unequal size: X̄-R says why it cannot, naming the subgroup.
        let mut uneven = values.clone();
        uneven.truncate(35);
        let r = analyse(
            &spec(&[
                ("measurement", "capacity"),
                ("kind", "xbar-r"),
                ("by", "lot"),
            ]),
            &uneven,
            None,
            None,
        );
        assert!(r.chart.is_err());

        let mut failing = values.clone();
        for v in failing.iter_mut().skip(30) {
            v.pass = false;
        }
        let p = analyse(
            &spec(&[("measurement", "capacity"), ("kind", "p")]),
            &failing,
            None,
            None,
        );
        let chart = p.chart.expect("p");
        assert_eq!(
            chart.points.iter().map(|p| p.value).collect::<Vec<_>>(),
            [0.0, 0.0, 0.0, 1.0]
        );
        assert!(
            p.capability.is_err(),
            "no capability for an attributes chart"
        );
    }

    #[test]
    fn a_baseline_range_that_holds_no_point_is_said_so() {
        let values = cells(&shifted(30, 0, 0.0), 1000);
        let a = analyse(
            &spec(&[
                ("measurement", "capacity"),
                ("baseline_from_ms", "900000"),
                ("baseline_to_ms", "990000"),
            ]),
            &values,
            None,
            None,
        );
        assert!(
            a.chart
                .expect_err("no chart")
                .contains("no point falls in the baseline")
        );
        assert!(a.violations.is_empty());
        // No values at all: the statistic says it needs more.
        let a = analyse(&spec(&[("measurement", "capacity")]), &[], None, None);
        assert!(a.chart.is_err());
    }

    #[test]
    fn the_capability_table_uses_the_moving_range_sigma() {
        let v = shifted(50, 0, 0.0);
        let cap = capability_of(
            &v,
            SpecLimits {
                lsl: Some(9.4),
                usl: Some(10.6),
            },
        )
        .expect("study");
        // d2(2) as the NIST table publishes it.
        let sigma = 0.2 / app::spc::constants::d2(2).expect("d2(2)");
        assert!((cap.sigma_within - sigma).abs() < 1e-12);
        assert!((cap.cp.expect("two-sided") - 1.2 / (6.0 * sigma)).abs() < 1e-9);
        assert!(
            capability_of(
                &[1.0],
                SpecLimits {
                    lsl: Some(0.0),
                    usl: None
                }
            )
            .is_err()
        );
    }
}

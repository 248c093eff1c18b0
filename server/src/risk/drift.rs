//! Does the model still fit the line? (pure)
//!
//! - **Drift**: the population stability index of each feature between the model's
//!   training rows and the newest cells. Training stores, per feature, the deciles
//!   of its training values as bin edges and the training share in each bin (and the
//!   share missing, for an optional measurement) in the artifact's `baseline.json`;
//!   the newest cells are binned on the same edges.
//!   `PSI = Σ (a − e) · ln(a / e)` over the bins of the present values, shares
//!   floored at [`FLOOR`] so an empty bin does not make it infinite. Above 0.25 the
//!   population has shifted (the usual reading: < 0.1 stable, 0.1–0.25 a moderate
//!   shift) — but a window of a few hundred cells is part of a day and of a lot,
//!   so a feature that moves by the hour (the dry room's temperature) or by lot
//!   (materials) shows a large PSI with nothing changed. Training therefore also
//!   stores, per feature and stretch length, the largest PSI that a stretch of that
//!   many consecutive training rows showed against the whole ([`Stretch`]); a
//!   feature counts as shifted only beyond both 0.25 and that.
//! - **Live performance**: PR AUC, recall and flag rate at the active threshold over
//!   the newest cells whose short-term test result has arrived, from the scores the
//!   active model gave them.

use serde::{Deserialize, Serialize};

use super::metrics;

/// Bins per feature (deciles of the training values).
pub const BINS: usize = 10;
/// Smallest share a bin counts with.
pub const FLOOR: f64 = 1e-4;
/// File of the training baseline in an artifact folder.
pub const BASELINE_FILE: &str = "baseline.json";

/// One feature's training distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureBaseline {
    /// Catalogue measurement name.
    pub name: String,
    /// Inner bin edges, strictly ascending: bin k holds `edges[k-1] < v <= edges[k]`.
    pub edges: Vec<f64>,
    /// Training share in each bin (`edges.len() + 1` of them), of the present values.
    pub shares: Vec<f64>,
    /// Share of training rows without the value.
    pub missing: f64,
    /// Per stretch length, the largest PSI a stretch of that many consecutive
    /// training rows (in production order, starting every tenth of a stretch) showed
    /// against the whole: what the line
    /// shows without any change, for a feature that moves by the hour or by lot.
    #[serde(default)]
    pub stretches: Vec<Stretch>,
}

/// The largest PSI of `cells` consecutive training rows against the whole.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stretch {
    /// Rows per stretch.
    pub cells: u32,
    /// The largest PSI of such a stretch.
    pub max_psi: f64,
}

/// Stretch lengths measured at training (those the training rows hold twice).
pub const STRETCHES: [u32; 7] = [100, 250, 500, 1_000, 2_500, 5_000, 10_000];

/// One feature's drift: its PSI over the newest cells and the largest PSI the
/// training data's own stretches of about as many cells showed.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    /// Catalogue measurement name.
    pub name: String,
    /// PSI of the newest cells.
    pub psi: f64,
    /// The largest PSI of a training stretch of the window's length (or the nearest
    /// longer one); `None` for a baseline without stretches.
    pub usual: Option<f64>,
}

/// Every feature's training distribution, in the model's feature order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Training rows it was measured on.
    pub rows: u64,
    /// Per feature.
    pub features: Vec<FeatureBaseline>,
}

/// The bin of `v` on `edges`.
fn bin_of(edges: &[f64], v: f64) -> usize {
    edges.partition_point(|&e| e < v)
}

/// Shares of `values` (present ones) per bin, and the share missing.
fn shares(edges: &[f64], values: &[Option<f64>]) -> (Vec<f64>, f64) {
    let mut counts = vec![0u64; edges.len() + 1];
    let mut missing = 0u64;
    for v in values {
        match v.filter(|v| v.is_finite()) {
            Some(v) => counts[bin_of(edges, v)] += 1,
            None => missing += 1,
        }
    }
    let present = values.len() as u64 - missing;
    let of = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    (
        counts.iter().map(|&c| of(c, present)).collect(),
        of(missing, values.len() as u64),
    )
}

impl FeatureBaseline {
    /// The distribution of one feature's training values (`None` = missing).
    pub fn of(name: &str, values: &[Option<f64>]) -> Self {
        let mut present: Vec<f64> = values
            .iter()
            .flatten()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        present.sort_by(f64::total_cmp);
        let mut edges: Vec<f64> = Vec::new();
        if !present.is_empty() {
            let last = present.len() - 1;
            for k in 1..BINS {
                let e = present[k * last / BINS];
                // Ties collapse bins: a feature with few distinct values gets fewer.
                if edges.last().is_none_or(|&p| e > p) && e < present[last] {
                    edges.push(e);
                }
            }
        }
        let (shares, missing) = shares(&edges, values);
        let mut b = Self {
            name: name.to_owned(),
            edges,
            shares,
            missing,
            stretches: Vec::new(),
        };
        b.stretches = STRETCHES
            .iter()
            .filter(|&&n| values.len() >= 2 * n as usize)
            .filter_map(|&n| {
                // Stretches overlapping by nine tenths: the largest of a few dozen
                // disjoint ones misses how far the process goes by itself.
                let n = n as usize;
                let max_psi = (0..=values.len() - n)
                    .step_by((n / 10).max(1))
                    .filter_map(|i| b.psi(&values[i..i + n]))
                    .max_by(f64::total_cmp)?;
                Some(Stretch {
                    cells: n as u32,
                    max_psi,
                })
            })
            .collect();
        b
    }

    /// The largest PSI a training stretch of `n` cells showed: the shortest stretch
    /// measured that is at least `n` long, else the longest one.
    pub fn usual(&self, n: usize) -> Option<f64> {
        self.stretches
            .iter()
            .find(|s| s.cells as usize >= n)
            .or(self.stretches.last())
            .map(|s| s.max_psi)
    }

    /// PSI between the training distribution of the present values and the present
    /// ones of `values` (`None` = missing); `None` when none is present. Missing
    /// values are left out on both sides: the newest cells are still in the line, and
    /// a measurement not taken yet is not a shift of the process.
    pub fn psi(&self, values: &[Option<f64>]) -> Option<f64> {
        if self.shares.len() != self.edges.len() + 1 {
            return None;
        }
        let (actual, missing) = shares(&self.edges, values);
        if values.is_empty() || missing >= 1.0 {
            return None;
        }
        Some(
            self.shares
                .iter()
                .zip(&actual)
                .map(|(&e, &a)| {
                    let (e, a) = (e.max(FLOOR), a.max(FLOOR));
                    (a - e) * (a / e).ln()
                })
                .sum(),
        )
    }
}

impl Baseline {
    /// The baseline of training rows in production order: `rows[i][j]` is feature
    /// `j` of row `i`.
    pub fn of(names: &[String], rows: &[Vec<Option<f64>>]) -> Self {
        let features = names
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let column: Vec<Option<f64>> =
                    rows.iter().map(|r| r.get(j).copied().flatten()).collect();
                FeatureBaseline::of(name, &column)
            })
            .collect();
        Self {
            rows: rows.len() as u64,
            features,
        }
    }

    /// Drift of each feature over `recent` rows (same feature order), by PSI, the
    /// largest first.
    pub fn drift(&self, recent: &[Vec<Option<f64>>]) -> Vec<Drift> {
        let mut out: Vec<Drift> = self
            .features
            .iter()
            .enumerate()
            .filter_map(|(j, f)| {
                let column: Vec<Option<f64>> =
                    recent.iter().map(|r| r.get(j).copied().flatten()).collect();
                f.psi(&column).map(|psi| Drift {
                    name: f.name.clone(),
                    psi,
                    usual: f.usual(recent.len()),
                })
            })
            .collect();
        out.sort_by(|a, b| b.psi.total_cmp(&a.psi).then_with(|| a.name.cmp(&b.name)));
        out
    }
}

/// How the active model does on the labelled newest cells.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Performance {
    /// Cells with a score and a short-term result.
    pub labelled: u64,
    /// Of them, failed the short-term test.
    pub defective: u64,
    /// Average precision; `None` without both classes.
    pub pr_auc: Option<f64>,
    /// Share of the defective ones flagged high-risk.
    pub recall: Option<f64>,
    /// Share flagged high-risk.
    pub flag_rate: Option<f64>,
}

/// Live performance of `(score, failed)` pairs at `threshold`.
pub fn performance(pairs: &[(f64, bool)], threshold: f64) -> Performance {
    let scores: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let labels: Vec<bool> = pairs.iter().map(|p| p.1).collect();
    let c = metrics::confusion(&scores, &labels, threshold);
    Performance {
        labelled: pairs.len() as u64,
        defective: labels.iter().filter(|&&l| l).count() as u64,
        pr_auc: metrics::average_precision(&scores, &labels),
        recall: c.recall(),
        flag_rate: c.flag_rate(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(values: impl IntoIterator<Item = f64>) -> Vec<Option<f64>> {
        values.into_iter().map(Some).collect()
    }

    #[test]
    fn the_training_data_against_itself_has_no_drift() {
        let v = column((0..1000).map(|i| f64::from(i) * 0.01));
        let b = FeatureBaseline::of("k_value", &v);
        assert_eq!(b.edges.len(), BINS - 1);
        assert!(
            b.shares.iter().all(|s| (s - 0.1).abs() < 0.002),
            "{:?}",
            b.shares
        );
        assert!(b.psi(&v).expect("psi") < 1e-9);
    }

    #[test]
    fn a_shift_of_the_mean_raises_the_psi_past_the_warning() {
        let train = column((0..2000).map(|i| f64::from(i % 100)));
        let b = FeatureBaseline::of("ocv", &train);
        let same = column((0..500).map(|i| f64::from((i * 7) % 100)));
        let small = column((0..500).map(|i| f64::from((i * 7) % 100) + 3.0));
        let large = column((0..500).map(|i| f64::from((i * 7) % 100) + 40.0));
        let (p0, p1, p2) = (
            b.psi(&same).expect("psi"),
            b.psi(&small).expect("psi"),
            b.psi(&large).expect("psi"),
        );
        assert!(p0 < 0.02, "same distribution: {p0}");
        assert!(p1 < 0.1, "a small shift: {p1}");
        assert!(p2 > 0.25, "a large shift: {p2}");
        assert!(p0 < p1 && p1 < p2);
    }

    #[test]
    fn the_psi_is_the_textbook_sum_on_the_shares() {
        // Two bins of 0.5 each in training; 0.8 / 0.2 recently.
        let b = FeatureBaseline {
            name: "x".into(),
            edges: vec![1.0],
            shares: vec![0.5, 0.5],
            missing: 0.0,
            stretches: Vec::new(),
        };
        let recent = column([0.0, 0.5, 1.0, 0.7, 2.0]);
        let expected = (0.8 - 0.5) * (0.8f64 / 0.5).ln() + (0.2 - 0.5) * (0.2f64 / 0.5).ln();
        assert!((b.psi(&recent).expect("psi") - expected).abs() < 1e-12);
        // An empty bin is floored, not infinite.
        let all_low = column([0.0, 0.1]);
        assert!(b.psi(&all_low).expect("psi").is_finite());
        assert_eq!(b.psi(&[]), None);
    }

    #[test]
    fn missing_values_are_left_out_on_both_sides() {
        let mut train = column((0..100).map(f64::from));
        train.extend(std::iter::repeat_n(None, 100));
        let b = FeatureBaseline::of("oqc", &train);
        assert!((b.missing - 0.5).abs() < 1e-12);
        assert!((b.shares.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // Cells still in the line (no OQC yet) do not read as drift.
        let mut recent = column((0..100).map(f64::from));
        recent.extend(std::iter::repeat_n(None, 900));
        assert!(b.psi(&recent).expect("psi") < 1e-9);
        assert_eq!(b.psi(&[None, None]), None);
    }

    #[test]
    fn a_constant_feature_has_one_bin_and_ties_collapse_edges() {
        let b = FeatureBaseline::of("c", &column([2.0; 50]));
        assert!(b.edges.is_empty());
        assert_eq!(b.shares, vec![1.0]);
        let few = FeatureBaseline::of("f", &column((0..90).map(|i| f64::from(i % 3))));
        assert!(few.edges.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(few.edges.len() + 1, few.shares.len());
        assert!(few.edges.len() <= 2);
    }

    #[test]
    fn drift_lists_the_worst_feature_first() {
        let names = vec!["a".to_owned(), "b".to_owned()];
        let rows: Vec<Vec<Option<f64>>> = (0..1000)
            .map(|i| vec![Some(f64::from(i % 50)), Some(f64::from(i % 20))])
            .collect();
        let base = Baseline::of(&names, &rows);
        let recent: Vec<Vec<Option<f64>>> = (0..300)
            .map(|i| vec![Some(f64::from(i % 50)), Some(f64::from(i % 20) + 15.0)])
            .collect();
        let d = base.drift(&recent);
        assert_eq!(d[0].name, "b");
        assert!(d[0].psi > 0.25 && d[1].psi < 0.05, "{d:?}");
    }

    #[test]
    fn a_feature_that_moves_by_the_hour_has_large_stretch_psis_in_training() {
        // A slow cycle: any 100 consecutive rows see a small part of it.
        let cyclic =
            column((0..4000).map(|i| (f64::from(i) / 4000.0 * std::f64::consts::TAU).sin()));
        let noise = column((0..4000).map(|i| f64::from((i * 7919) % 1000)));
        let c = FeatureBaseline::of("ambient", &cyclic);
        let n = FeatureBaseline::of("noise", &noise);
        let sizes: Vec<u32> = c.stretches.iter().map(|s| s.cells).collect();
        assert_eq!(sizes, vec![100, 250, 500, 1_000], "stretches held twice");
        let (uc, un) = (c.usual(100).expect("usual"), n.usual(100).expect("usual"));
        assert!(uc > 1.0, "a stretch of a cycle is far from the whole: {uc}");
        assert!(un < 0.25, "a stretch of noise is like the whole: {un}");
        // The shortest stretch at least as long as the window, else the longest.
        assert_eq!(c.usual(300), Some(c.stretches[2].max_psi));
        assert_eq!(c.usual(50_000), Some(c.stretches[3].max_psi));
        assert!(c.stretches.windows(2).all(|w| w[0].max_psi >= w[1].max_psi));
    }

    #[test]
    fn live_performance_counts_recall_and_flag_rate_at_the_threshold() {
        let pairs = [
            (0.9, true),
            (0.8, false),
            (0.2, true),
            (0.1, false),
            (0.05, false),
        ];
        let p = performance(&pairs, 0.5);
        assert_eq!((p.labelled, p.defective), (5, 2));
        assert_eq!(p.recall, Some(0.5));
        assert_eq!(p.flag_rate, Some(0.4));
        // AP: positives at ranks 1 (precision 1) and 3 (precision 2/3).
        assert!((p.pr_auc.expect("ap") - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(performance(&[(0.3, false)], 0.5).pr_auc, None);
    }
}

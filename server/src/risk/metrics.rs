//! Metrics for rare-defect classifiers, and threshold choice.
//!
//! A score is a model's estimate that a cell is defective; a cell is *flagged*
//! (high risk) when its score is at or above the threshold. Labels are `true` for
//! defective cells. Accuracy is deliberately absent: calling every cell low-risk is
//! already about 90 % accurate on a typical line. Every function returns `None` where
//! the metric is undefined (no positives, no negatives, empty or mismatched input).

pub use crate::quality::settings::ThresholdPolicy;

/// Counts at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Confusion {
    /// Defective and flagged.
    pub tp: u64,
    /// Good but flagged (false alarm).
    pub fp: u64,
    /// Good and passed.
    pub tn: u64,
    /// Defective but passed (miss).
    pub fn_: u64,
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

impl Confusion {
    /// Share of defective cells flagged.
    pub fn recall(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fn_)
    }
    /// Share of flagged cells that are defective.
    pub fn precision(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fp)
    }
    /// Share of all cells flagged (the short-term testing load).
    pub fn flag_rate(&self) -> Option<f64> {
        ratio(self.tp + self.fp, self.tp + self.fp + self.tn + self.fn_)
    }
    /// Producer's risk: share of good cells flagged (needless testing).
    pub fn producers_risk(&self) -> Option<f64> {
        ratio(self.fp, self.fp + self.tn)
    }
    /// Consumer's risk: share of defective cells passed (misses).
    pub fn consumers_risk(&self) -> Option<f64> {
        ratio(self.fn_, self.fn_ + self.tp)
    }
}

fn valid(scores: &[f64], labels: &[bool]) -> bool {
    !scores.is_empty() && scores.len() == labels.len() && scores.iter().all(|s| s.is_finite())
}

/// Share of defective cells.
pub fn base_rate(labels: &[bool]) -> Option<f64> {
    ratio(
        labels.iter().filter(|&&l| l).count() as u64,
        labels.len() as u64,
    )
}

/// The confusion matrix when cells scoring `threshold` or more are flagged.
pub fn confusion(scores: &[f64], labels: &[bool], threshold: f64) -> Confusion {
    let mut c = Confusion::default();
    for (&s, &l) in scores.iter().zip(labels) {
        match (s >= threshold, l) {
            (true, true) => c.tp += 1,
            (true, false) => c.fp += 1,
            (false, false) => c.tn += 1,
            (false, true) => c.fn_ += 1,
        }
    }
    c
}

/// Indices sorted by score, highest first.
fn by_score_desc(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    idx
}

/// Area under the ROC curve: the chance that a random defective cell scores above a
/// random good one (ties count half).
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    if !valid(scores, labels) {
        return None;
    }
    let pos = labels.iter().filter(|&&l| l).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    // Rank sum of the positives with average ranks for ties (Mann–Whitney U).
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += idx[i..=j].iter().filter(|&&k| labels[k]).count() as f64 * avg_rank;
        i = j + 1;
    }
    Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

/// Area under the precision–recall curve as average precision: the precision at each
/// distinct threshold, weighted by the recall it adds.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Option<f64> {
    if !valid(scores, labels) {
        return None;
    }
    let pos = labels.iter().filter(|&&l| l).count() as f64;
    if pos == 0.0 {
        return None;
    }
    let (mut ap, mut last_recall) = (0.0, 0.0);
    for (tp, fp) in sweep(scores, labels) {
        let recall = tp / pos;
        ap += (recall - last_recall) * tp / (tp + fp);
        last_recall = recall;
    }
    Some(ap)
}

/// Lowers the threshold through every distinct score, highest first, and gives the
/// cumulative (true positives, false positives) flagged at each; all cells with the
/// same score cross the threshold together. The basis of PR and ROC curves.
pub fn sweep(scores: &[f64], labels: &[bool]) -> Vec<(f64, f64)> {
    if scores.len() != labels.len() {
        return Vec::new();
    }
    let idx = by_score_desc(scores);
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut out = Vec::new();
    let mut i = 0;
    while i < idx.len() {
        let s = scores[idx[i]];
        while i < idx.len() && scores[idx[i]] == s {
            if labels[idx[i]] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        out.push((tp, fp));
    }
    out
}

/// Brier score: mean squared difference between score and outcome (lower is better).
pub fn brier(scores: &[f64], labels: &[bool]) -> Option<f64> {
    if !valid(scores, labels) {
        return None;
    }
    let sum: f64 = scores
        .iter()
        .zip(labels)
        .map(|(&s, &l)| (s - f64::from(u8::from(l))).powi(2))
        .sum();
    Some(sum / scores.len() as f64)
}

/// One bin of a calibration curve.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationBin {
    /// Lower edge of the score range (inclusive).
    pub lo: f64,
    /// Upper edge (exclusive, inclusive for the last bin).
    pub hi: f64,
    /// Cells in the bin.
    pub count: u64,
    /// Mean score of those cells.
    pub mean_score: f64,
    /// Share of them that were defective.
    pub observed_rate: f64,
}

/// Calibration curve over `bins` equal-width score bins in [0, 1]; empty bins are left out.
pub fn calibration(scores: &[f64], labels: &[bool], bins: usize) -> Vec<CalibrationBin> {
    if !valid(scores, labels) || bins == 0 {
        return Vec::new();
    }
    let mut acc = vec![(0u64, 0.0f64, 0u64); bins];
    for (&s, &l) in scores.iter().zip(labels) {
        let b = ((s.clamp(0.0, 1.0) * bins as f64) as usize).min(bins - 1);
        acc[b].0 += 1;
        acc[b].1 += s;
        acc[b].2 += u64::from(l);
    }
    acc.iter()
        .enumerate()
        .filter(|(_, a)| a.0 > 0)
        .map(|(b, &(n, sum, pos))| CalibrationBin {
            lo: b as f64 / bins as f64,
            hi: (b + 1) as f64 / bins as f64,
            count: n,
            mean_score: sum / n as f64,
            observed_rate: pos as f64 / n as f64,
        })
        .collect()
}

/// The lowest threshold that flags at most `rate` of the cells (ties never split).
pub fn threshold_for_flag_rate(scores: &[f64], rate: f64) -> Option<f64> {
    if scores.is_empty() || !(0.0..=1.0).contains(&rate) {
        return None;
    }
    let idx = by_score_desc(scores);
    let allowed = (rate * scores.len() as f64).floor() as usize;
    let mut threshold = f64::INFINITY;
    let mut i = 0;
    while i < idx.len() {
        let s = scores[idx[i]];
        let mut j = i;
        while j < idx.len() && scores[idx[j]] == s {
            j += 1;
        }
        if j > allowed {
            break;
        }
        threshold = s;
        i = j;
    }
    Some(threshold)
}

/// Recall when at most `rate` of the cells may be flagged.
pub fn recall_at_flag_rate(scores: &[f64], labels: &[bool], rate: f64) -> Option<f64> {
    if !valid(scores, labels) {
        return None;
    }
    confusion(scores, labels, threshold_for_flag_rate(scores, rate)?).recall()
}

/// Chooses a threshold on validation scores by `policy`.
pub fn choose_threshold(scores: &[f64], labels: &[bool], policy: ThresholdPolicy) -> Option<f64> {
    if !valid(scores, labels) || !labels.iter().any(|&l| l) {
        return None;
    }
    // Candidate thresholds: each distinct score, highest first.
    let mut candidates: Vec<f64> = scores.to_vec();
    candidates.sort_by(|a, b| b.total_cmp(a));
    candidates.dedup();
    match policy {
        ThresholdPolicy::RecallWithinFlagRate {
            recall,
            max_flag_rate,
        } => {
            let cap = threshold_for_flag_rate(scores, max_flag_rate)?;
            let reaching = candidates.iter().copied().find(|&t| {
                confusion(scores, labels, t)
                    .recall()
                    .is_some_and(|r| r >= recall)
            });
            Some(match reaching {
                Some(t) if t >= cap => t,
                _ => cap,
            })
        }
        ThresholdPolicy::CostRatio { miss_cost } => candidates
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .map(|t| {
                let c = confusion(scores, labels, t);
                (t, c.fp as f64 + miss_cost * c.fn_ as f64)
            })
            .min_by(|a, b| a.1.total_cmp(&b.1).then(b.0.total_cmp(&a.0)))
            .map(|(t, _)| t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    // The classic four-cell example: two good (0.1, 0.4), two defective (0.35, 0.8).
    const S: [f64; 4] = [0.1, 0.4, 0.35, 0.8];
    const L: [bool; 4] = [false, false, true, true];

    #[test]
    fn the_sweep_counts_flags_threshold_by_threshold_with_ties_together() {
        // 0.8 (defective), 0.4 (good), 0.35 (defective), 0.1 (good).
        assert_eq!(
            sweep(&S, &L),
            vec![(1.0, 0.0), (1.0, 1.0), (2.0, 1.0), (2.0, 2.0)]
        );
        assert_eq!(
            sweep(&[0.5, 0.5, 0.2], &[true, false, false]),
            vec![(1.0, 1.0), (1.0, 2.0)]
        );
        assert!(sweep(&[0.5], &[]).is_empty());
    }

    #[test]
    fn roc_auc_of_the_four_cell_example_is_three_quarters() {
        // Pairs (pos, neg): (0.35,0.1) win, (0.35,0.4) loss, (0.8,0.1) win, (0.8,0.4) win → 3/4.
        assert!(close(roc_auc(&S, &L), 0.75));
    }

    #[test]
    fn ties_count_half_in_roc_auc() {
        assert!(close(roc_auc(&[0.5, 0.5], &[true, false]), 0.5));
        assert!(close(
            roc_auc(&[0.2, 0.5, 0.5], &[false, true, false]),
            0.75
        ));
        assert!(close(roc_auc(&[0.9, 0.1], &[true, false]), 1.0));
        assert!(close(roc_auc(&[0.1, 0.9], &[true, false]), 0.0));
    }

    #[test]
    fn average_precision_of_the_four_cell_example() {
        // Thresholds from the top: 0.8 (P=1, R=.5), 0.4 (P=.5, R=.5), 0.35 (P=2/3, R=1), 0.1.
        // AP = .5×1 + 0×.5 + .5×2/3 + 0 = 0.8333…
        assert!(close(average_precision(&S, &L), 0.5 + 0.5 * 2.0 / 3.0));
    }

    #[test]
    fn a_tie_at_a_threshold_is_one_step_in_average_precision() {
        // Both cells cross together: P = 1/2 at R = 1.
        assert!(close(average_precision(&[0.5, 0.5], &[true, false]), 0.5));
        // A perfect ranking has AP 1 whatever the base rate.
        assert!(close(
            average_precision(&[0.9, 0.8, 0.1, 0.05], &[true, true, false, false]),
            1.0
        ));
    }

    #[test]
    fn brier_score_is_the_mean_squared_error() {
        // (0.1² + 0.1² + 0.2² + 0.3²) / 4
        assert!(close(
            brier(&[0.1, 0.9, 0.8, 0.3], &[false, true, true, false]),
            0.0375
        ));
        assert!(close(brier(&[0.0, 1.0], &[false, true]), 0.0));
    }

    #[test]
    fn the_confusion_matrix_gives_both_risks() {
        let c = confusion(&S, &L, 0.5);
        assert_eq!(
            c,
            Confusion {
                tp: 1,
                fp: 0,
                tn: 2,
                fn_: 1
            }
        );
        assert!(close(c.recall(), 0.5));
        assert!(close(c.precision(), 1.0));
        assert!(close(c.flag_rate(), 0.25));
        assert!(close(c.producers_risk(), 0.0));
        assert!(close(c.consumers_risk(), 0.5));
        let c = confusion(&S, &L, 0.3);
        assert_eq!(
            c,
            Confusion {
                tp: 2,
                fp: 1,
                tn: 1,
                fn_: 0
            }
        );
        assert!(close(c.producers_risk(), 0.5));
        assert!(close(c.consumers_risk(), 0.0));
    }

    #[test]
    fn calibration_bins_compare_mean_score_with_observed_rate() {
        let scores = [0.05, 0.15, 0.12, 0.95, 0.85];
        let labels = [false, false, true, true, false];
        let bins = calibration(&scores, &labels, 10);
        assert_eq!(bins.len(), 4);
        assert_eq!(bins[1].count, 2);
        assert!((bins[1].mean_score - 0.135).abs() < 1e-9);
        assert!((bins[1].observed_rate - 0.5).abs() < 1e-9);
        assert_eq!(bins[3].lo, 0.9);
        assert!(calibration(&[], &[], 10).is_empty());
    }

    #[test]
    fn the_flag_rate_cap_never_splits_a_tie() {
        let scores = [0.9, 0.8, 0.8, 0.1];
        assert_eq!(threshold_for_flag_rate(&scores, 0.25), Some(0.9));
        // Half may be flagged, but 0.8 would flag three: stay at 0.9.
        assert_eq!(threshold_for_flag_rate(&scores, 0.5), Some(0.9));
        assert_eq!(threshold_for_flag_rate(&scores, 0.75), Some(0.8));
        assert_eq!(threshold_for_flag_rate(&scores, 0.0), Some(f64::INFINITY));
        assert!(close(recall_at_flag_rate(&S, &L, 0.25), 0.5));
        assert!(close(recall_at_flag_rate(&S, &L, 1.0), 1.0));
    }

    #[test]
    fn the_recall_policy_respects_the_flag_rate_cap() {
        let p = ThresholdPolicy::RecallWithinFlagRate {
            recall: 1.0,
            max_flag_rate: 1.0,
        };
        assert_eq!(choose_threshold(&S, &L, p), Some(0.35));
        let p = ThresholdPolicy::RecallWithinFlagRate {
            recall: 1.0,
            max_flag_rate: 0.25,
        };
        assert_eq!(choose_threshold(&S, &L, p), Some(0.8));
        let p = ThresholdPolicy::RecallWithinFlagRate {
            recall: 0.5,
            max_flag_rate: 1.0,
        };
        assert_eq!(choose_threshold(&S, &L, p), Some(0.8));
    }

    #[test]
    fn the_cost_policy_trades_misses_against_false_alarms() {
        // A miss as costly as a false alarm: 0.8 (1 miss) or 0.35 (1 false alarm) tie; the higher wins.
        assert_eq!(
            choose_threshold(&S, &L, ThresholdPolicy::CostRatio { miss_cost: 1.0 }),
            Some(0.8)
        );
        // Misses ten times worse: catch both.
        assert_eq!(
            choose_threshold(&S, &L, ThresholdPolicy::CostRatio { miss_cost: 10.0 }),
            Some(0.35)
        );
        // Misses almost free and the top score a good cell: flagging costs more than it saves.
        assert_eq!(
            choose_threshold(
                &[0.9, 0.5],
                &[false, true],
                ThresholdPolicy::CostRatio { miss_cost: 0.1 }
            ),
            Some(f64::INFINITY)
        );
        // …but with a defective cell on top, flagging it alone is cheapest.
        assert_eq!(
            choose_threshold(&S, &L, ThresholdPolicy::CostRatio { miss_cost: 0.1 }),
            Some(0.8)
        );
    }

    #[test]
    fn undefined_metrics_are_none_not_nan() {
        assert_eq!(roc_auc(&[0.1, 0.2], &[false, false]), None);
        assert_eq!(average_precision(&[0.1, 0.2], &[false, false]), None);
        assert_eq!(roc_auc(&[0.1], &[true, false]), None);
        assert_eq!(brier(&[], &[]), None);
        assert_eq!(brier(&[f64::NAN], &[true]), None);
        assert_eq!(base_rate(&[]), None);
        assert!(close(base_rate(&L), 0.5));
        assert_eq!(Confusion::default().recall(), None);
        assert_eq!(
            choose_threshold(
                &[0.1],
                &[false],
                ThresholdPolicy::CostRatio { miss_cost: 1.0 }
            ),
            None
        );
    }
}

//! The alarm sources other than tag limits and links, each read from the part of
//! CellGuard that owns it: failed PLC writes (actions), lots in the highest risk tier
//! (quality), MES dead letters (the outbox), SPC rule violations on the charts with
//! frozen limits (spc), and a risk model that no longer fits the line (quality).

use std::sync::Arc;

use app::alarm::{Priority, Source};
use app::quality::{LotTier, ModelHealth};
use tracing::warn;

use super::engine::SourceProbe;
use super::store::AlarmDef;
use crate::actions::Actions;
use crate::mes::Mes;
use crate::services::quality::Quality;
use crate::spc::Spc;

/// Lots looked at for the tier alarm (the most recent ones).
const LOTS: u32 = 50;

/// Failed writes nobody acknowledged on the actions page.
pub struct FailedWrites {
    /// The actions.
    pub actions: Actions,
    /// Their priority.
    pub priority: Priority,
}

#[async_trait::async_trait]
impl SourceProbe for FailedWrites {
    fn source(&self) -> Source {
        Source::Write
    }
    async fn active(&self) -> Option<Vec<(AlarmDef, Option<f64>)>> {
        let open = match self.actions.store().alarms().await {
            Ok(v) => v,
            Err(e) => {
                warn!(error = %e, "cannot read the failed writes");
                return None;
            }
        };
        Some(
            open.into_iter()
                .map(|a| {
                    (
                        AlarmDef {
                            source: Source::Write,
                            key: format!("write:{}", a.id),
                            machine: Some(a.machine.clone()),
                            label: format!("{} · write #{} to {} failed", a.machine, a.id, a.tag),
                            limit: None,
                            priority: self.priority,
                            message: format!(
                                "Writing {} to {} failed{}: check the machine, then acknowledge write #{} on Actions",
                                a.to,
                                a.tag,
                                a.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default(),
                                a.id
                            ),
                            unit: String::new(),
                        },
                        Some(a.to),
                    )
                })
                .collect(),
        )
    }
}

/// Lots whose share of high-risk cells puts them in the highest tier.
pub struct HighRiskLots {
    /// The quality records.
    pub quality: Arc<Quality>,
    /// Their priority.
    pub priority: Priority,
}

#[async_trait::async_trait]
impl SourceProbe for HighRiskLots {
    fn source(&self) -> Source {
        Source::LotTier
    }
    async fn active(&self) -> Option<Vec<(AlarmDef, Option<f64>)>> {
        let tiers = self.quality.config().tiers;
        let o = match self.quality.store().overview(tiers, 0, LOTS).await {
            Ok(o) => o,
            Err(e) => {
                warn!(error = %e, "cannot read the lots");
                return None;
            }
        };
        Some(
            o.lots
                .into_iter()
                .filter(|l| l.tier == Some(LotTier::High))
                .map(|l| {
                    let share = l.share().unwrap_or(0.0) * 100.0;
                    (
                        AlarmDef {
                            source: Source::LotTier,
                            key: format!("lot_tier:{}", l.lot),
                            machine: None,
                            label: format!("Lot {} · high-risk tier", l.lot),
                            limit: None,
                            priority: self.priority,
                            message: format!(
                                "{share:.0} % of lot {}'s scored cells are high risk (≥ {:.0} %): hold the lot for short-term testing",
                                l.lot,
                                tiers.high * 100.0
                            ),
                            unit: "%".into(),
                        },
                        Some(share),
                    )
                })
                .collect(),
        )
    }
}

/// MES messages the outbox gave up on.
pub struct DeadLetters {
    /// The MES side.
    pub mes: Mes,
    /// Their priority.
    pub priority: Priority,
}

#[async_trait::async_trait]
impl SourceProbe for DeadLetters {
    fn source(&self) -> Source {
        Source::Mes
    }
    async fn active(&self) -> Option<Vec<(AlarmDef, Option<f64>)>> {
        let dead = self.mes.status().dead;
        Some(if dead == 0 {
            Vec::new()
        } else {
            vec![(
                AlarmDef {
                    source: Source::Mes,
                    key: "mes:dead_letters".into(),
                    machine: None,
                    label: "MES · messages not delivered".into(),
                    limit: None,
                    priority: self.priority,
                    message: "The MES refused messages for good: read why on the MES page, fix the cause, then retry or discard them".into(),
                    unit: "messages".into(),
                },
                Some(dead as f64),
            )]
        })
    }
}

/// Charts with frozen limits whose newest point is part of a rule violation: out of
/// control until a point breaks no rule again.
pub struct SpcViolations {
    /// The SPC service.
    pub spc: Spc,
    /// Their priority.
    pub priority: Priority,
}

#[async_trait::async_trait]
impl SourceProbe for SpcViolations {
    fn source(&self) -> Source {
        Source::Spc
    }

    async fn active(&self) -> Option<Vec<(AlarmDef, Option<f64>)>> {
        let watched = match self.spc.watched().await {
            Ok(w) => w,
            Err(e) => {
                warn!(error = %e, "cannot read the watched SPC charts");
                return None;
            }
        };
        let mut out = Vec::new();
        for (spec, version, view, machine) in watched {
            let Some(chart) = &view.chart else { continue };
            let Some(last) = chart.points.last() else {
                continue;
            };
            // Out of control now: the newest point completes or belongs to a pattern.
            let mut rules: Vec<_> = view
                .violations
                .iter()
                .filter(|v| v.points.contains(&last.index))
                .map(|v| v.rule)
                .collect();
            rules.sort_unstable();
            rules.dedup();
            let Some(&first) = rules.first() else {
                continue;
            };
            let codes: Vec<&str> = rules.iter().map(|r| r.code()).collect();
            out.push((
                AlarmDef {
                    source: Source::Spc,
                    key: format!("spc:{}", version.chart),
                    machine,
                    label: format!("{} · {} out of control", view.title, spec.kind.label()),
                    limit: None,
                    priority: self.priority,
                    message: format!(
                        "{} against limits version {} ({}: {}): look for the cause on the chart, /spc/chart?{}",
                        codes.join(", "),
                        version.version,
                        first.code(),
                        first.describe(),
                        spec.watched_query().to_query()
                    ),
                    unit: view.unit.clone(),
                },
                Some(last.value),
            ));
        }
        Some(out)
    }
}

/// The active model no longer fits the line: a feature's population has shifted
/// (PSI above 0.25 between its training data and the newest cells), or its live
/// recall fell below the threshold policy's target.
pub struct ModelDrift {
    /// The quality service.
    pub quality: Arc<Quality>,
    /// Their priority.
    pub priority: Priority,
}

/// Shifted features a drift alarm names at most.
const NAMED: usize = 3;

/// The drift alarms `health` calls for (pure): one for the shifted features, one
/// for a live recall below target.
pub fn drift_alarms(h: &ModelHealth, priority: Priority) -> Vec<(AlarmDef, Option<f64>)> {
    let mut out = Vec::new();
    let shifted: Vec<_> = h.shifted().collect();
    if let Some(worst) = shifted.first() {
        let named: Vec<String> = shifted
            .iter()
            .take(NAMED)
            .map(|d| format!("{} (PSI {:.2})", d.label, d.psi))
            .collect();
        let more = shifted.len().saturating_sub(NAMED);
        out.push((
            AlarmDef {
                source: Source::Drift,
                key: format!("drift:{}", h.model),
                machine: None,
                label: format!("{} · the line has moved from its training data", h.model),
                limit: None,
                priority,
                message: format!(
                    "{}{} shifted over the newest {} cells: find what changed on the line, or retrain the model (Models page)",
                    named.join(", "),
                    if more > 0 { format!(" and {more} more") } else { String::new() },
                    h.cells
                ),
                unit: String::new(),
            },
            Some(worst.psi),
        ));
    }
    let p = &h.performance;
    if p.recall_low() {
        out.push((
            AlarmDef {
                source: Source::Drift,
                key: format!("drift:{}/recall", h.model),
                machine: None,
                label: format!("{} · live recall below target", h.model),
                limit: None,
                priority,
                message: format!(
                    "It flagged {:.0} % of the {} cells that failed the short-term test (target {:.0} %): check the line, or retrain the model (Models page)",
                    p.recall.unwrap_or(0.0) * 100.0,
                    p.defective,
                    p.recall_target.unwrap_or(0.0) * 100.0
                ),
                unit: String::new(),
            },
            p.recall,
        ));
    }
    out
}

#[async_trait::async_trait]
impl SourceProbe for ModelDrift {
    fn source(&self) -> Source {
        Source::Drift
    }

    async fn active(&self) -> Option<Vec<(AlarmDef, Option<f64>)>> {
        match self.quality.health().await {
            Ok(Some(h)) => Some(drift_alarms(&h, self.priority)),
            Ok(None) => Some(Vec::new()),
            Err(e) => {
                warn!(error = %e, "cannot measure the active model's drift");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use app::quality::{FeatureDrift, LivePerformance};

    use super::*;

    fn health(psis: &[(&str, f64)], performance: LivePerformance) -> ModelHealth {
        ModelHealth {
            model: "default-logistic".into(),
            window: 500,
            cells: 500,
            has_baseline: true,
            drift: psis
                .iter()
                .map(|(f, psi)| FeatureDrift {
                    feature: (*f).into(),
                    label: f.to_uppercase(),
                    psi: *psi,
                    usual: None,
                })
                .collect(),
            performance,
            measured_ms: 0,
        }
    }

    #[test]
    fn one_drift_alarm_names_the_worst_shifted_features() {
        let h = health(
            &[("a", 0.9), ("b", 0.5), ("c", 0.4), ("d", 0.3), ("e", 0.1)],
            LivePerformance::default(),
        );
        let alarms = drift_alarms(&h, Priority::Medium);
        assert_eq!(alarms.len(), 1);
        let (def, value) = &alarms[0];
        assert_eq!(def.key, "drift:default-logistic");
        assert_eq!(*value, Some(0.9));
        assert!(
            def.message
                .starts_with("A (PSI 0.90), B (PSI 0.50), C (PSI 0.40) and 1 more"),
            "{}",
            def.message
        );
        assert!(
            drift_alarms(
                &health(&[("a", 0.25), ("b", 0.1)], LivePerformance::default()),
                Priority::Medium
            )
            .is_empty()
        );
    }

    #[test]
    fn a_live_recall_below_target_is_an_alarm_once_enough_cells_failed() {
        let p = |defective, recall| LivePerformance {
            window: 500,
            labelled: 400,
            defective,
            pr_auc: Some(0.4),
            recall: Some(recall),
            flag_rate: Some(0.2),
            recall_target: Some(0.8),
        };
        let alarms = drift_alarms(&health(&[], p(20, 0.5)), Priority::Medium);
        assert_eq!(alarms.len(), 1);
        assert_eq!(alarms[0].0.key, "drift:default-logistic/recall");
        assert!(
            alarms[0].0.message.contains("50 % of the 20 cells"),
            "{}",
            alarms[0].0.message
        );
        // Too few failed cells to judge, or on target: none.
        assert!(drift_alarms(&health(&[], p(5, 0.2)), Priority::Medium).is_empty());
        assert!(drift_alarms(&health(&[], p(20, 0.85)), Priority::Medium).is_empty());
    }
}

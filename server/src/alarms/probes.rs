//! The alarm sources other than tag limits and links, each read from the part of
//! CellGuard that owns it: failed PLC writes (actions), lots in the highest risk tier
//! (quality), MES dead letters (the outbox), SPC rule violations on the charts with
//! frozen limits (spc).

use std::sync::Arc;

use app::alarm::{Priority, Source};
use app::quality::LotTier;
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

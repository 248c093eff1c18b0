//! The corrective-actions engine: rules, proposals, decisions and writes.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use app::actions::{
    ActionFilter, ActionState, ActionView, ActionsSummary, ActionsView, Envelope, MachineMode,
    TagNow, WritableTag, WriteMode, check,
};
use app::api::service::{ActionsService, ServiceError};
use app::auth::{AuditAction, Caller};
use app::line::Quality;
use sqlx::SqlitePool;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::settings::{Rule, WritebackSettings};
use super::store::JournalError;
use crate::acquisition::{Guard, PlcWriters, WriteError, Written};
use crate::audit::{AuditEvent, AuditLog};
use crate::bus::Bus;
use crate::clock::millis;
use crate::clock::now_ms;
use crate::plant::{DeviceId, Plant, TagId};

use super::store::{ActionStore, NewAction};

/// Longest rejection reason kept.
pub const MAX_REASON: usize = 500;
/// Approved writes waiting for the writer at most.
const QUEUE: usize = 64;
/// Window of the "corrective actions over time" chart.
const PER_HOUR_WINDOW_MS: i64 = 24 * 3_600_000;

/// The corrective-actions side of CellGuard (cheap to clone).
#[derive(Clone)]
pub struct Actions {
    inner: Arc<Inner>,
}

struct Inner {
    plant: Arc<Plant>,
    cfg: WritebackSettings,
    bus: Arc<Bus>,
    store: ActionStore,
    writers: PlcWriters,
    audit: AuditLog,
    modes: RwLock<HashMap<String, WriteMode>>,
    /// Approved actions for the writer task (one write at a time, outside any
    /// request: a closed tab or a timed-out request cannot cut a write short).
    queue: mpsc::Sender<i64>,
    queued: std::sync::Mutex<Option<mpsc::Receiver<i64>>>,
    /// Writes approved or under way when CellGuard last stopped.
    interrupted: std::sync::Mutex<Vec<ActionView>>,
    /// Why each rule proposes nothing now (its tag unread or not good), said once.
    held: std::sync::Mutex<HashMap<String, String>>,
    summary: watch::Sender<ActionsSummary>,
}

impl std::fmt::Debug for Actions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actions").finish_non_exhaustive()
    }
}

fn unavailable(e: JournalError) -> ServiceError {
    ServiceError::from(e)
}

/// The tag `tag` of machine `machine`.
fn locate(plant: &Plant, machine: &str, tag: &str) -> Option<TagId> {
    plant.tag_named(machine, tag).map(|t| t.id)
}

/// A tag's envelope from the plant file (`None` if it is not writable).
fn envelope(plant: &Plant, w: &WritebackSettings, tag: TagId) -> Option<Envelope> {
    let l = plant.tag(tag).access.limits()?;
    Some(Envelope {
        min: l.min,
        max: l.max,
        max_step: l.max_step,
        min_interval_ms: millis(w.min_interval),
        allowed_states: w.allowed_states.clone(),
    })
}

impl Actions {
    /// Opens the journal on `pool` and the modes supervisors set earlier.
    pub async fn open(
        plant: Arc<Plant>,
        cfg: WritebackSettings,
        pool: SqlitePool,
        bus: Arc<Bus>,
        writers: PlcWriters,
    ) -> Result<Actions, JournalError> {
        let store = ActionStore::new(pool.clone());
        let mut modes: HashMap<String, WriteMode> = plant
            .devices
            .iter()
            .map(|d| (d.machine.clone(), cfg.mode_of(d.id)))
            .collect();
        for (machine, mode) in store.modes().await? {
            if let Some(m) = modes.get_mut(&machine) {
                *m = mode;
            }
        }
        let (summary, _) = watch::channel(ActionsSummary::default());
        let (queue, queued) = mpsc::channel(QUEUE);
        let interrupted = store.interrupted().await?;
        let a = Actions {
            inner: Arc::new(Inner {
                plant,
                cfg,
                bus,
                store,
                writers,
                audit: AuditLog::new(pool),
                modes: RwLock::new(modes),
                queue,
                queued: std::sync::Mutex::new(Some(queued)),
                interrupted: std::sync::Mutex::new(interrupted),
                held: std::sync::Mutex::new(HashMap::new()),
                summary,
            }),
        };
        a.publish().await;
        Ok(a)
    }

    /// Every action of the filter, oldest first, for the CSV export.
    pub async fn export(&self, f: &ActionFilter) -> Result<Vec<ActionView>, ServiceError> {
        Ok(self.inner.store.export(f).await?)
    }

    /// The journal.
    pub fn store(&self) -> &ActionStore {
        &self.inner.store
    }

    fn cfg(&self) -> &WritebackSettings {
        &self.inner.cfg
    }

    /// A machine's mode now.
    pub fn mode(&self, machine: &str) -> WriteMode {
        self.inner
            .modes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(machine)
            .copied()
            .unwrap_or(WriteMode::Off)
    }

    /// Refuses (409) when write-back is off for `machine`.
    fn not_off(&self, machine: &str) -> Result<(), ServiceError> {
        if self.mode(machine) == WriteMode::Off {
            return Err(ServiceError::Conflict(format!(
                "write-back is off for {machine}; switch it to advisory first"
            )));
        }
        Ok(())
    }

    /// A receiver of the pending and alarm counts (for the live stream).
    pub fn watch(&self) -> watch::Receiver<ActionsSummary> {
        self.inner.summary.subscribe()
    }

    /// The counts as last published.
    pub fn summary(&self) -> ActionsSummary {
        self.inner.summary.borrow().clone()
    }

    /// Re-reads the counts and publishes them with a new version (pages refetch).
    async fn publish(&self) {
        match self.inner.store.counts().await {
            Ok((pending, alarms)) => self.inner.summary.send_modify(|s| {
                s.pending = pending;
                s.alarms = alarms;
                s.version += 1;
            }),
            Err(e) => warn!(error = %e, "cannot count pending actions"),
        }
    }

    /// The latest readings of `device` (empty before its first scan).
    fn latest(&self, device: DeviceId) -> Vec<crate::bus::Latest> {
        self.inner
            .bus
            .latest(device)
            .map(|(_, l)| l)
            .unwrap_or_default()
    }

    /// A tag's value as last read with good quality.
    fn latest_value(&self, tag: TagId) -> Option<f64> {
        self.inner
            .bus
            .tag(tag)
            .filter(|l| l.quality == Quality::Good)
            .and_then(|l| l.value)
            .and_then(|v| v.as_f64())
    }

    /// What is known of a tag now, for the envelope.
    async fn tag_now(&self, tag: TagId) -> Result<TagNow, JournalError> {
        let plant = &self.inner.plant;
        let d = plant.device(tag.device());
        let latest = self.latest(d.id);
        let reading = latest.get(tag.index());
        let machine_state = d
            .state_tag()
            .and_then(|st| latest.get(st.id.index()))
            .filter(|l| l.quality == Quality::Good)
            .and_then(|l| match &l.value {
                Some(app::line::Value::Text(s)) => Some(s.clone()),
                _ => None,
            });
        Ok(TagNow {
            writable: envelope(plant, &self.inner.cfg, tag).is_some(),
            value: reading
                .and_then(|l| l.value.as_ref())
                .and_then(|v| v.as_f64()),
            quality: reading.map_or(Quality::CommLost, |l| l.quality),
            machine_state,
            last_write_ms: self
                .inner
                .store
                .last_write_ms(&d.machine, &plant.tag(tag).name)
                .await?,
        })
    }

    /// Expires proposals nobody decided in time; returns how many.
    pub async fn expire(&self, now: i64) -> Result<usize, JournalError> {
        let before = now - millis(self.cfg().expire_after);
        let ids = self.inner.store.expire(before, now).await?;
        if !ids.is_empty() {
            info!(actions = ?ids, "proposals expired without a decision");
            self.publish().await;
        }
        Ok(ids.len())
    }

    /// Looks at every rule once: a rule whose condition holds, whose machine is
    /// not off, that has nothing waiting and is past its cool-down proposes its
    /// action (written at once in automatic mode). Returns the ids proposed.
    pub async fn evaluate(&self, now: i64) -> Result<Vec<i64>, JournalError> {
        let mut proposed = Vec::new();
        let mut failed = None;
        // One rule's trouble never keeps the others from being looked at.
        for rule in &self.cfg().rules {
            match self.evaluate_rule(rule, now).await {
                Ok(Some(id)) => proposed.push(id),
                Ok(None) => {}
                Err(e) => {
                    warn!(rule = %rule.name, error = %e, "cannot evaluate a rule");
                    failed = Some(e);
                }
            }
        }
        if !proposed.is_empty() {
            self.publish().await;
        }
        match failed {
            Some(e) if proposed.is_empty() => Err(e),
            _ => Ok(proposed),
        }
    }

    /// Notes why `rule` proposes nothing now (`None`: it may again), logging a
    /// change of reason once rather than every evaluation.
    fn hold(&self, rule: &str, why: Option<String>) {
        let mut held = self
            .inner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match why {
            Some(why) => {
                if held.get(rule) != Some(&why) {
                    warn!(rule, reason = %why, "rule proposes nothing");
                    held.insert(rule.to_owned(), why);
                }
            }
            None => {
                if held.remove(rule).is_some() {
                    info!(rule, "rule can propose again");
                }
            }
        }
    }

    /// Why each rule proposes nothing now, by rule name.
    pub fn held(&self) -> HashMap<String, String> {
        self.inner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn evaluate_rule(&self, rule: &Rule, now: i64) -> Result<Option<i64>, JournalError> {
        let plant = &self.inner.plant;
        let machine = &plant.device(rule.tag.device()).machine;
        let tag_name = &plant.tag(rule.tag).name;
        let mode = self.mode(machine);
        if mode == WriteMode::Off {
            return Ok(None);
        }
        let (waiting, last) = self.inner.store.rule_state(&rule.name).await?;
        let cooldown_ms = millis(rule.cooldown);
        if waiting || last.is_some_and(|l| now < l.saturating_add(cooldown_ms)) {
            return Ok(None);
        }
        let tag = self.tag_now(rule.tag).await?;
        // Nothing to change from: a proposal needs a good reading of the tag.
        let from = match tag.value.filter(|v| v.is_finite()) {
            Some(v) if tag.quality == Quality::Good => v,
            value => {
                let why = if tag.quality == Quality::Good && value.is_none() {
                    format!("{machine}.{tag_name} has not been read yet")
                } else {
                    format!(
                        "{machine}.{tag_name} has no good reading to change from ({})",
                        tag.quality.label().to_lowercase()
                    )
                };
                self.hold(&rule.name, Some(why));
                return Ok(None);
            }
        };
        self.hold(&rule.name, None);
        let cells = self
            .inner
            .store
            .recent_cells(rule.when.window(), rule.when.measurement(), last)
            .await?;
        let Some(observed) = rule.when.holds(&cells) else {
            return Ok(None);
        };
        let target = rule.change.target(Some(from));
        let env = envelope(plant, &self.inner.cfg, rule.tag);
        let outcome = match &env {
            Some(env) => check(env, &tag, target, now),
            None => Err(app::actions::Refusal::NotWritable),
        };
        let mut action = NewAction {
            created_ms: now,
            machine: machine.clone(),
            tag: tag_name.clone(),
            rule: rule.name.clone(),
            rationale: rule.rationale.clone(),
            observed,
            from,
            to: target.unwrap_or(from),
            state: ActionState::Pending,
            proposed_by: format!("rule:{}", rule.name),
            detail: None,
        };
        match outcome {
            Err(refusal) => {
                // Recorded, so the person sees why nothing was proposed; the rule's
                // cool-down keeps this from repeating every evaluation.
                action.state = ActionState::Refused;
                action.detail = Some(refusal.to_string());
                let id = self.inner.store.insert(&action).await?;
                info!(id, rule = %rule.name, %refusal, "proposal refused by the envelope");
                Ok(Some(id))
            }
            Ok(allowed) => {
                action.from = allowed.from;
                action.to = allowed.to;
                if allowed.clamped {
                    action.observed.push_str(&format!(
                        "; asked for {}, limited by the envelope",
                        app::fmt::format_number(target.unwrap_or(f64::NAN))
                    ));
                }
                let id = self.inner.store.insert(&action).await?;
                info!(id, rule = %rule.name, machine = %machine, tag = %tag_name,
                    from = allowed.from, to = allowed.to, ?mode, "corrective action proposed");
                if mode == WriteMode::Automatic {
                    self.approve_and_queue(id, "auto").await?;
                }
                Ok(Some(id))
            }
        }
    }

    /// Approves pending action `id` on behalf of `by` and queues it for the
    /// writer; false if it was no longer pending. The journal says "approved"
    /// before anything is queued.
    async fn approve_and_queue(&self, id: i64, by: &str) -> Result<bool, JournalError> {
        let now = now_ms();
        let detail = "queued for the PLC";
        if !self
            .inner
            .store
            .decide(id, ActionState::Approved, by, Some(detail), now)
            .await?
        {
            return Ok(false);
        }
        self.queue(id).await?;
        Ok(true)
    }

    /// Hands approved action `id` to the writer (a full queue fails it, written
    /// nothing).
    async fn queue(&self, id: i64) -> Result<(), JournalError> {
        if self.inner.queue.try_send(id).is_err() {
            let detail = "not written: too many writes waiting for the PLCs";
            self.inner
                .store
                .finish(id, ActionState::Failed, Some(detail), None)
                .await?;
            warn!(id, "write queue full; approved action failed unwritten");
        }
        self.publish().await;
        Ok(())
    }

    /// Writes approved action `id`: the journal says "writing" first (if it cannot,
    /// the PLC is not written), then the PLC's connection owner reads the tag and
    /// the machine's state fresh, checks the envelope on them, writes and reads
    /// back; the outcome is journalled and audited.
    async fn write(&self, id: i64) -> Result<(), JournalError> {
        let store = &self.inner.store;
        let Some(a) = store.get(id).await? else {
            return Ok(());
        };
        if a.state != ActionState::Approved {
            return Ok(());
        }
        let plant = &self.inner.plant;
        let target = locate(plant, &a.machine, &a.tag)
            .and_then(|t| Some((t, envelope(plant, &self.inner.cfg, t)?)));
        let Some((tag, env)) = target else {
            let detail = "not written: the tag is no longer a writable tag of the plant file";
            store
                .finish(id, ActionState::Refused, Some(detail), None)
                .await?;
            self.publish().await;
            return Ok(());
        };
        let guard = Guard {
            envelope: env,
            last_write_ms: store.last_write_ms(&a.machine, &a.tag).await?,
        };
        // Fail closed: no journal row saying a write is under way, no write.
        if !store
            .advance(
                id,
                ActionState::Approved,
                ActionState::Writing,
                "interrupted before the PLC answered",
            )
            .await?
        {
            return Ok(());
        }
        self.publish().await;
        let written = self.inner.writers.write(tag, a.to, guard).await;
        let (state, detail, read_back) = outcome(&written);
        match state {
            ActionState::Verified | ActionState::Written => info!(id, machine = %a.machine,
                tag = %a.tag, from = a.from, to = a.to, ?state, "setpoint written"),
            _ => warn!(id, machine = %a.machine, tag = %a.tag, to = a.to, ?state,
                error = detail.as_deref().unwrap_or(""), "setpoint not written"),
        }
        // The audit line first, from the row as it is about to be written: whoever
        // sees the journal's outcome finds it in the audit trail too.
        let done = ActionView {
            state,
            detail: detail.clone(),
            read_back,
            ..a.clone()
        };
        let e = AuditEvent {
            actor: a.decided_by.clone().unwrap_or_else(|| "system".into()),
            role: None,
            action: AuditAction::SetpointWritten,
            target: format!("#{id} {}.{}", a.machine, a.tag),
            detail: outcome_detail(&done, state),
            source: "plc".into(),
        };
        if let Err(err) = self.inner.audit.record(e).await {
            warn!(error = %err, "cannot record a write's outcome in the audit trail");
        }
        store
            .finish(id, state, detail.as_deref(), read_back)
            .await?;
        self.publish().await;
        Ok(())
    }

    /// Settles the writes CellGuard was carrying out when it last stopped: each
    /// is read from its PLC (retrying while the PLC is unreachable) and journalled
    /// as failed with the value the PLC holds, for a person to look at.
    async fn recover(&self, shutdown: &CancellationToken) {
        let interrupted = std::mem::take(
            &mut *self
                .inner
                .interrupted
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for a in interrupted {
            let Some(tag) = locate(&self.inner.plant, &a.machine, &a.tag) else {
                let detail = "interrupted by a stop; the tag is no longer in the plant file";
                self.finish_logged(a.id, detail.into(), None).await;
                continue;
            };
            let mut said = false;
            let value = loop {
                match self.inner.writers.read(tag).await.map(|v| v.as_f64()) {
                    Ok(Some(v)) => break v,
                    Ok(None) => {
                        let detail = "interrupted by a stop; the tag does not read as a number";
                        self.finish_logged(a.id, detail.into(), None).await;
                        break f64::NAN;
                    }
                    Err(e) => {
                        if !std::mem::replace(&mut said, true) {
                            warn!(id = a.id, error = %e,
                                "an interrupted write waits for its PLC to be read");
                        }
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                        }
                    }
                }
            };
            if value.is_nan() {
                continue;
            }
            let read = app::fmt::format_number(value);
            let detail = if a.state == ActionState::Approved {
                format!(
                    "not written: CellGuard stopped before the write; the PLC read {read} after the restart"
                )
            } else {
                let held = if (value - a.to).abs() <= 1e-6 * a.to.abs().max(1.0) {
                    "the value approved"
                } else {
                    "not the value approved"
                };
                format!(
                    "CellGuard stopped during the write; the PLC read {read} after the restart ({held})"
                )
            };
            warn!(id = a.id, machine = %a.machine, tag = %a.tag, value, "interrupted write settled");
            self.finish_logged(a.id, detail, Some(value)).await;
        }
    }

    async fn finish_logged(&self, id: i64, detail: String, read_back: Option<f64>) {
        let done = self
            .inner
            .store
            .finish(id, ActionState::Failed, Some(&detail), read_back)
            .await;
        if let Err(e) = done {
            warn!(id, error = %e, "cannot settle an interrupted write");
        }
        self.publish().await;
    }

    /// The writer: settles interrupted writes, then carries out approved actions
    /// one at a time until shutdown (a write under way is finished first).
    pub async fn run_writes(self, shutdown: CancellationToken) {
        let Some(mut queued) = self
            .inner
            .queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let recovery = {
            let me = self.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move { me.recover(&shutdown).await })
        };
        loop {
            let id = tokio::select! {
                () = shutdown.cancelled() => break,
                id = queued.recv() => match id { Some(id) => id, None => break },
            };
            if let Err(e) = self.write(id).await {
                warn!(id, error = %e, "cannot carry out an approved write");
            }
        }
        let _ = recovery.await;
    }

    /// Every `evaluate_every` until shutdown: expires stale proposals and
    /// evaluates the rules.
    pub async fn run(self, shutdown: CancellationToken) {
        let every = self.cfg().evaluate_every;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = now_ms();
            if let Err(e) = self.expire(now).await {
                warn!(error = %e, "cannot expire proposals");
            }
            if let Err(e) = self.evaluate(now).await {
                warn!(error = %e, "cannot evaluate the corrective-action rules");
            }
        }
    }

    /// Whether `machine`'s changes need a second person.
    fn four_eyes(&self, machine: &str) -> bool {
        self.inner
            .plant
            .device_named(machine)
            .is_some_and(|d| self.inner.cfg.four_eyes.contains(&d.id))
    }

    /// A person approves pending action `id`: journalled, audited (if the audit
    /// trail cannot take it, the action fails unwritten), then queued for the
    /// writer. The outcome follows in the journal and on the live stream.
    async fn approve_by(
        &self,
        by: &Caller,
        id: i64,
        action: AuditAction,
        target: String,
        detail: String,
    ) -> Result<(), ServiceError> {
        let who = by.principal.actor();
        let store = &self.inner.store;
        let queued = store
            .decide(
                id,
                ActionState::Approved,
                &who,
                Some("queued for the PLC"),
                now_ms(),
            )
            .await
            .map_err(unavailable)?;
        if !queued {
            return Err(ServiceError::Conflict(format!(
                "action #{id} was decided by someone else"
            )));
        }
        let e = AuditEvent::by(&by.principal, &by.source, action, target, detail);
        if let Err(err) = self.inner.audit.record(e).await {
            let detail = "not written: the approval could not be recorded in the audit trail";
            store
                .finish(id, ActionState::Failed, Some(detail), None)
                .await
                .map_err(unavailable)?;
            self.publish().await;
            return Err(ServiceError::from(err));
        }
        self.queue(id).await.map_err(unavailable)
    }

    async fn record(&self, by: &Caller, action: AuditAction, target: String, detail: String) {
        let e = AuditEvent::by(&by.principal, &by.source, action, target, detail);
        if let Err(err) = self.inner.audit.record(e).await {
            warn!(error = %err, "cannot record an action decision in the audit trail");
        }
    }

    fn label(&self, mut v: ActionView) -> ActionView {
        if let Some(t) = self.inner.plant.tag_named(&v.machine, &v.tag) {
            t.label.clone_into(&mut v.tag_label);
            v.unit = t.unit.clone();
        } else {
            v.tag_label = v.tag.clone();
        }
        v
    }

    async fn pending_row(&self, id: i64) -> Result<ActionView, ServiceError> {
        let row = self
            .inner
            .store
            .get(id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| ServiceError::NotFound(format!("no action #{id}")))?;
        if row.state != ActionState::Pending {
            return Err(ServiceError::Conflict(format!(
                "action #{id} is no longer waiting: {}",
                row.state.label().to_lowercase()
            )));
        }
        Ok(row)
    }

    async fn view_of(&self, id: i64) -> Result<ActionView, ServiceError> {
        let row = self
            .inner
            .store
            .get(id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| ServiceError::NotFound(format!("no action #{id}")))?;
        Ok(self.label(row))
    }
}

/// The journal as CSV: one header, one line per action, RFC 3339 times, every
/// free-text field made inert for spreadsheets.
pub fn to_csv(rows: &[ActionView]) -> Result<Vec<u8>, csv::Error> {
    use crate::audit::inert;
    use crate::clock::format_time;
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "id",
        "proposed_at",
        "machine",
        "tag",
        "rule",
        "rationale",
        "observed",
        "from",
        "to",
        "state",
        "proposed_by",
        "decided_by",
        "decided_at",
        "detail",
        "read_back",
    ])?;
    let num = |v: f64| {
        if v.is_finite() {
            v.to_string()
        } else {
            String::new()
        }
    };
    for a in rows {
        w.write_record([
            a.id.to_string(),
            format_time(a.created_ms),
            inert(&a.machine),
            inert(&a.tag),
            inert(&a.rule),
            inert(&a.rationale),
            inert(&a.observed),
            num(a.from),
            num(a.to),
            a.state.as_str().to_owned(),
            inert(&a.proposed_by),
            inert(a.decided_by.as_deref().unwrap_or("")),
            a.decided_ms.map(format_time).unwrap_or_default(),
            inert(a.detail.as_deref().unwrap_or("")),
            a.read_back.map(num).unwrap_or_default(),
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// "1000 → 950.0: written and verified (detail)", for the audit trail.
fn outcome_detail(v: &ActionView, state: ActionState) -> String {
    format!(
        "{} → {}: {}{}",
        app::fmt::format_number(v.from),
        app::fmt::format_number(v.to),
        state.label().to_lowercase(),
        v.detail
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default()
    )
}

/// The journal's state, detail and read-back for a write's outcome.
fn outcome(r: &Result<Written, WriteError>) -> (ActionState, Option<String>, Option<f64>) {
    match r {
        Ok(w) if w.verified => (ActionState::Verified, None, Some(w.read_back)),
        Ok(w) => (
            ActionState::Written,
            Some(format!(
                "written, not verified (the tag has verify = false); read back {}",
                app::fmt::format_number(w.read_back)
            )),
            Some(w.read_back),
        ),
        Err(e @ WriteError::Mismatch { read, .. }) => {
            (ActionState::Failed, Some(e.to_string()), Some(*read))
        }
        Err(
            e @ (WriteError::Refused(_)
            | WriteError::OutOfRange { .. }
            | WriteError::NotWritable(_)),
        ) => (ActionState::Refused, Some(e.to_string()), None),
        Err(e) => (ActionState::Failed, Some(e.to_string()), None),
    }
}

#[async_trait::async_trait]
impl ActionsService for Actions {
    async fn actions(&self, filter: ActionFilter) -> Result<ActionsView, ServiceError> {
        let s = &self.inner.store;
        let now = now_ms();
        let modes = self
            .inner
            .plant
            .devices
            .iter()
            .filter(|d| d.tags.iter().any(|t| t.access.is_writable()))
            .map(|d| MachineMode {
                machine: d.machine.clone(),
                name: d.name.clone(),
                mode: self.mode(&d.machine),
            })
            .collect();
        let mut writable = Vec::new();
        for d in &self.inner.plant.devices {
            for t in &d.tags {
                if let Some(env) = envelope(&self.inner.plant, &self.inner.cfg, t.id) {
                    writable.push(WritableTag {
                        machine: d.machine.clone(),
                        tag: t.name.clone(),
                        label: t.label.clone(),
                        unit: t.unit.clone(),
                        min: env.min,
                        max: env.max,
                        max_step: env.max_step,
                        value: self.latest_value(t.id),
                    });
                }
            }
        }
        let pending = s.pending().await.map_err(unavailable)?;
        let alarms = s.alarms().await.map_err(unavailable)?;
        let (rows, total) = s.page(&filter).await.map_err(unavailable)?;
        let mut history = Vec::with_capacity(rows.len());
        for r in rows {
            let mut v = self.label(r);
            if v.state == ActionState::Verified
                && let Some(at) = v.decided_ms
            {
                v.effect = s
                    .effect(at, self.cfg().effect_cells)
                    .await
                    .map_err(unavailable)?;
            }
            history.push(v);
        }
        Ok(ActionsView {
            modes,
            writable,
            pending: pending.into_iter().map(|r| self.label(r)).collect(),
            alarms: alarms.into_iter().map(|r| self.label(r)).collect(),
            history,
            total,
            per_hour: s
                .per_hour(now - PER_HOUR_WINDOW_MS)
                .await
                .map_err(unavailable)?,
            now_ms: now,
        })
    }

    async fn propose(
        &self,
        by: &Caller,
        machine: &str,
        tag: &str,
        value: f64,
        reason: &str,
    ) -> Result<ActionView, ServiceError> {
        let invalid = |field: &str, reason: String| ServiceError::Invalid {
            field: field.into(),
            reason,
        };
        if self.inner.plant.device_named(machine).is_none() {
            return Err(ServiceError::UnknownMachine(machine.to_owned()));
        }
        let Some(target) = locate(&self.inner.plant, machine, tag) else {
            return Err(invalid("tag", format!("{tag:?} is not a tag of {machine}")));
        };
        let Some(env) = envelope(&self.inner.plant, &self.inner.cfg, target) else {
            return Err(invalid(
                "tag",
                format!("{tag} of {machine} is not writable"),
            ));
        };
        if !value.is_finite() {
            return Err(invalid("value", "must be a number".into()));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON {
            return Err(invalid(
                "reason",
                format!("must say why, in 1 to {MAX_REASON} characters"),
            ));
        }
        self.not_off(machine)?;
        let waiting = self.inner.store.pending().await.map_err(unavailable)?;
        if let Some(w) = waiting
            .iter()
            .find(|w| w.machine == machine && w.tag == tag)
        {
            return Err(ServiceError::Conflict(format!(
                "a change of {machine}.{tag} already waits for approval (#{})",
                w.id
            )));
        }
        let now = now_ms();
        let now_tag = self.tag_now(target).await.map_err(unavailable)?;
        let allowed = check(&env, &now_tag, Some(value), now)
            .map_err(|r| ServiceError::Conflict(format!("not proposed: {r}")))?;
        let who = by.principal.actor();
        let fmt = app::fmt::format_number;
        let observed = if allowed.clamped {
            format!("asked for {}, limited by the envelope", fmt(value))
        } else {
            String::new()
        };
        let id = self
            .inner
            .store
            .insert(&NewAction {
                created_ms: now,
                machine: machine.to_owned(),
                tag: tag.to_owned(),
                rule: "manual".into(),
                rationale: reason.to_owned(),
                observed,
                from: allowed.from,
                to: allowed.to,
                state: ActionState::Pending,
                proposed_by: who.clone(),
                detail: None,
            })
            .await
            .map_err(unavailable)?;
        info!(id, machine, tag, from = allowed.from, to = allowed.to, by = %who,
            "setpoint change proposed by a person");
        self.record(
            by,
            AuditAction::ActionProposed,
            format!("#{id} {machine}.{tag}"),
            format!("{} → {}: {reason}", fmt(allowed.from), fmt(allowed.to)),
        )
        .await;
        self.publish().await;
        self.view_of(id).await
    }

    async fn approve(&self, by: &Caller, id: i64) -> Result<ActionView, ServiceError> {
        let row = self.pending_row(id).await?;
        self.not_off(&row.machine)?;
        let who = by.principal.actor();
        if self.four_eyes(&row.machine) && row.proposed_by == who {
            return Err(ServiceError::Conflict(format!(
                "{} needs a second person: you proposed #{id}, someone else must approve it",
                row.machine
            )));
        }
        let v = self.label(row);
        let detail = format!(
            "{} → {}: queued for the PLC",
            app::fmt::format_number(v.from),
            app::fmt::format_number(v.to)
        );
        let target = format!("#{id} {}.{}", v.machine, v.tag);
        self.approve_by(by, id, AuditAction::ActionApproved, target, detail)
            .await?;
        self.view_of(id).await
    }

    async fn reject(&self, by: &Caller, id: i64, reason: &str) -> Result<(), ServiceError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON {
            return Err(ServiceError::Invalid {
                field: "reason".into(),
                reason: format!("must say why, in 1 to {MAX_REASON} characters"),
            });
        }
        let row = self.pending_row(id).await?;
        let who = by.principal.actor();
        let done = self
            .inner
            .store
            .decide(id, ActionState::Rejected, &who, Some(reason), now_ms())
            .await
            .map_err(unavailable)?;
        if !done {
            return Err(ServiceError::Conflict(format!(
                "action #{id} was decided by someone else"
            )));
        }
        self.record(
            by,
            AuditAction::ActionRejected,
            format!("#{id} {}.{}", row.machine, row.tag),
            reason.to_owned(),
        )
        .await;
        self.publish().await;
        Ok(())
    }

    async fn undo(&self, by: &Caller, id: i64) -> Result<ActionView, ServiceError> {
        let row = self
            .inner
            .store
            .get(id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| ServiceError::NotFound(format!("no action #{id}")))?;
        let a = row;
        if !a.state.written() {
            return Err(ServiceError::Conflict(format!(
                "only a written change can be undone; #{id} is {}",
                a.state.label().to_lowercase()
            )));
        }
        self.not_off(&a.machine)?;
        let Some(target) = locate(&self.inner.plant, &a.machine, &a.tag) else {
            return Err(ServiceError::NotFound(format!(
                "{}.{} is no longer in the plant file",
                a.machine, a.tag
            )));
        };
        let now_value = self.tag_now(target).await.map_err(unavailable)?.value;
        let who = by.principal.actor();
        let undo_id = self
            .inner
            .store
            .insert(&NewAction {
                created_ms: now_ms(),
                machine: a.machine.clone(),
                tag: a.tag.clone(),
                rule: format!("undo of #{id}"),
                rationale: format!("{who} undid #{id} ({})", a.rule),
                observed: String::new(),
                from: now_value.unwrap_or(a.to),
                to: a.from,
                state: ActionState::Pending,
                proposed_by: who.clone(),
                detail: None,
            })
            .await
            .map_err(unavailable)?;
        let fmt = app::fmt::format_number;
        let target = format!("#{id} {}.{}", a.machine, a.tag);
        if self.four_eyes(&a.machine) {
            // A second person approves the undo like any other change.
            self.record(
                by,
                AuditAction::ActionUndone,
                target,
                format!(
                    "#{undo_id}: back to {}, waiting for a second person",
                    fmt(a.from)
                ),
            )
            .await;
            self.publish().await;
        } else {
            let detail = format!("#{undo_id}: back to {}, queued for the PLC", fmt(a.from));
            self.approve_by(by, undo_id, AuditAction::ActionUndone, target, detail)
                .await?;
        }
        self.view_of(undo_id).await
    }

    async fn acknowledge(&self, by: &Caller, id: i64) -> Result<(), ServiceError> {
        let who = by.principal.actor();
        let done = self
            .inner
            .store
            .acknowledge(id, &who, now_ms())
            .await
            .map_err(unavailable)?;
        if !done {
            return Err(ServiceError::NotFound(format!(
                "action #{id} is not an unacknowledged failed write"
            )));
        }
        self.record(
            by,
            AuditAction::ActionAcknowledged,
            format!("#{id}"),
            "failed write acknowledged".into(),
        )
        .await;
        self.publish().await;
        Ok(())
    }

    async fn set_mode(
        &self,
        by: &Caller,
        machine: &str,
        mode: WriteMode,
    ) -> Result<(), ServiceError> {
        let Some(d) = self.inner.plant.device_named(machine) else {
            return Err(ServiceError::UnknownMachine(machine.to_owned()));
        };
        if !d.tags.iter().any(|t| t.access.is_writable()) {
            return Err(ServiceError::Invalid {
                field: "machine".into(),
                reason: format!("{machine} has no writable tag"),
            });
        }
        if mode == WriteMode::Automatic && self.inner.cfg.four_eyes.contains(&d.id) {
            return Err(ServiceError::Invalid {
                field: "mode".into(),
                reason: format!(
                    "{machine} needs a second person to approve every change; \
                     automatic mode would write without one"
                ),
            });
        }
        let before = self.mode(machine);
        let who = by.principal.actor();
        let now = now_ms();
        self.inner
            .store
            .set_mode(machine, mode, &who, now)
            .await
            .map_err(unavailable)?;
        self.inner
            .modes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(machine.to_owned(), mode);
        let mut detail = format!("{} → {}", before.as_str(), mode.as_str());
        if mode == WriteMode::Off {
            let n = self
                .inner
                .store
                .expire_machine(machine, &who, now)
                .await
                .map_err(unavailable)?;
            if n > 0 {
                detail.push_str(&format!("; {n} waiting proposal(s) withdrawn"));
            }
        }
        info!(machine, from = before.as_str(), to = mode.as_str(), by = %who, "write mode switched");
        self.record(
            by,
            AuditAction::WriteModeChanged,
            machine.to_owned(),
            detail,
        )
        .await;
        self.publish().await;
        Ok(())
    }
}

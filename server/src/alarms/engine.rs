//! The alarm service: one task evaluates the tag limits on every scan and the
//! slower sources (PLC links, failed writes, lot tiers, MES dead letters, SPC rules)
//! on a timer; people acknowledge, shelve and take alarms out of service through
//! the same book. Every transition is journaled with who, when and the value, and a
//! person's is also audited; the counts go to the live stream.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use app::alarm::metrics::{Load, peak_ten_minutes, per_hour};
use app::alarm::state::{AlarmError, Event};
use app::alarm::view::{
    AlarmBoard, AlarmEventView, AlarmRates, AlarmSummary, AlarmView, JournalFilter, JournalPage,
};
use app::alarm::{Limit, Source, State};
use app::api::service::ServiceError;
use app::auth::{AuditAction, Caller};
use app::line::LinkState;
use tokio::sync::{Mutex, broadcast, watch};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::evaluate::{Change, LimitEvaluator};
use super::settings::AlarmSettings;
use super::store::{AlarmDef, AlarmStore, AlarmStoreError, Line, Stored};
use crate::audit::{AuditEvent, AuditLog};
use crate::bus::{Bus, BusEvent};
use crate::clock::now_ms;
use crate::plant::{DeviceId, Plant};

/// The window of the alarm rates.
const RATE_WINDOW_HOURS: u32 = 24;

/// The alarms of the line, shared by the alarm task, the web and the tests.
#[derive(Clone)]
pub struct Alarms {
    inner: Arc<Inner>,
}

struct Inner {
    plant: Arc<Plant>,
    settings: AlarmSettings,
    store: AlarmStore,
    audit: AuditLog,
    book: Mutex<Book>,
    summary: watch::Sender<AlarmSummary>,
}

/// Every alarm, by key and by id; the database has the same, the book is what the
/// board reads.
#[derive(Default)]
struct Book {
    alarms: Vec<Stored>,
    by_key: HashMap<String, usize>,
    by_id: HashMap<i64, usize>,
    version: u64,
}

impl Book {
    fn insert(&mut self, s: Stored) -> usize {
        let i = self.alarms.len();
        self.by_key.insert(s.def.key.clone(), i);
        self.by_id.insert(s.id, i);
        self.alarms.push(s);
        i
    }
}

/// Reads the other parts of CellGuard for the alarms that are not tag limits; each
/// returns the conditions of its source that are active now, and `None` when it
/// could not look (its alarms then keep their state).
#[async_trait::async_trait]
pub trait SourceProbe: Send + Sync {
    /// The source it reads.
    fn source(&self) -> Source;
    /// The alarms of the source active now, with their value.
    async fn active(&self) -> Option<Vec<(AlarmDef, Option<f64>)>>;
}

impl std::fmt::Debug for Alarms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alarms").finish_non_exhaustive()
    }
}

fn limit_key(machine: &str, tag: &str, limit: Limit) -> String {
    format!("limit:{machine}/{tag}/{}", limit.as_str())
}

fn comm_key(machine: &str) -> String {
    format!("comm:{machine}")
}

/// A person's reason, trimmed; refused (naming the field) when there is none.
fn required_reason(reason: &str, done: &str) -> Result<String, ServiceError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ServiceError::Invalid {
            field: "reason".into(),
            reason: format!("say why the alarm is {done}"),
        });
    }
    Ok(reason.to_owned())
}

fn alarm_error(e: AlarmError) -> ServiceError {
    ServiceError::Conflict(e.to_string())
}

impl Alarms {
    /// Opens the alarms: every tag limit and device link of `plant` defined (new
    /// ones normal), the rest as stored.
    pub async fn open(
        plant: Arc<Plant>,
        settings: AlarmSettings,
        pool: sqlx::SqlitePool,
    ) -> Result<Self, AlarmStoreError> {
        let store = AlarmStore::new(pool.clone());
        let mut book = Book::default();
        for s in store.all().await? {
            book.insert(s);
        }
        let now = now_ms();
        let mut defs = Vec::new();
        for d in &plant.devices {
            defs.push(AlarmDef {
                source: Source::Comm,
                key: comm_key(&d.machine),
                machine: Some(d.machine.clone()),
                label: format!("{} · communication lost", d.machine),
                limit: None,
                priority: settings.priority.of(Source::Comm),
                message: format!(
                    "CellGuard cannot read {} ({}:{}): check the PLC, its network cable and switch",
                    d.name, d.host, d.port
                ),
                unit: String::new(),
            });
            for t in &d.tags {
                for a in &t.alarms {
                    let limit = a.check.limit;
                    let side = if limit.is_high() { "above" } else { "below" };
                    let what = if a.action.is_empty() {
                        format!("check {} on {}", t.label.to_lowercase(), d.machine)
                    } else {
                        a.action.clone()
                    };
                    defs.push(AlarmDef {
                        source: Source::Limit,
                        key: limit_key(&d.machine, &t.name, limit),
                        machine: Some(d.machine.clone()),
                        label: format!("{} · {} {}", d.machine, t.label, limit.label()),
                        limit: Some(limit),
                        priority: a.priority,
                        message: format!(
                            "{} {side} {} {} {}: {what}",
                            t.label,
                            limit.label(),
                            a.check.setpoint,
                            t.unit
                        )
                        .replace("  ", " "),
                        unit: t.unit.clone(),
                    });
                }
            }
        }
        for def in defs {
            let s = store.define(&def, now).await?;
            match book.by_key.get(&def.key) {
                Some(&i) => book.alarms[i] = s,
                None => {
                    book.insert(s);
                }
            }
        }
        let (summary, _) = watch::channel(AlarmSummary::default());
        let a = Alarms {
            inner: Arc::new(Inner {
                plant,
                settings,
                store,
                audit: AuditLog::new(pool),
                book: Mutex::new(book),
                summary,
            }),
        };
        a.publish(&*a.inner.book.lock().await);
        Ok(a)
    }

    /// A receiver of the counts (for the live stream).
    pub fn watch(&self) -> watch::Receiver<AlarmSummary> {
        self.inner.summary.subscribe()
    }

    /// The counts now.
    pub fn summary(&self) -> AlarmSummary {
        *self.inner.summary.borrow()
    }

    fn publish(&self, book: &Book) {
        let now = now_ms();
        let mut s = AlarmSummary {
            version: book.version,
            ..AlarmSummary::default()
        };
        for a in &book.alarms {
            match a.alarm.state(now) {
                State::Shelved => s.shelved += 1,
                State::OutOfService => s.out_of_service += 1,
                st if st.is_standing() => {
                    s.standing += 1;
                    if !a.alarm.acked {
                        s.unacked += 1;
                    }
                    s.by_priority.add(a.def.priority);
                }
                _ => {}
            }
        }
        self.inner.summary.send_if_modified(|old| {
            let changed = *old != s;
            *old = s;
            changed
        });
    }

    /// Saves alarm `i` of `book` after a transition and journals `event`.
    async fn commit(
        &self,
        book: &mut Book,
        i: usize,
        event: &Event,
        ts_ms: i64,
        user: Option<&str>,
        comment: Option<&str>,
    ) -> Result<(), AlarmStoreError> {
        let s = &mut book.alarms[i];
        s.changed_ms = ts_ms;
        let line = Line {
            ts_ms,
            kind: event.as_str(),
            user,
            value: s.value,
            comment,
        };
        self.inner.store.save(s, &line).await?;
        book.version += 1;
        self.publish(book);
        Ok(())
    }

    /// A condition of `def` became `active` (or not), with the value then.
    pub async fn condition(
        &self,
        def: &AlarmDef,
        active: bool,
        value: Option<f64>,
        ts_ms: i64,
    ) -> Result<(), AlarmStoreError> {
        let mut book = self.inner.book.lock().await;
        let i = match book.by_key.get(&def.key) {
            Some(&i) => i,
            None if !active => return Ok(()),
            None => {
                let s = self.inner.store.define(def, ts_ms).await?;
                book.insert(s)
            }
        };
        self.apply(&mut book, i, active, value, ts_ms).await
    }

    async fn apply(
        &self,
        book: &mut Book,
        i: usize,
        active: bool,
        value: Option<f64>,
        ts_ms: i64,
    ) -> Result<(), AlarmStoreError> {
        let s = &mut book.alarms[i];
        let Some(event) = s.alarm.condition(active) else {
            return Ok(());
        };
        s.value = value.or(s.value);
        if active {
            s.raised_ms = Some(ts_ms);
        }
        info!(alarm = %s.def.key, event = event.as_str(), ?value, "alarm");
        self.commit(book, i, &event, ts_ms, None, None).await
    }

    /// Tag-limit changes from the evaluator.
    async fn limit_changes(&self, evaluator: &LimitEvaluator, changes: &[Change]) {
        let mut book = self.inner.book.lock().await;
        for c in changes {
            let Some(&(tag, k)) = evaluator.alarms().get(c.alarm) else {
                continue;
            };
            let d = self.inner.plant.device(tag.device());
            let t = self.inner.plant.tag(tag);
            let Some(a) = t.alarms.get(k) else { continue };
            let key = limit_key(&d.machine, &t.name, a.check.limit);
            let Some(&i) = book.by_key.get(&key) else {
                continue;
            };
            if let Err(e) = self
                .apply(&mut book, i, c.active, Some(c.value), c.ts_ms)
                .await
            {
                warn!(error = %e, alarm = %key, "cannot record a limit alarm");
            }
        }
    }

    /// A device's link changed: a lost connection raises its comm alarm.
    async fn link(&self, device: DeviceId, state: LinkState, ts_ms: i64) {
        let machine = &self.inner.plant.device(device).machine;
        let key = comm_key(machine);
        let mut book = self.inner.book.lock().await;
        let Some(&i) = book.by_key.get(&key) else {
            return;
        };
        let active = match state {
            LinkState::CommLost => true,
            LinkState::Online => false,
            LinkState::Connecting => return,
        };
        if let Err(e) = self.apply(&mut book, i, active, None, ts_ms).await {
            warn!(error = %e, alarm = %key, "cannot record a comm alarm");
        }
    }

    /// Sets the alarms of `source` to what its probe sees: those it names are
    /// active, the others of that source clear.
    pub async fn reconcile(
        &self,
        source: Source,
        active: Vec<(AlarmDef, Option<f64>)>,
        ts_ms: i64,
    ) -> Result<(), AlarmStoreError> {
        let keys: HashSet<String> = active.iter().map(|(d, _)| d.key.clone()).collect();
        for (def, value) in &active {
            self.condition(def, true, *value, ts_ms).await?;
        }
        let mut book = self.inner.book.lock().await;
        let gone: Vec<usize> = book
            .alarms
            .iter()
            .enumerate()
            .filter(|(_, a)| a.def.source == source && a.alarm.active && !keys.contains(&a.def.key))
            .map(|(i, _)| i)
            .collect();
        for i in gone {
            self.apply(&mut book, i, false, None, ts_ms).await?;
        }
        Ok(())
    }

    /// Ends the shelves that expired.
    pub async fn expire(&self, now: i64) -> Result<(), AlarmStoreError> {
        let mut book = self.inner.book.lock().await;
        for i in 0..book.alarms.len() {
            if let Some(event) = book.alarms[i].alarm.expire(now) {
                book.alarms[i].shelve_reason = None;
                info!(alarm = %book.alarms[i].def.key, "shelf expired");
                self.commit(&mut book, i, &event, now, None, Some("shelf expired"))
                    .await?;
            }
        }
        Ok(())
    }

    /// The alarm task: limits on every scan, links as they change, the probes and
    /// the shelves' expiry every `check_every`.
    pub async fn run(
        self,
        bus: Arc<Bus>,
        probes: Vec<Box<dyn SourceProbe>>,
        shutdown: CancellationToken,
    ) {
        let mut evaluator = LimitEvaluator::new(&self.inner.plant);
        {
            // Alarms active at the last stop clear only through their deadband.
            let book = self.inner.book.lock().await;
            for (i, (tag, k)) in evaluator.alarms().to_vec().into_iter().enumerate() {
                let d = self.inner.plant.device(tag.device());
                let t = self.inner.plant.tag(tag);
                if let Some(a) = t.alarms.get(k)
                    && let Some(&b) =
                        book.by_key
                            .get(&limit_key(&d.machine, &t.name, a.check.limit))
                {
                    evaluator.restore(i, book.alarms[b].alarm.active);
                }
            }
        }
        let mut rx = bus.subscribe();
        // Links that changed before this task subscribed (acquisition starts first).
        for d in &self.inner.plant.devices {
            if let Some(link) = bus.link(d.id) {
                self.link(d.id, link.state, link.since_ms.max(1)).await;
            }
        }
        let mut tick = tokio::time::interval(self.inner.settings.check_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut changes = Vec::new();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                ev = rx.recv() => match ev {
                    Ok(BusEvent::Scan(batch)) => {
                        changes.clear();
                        evaluator.scan(&batch, &mut changes);
                        if !changes.is_empty() {
                            self.limit_changes(&evaluator, &changes).await;
                        }
                    }
                    Ok(BusEvent::Link { device, link }) => {
                        self.link(device, link.state, link.since_ms.max(1)).await;
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        warn!(missed = n, "the alarm task fell behind the bus");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = tick.tick() => {
                    let now = now_ms();
                    if let Err(e) = self.expire(now).await {
                        warn!(error = %e, "cannot expire shelves");
                    }
                    for p in &probes {
                        if let Some(active) = p.active().await
                            && let Err(e) = self.reconcile(p.source(), active, now_ms()).await
                        {
                            warn!(error = %e, source = p.source().as_str(), "cannot record alarms");
                        }
                    }
                }
            }
        }
        info!("alarm task stopped");
    }

    fn view(&self, s: &Stored, now: i64) -> AlarmView {
        AlarmView {
            id: s.id,
            source: s.def.source,
            key: s.def.key.clone(),
            machine: s.def.machine.clone(),
            label: s.def.label.clone(),
            limit: s.def.limit,
            priority: s.def.priority,
            state: s.alarm.state(now),
            message: s.def.message.clone(),
            value: s.value,
            unit: s.def.unit.clone(),
            raised_ms: s.raised_ms,
            changed_ms: s.changed_ms,
            acked_by: s.acked_by.clone(),
            acked_ms: s.acked_ms,
            comment: s.comment.clone(),
            shelved_until_ms: s.alarm.shelved_until.filter(|u| *u > now),
            shelve_reason: s.shelve_reason.clone(),
            out_of_service_reason: s.oos_reason.clone(),
        }
    }

    /// Standing alarms (most urgent, then newest first), the suppressed ones, the
    /// counts and the rates of the last 24 hours.
    pub async fn board(&self) -> Result<AlarmBoard, ServiceError> {
        let now = now_ms();
        let (mut standing, mut suppressed) = (Vec::new(), Vec::new());
        {
            let book = self.inner.book.lock().await;
            for s in &book.alarms {
                let v = self.view(s, now);
                match v.state {
                    State::Shelved | State::OutOfService => suppressed.push(v),
                    st if st.is_standing() => standing.push(v),
                    _ => {}
                }
            }
        }
        standing.sort_by(|a, b| {
            (
                a.priority,
                a.state != State::Unacked,
                std::cmp::Reverse(a.changed_ms),
            )
                .cmp(&(
                    b.priority,
                    b.state != State::Unacked,
                    std::cmp::Reverse(b.changed_ms),
                ))
        });
        suppressed.sort_by_key(|v| (v.priority, std::cmp::Reverse(v.changed_ms)));
        let window_ms = i64::from(RATE_WINDOW_HOURS) * 3_600_000;
        let times = self.inner.store.raise_times(now - window_ms).await?;
        let per_hour = per_hour(&times, now, window_ms);
        let per_ten = per_hour / 6.0;
        Ok(AlarmBoard {
            standing,
            suppressed,
            summary: self.summary(),
            rates: AlarmRates {
                per_hour,
                per_ten_minutes: per_ten,
                peak_ten_minutes: peak_ten_minutes(&times, now - window_ms, now),
                load: Load::of(per_ten),
                window_hours: RATE_WINDOW_HOURS,
            },
            max_shelve_hours: self.inner.settings.max_shelve.as_secs_f64() / 3600.0,
        })
    }

    /// A page of the journal.
    pub async fn journal(&self, f: &JournalFilter) -> Result<JournalPage, ServiceError> {
        Ok(self.inner.store.journal(f).await?)
    }

    /// The whole journal of a filter, for the CSV export.
    pub async fn export(&self, f: &JournalFilter) -> Result<Vec<AlarmEventView>, ServiceError> {
        Ok(self.inner.store.export(f).await?)
    }

    async fn record(&self, by: &Caller, action: AuditAction, s: &Stored, detail: String) {
        let e = AuditEvent::by(
            &by.principal,
            &by.source,
            action,
            s.def.label.clone(),
            detail,
        );
        if let Err(err) = self.inner.audit.record(e).await {
            warn!(error = %err, "cannot record an alarm decision in the audit trail");
        }
    }

    /// Runs a person's transition `f` on alarm `id`; journals and audits it.
    async fn decide(
        &self,
        by: &Caller,
        id: i64,
        action: AuditAction,
        comment: Option<&str>,
        f: impl FnOnce(&mut Stored, i64) -> Result<Event, AlarmError>,
    ) -> Result<AlarmView, ServiceError> {
        let now = now_ms();
        let who = by.principal.actor();
        let mut book = self.inner.book.lock().await;
        let Some(&i) = book.by_id.get(&id) else {
            return Err(ServiceError::NotFound(format!("no alarm #{id}")));
        };
        let event = f(&mut book.alarms[i], now).map_err(alarm_error)?;
        if matches!(event, Event::Acknowledged { .. }) {
            let s = &mut book.alarms[i];
            s.acked_by = Some(who.clone());
            s.acked_ms = Some(now);
            s.comment = comment.map(str::to_owned);
        }
        self.commit(&mut book, i, &event, now, Some(&who), comment)
            .await?;
        let s = book.alarms[i].clone();
        let view = self.view(&s, now);
        drop(book);
        let detail = match comment {
            Some(c) if !c.is_empty() => format!("{}: {c}", event.label()),
            _ => event.label().to_owned(),
        };
        self.record(by, action, &s, detail).await;
        Ok(view)
    }

    /// Acknowledges alarm `id`, with an optional comment.
    pub async fn acknowledge(
        &self,
        by: &Caller,
        id: i64,
        comment: Option<String>,
    ) -> Result<AlarmView, ServiceError> {
        let comment = comment
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());
        if comment.as_ref().is_some_and(|c| c.chars().count() > 500) {
            return Err(ServiceError::Invalid {
                field: "comment".into(),
                reason: "must be at most 500 characters".into(),
            });
        }
        let c = comment.clone();
        self.decide(
            by,
            id,
            AuditAction::AlarmAcknowledged,
            comment.as_deref(),
            |s, _| s.alarm.acknowledge(c),
        )
        .await
    }

    /// Shelves alarm `id` for `hours` (at most the configured maximum), for `reason`.
    pub async fn shelve(
        &self,
        by: &Caller,
        id: i64,
        hours: f64,
        reason: String,
    ) -> Result<AlarmView, ServiceError> {
        let reason = required_reason(&reason, "shelved")?;
        let max_h = self.inner.settings.max_shelve.as_secs_f64() / 3600.0;
        if !(hours.is_finite() && hours > 0.0 && hours <= max_h) {
            return Err(ServiceError::Invalid {
                field: "hours".into(),
                reason: format!("must be more than 0 and at most {max_h}"),
            });
        }
        let max_ms = i64::try_from(self.inner.settings.max_shelve.as_millis()).unwrap_or(i64::MAX);
        let r = reason.clone();
        let detail = format!("{r} (for {hours} h)");
        self.decide(
            by,
            id,
            AuditAction::AlarmShelved,
            Some(&detail),
            move |s, now| {
                let until = now + (hours * 3_600_000.0) as i64;
                let e = s.alarm.shelve(until, r.clone(), now, max_ms)?;
                s.shelve_reason = Some(r);
                Ok(e)
            },
        )
        .await
    }

    /// Ends alarm `id`'s shelf now.
    pub async fn unshelve(&self, by: &Caller, id: i64) -> Result<AlarmView, ServiceError> {
        self.decide(by, id, AuditAction::AlarmUnshelved, None, |s, now| {
            let e = s.alarm.unshelve(now)?;
            s.shelve_reason = None;
            Ok(e)
        })
        .await
    }

    /// Takes alarm `id` out of service, for `reason`.
    pub async fn remove_from_service(
        &self,
        by: &Caller,
        id: i64,
        reason: String,
    ) -> Result<AlarmView, ServiceError> {
        let reason = required_reason(&reason, "taken out of service")?;
        let r = reason.clone();
        self.decide(
            by,
            id,
            AuditAction::AlarmRemovedFromService,
            Some(&reason),
            move |s, _| {
                let e = s.alarm.remove_from_service(r.clone())?;
                s.oos_reason = Some(r);
                Ok(e)
            },
        )
        .await
    }

    /// Returns alarm `id` to service.
    pub async fn return_to_service(&self, by: &Caller, id: i64) -> Result<AlarmView, ServiceError> {
        self.decide(by, id, AuditAction::AlarmReturnedToService, None, |s, _| {
            let e = s.alarm.return_to_service()?;
            s.oos_reason = None;
            Ok(e)
        })
        .await
    }
}

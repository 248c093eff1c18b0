-- Alarms as ISA-18.2 describes them: one row per alarm (its condition and its
-- state), and the journal of every transition (raised, cleared, acknowledged,
-- shelved, out of service, …) with who, when and the value then.

CREATE TABLE alarms (
    id               INTEGER PRIMARY KEY,
    -- limit, spc, comm, write, lot_tier, drift, mes
    source           TEXT NOT NULL,
    -- The condition's stable key, e.g. limit:FM_01/temperature/hi, comm:CAS_01.
    key              TEXT NOT NULL UNIQUE,
    machine          TEXT,
    label            TEXT NOT NULL,
    -- hihi, hi, lo, lolo for tag limits
    limit_kind       TEXT,
    priority         TEXT NOT NULL,
    message          TEXT NOT NULL,
    unit             TEXT NOT NULL DEFAULT '',
    active           INTEGER NOT NULL,
    acked            INTEGER NOT NULL,
    shelved_until_ms INTEGER,
    shelve_reason    TEXT,
    out_of_service   INTEGER NOT NULL DEFAULT 0,
    oos_reason       TEXT,
    value            REAL,
    raised_ms        INTEGER,
    changed_ms       INTEGER NOT NULL,
    acked_by         TEXT,
    acked_ms         INTEGER,
    comment          TEXT
);

CREATE TABLE alarm_events (
    id       INTEGER PRIMARY KEY,
    alarm_id INTEGER NOT NULL REFERENCES alarms (id),
    ts_ms    INTEGER NOT NULL,
    -- raised, cleared, acknowledged, shelved, unshelved, removed_from_service,
    -- returned_to_service
    kind     TEXT NOT NULL,
    priority TEXT NOT NULL,
    user     TEXT,
    value    REAL,
    comment  TEXT
);
-- The journal pages newest first; filters by alarm, kind or time use these.
CREATE INDEX alarm_events_ts ON alarm_events (ts_ms, id);
CREATE INDEX alarm_events_alarm ON alarm_events (alarm_id, id);
CREATE INDEX alarm_events_kind ON alarm_events (kind, id);

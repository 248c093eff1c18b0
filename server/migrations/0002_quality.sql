-- Cells, their inspections and machine context, risk scores, model switches.

CREATE TABLE cells (
    serial      TEXT PRIMARY KEY NOT NULL,
    lot         TEXT NOT NULL,
    order_id    TEXT NOT NULL,
    product     TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    -- Short-term test outcome when known: 1 failed, 0 passed.
    short_term_failed INTEGER
);
CREATE INDEX cells_lot ON cells (lot);
CREATE INDEX cells_order ON cells (order_id);
CREATE INDEX cells_created ON cells (created_ms);

CREATE TABLE inspections (
    id          INTEGER PRIMARY KEY,
    idem_key    TEXT NOT NULL UNIQUE,
    digest      TEXT NOT NULL,
    serial      TEXT NOT NULL REFERENCES cells (serial),
    stage       TEXT NOT NULL,
    station     TEXT NOT NULL,
    ts_ms       INTEGER NOT NULL,
    received_ms INTEGER NOT NULL
);
CREATE INDEX inspections_serial ON inspections (serial, ts_ms);

CREATE TABLE measurements (
    inspection_id INTEGER NOT NULL REFERENCES inspections (id),
    name    TEXT NOT NULL,
    unit    TEXT NOT NULL,
    value   REAL NOT NULL,
    lsl     REAL,
    usl     REAL,
    pass    INTEGER NOT NULL,
    PRIMARY KEY (inspection_id, name)
) WITHOUT ROWID;

CREATE TABLE cell_context (
    serial  TEXT NOT NULL REFERENCES cells (serial),
    machine TEXT NOT NULL,
    tag     TEXT NOT NULL,
    unit    TEXT NOT NULL,
    value   REAL NOT NULL,
    ts_ms   INTEGER NOT NULL,
    PRIMARY KEY (serial, machine, tag)
) WITHOUT ROWID;

-- The active model's verdict on each cell: a score, or the features still missing.
CREATE TABLE scores (
    serial        TEXT PRIMARY KEY NOT NULL REFERENCES cells (serial),
    model         TEXT NOT NULL,
    model_version TEXT NOT NULL,
    score         REAL,
    band          TEXT,
    threshold     REAL,
    reasons       TEXT NOT NULL DEFAULT '[]',
    missing       TEXT NOT NULL DEFAULT '[]',
    scored_ms     INTEGER NOT NULL
);
CREATE INDEX scores_band ON scores (band);

CREATE TABLE model_switches (
    id          INTEGER PRIMARY KEY,
    ts_ms       INTEGER NOT NULL,
    from_model  TEXT NOT NULL,
    to_model    TEXT NOT NULL,
    by_whom     TEXT NOT NULL
);

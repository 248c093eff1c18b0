-- Corrective actions: the journal of every proposal and write, and the write
-- mode each machine is in.

CREATE TABLE actions (
    id          INTEGER PRIMARY KEY,
    created_ms  INTEGER NOT NULL,
    machine     TEXT NOT NULL,
    tag         TEXT NOT NULL,
    -- The rule that proposed it, or `undo of #n`.
    rule        TEXT NOT NULL,
    rationale   TEXT NOT NULL,
    observed    TEXT NOT NULL DEFAULT '',
    from_value  REAL NOT NULL,
    to_value    REAL NOT NULL,
    -- pending, rejected, expired, refused, verified, failed
    state       TEXT NOT NULL,
    proposed_by TEXT NOT NULL,
    decided_by  TEXT,
    decided_ms  INTEGER,
    detail      TEXT,
    read_back   REAL,
    -- A failed write is an alarm until someone acknowledges it.
    ack_by      TEXT,
    ack_ms      INTEGER
);
CREATE INDEX actions_state ON actions (state, id);
CREATE INDEX actions_machine ON actions (machine, id);
CREATE INDEX actions_rule ON actions (rule, id);

CREATE TABLE writeback_modes (
    machine TEXT PRIMARY KEY NOT NULL,
    mode    TEXT NOT NULL,
    by_whom TEXT NOT NULL,
    at_ms   INTEGER NOT NULL
);

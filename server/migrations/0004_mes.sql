-- MES integration: production orders as last fetched, and the outbox of messages
-- for the MES (store-and-forward).

-- Production orders (ISA-95 production requests) as the MES last sent them.
CREATE TABLE mes_orders (
    id               TEXT PRIMARY KEY NOT NULL,
    product          TEXT NOT NULL,
    product_name     TEXT NOT NULL DEFAULT '',
    planned_quantity INTEGER NOT NULL,
    -- What the MES counts as produced (its confirmations, any line's).
    confirmed_quantity INTEGER NOT NULL DEFAULT 0,
    planned_start_ms INTEGER,
    planned_end_ms   INTEGER,
    priority         INTEGER NOT NULL DEFAULT 0,
    state            TEXT NOT NULL,
    fetched_ms       INTEGER NOT NULL
);

-- When the orders were last fetched successfully.
CREATE TABLE mes_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
);

-- Every message for the MES, written in the same transaction as the data it
-- reports, then delivered in id order. `state`: pending, delivered or dead.
CREATE TABLE mes_outbox (
    id           INTEGER PRIMARY KEY,
    idem_key     TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    subject      TEXT NOT NULL DEFAULT '',
    body         TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    last_status  INTEGER,
    done_ms      INTEGER
);
CREATE INDEX mes_outbox_state ON mes_outbox (state, id);

-- The last confirmation queued per order (a new one only when a count changes);
-- its revision numbers the order's confirmations (their idempotency keys).
CREATE TABLE mes_confirmed (
    order_id  TEXT PRIMARY KEY NOT NULL,
    revision  INTEGER NOT NULL,
    produced  INTEGER NOT NULL,
    high_risk INTEGER NOT NULL,
    scrapped  INTEGER NOT NULL,
    at_ms     INTEGER NOT NULL
);

-- The last quality result queued per cell (a new one only when the cell has more
-- inspections or another band); its revision numbers the cell's results.
CREATE TABLE mes_reported (
    serial        TEXT PRIMARY KEY NOT NULL,
    revision      INTEGER NOT NULL,
    inspections   INTEGER NOT NULL,
    band          TEXT NOT NULL,
    model_version TEXT NOT NULL,
    at_ms         INTEGER NOT NULL
);

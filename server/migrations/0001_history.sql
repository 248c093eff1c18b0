-- Tag history: one row per stored sample.
CREATE TABLE IF NOT EXISTS samples (
    device  TEXT    NOT NULL,
    tag     TEXT    NOT NULL,
    ts_ms   INTEGER NOT NULL,
    value   REAL,
    text    TEXT,
    quality INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_by_tag_time ON samples (device, tag, ts_ms);
CREATE INDEX IF NOT EXISTS samples_by_time ON samples (ts_ms);

-- The historian: samples keyed by an integer tag id and time, the names in a small
-- table of their own, and minute and hour rollups kept as history is written.
CREATE TABLE tags (
    id     INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    tag    TEXT NOT NULL,
    UNIQUE (device, tag)
);

CREATE TABLE history (
    tag_id  INTEGER NOT NULL,
    ts_ms   INTEGER NOT NULL,
    value   REAL,
    text    TEXT,
    quality INTEGER NOT NULL,
    PRIMARY KEY (tag_id, ts_ms)
) WITHOUT ROWID;

-- One row per tag and minute (hour, UTC day) with good or stale numeric values: the lowest,
-- highest, their sum and count (the mean is sum / count), and the last value.
CREATE TABLE rollup_1m (
    tag_id   INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    min      REAL    NOT NULL,
    max      REAL    NOT NULL,
    sum      REAL    NOT NULL,
    count    INTEGER NOT NULL,
    last_ms  INTEGER NOT NULL,
    last     REAL    NOT NULL,
    PRIMARY KEY (tag_id, start_ms)
) WITHOUT ROWID;

CREATE TABLE rollup_1h (
    tag_id   INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    min      REAL    NOT NULL,
    max      REAL    NOT NULL,
    sum      REAL    NOT NULL,
    count    INTEGER NOT NULL,
    last_ms  INTEGER NOT NULL,
    last     REAL    NOT NULL,
    PRIMARY KEY (tag_id, start_ms)
) WITHOUT ROWID;

CREATE TABLE rollup_1d (
    tag_id   INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    min      REAL    NOT NULL,
    max      REAL    NOT NULL,
    sum      REAL    NOT NULL,
    count    INTEGER NOT NULL,
    last_ms  INTEGER NOT NULL,
    last     REAL    NOT NULL,
    PRIMARY KEY (tag_id, start_ms)
) WITHOUT ROWID;

-- Carry the history kept so far over: every name gets an id, every sample its row.
-- Two samples of one tag in the same millisecond (only possible if the clock went
-- back) keep the later one written.
INSERT INTO tags (device, tag)
    SELECT DISTINCT device, tag FROM samples ORDER BY device, tag;

INSERT OR REPLACE INTO history (tag_id, ts_ms, value, text, quality)
    SELECT t.id, s.ts_ms, s.value, s.text, s.quality
      FROM samples s JOIN tags t ON t.device = s.device AND t.tag = s.tag
     ORDER BY s.rowid;

INSERT INTO rollup_1m (tag_id, start_ms, min, max, sum, count, last_ms, last)
    SELECT g.tag_id, g.start_ms, g.lo, g.hi, g.total, g.n, g.last_ms,
           (SELECT h.value FROM history h WHERE h.tag_id = g.tag_id AND h.ts_ms = g.last_ms)
      FROM (SELECT tag_id, (ts_ms / 60000) * 60000 AS start_ms, MIN(value) AS lo,
                   MAX(value) AS hi, SUM(value) AS total, COUNT(*) AS n, MAX(ts_ms) AS last_ms
              FROM history
             WHERE value IS NOT NULL AND quality IN (0, 1)
             GROUP BY tag_id, start_ms) g;

INSERT INTO rollup_1h (tag_id, start_ms, min, max, sum, count, last_ms, last)
    SELECT g.tag_id, g.start_ms, g.lo, g.hi, g.total, g.n, g.last_ms,
           (SELECT h.value FROM history h WHERE h.tag_id = g.tag_id AND h.ts_ms = g.last_ms)
      FROM (SELECT tag_id, (ts_ms / 3600000) * 3600000 AS start_ms, MIN(value) AS lo,
                   MAX(value) AS hi, SUM(value) AS total, COUNT(*) AS n, MAX(ts_ms) AS last_ms
              FROM history
             WHERE value IS NOT NULL AND quality IN (0, 1)
             GROUP BY tag_id, start_ms) g;

INSERT INTO rollup_1d (tag_id, start_ms, min, max, sum, count, last_ms, last)
    SELECT g.tag_id, g.start_ms, g.lo, g.hi, g.total, g.n, g.last_ms,
           (SELECT h.value FROM history h WHERE h.tag_id = g.tag_id AND h.ts_ms = g.last_ms)
      FROM (SELECT tag_id, (ts_ms / 86400000) * 86400000 AS start_ms, MIN(value) AS lo,
                   MAX(value) AS hi, SUM(value) AS total, COUNT(*) AS n, MAX(ts_ms) AS last_ms
              FROM history
             WHERE value IS NOT NULL AND quality IN (0, 1)
             GROUP BY tag_id, start_ms) g;

DROP TABLE samples;

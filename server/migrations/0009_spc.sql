-- SPC: frozen control limits, one row per version of a chart's limits, and the
-- index that lets a chart read a measurement's newest values without reading the
-- measurement's whole history.

CREATE TABLE spc_limits (
    id         INTEGER PRIMARY KEY,
    -- The chart's key, e.g. measurement:HC/capacity:imr, tag:CAS_01/temperature:imr.
    chart      TEXT NOT NULL,
    version    INTEGER NOT NULL,
    -- The query that draws the chart as it is watched (source, kind, subgroups), JSON.
    query      TEXT NOT NULL,
    -- app::spc::Limits and app::spc::RuleSet, JSON.
    limits     TEXT NOT NULL,
    rules      TEXT NOT NULL,
    baseline   TEXT NOT NULL,
    note       TEXT NOT NULL,
    by_whom    TEXT NOT NULL,
    frozen_ms  INTEGER NOT NULL,
    UNIQUE (chart, version)
);

-- Newest inspections first, within a time window: a chart reads its values from here
-- and stops after the number it shows.
CREATE INDEX inspections_ts ON inspections (ts_ms);

//! What the SPC pages and the REST API show: which chart is asked for (a flat
//! query that lives in the page's URL), the chart with its points, limits,
//! violations and capability, the frozen limit versions, and the capability
//! table of a product.

use serde::{Deserialize, Serialize};

use super::{Capability, Chart, ChartKind, Limits, Rule, RuleSet, SpecLimits, Violation};

/// Most values (cells, or historian buckets for a tag) one chart reads.
pub const MAX_VALUES: u32 = 20_000;
/// Values a variables chart reads when the query does not say.
pub const DEFAULT_VALUES: u32 = 1_000;
/// Values an attributes chart (p, np: one point per lot) reads when the query does not say.
pub const DEFAULT_ATTRIBUTE_VALUES: u32 = 15_000;
/// Points or subgroups of the default baseline (when no limits are frozen).
pub const DEFAULT_BASELINE: u32 = 25;
/// Largest consecutive-cells subgroup (the X̄-R factors stop at 25).
pub const MAX_SUBGROUP: u32 = 25;

/// How cells are grouped for X̄-R and X̄-S.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grouping {
    /// The cells of one lot, in a row.
    Lot,
    /// The cells of one production order, in a row.
    Order,
    /// `n` consecutive cells.
    Cells,
}

impl Grouping {
    /// The word in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Grouping::Lot => "lot",
            Grouping::Order => "order",
            Grouping::Cells => "cells",
        }
    }

    /// The grouping named `s`.
    pub fn from_slug(s: &str) -> Option<Self> {
        [Grouping::Lot, Grouping::Order, Grouping::Cells]
            .into_iter()
            .find(|g| g.as_str() == s)
    }
}

impl ChartKind {
    /// Every kind, in the order the page offers them.
    pub const ALL: [ChartKind; 5] = [
        ChartKind::IMr,
        ChartKind::XbarR,
        ChartKind::XbarS,
        ChartKind::P,
        ChartKind::Np,
    ];

    /// The word in URLs: `imr`, `xbar-r`, `xbar-s`, `p`, `np`.
    pub fn slug(self) -> &'static str {
        match self {
            ChartKind::IMr => "imr",
            ChartKind::XbarR => "xbar-r",
            ChartKind::XbarS => "xbar-s",
            ChartKind::P => "p",
            ChartKind::Np => "np",
        }
    }

    /// The kind named `s`.
    pub fn from_slug(s: &str) -> Option<Self> {
        ChartKind::ALL.into_iter().find(|k| k.slug() == s)
    }

    /// Whether points are subgroups of cells (X̄-R, X̄-S).
    pub fn is_subgrouped(self) -> bool {
        matches!(self, ChartKind::XbarR | ChartKind::XbarS)
    }

    /// Whether the chart counts failing cells (p, np).
    pub fn is_attributes(self) -> bool {
        matches!(self, ChartKind::P | ChartKind::Np)
    }
}

/// Which chart: a catalogue measurement of a product, or a machine tag; the
/// kind and grouping; the baseline; the rules; the window. Flat, so it is the
/// page's query string as it is (see [`ChartQuery::to_query`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct ChartQuery {
    /// A catalogue measurement, e.g. `capacity` (or give `machine` and `tag`).
    pub measurement: Option<String>,
    /// The product of the cells (absent: the plant's default product).
    pub product: Option<String>,
    /// A machine, with `tag`, for a chart of a machine tag (from the historian).
    pub machine: Option<String>,
    /// The machine's numeric tag.
    pub tag: Option<String>,
    /// `imr` (default), `xbar-r`, `xbar-s`, `p`, `np`.
    pub kind: Option<String>,
    /// Subgroups of X̄-R and X̄-S: `lot`, `order` or `cells` (default, with `n`).
    pub by: Option<String>,
    /// Cells per subgroup with `by=cells` (2 to 25; default 5).
    pub n: Option<u32>,
    /// Baseline: the first `baseline_first` points or subgroups shown.
    pub baseline_first: Option<u32>,
    /// Baseline: the points from this time (Unix ms), with `baseline_to_ms`.
    pub baseline_from_ms: Option<i64>,
    /// Baseline: the points up to this time (Unix ms).
    pub baseline_to_ms: Option<i64>,
    /// Rules on, comma-separated codes (`N1,N2,WE1`); absent: the frozen
    /// version's, else Nelson 1–8.
    pub rules: Option<String>,
    /// Only values at or after this time (Unix ms).
    pub from_ms: Option<i64>,
    /// Only values at or before this time (Unix ms).
    pub to_ms: Option<i64>,
    /// Most values read, newest first (up to 20 000).
    pub values: Option<u32>,
}

/// What the chart is of, read from a [`ChartQuery`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChartSource {
    /// A catalogue measurement of a product's cells.
    Measurement {
        /// The product.
        product: String,
        /// The measurement.
        name: String,
    },
    /// A numeric machine tag, from the historian's rollups.
    Tag {
        /// The machine.
        machine: String,
        /// The tag.
        tag: String,
    },
}

/// The baseline limits are computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Baseline {
    /// The first k points or subgroups of the data shown.
    First(u32),
    /// The points in a time range (Unix ms, both ends included).
    Range {
        /// From.
        from_ms: i64,
        /// To.
        to_ms: i64,
    },
}

impl Baseline {
    /// How people read it.
    pub fn describe(&self) -> String {
        match self {
            Baseline::First(k) => format!("the first {k} points"),
            Baseline::Range { from_ms, to_ms } => format!(
                "the points from {} to {}",
                crate::fmt::format_time(*from_ms),
                crate::fmt::format_time(*to_ms)
            ),
        }
    }
}

/// A [`ChartQuery`] checked and completed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartSpec {
    /// What the chart is of.
    pub source: ChartSource,
    /// The kind.
    pub kind: ChartKind,
    /// Subgroups (X̄-R, X̄-S): the grouping and, for `Cells`, the size.
    pub grouping: Option<(Grouping, u32)>,
    /// The baseline asked for; `None`: the latest frozen limits, else the default.
    pub baseline: Option<Baseline>,
    /// The rules asked for; `None`: the frozen version's, else Nelson 1–8.
    pub rules: Option<RuleSet>,
    /// Window start.
    pub from_ms: Option<i64>,
    /// Window end.
    pub to_ms: Option<i64>,
    /// Most values read.
    pub values: u32,
}

/// Why a [`ChartQuery`] cannot be charted: the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// The query field.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl From<QueryError> for crate::error::ServiceError {
    fn from(e: QueryError) -> Self {
        crate::error::ServiceError::Invalid {
            field: e.field.into(),
            reason: e.reason,
        }
    }
}

fn bad(field: &'static str, reason: impl Into<String>) -> QueryError {
    QueryError {
        field,
        reason: reason.into(),
    }
}

/// Parses `N1,N2,WE1` into a rule set; an empty string is no rule at all.
pub fn parse_rules(s: &str) -> Result<RuleSet, String> {
    let mut set = RuleSet::none();
    for code in s.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let rule = Rule::from_code(&code.to_ascii_uppercase())
            .ok_or_else(|| format!("has {code:?}, which is not a rule (N1–N8, WE1–WE4)"))?;
        set.set(rule, true);
    }
    Ok(set)
}

/// The codes of the rules that are on, comma-separated.
pub fn rules_to_str(rules: &RuleSet) -> String {
    rules
        .enabled()
        .iter()
        .map(|r| r.code())
        .collect::<Vec<_>>()
        .join(",")
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl ChartQuery {
    /// Checks the query; `default_product` stands in for an absent product.
    pub fn spec(&self, default_product: &str) -> Result<ChartSpec, QueryError> {
        let kind = match non_empty(&self.kind) {
            None => ChartKind::IMr,
            Some(k) => ChartKind::from_slug(k).ok_or_else(|| {
                bad(
                    "kind",
                    format!("is {k:?}; it must be one of imr, xbar-r, xbar-s, p, np"),
                )
            })?,
        };
        let source = match (
            non_empty(&self.measurement),
            non_empty(&self.machine),
            non_empty(&self.tag),
        ) {
            (Some(name), None, None) => ChartSource::Measurement {
                product: non_empty(&self.product)
                    .unwrap_or(default_product)
                    .to_string(),
                name: name.to_string(),
            },
            (None, Some(machine), Some(tag)) => {
                if kind != ChartKind::IMr {
                    return Err(bad(
                        "kind",
                        "must be imr for a machine tag (the historian keeps one mean per interval)",
                    ));
                }
                ChartSource::Tag {
                    machine: machine.to_string(),
                    tag: tag.to_string(),
                }
            }
            (None, Some(_), None) => return Err(bad("tag", "is needed with machine")),
            (None, None, Some(_)) => return Err(bad("machine", "is needed with tag")),
            (None, None, None) => {
                return Err(bad("measurement", "is needed (or machine and tag)"));
            }
            (Some(_), _, _) => {
                return Err(bad(
                    "measurement",
                    "cannot be given with machine or tag: a chart is of one or the other",
                ));
            }
        };
        let grouping = if kind.is_subgrouped() {
            let by = match non_empty(&self.by) {
                None => Grouping::Cells,
                Some(b) => Grouping::from_slug(b).ok_or_else(|| {
                    bad("by", format!("is {b:?}; it must be lot, order or cells"))
                })?,
            };
            let n = match (by, self.n) {
                (Grouping::Cells, None) => 5,
                (Grouping::Cells, Some(n)) if (2..=MAX_SUBGROUP).contains(&n) => n,
                (Grouping::Cells, Some(n)) => {
                    return Err(bad(
                        "n",
                        format!("is {n}; a subgroup has 2 to {MAX_SUBGROUP} cells"),
                    ));
                }
                (_, Some(_)) => return Err(bad("n", "is only for by=cells")),
                (_, None) => 0,
            };
            Some((by, n))
        } else {
            if self.by.is_some() || self.n.is_some() {
                return Err(bad(
                    "by",
                    format!("is only for X̄-R and X̄-S charts, not {}", kind.label()),
                ));
            }
            None
        };
        let baseline = match (
            self.baseline_first,
            self.baseline_from_ms,
            self.baseline_to_ms,
        ) {
            (None, None, None) => None,
            (Some(k), None, None) if k >= 2 => Some(Baseline::First(k)),
            (Some(k), None, None) => {
                return Err(bad(
                    "baseline_first",
                    format!("is {k}; a baseline needs at least 2 points"),
                ));
            }
            (None, Some(from_ms), Some(to_ms)) if from_ms <= to_ms => {
                Some(Baseline::Range { from_ms, to_ms })
            }
            (None, Some(_), Some(_)) => {
                return Err(bad("baseline_to_ms", "is before baseline_from_ms"));
            }
            (None, Some(_), None) => return Err(bad("baseline_to_ms", "is needed")),
            (None, None, Some(_)) => return Err(bad("baseline_from_ms", "is needed")),
            (Some(_), _, _) => {
                return Err(bad(
                    "baseline_first",
                    "cannot be given with a baseline time range",
                ));
            }
        };
        let rules = match &self.rules {
            None => None,
            Some(s) => Some(parse_rules(s).map_err(|e| bad("rules", e))?),
        };
        if let (Some(f), Some(t)) = (self.from_ms, self.to_ms)
            && f > t
        {
            return Err(bad("to_ms", "is before from_ms"));
        }
        let values = match self.values {
            None if kind.is_attributes() => DEFAULT_ATTRIBUTE_VALUES,
            None => DEFAULT_VALUES,
            Some(v) if (2..=MAX_VALUES).contains(&v) => v,
            Some(v) => {
                return Err(bad(
                    "values",
                    format!("is {v}; a chart reads 2 to {MAX_VALUES} values"),
                ));
            }
        };
        Ok(ChartSpec {
            source,
            kind,
            grouping,
            baseline,
            rules,
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            values,
        })
    }

    /// The query as a query string (without `?`), for links and the CSV export.
    pub fn to_query(&self) -> String {
        let mut q: Vec<String> = Vec::new();
        let mut put = |k: &str, v: &str| {
            q.push(format!("{k}={}", crate::fmt::encode_query_value(v)));
        };
        let strings = [
            ("measurement", &self.measurement),
            ("product", &self.product),
            ("machine", &self.machine),
            ("tag", &self.tag),
            ("kind", &self.kind),
            ("by", &self.by),
            ("rules", &self.rules),
        ];
        for (k, v) in strings {
            if let Some(v) = v {
                put(k, v);
            }
        }
        let numbers = [
            ("n", self.n.map(i64::from)),
            ("baseline_first", self.baseline_first.map(i64::from)),
            ("baseline_from_ms", self.baseline_from_ms),
            ("baseline_to_ms", self.baseline_to_ms),
            ("from_ms", self.from_ms),
            ("to_ms", self.to_ms),
            ("values", self.values.map(i64::from)),
        ];
        for (k, v) in numbers {
            if let Some(v) = v {
                put(k, &v.to_string());
            }
        }
        q.join("&")
    }

    /// The query of `get` (a URL's query map): absent or empty fields are absent; a
    /// number that is not one is an error naming the field.
    pub fn from_pairs(get: impl Fn(&str) -> Option<String>) -> Result<Self, QueryError> {
        let text = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        fn num<T: std::str::FromStr>(
            field: &'static str,
            v: Option<String>,
        ) -> Result<Option<T>, QueryError> {
            v.map(|v| {
                v.trim()
                    .parse::<T>()
                    .map_err(|_| bad(field, format!("is {v:?}, not a whole number")))
            })
            .transpose()
        }
        Ok(ChartQuery {
            measurement: text("measurement"),
            product: text("product"),
            machine: text("machine"),
            tag: text("tag"),
            kind: text("kind"),
            by: text("by"),
            n: num("n", text("n"))?,
            baseline_first: num("baseline_first", text("baseline_first"))?,
            baseline_from_ms: num("baseline_from_ms", text("baseline_from_ms"))?,
            baseline_to_ms: num("baseline_to_ms", text("baseline_to_ms"))?,
            // An empty `rules=` is a choice (no rule on), not an absent field.
            rules: get("rules"),
            from_ms: num("from_ms", text("from_ms"))?,
            to_ms: num("to_ms", text("to_ms"))?,
            values: num("values", text("values"))?,
        })
    }
}

impl ChartSpec {
    /// The key frozen limits are kept under: what the chart is of, its kind and its
    /// subgroups (not the window, baseline or rules, which a version records).
    pub fn key(&self) -> String {
        let source = match &self.source {
            ChartSource::Measurement { product, name } => format!("measurement:{product}/{name}"),
            ChartSource::Tag { machine, tag } => format!("tag:{machine}/{tag}"),
        };
        match self.grouping {
            Some((Grouping::Cells, n)) => format!("{source}:{}:cells{n}", self.kind.slug()),
            Some((g, _)) => format!("{source}:{}:{}", self.kind.slug(), g.as_str()),
            None => format!("{source}:{}", self.kind.slug()),
        }
    }

    /// The query that asks for this chart as it is watched: its source, kind and
    /// subgroups, nothing else (the newest values, frozen limits and their rules).
    pub fn watched_query(&self) -> ChartQuery {
        let mut q = ChartQuery {
            kind: Some(self.kind.slug().to_string()),
            ..ChartQuery::default()
        };
        match &self.source {
            ChartSource::Measurement { product, name } => {
                q.measurement = Some(name.clone());
                q.product = Some(product.clone());
            }
            ChartSource::Tag { machine, tag } => {
                q.machine = Some(machine.clone());
                q.tag = Some(tag.clone());
            }
        }
        if let Some((g, n)) = self.grouping {
            q.by = Some(g.as_str().to_string());
            if g == Grouping::Cells {
                q.n = Some(n);
            }
        }
        q
    }
}

/// One frozen version of a chart's limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitsVersion {
    /// The chart's key.
    pub chart: String,
    /// 1, 2, …
    pub version: u32,
    /// The limits.
    pub limits: Limits,
    /// The rules watched with them.
    pub rules: RuleSet,
    /// The baseline they were computed from, as people read it.
    pub baseline: String,
    /// Why (the engineer's note).
    pub note: String,
    /// Who froze them.
    pub by: String,
    /// When (Unix ms).
    pub frozen_ms: i64,
}

/// Where the limits on a chart come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LimitsOrigin {
    /// A frozen version.
    Frozen(u32),
    /// Computed now from a baseline of the data shown (not frozen).
    Baseline(String),
}

/// What one chart point stands for: a cell, a subgroup, a lot or an interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointMeta {
    /// A cell's serial, a lot, an order, or empty for a tag's interval.
    pub label: String,
    /// Time of the point's last value (Unix ms).
    pub ts_ms: i64,
}

/// One SPC chart, ready to draw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpcChartView {
    /// The query as asked (the page's URL).
    pub query: ChartQuery,
    /// The key its limits are frozen under.
    pub key: String,
    /// What it is of, e.g. "Capacity · HC".
    pub title: String,
    /// The kind.
    pub kind: ChartKind,
    /// The plotted values' unit ("" for p, "cells" for np).
    pub unit: String,
    /// The subgroups, as people read them, e.g. "5 consecutive cells".
    pub grouping: Option<String>,
    /// The chart, or why there is none.
    pub chart: Option<Chart>,
    /// Why there is no chart (too few values, constant data, …).
    pub error: Option<String>,
    /// What each point stands for, as many as `chart.points`.
    pub meta: Vec<PointMeta>,
    /// The rules checked.
    pub rules: RuleSet,
    /// The violations of the rules checked.
    pub violations: Vec<Violation>,
    /// Where the limits come from.
    pub origin: Option<LimitsOrigin>,
    /// Every frozen version, newest first.
    pub versions: Vec<LimitsVersion>,
    /// Spec limits of the measurement (none for a machine tag).
    pub spec: Option<SpecLimits>,
    /// Capability of the values shown against the spec limits.
    pub capability: Option<Capability>,
    /// Why there is no capability study.
    pub capability_note: Option<String>,
    /// Values read.
    pub values: usize,
}

/// One measurement's row in the capability table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapabilityRow {
    /// Catalogue name.
    pub measurement: String,
    /// Label.
    pub label: String,
    /// Stage (IPQC, FQC, OQC).
    pub stage: String,
    /// Unit.
    pub unit: String,
    /// Values in the study.
    pub n: usize,
    /// The study, or `None` with `note` saying why.
    pub capability: Option<Capability>,
    /// Why there is no study (no spec limits, too few values, constant data).
    pub note: Option<String>,
}

/// A numeric machine tag, for the list of tag charts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRef {
    /// The machine.
    pub machine: String,
    /// The tag.
    pub tag: String,
    /// Label.
    pub label: String,
    /// Unit.
    pub unit: String,
}

/// The capability of every catalogue measurement of a product, worst Cpk first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapabilityTable {
    /// The product.
    pub product: String,
    /// Every product: id and name.
    pub products: Vec<(String, String)>,
    /// Values per measurement read (the newest).
    pub values: u32,
    /// Rows with a study, worst Cpk first, then the rows without one.
    pub rows: Vec<CapabilityRow>,
    /// Numeric machine tags that can be charted.
    pub tags: Vec<TagRef>,
}

/// A stretch of points in which one rule keeps firing: overlapping or adjacent
/// violations of the same rule, merged (a shifted process breaks N2 on every point
/// after the ninth; people read that as one episode, not hundreds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Episode {
    /// The rule.
    pub rule: Rule,
    /// First point of the first violation.
    pub first: usize,
    /// The point completing the last violation.
    pub last: usize,
    /// Violations merged.
    pub violations: usize,
}

/// The violations as episodes, newest (by last point) first, then in rule order.
pub fn episodes(violations: &[Violation]) -> Vec<Episode> {
    let mut open: Vec<Episode> = Vec::new();
    let mut out: Vec<Episode> = Vec::new();
    let mut sorted: Vec<&Violation> = violations.iter().collect();
    sorted.sort_by_key(|v| (v.rule, v.points.first().copied().unwrap_or(v.at), v.at));
    for v in sorted {
        let first = v.points.first().copied().unwrap_or(v.at);
        match open.iter_mut().find(|e| e.rule == v.rule) {
            Some(e) if first <= e.last + 1 => {
                e.last = e.last.max(v.at);
                e.violations += 1;
            }
            Some(e) => {
                out.push(*e);
                *e = Episode {
                    rule: v.rule,
                    first,
                    last: v.at,
                    violations: 1,
                };
            }
            None => open.push(Episode {
                rule: v.rule,
                first,
                last: v.at,
                violations: 1,
            }),
        }
    }
    out.extend(open);
    out.sort_by(|a, b| b.last.cmp(&a.last).then(a.rule.cmp(&b.rule)));
    out
}

/// Sorts capability rows worst Cpk first; rows without a study go last, by name.
pub fn sort_worst_first(rows: &mut [CapabilityRow]) {
    rows.sort_by(|a, b| match (&a.capability, &b.capability) {
        (Some(x), Some(y)) => x.cpk.total_cmp(&y.cpk),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.measurement.cmp(&b.measurement),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Result<ChartQuery, QueryError> {
        ChartQuery::from_pairs(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn a_query_round_trips_through_its_url() {
        let query = q(&[
            ("measurement", "capacity"),
            ("product", "HC"),
            ("kind", "xbar-r"),
            ("by", "cells"),
            ("n", "4"),
            ("baseline_first", "20"),
            ("rules", "N1,N2,WE3"),
            ("values", "500"),
        ])
        .expect("parses");
        // Commas are the one character of this query that is escaped.
        let url = query.to_query().replace("%2C", ",");
        let back = q(&url
            .split('&')
            .map(|kv| kv.split_once('=').expect("k=v"))
            .collect::<Vec<_>>())
        .expect("parses again");
        assert_eq!(back, query);
        let spec = query.spec("HC").expect("valid");
        assert_eq!(spec.kind, ChartKind::XbarR);
        assert_eq!(spec.grouping, Some((Grouping::Cells, 4)));
        assert_eq!(spec.baseline, Some(Baseline::First(20)));
        let rules = spec.rules.expect("rules");
        assert_eq!(rules_to_str(&rules), "N1,N2,WE3");
        assert_eq!(spec.key(), "measurement:HC/capacity:xbar-r:cells4");
        assert_eq!(
            spec.watched_query().spec("HC").expect("valid").key(),
            spec.key()
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let field = |pairs: &[(&str, &str)]| match q(pairs) {
            Err(e) => e.field,
            Ok(query) => query.spec("HC").expect_err("invalid").field,
        };
        assert_eq!(field(&[]), "measurement");
        assert_eq!(
            field(&[("measurement", "capacity"), ("kind", "pie")]),
            "kind"
        );
        assert_eq!(
            field(&[("measurement", "capacity"), ("machine", "CAS_01")]),
            "measurement"
        );
        assert_eq!(field(&[("machine", "CAS_01")]), "tag");
        assert_eq!(
            field(&[("machine", "CAS_01"), ("tag", "speed"), ("kind", "p")]),
            "kind"
        );
        assert_eq!(
            field(&[("measurement", "capacity"), ("kind", "xbar-r"), ("n", "1")]),
            "n"
        );
        assert_eq!(
            field(&[("measurement", "capacity"), ("kind", "xbar-r"), ("n", "x")]),
            "n"
        );
        assert_eq!(field(&[("measurement", "capacity"), ("by", "lot")]), "by");
        assert_eq!(
            field(&[("measurement", "capacity"), ("rules", "N1,N9")]),
            "rules"
        );
        assert_eq!(
            field(&[("measurement", "capacity"), ("baseline_first", "1")]),
            "baseline_first"
        );
        assert_eq!(
            field(&[("measurement", "capacity"), ("baseline_from_ms", "5")]),
            "baseline_to_ms"
        );
        assert_eq!(
            field(&[("measurement", "capacity"), ("values", "0")]),
            "values"
        );
        assert_eq!(
            field(&[
                ("measurement", "capacity"),
                ("from_ms", "10"),
                ("to_ms", "5")
            ]),
            "to_ms"
        );
    }

    #[test]
    fn overlapping_violations_of_one_rule_are_one_episode() {
        let v = |rule, points: std::ops::RangeInclusive<usize>| Violation {
            rule,
            at: *points.end(),
            points: points.collect(),
        };
        let vs = [
            v(Rule::N2, 0..=8),
            v(Rule::N2, 1..=9),
            v(Rule::N1, 9..=9),
            v(Rule::N2, 2..=10),
            v(Rule::N1, 10..=10),
            v(Rule::N1, 20..=20),
            v(Rule::N2, 30..=38),
        ];
        let e = episodes(&vs);
        let brief: Vec<(Rule, usize, usize, usize)> = e
            .iter()
            .map(|e| (e.rule, e.first, e.last, e.violations))
            .collect();
        assert_eq!(
            brief,
            [
                (Rule::N2, 30, 38, 1),
                (Rule::N1, 20, 20, 1),
                (Rule::N1, 9, 10, 2),
                (Rule::N2, 0, 10, 3),
            ]
        );
        assert!(episodes(&[]).is_empty());
    }

    #[test]
    fn an_empty_rule_list_switches_every_rule_off() {
        let spec = q(&[("measurement", "ocv"), ("rules", "")])
            .expect("parses")
            .spec("HC")
            .expect("valid");
        assert_eq!(spec.rules, Some(RuleSet::none()));
        let spec = q(&[("measurement", "ocv")])
            .expect("parses")
            .spec("HC")
            .expect("valid");
        assert_eq!(spec.rules, None);
        assert_eq!(spec.values, DEFAULT_VALUES);
        assert_eq!(
            spec.source,
            ChartSource::Measurement {
                product: "HC".into(),
                name: "ocv".into()
            }
        );
    }
}

//! Run rules (tests for special causes) on a sequence of z values,
//! z = (value − centre)/σ.
//!
//! Nelson (1984, *J. Quality Technology* 16(4)) and the Western Electric
//! *Statistical Quality Control Handbook* (1956), as Minitab states them:
//!
//! | code | pattern |
//! |------|---------|
//! | N1, WE1 | one point beyond 3σ (\|z\| > 3) |
//! | N2 | 9 in a row on the same side of the centre line |
//! | N3 | 6 in a row steadily increasing or decreasing (each strictly above/below the one before) |
//! | N4 | 14 in a row alternating up and down |
//! | N5, WE2 | 2 of 3 in a row beyond 2σ on the same side |
//! | N6, WE3 | 4 of 5 in a row beyond 1σ on the same side |
//! | N7 | 15 in a row within 1σ (\|z\| ≤ 1), either side |
//! | N8 | 8 in a row beyond 1σ (\|z\| > 1), either side |
//! | WE4 | 8 in a row on the same side |
//!
//! Conventions:
//! * "Beyond kσ" is strict (|z| > k); "within 1σ" is its complement
//!   (|z| ≤ 1), so every point is either within or beyond.
//! * A point exactly on the centre line (z = 0) is on neither side, so it
//!   breaks a same-side run. A NaN z is on no side, neither within nor
//!   beyond, and neither above nor below its neighbours: it breaks every run.
//!   ±∞ behave as very far points.
//! * N8 follows the brief and Minitab (8 in a row beyond 1σ, each on either
//!   side); Nelson's original wording also asks for points on both sides.
//! * A violation is reported at every point where the pattern completes: a
//!   run of 11 same-side points fires N2 at its 9th, 10th and 11th points.
//!   Its `points` are the run (the 9, 6, 14, 15 or 8 points ending there).
//! * "k of m" rules (N5, N6, WE2, WE3): the pattern completes at point i
//!   when point i itself is beyond the band on a side and at least k of the
//!   last m points (i−m+1..=i; fewer at the very start) are beyond it on that
//!   side; `points` are those qualifying points.
//!
//! Each rule is one pass with a counter or a sliding window: O(n).

use serde::{Deserialize, Serialize};

/// One run rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Rule {
    /// Nelson 1: one point beyond 3σ.
    N1,
    /// Nelson 2: nine in a row on the same side.
    N2,
    /// Nelson 3: six in a row steadily increasing or decreasing.
    N3,
    /// Nelson 4: fourteen in a row alternating up and down.
    N4,
    /// Nelson 5: two of three beyond 2σ on the same side.
    N5,
    /// Nelson 6: four of five beyond 1σ on the same side.
    N6,
    /// Nelson 7: fifteen in a row within 1σ.
    N7,
    /// Nelson 8: eight in a row beyond 1σ, either side.
    N8,
    /// Western Electric 1: one point beyond 3σ.
    WE1,
    /// Western Electric 2: two of three beyond 2σ on the same side.
    WE2,
    /// Western Electric 3: four of five beyond 1σ on the same side.
    WE3,
    /// Western Electric 4: eight in a row on the same side.
    WE4,
}

impl Rule {
    /// Every rule, Nelson first.
    pub const ALL: [Rule; 12] = [
        Rule::N1,
        Rule::N2,
        Rule::N3,
        Rule::N4,
        Rule::N5,
        Rule::N6,
        Rule::N7,
        Rule::N8,
        Rule::WE1,
        Rule::WE2,
        Rule::WE3,
        Rule::WE4,
    ];

    /// Short code: "N1".."N8", "WE1".."WE4".
    pub fn code(self) -> &'static str {
        match self {
            Rule::N1 => "N1",
            Rule::N2 => "N2",
            Rule::N3 => "N3",
            Rule::N4 => "N4",
            Rule::N5 => "N5",
            Rule::N6 => "N6",
            Rule::N7 => "N7",
            Rule::N8 => "N8",
            Rule::WE1 => "WE1",
            Rule::WE2 => "WE2",
            Rule::WE3 => "WE3",
            Rule::WE4 => "WE4",
        }
    }

    /// The rule from its code ("N1".."N8", "WE1".."WE4").
    pub fn from_code(code: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.code() == code)
    }

    /// One sentence saying what the rule looks for.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::N1 | Rule::WE1 => "1 point more than 3σ from the centre line",
            Rule::N2 => "9 points in a row on the same side of the centre line",
            Rule::N3 => "6 points in a row steadily increasing or decreasing",
            Rule::N4 => "14 points in a row alternating up and down",
            Rule::N5 | Rule::WE2 => {
                "2 of 3 points in a row more than 2σ from the centre line on the same side"
            }
            Rule::N6 | Rule::WE3 => {
                "4 of 5 points in a row more than 1σ from the centre line on the same side"
            }
            Rule::N7 => "15 points in a row within 1σ of the centre line, either side",
            Rule::N8 => "8 points in a row more than 1σ from the centre line, either side",
            Rule::WE4 => "8 points in a row on the same side of the centre line",
        }
    }
}

/// Which rules to check. In JSON a missing field takes its default: every
/// Nelson rule on, every Western Electric rule off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuleSet {
    /// Nelson 1.
    pub n1: bool,
    /// Nelson 2.
    pub n2: bool,
    /// Nelson 3.
    pub n3: bool,
    /// Nelson 4.
    pub n4: bool,
    /// Nelson 5.
    pub n5: bool,
    /// Nelson 6.
    pub n6: bool,
    /// Nelson 7.
    pub n7: bool,
    /// Nelson 8.
    pub n8: bool,
    /// Western Electric 1.
    pub we1: bool,
    /// Western Electric 2.
    pub we2: bool,
    /// Western Electric 3.
    pub we3: bool,
    /// Western Electric 4.
    pub we4: bool,
}

impl Default for RuleSet {
    fn default() -> Self {
        RuleSet::nelson()
    }
}

impl RuleSet {
    /// No rule on.
    pub fn none() -> Self {
        RuleSet {
            n1: false,
            n2: false,
            n3: false,
            n4: false,
            n5: false,
            n6: false,
            n7: false,
            n8: false,
            we1: false,
            we2: false,
            we3: false,
            we4: false,
        }
    }

    /// Every rule on.
    pub fn all() -> Self {
        let mut set = RuleSet::none();
        for rule in Rule::ALL {
            set.set(rule, true);
        }
        set
    }

    /// Nelson 1–8 on, Western Electric off (the default).
    pub fn nelson() -> Self {
        let mut set = RuleSet::all();
        for rule in [Rule::WE1, Rule::WE2, Rule::WE3, Rule::WE4] {
            set.set(rule, false);
        }
        set
    }

    /// Western Electric 1–4 on, Nelson off.
    pub fn western_electric() -> Self {
        let mut set = RuleSet::none();
        for rule in [Rule::WE1, Rule::WE2, Rule::WE3, Rule::WE4] {
            set.set(rule, true);
        }
        set
    }

    fn flag(&mut self, rule: Rule) -> &mut bool {
        match rule {
            Rule::N1 => &mut self.n1,
            Rule::N2 => &mut self.n2,
            Rule::N3 => &mut self.n3,
            Rule::N4 => &mut self.n4,
            Rule::N5 => &mut self.n5,
            Rule::N6 => &mut self.n6,
            Rule::N7 => &mut self.n7,
            Rule::N8 => &mut self.n8,
            Rule::WE1 => &mut self.we1,
            Rule::WE2 => &mut self.we2,
            Rule::WE3 => &mut self.we3,
            Rule::WE4 => &mut self.we4,
        }
    }

    /// Whether `rule` is on.
    pub fn is_on(&self, rule: Rule) -> bool {
        let mut copy = *self;
        *copy.flag(rule)
    }

    /// Switches `rule` on or off.
    pub fn set(&mut self, rule: Rule, on: bool) {
        *self.flag(rule) = on;
    }

    /// The rules that are on, in [`Rule::ALL`] order.
    pub fn enabled(&self) -> Vec<Rule> {
        Rule::ALL.into_iter().filter(|r| self.is_on(*r)).collect()
    }
}

/// One place where a rule fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// Index of the point that completes the pattern.
    pub at: usize,
    /// Indices of the points that make the pattern, ascending (ends with `at`).
    pub points: Vec<usize>,
}

/// Checks the rules that are on against a z sequence. Violations are sorted
/// by `at`, then by rule in [`Rule::ALL`] order. O(n) per rule.
pub fn check(z: &[f64], rules: &RuleSet) -> Vec<Violation> {
    let mut out: Vec<Violation> = rules
        .enabled()
        .into_iter()
        .flat_map(|rule| check_rule(z, rule))
        .collect();
    out.sort_by_key(|v| (v.at, v.rule));
    out
}

/// The violations of one rule, in order of `at`.
pub fn check_rule(z: &[f64], rule: Rule) -> Vec<Violation> {
    let hits = match rule {
        Rule::N1 | Rule::WE1 => run(z, 1, |x| x.abs() > 3.0),
        Rule::N2 => same_side_run(z, 9),
        Rule::WE4 => same_side_run(z, 8),
        Rule::N3 => trend(z, 6),
        Rule::N4 => alternating(z, 14),
        Rule::N5 | Rule::WE2 => k_of_m(z, 2, 3, 2.0),
        Rule::N6 | Rule::WE3 => k_of_m(z, 4, 5, 1.0),
        Rule::N7 => run(z, 15, |x| x.abs() <= 1.0),
        Rule::N8 => run(z, 8, |x| x.abs() > 1.0),
    };
    hits.into_iter()
        .map(|(at, points)| Violation { rule, at, points })
        .collect()
}

type Hits = Vec<(usize, Vec<usize>)>;

/// The `len` indices ending at `at`.
fn run_ending(at: usize, len: usize) -> Vec<usize> {
    (at + 1 - len..=at).collect()
}

/// +1 above the centre, −1 below, 0 on it (or NaN).
fn side(z: f64) -> i8 {
    if z > 0.0 {
        1
    } else if z < 0.0 {
        -1
    } else {
        0
    }
}

/// Fires at every point ending a run of at least `len` points that satisfy `ok`.
fn run(z: &[f64], len: usize, ok: impl Fn(f64) -> bool) -> Hits {
    let mut hits = Vec::new();
    let mut count = 0;
    for (i, &x) in z.iter().enumerate() {
        count = if ok(x) { count + 1 } else { 0 };
        if count >= len {
            hits.push((i, run_ending(i, len)));
        }
    }
    hits
}

/// `len` in a row on the same (non-zero) side.
fn same_side_run(z: &[f64], len: usize) -> Hits {
    let mut hits = Vec::new();
    let (mut count, mut last) = (0, 0i8);
    for (i, &x) in z.iter().enumerate() {
        let s = side(x);
        count = match s {
            0 => 0,
            s if s == last => count + 1,
            _ => 1,
        };
        last = s;
        if count >= len {
            hits.push((i, run_ending(i, len)));
        }
    }
    hits
}

/// Direction of the step into point i: +1 up, −1 down, 0 equal or NaN.
fn step(z: &[f64], i: usize) -> i8 {
    if i == 0 {
        return 0;
    }
    match z[i].partial_cmp(&z[i - 1]) {
        Some(std::cmp::Ordering::Greater) => 1,
        Some(std::cmp::Ordering::Less) => -1,
        _ => 0,
    }
}

/// `len` points each strictly above (or each strictly below) the one before.
fn trend(z: &[f64], len: usize) -> Hits {
    let mut hits = Vec::new();
    let (mut steps, mut last) = (0, 0i8);
    for i in 0..z.len() {
        let d = step(z, i);
        steps = match d {
            0 => 0,
            d if d == last => steps + 1,
            _ => 1,
        };
        last = d;
        if steps + 1 >= len {
            hits.push((i, run_ending(i, len)));
        }
    }
    hits
}

/// `len` points whose steps alternate up, down, up, … (or down, up, …).
fn alternating(z: &[f64], len: usize) -> Hits {
    let mut hits = Vec::new();
    let (mut steps, mut last) = (0, 0i8);
    for i in 0..z.len() {
        let d = step(z, i);
        steps = match d {
            0 => 0,
            d if d == -last => steps + 1,
            _ => 1,
        };
        last = d;
        if steps + 1 >= len {
            hits.push((i, run_ending(i, len)));
        }
    }
    hits
}

/// At least `k` of the last `m` points beyond `limit`σ on one side, the
/// current point among them. The window is scanned directly: m ≤ 5, so this
/// is O(n·m) = O(n).
fn k_of_m(z: &[f64], k: usize, m: usize, limit: f64) -> Hits {
    let mut hits = Vec::new();
    for (i, &x) in z.iter().enumerate() {
        let s: f64 = if x > limit {
            1.0
        } else if x < -limit {
            -1.0
        } else {
            continue;
        };
        let start = (i + 1).saturating_sub(m);
        let points: Vec<usize> = (start..=i).filter(|&j| s * z[j] > limit).collect();
        if points.len() >= k {
            hits.push((i, points));
        }
    }
    hits
}

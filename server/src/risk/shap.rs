//! Exact per-cell feature contributions of tree models: path-dependent Tree SHAP
//! (Lundberg, Erion & Lee, "Consistent individualized feature attribution for tree
//! ensembles", 2018, algorithm 2). Pure: no I/O.
//!
//! For one tree and one cell `x`, feature `i`'s contribution is its Shapley value
//! for the game `v(S) = E[f(x) | x_S]`, where the expectation over the features not
//! in `S` follows the tree's own split of the training rows: at a split on a feature
//! outside `S`, both branches are taken, weighted by the share of training rows
//! (the *cover*) that went each way. The contributions of a cell add up to the tree's
//! output minus its expected output (the cover-weighted mean of its leaves), which
//! for covers counted on the training rows is the mean output on those rows. A
//! forest's output is the mean of its trees', so its contributions are the mean of
//! the trees' contributions, with the same sum property.
//!
//! smartcore's trees do not record how many rows reached a node, so the covers are
//! counted at training time by passing the training rows down each tree
//! ([`Tree::count_covers`]) and stored with the model.
//!
//! Cost per cell and tree: O(leaves × depth²); the algorithm visits every node once.

use serde::Deserialize;

/// A node of a regression tree: a split (`yes`, `no` children) or a leaf.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    /// Leaf output (for a split node, its training mean; unused).
    value: f64,
    /// Training rows that reached the node.
    cover: f64,
    /// Split feature (index into the row).
    feature: usize,
    /// A row goes to `yes` when `x[feature] <= threshold` (NaN threshold: never).
    threshold: f64,
    /// Children; both `None` for a leaf.
    children: Option<(usize, usize)>,
}

/// One regression tree, in the form the explainer walks.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    nodes: Vec<Node>,
    /// Splits on the longest root-to-leaf path.
    depth: usize,
}

/// The layout smartcore 0.7 serialises a tree node in.
#[derive(Deserialize)]
struct SmartcoreNode {
    output: f64,
    split_feature: usize,
    split_value: Option<f64>,
    true_child: Option<usize>,
    false_child: Option<usize>,
}

#[derive(Deserialize)]
struct SmartcoreTree {
    nodes: Vec<SmartcoreNode>,
}

#[derive(Deserialize)]
struct SmartcoreForest {
    trees: Vec<SmartcoreTree>,
}

#[derive(Deserialize)]
struct SmartcoreChunk {
    forest_regressor: SmartcoreForest,
}

/// One step of the path from the root to the node being visited.
#[derive(Debug, Clone, Copy, Default)]
pub struct PathElement {
    /// Feature split on (`usize::MAX` for the root's placeholder).
    feature: usize,
    /// Share of the paths through this split that follow the row's branch when the
    /// feature is unknown (the cover ratio).
    zero: f64,
    /// 1 when the row itself goes this way, else 0.
    one: f64,
    /// Permutation weight of the subsets of this path's features.
    weight: f64,
}

impl Tree {
    /// The trees of a smartcore `RandomForestRegressor` serialised as JSON (one
    /// chunk), without covers. Checks that children follow their parents and that
    /// split features exist.
    pub fn from_smartcore(
        chunk: &serde_json::Value,
        n_features: usize,
    ) -> Result<Vec<Tree>, String> {
        let chunk = SmartcoreChunk::deserialize(chunk)
            .map_err(|e| format!("a forest chunk is not a smartcore forest: {e}"))?;
        chunk
            .forest_regressor
            .trees
            .into_iter()
            .enumerate()
            .map(|(t, tree)| {
                let n = tree.nodes.len();
                let nodes = tree
                    .nodes
                    .into_iter()
                    .enumerate()
                    .map(|(i, node)| {
                        let children = match (node.true_child, node.false_child) {
                            (None, None) => None,
                            (Some(a), Some(b)) if a > i && b > i && a < n && b < n => {
                                if node.split_feature >= n_features {
                                    return Err(format!("tree {t}, node {i}: broken split"));
                                }
                                Some((a, b))
                            }
                            _ => return Err(format!("tree {t}, node {i}: broken split")),
                        };
                        Ok(Node {
                            value: node.output,
                            cover: 0.0,
                            feature: node.split_feature,
                            threshold: node.split_value.unwrap_or(f64::NAN),
                            children,
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                if nodes.is_empty() {
                    return Err(format!("tree {t} has no nodes"));
                }
                let mut tree = Tree { nodes, depth: 0 };
                tree.depth = tree.depth_of(0);
                Ok(tree)
            })
            .collect()
    }

    fn depth_of(&self, node: usize) -> usize {
        // Children always follow their parent, so depths fill in one backward pass.
        let mut depth = vec![0usize; self.nodes.len()];
        for i in (node..self.nodes.len()).rev() {
            if let Some((a, b)) = self.nodes[i].children {
                depth[i] = 1 + depth[a].max(depth[b]);
            }
        }
        depth[node]
    }

    /// Counts, for every node, the rows that reach it (replacing any covers).
    pub fn count_covers(&mut self, rows: &[Vec<f64>]) {
        self.nodes.iter_mut().for_each(|n| n.cover = 0.0);
        for row in rows {
            let mut i = 0;
            loop {
                self.nodes[i].cover += 1.0;
                match self.nodes[i].children {
                    None => break,
                    Some((yes, no)) => i = self.branch(i, row, yes, no),
                }
            }
        }
    }

    /// Node covers in node order (what a model file stores).
    pub fn covers(&self) -> Vec<f64> {
        self.nodes.iter().map(|n| n.cover).collect()
    }

    /// Sets stored covers, refusing ones that do not fit the tree: one per node,
    /// finite and non-negative, a positive root, each split's cover the sum of its
    /// children's.
    pub fn set_covers(&mut self, covers: &[f64]) -> Result<(), String> {
        if covers.len() != self.nodes.len() {
            return Err(format!(
                "{} covers for {} nodes",
                covers.len(),
                self.nodes.len()
            ));
        }
        if covers.iter().any(|c| !c.is_finite() || *c < 0.0) || covers[0] <= 0.0 {
            return Err("a node cover is not a positive count".into());
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some((a, b)) = n.children {
                let sum = covers[a] + covers[b];
                if (covers[i] - sum).abs() > 1e-9 * covers[i].max(1.0) {
                    return Err(format!(
                        "node {i}: cover {} ≠ its children's {sum}",
                        covers[i]
                    ));
                }
            }
        }
        self.nodes
            .iter_mut()
            .zip(covers)
            .for_each(|(n, &c)| n.cover = c);
        Ok(())
    }

    fn branch(&self, i: usize, x: &[f64], yes: usize, no: usize) -> usize {
        let n = &self.nodes[i];
        match x.get(n.feature) {
            Some(&v) if v <= n.threshold => yes,
            _ => no,
        }
    }

    /// The tree's output for a row (smartcore's rule: `x <= threshold` goes to the
    /// first child).
    pub fn predict(&self, x: &[f64]) -> f64 {
        let mut i = 0;
        while let Some((yes, no)) = self.nodes[i].children {
            i = self.branch(i, x, yes, no);
        }
        self.nodes[i].value
    }

    /// The cover-weighted mean of the leaves: the output expected when nothing is
    /// known of the row.
    pub fn expected(&self) -> f64 {
        let root = self.nodes[0].cover;
        if root <= 0.0 {
            return f64::NAN;
        }
        self.nodes
            .iter()
            .filter(|n| n.children.is_none())
            .map(|n| n.value * n.cover)
            .sum::<f64>()
            / root
    }

    /// Path buffer length [`Tree::shap`] needs: one segment per level.
    fn path_len(&self) -> usize {
        (self.depth + 2) * (self.depth + 3) / 2
    }

    /// Adds this tree's contributions for row `x`, times `scale`, to `phi` (one per
    /// feature). `path` is scratch space of at least [`Tree::path_len`].
    fn shap(&self, x: &[f64], scale: f64, phi: &mut [f64], path: &mut [PathElement]) {
        self.recurse(0, x, scale, phi, path, 0, 1.0, 1.0, usize::MAX);
    }

    #[allow(clippy::too_many_arguments)]
    fn recurse(
        &self,
        node: usize,
        x: &[f64],
        scale: f64,
        phi: &mut [f64],
        seg: &mut [PathElement],
        len: usize,
        zero: f64,
        one: f64,
        feature: usize,
    ) {
        extend(seg, len, zero, one, feature);
        let last = len;
        let n = &self.nodes[node];
        let Some((yes, no)) = n.children else {
            // For the splits the row does not take, the unwound sum is one sum over
            // the path scaled by the split's cover ratio: computed once per leaf.
            let mut cold = None;
            for i in 1..=last {
                let e = seg[i];
                let w = if e.one == 0.0 && e.zero != 0.0 {
                    *cold.get_or_insert_with(|| cold_sum(seg, last)) * (last + 1) as f64 / e.zero
                } else {
                    unwound_sum(seg, last, i)
                };
                if let Some(p) = phi.get_mut(e.feature) {
                    *p += scale * w * (e.one - e.zero) * n.value;
                }
            }
            return;
        };
        let (hot, cold) = if self.branch(node, x, yes, no) == yes {
            (yes, no)
        } else {
            (no, yes)
        };
        // A feature split on again above: undo its earlier step, carrying its
        // fractions into this split.
        let (mut in_zero, mut in_one) = (1.0, 1.0);
        let mut kept = last + 1;
        if let Some(k) = (1..=last).find(|&k| seg[k].feature == n.feature) {
            in_zero = seg[k].zero;
            in_one = seg[k].one;
            unwind(seg, last, k);
            kept = last;
        }
        let ratio = |child: usize| {
            if n.cover > 0.0 {
                self.nodes[child].cover / n.cover
            } else {
                0.0
            }
        };
        let (mine, next) = seg.split_at_mut(last + 1);
        for (child, one) in [(hot, in_one), (cold, 0.0)] {
            let zero = in_zero * ratio(child);
            // A branch neither the row nor any training row takes adds nothing.
            if zero == 0.0 && one == 0.0 {
                continue;
            }
            next[..kept].copy_from_slice(&mine[..kept]);
            self.recurse(child, x, scale, phi, next, kept, zero, one, n.feature);
        }
    }
}

/// `1/k` for small `k` (index 0 unused): the path arithmetic below divides by path
/// positions, and a multiplication is several times cheaper than a division.
const RECIPROCALS: [f64; 66] = {
    let mut r = [0.0; 66];
    let mut k = 1;
    while k < r.len() {
        r[k] = 1.0 / k as f64;
        k += 1;
    }
    r
};

/// `1/k`, from the table when it is there.
fn recip(k: usize) -> f64 {
    match RECIPROCALS.get(k) {
        Some(&r) => r,
        None => 1.0 / k as f64,
    }
}

/// Appends a split to the path (`len` elements before it) and updates the subset
/// weights.
fn extend(path: &mut [PathElement], len: usize, zero: f64, one: f64, feature: usize) {
    path[len] = PathElement {
        feature,
        zero,
        one,
        weight: if len == 0 { 1.0 } else { 0.0 },
    };
    let inv = recip(len + 1);
    let (zero, one) = (zero * inv, one * inv);
    for i in (0..len).rev() {
        let w = path[i].weight;
        path[i + 1].weight += one * w * (i + 1) as f64;
        path[i].weight = zero * w * (len - i) as f64;
    }
}

/// Removes element `k` from a path whose last index is `last`, undoing its
/// [`extend`].
fn unwind(path: &mut [PathElement], last: usize, k: usize) {
    let PathElement { zero, one, .. } = path[k];
    let d1 = (last + 1) as f64;
    let mut next = path[last].weight;
    if one != 0.0 {
        let (up, down) = (d1 / one, zero * recip(last + 1));
        for j in (0..last).rev() {
            let t = path[j].weight;
            path[j].weight = next * up * recip(j + 1);
            next = t - path[j].weight * down * (last - j) as f64;
        }
    } else {
        let up = d1 / zero;
        for j in (0..last).rev() {
            path[j].weight *= up * recip(last - j);
        }
    }
    for j in k..last {
        path[j].feature = path[j + 1].feature;
        path[j].zero = path[j + 1].zero;
        path[j].one = path[j + 1].one;
    }
}

/// The total weight of the path without element `k`, as [`unwind`] would leave it,
/// without changing the path.
fn unwound_sum(path: &[PathElement], last: usize, k: usize) -> f64 {
    let PathElement { zero, one, .. } = path[k];
    let d1 = (last + 1) as f64;
    let mut total = 0.0;
    if one != 0.0 {
        let (up, down) = (d1 / one, zero * recip(last + 1));
        let mut next = path[last].weight;
        for j in (0..last).rev() {
            let t = next * up * recip(j + 1);
            total += t;
            next = path[j].weight - t * down * (last - j) as f64;
        }
    } else if zero != 0.0 {
        let up = d1 / zero;
        for j in (0..last).rev() {
            total += path[j].weight * up * recip(last - j);
        }
    }
    total
}

/// `Σ_j weight_j / (last − j)`: [`unwound_sum`] of a split the row does not take,
/// short of its factor `(last + 1) / zero`.
fn cold_sum(path: &[PathElement], last: usize) -> f64 {
    (0..last).map(|j| path[j].weight * recip(last - j)).sum()
}

/// Tree SHAP for a forest whose output is the mean of its trees'.
#[derive(Debug, Clone, PartialEq)]
pub struct Explainer {
    trees: Vec<Tree>,
    expected: f64,
    path_len: usize,
}

/// Reusable buffers for [`Explainer::explain`].
#[derive(Debug, Clone, Default)]
pub struct Paths(Vec<PathElement>);

impl Explainer {
    /// An explainer over trees whose covers are set. Refuses an empty forest.
    pub fn new(trees: Vec<Tree>) -> Result<Explainer, String> {
        if trees.is_empty() {
            return Err("the forest has no trees".into());
        }
        let expected = trees.iter().map(Tree::expected).sum::<f64>() / trees.len() as f64;
        if !expected.is_finite() {
            return Err("a tree has no covers".into());
        }
        let path_len = trees.iter().map(Tree::path_len).max().unwrap_or(0);
        Ok(Explainer {
            trees,
            expected,
            path_len,
        })
    }

    /// The trees.
    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }

    /// The mean output expected when nothing is known of the row.
    pub fn expected(&self) -> f64 {
        self.expected
    }

    /// Buffers sized for these trees.
    pub fn paths(&self) -> Paths {
        Paths(vec![PathElement::default(); self.path_len])
    }

    /// The mean tree output for a row.
    pub fn predict(&self, x: &[f64]) -> f64 {
        self.trees.iter().map(|t| t.predict(x)).sum::<f64>() / self.trees.len() as f64
    }

    /// Writes each feature's contribution for row `x` into `phi` (cleared first; one
    /// per feature); they add up to [`Explainer::predict`] minus
    /// [`Explainer::expected`].
    pub fn explain(&self, x: &[f64], phi: &mut Vec<f64>, paths: &mut Paths) {
        phi.clear();
        phi.resize(x.len(), 0.0);
        if paths.0.len() < self.path_len {
            paths.0.resize(self.path_len, PathElement::default());
        }
        let scale = 1.0 / self.trees.len() as f64;
        for t in &self.trees {
            t.shap(x, scale, phi, &mut paths.0);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn split(feature: usize, threshold: f64, yes: usize, no: usize) -> Node {
        Node {
            value: 0.0,
            cover: 0.0,
            feature,
            threshold,
            children: Some((yes, no)),
        }
    }

    fn leaf(value: f64) -> Node {
        Node {
            value,
            cover: 0.0,
            feature: 0,
            threshold: f64::NAN,
            children: None,
        }
    }

    /// A random tree over `n_features`, splitting at random thresholds in [0, 1]
    /// down to `depth`, features repeating along paths.
    fn random_tree(rng: &mut StdRng, n_features: usize, depth: usize) -> Tree {
        fn grow(rng: &mut StdRng, nodes: &mut Vec<Node>, n_features: usize, depth: usize) -> usize {
            let i = nodes.len();
            if depth == 0 || rng.random_bool(0.15) {
                nodes.push(leaf(rng.random_range(-1.0..1.0)));
                return i;
            }
            nodes.push(leaf(0.0));
            let feature = rng.random_range(0..n_features);
            let threshold = rng.random_range(0.1..0.9);
            let a = grow(rng, nodes, n_features, depth - 1);
            let b = grow(rng, nodes, n_features, depth - 1);
            nodes[i] = split(feature, threshold, a, b);
            i
        }
        let mut nodes = Vec::new();
        grow(rng, &mut nodes, n_features, depth);
        let mut t = Tree { nodes, depth: 0 };
        t.depth = t.depth_of(0);
        t
    }

    fn rows(rng: &mut StdRng, n: usize, n_features: usize) -> Vec<Vec<f64>> {
        (0..n)
            .map(|_| {
                (0..n_features)
                    .map(|_| rng.random_range(0.0..1.0))
                    .collect()
            })
            .collect()
    }

    /// E[f(x) | x_S] by the tree's covers (the path-dependent value function),
    /// computed directly.
    fn value_given(t: &Tree, x: &[f64], known: u32, node: usize) -> f64 {
        let n = &t.nodes[node];
        match n.children {
            None => n.value,
            Some((yes, no)) if known & (1 << n.feature) != 0 => {
                value_given(t, x, known, t.branch(node, x, yes, no))
            }
            // A node no training row reached weighs both branches 0, as the
            // explainer does.
            Some(_) if n.cover == 0.0 => 0.0,
            Some((yes, no)) => {
                let (a, b) = (&t.nodes[yes], &t.nodes[no]);
                (value_given(t, x, known, yes) * a.cover + value_given(t, x, known, no) * b.cover)
                    / n.cover
            }
        }
    }

    /// Shapley values by enumerating every subset of the features.
    pub(crate) fn brute_force(t: &Tree, x: &[f64], m: usize) -> Vec<f64> {
        let fact = |k: usize| (1..=k).map(|v| v as f64).product::<f64>();
        (0..m)
            .map(|i| {
                (0u32..(1 << m))
                    .filter(|s| s & (1 << i) == 0)
                    .map(|s| {
                        let k = s.count_ones() as usize;
                        let w = fact(k) * fact(m - k - 1) / fact(m);
                        w * (value_given(t, x, s | (1 << i), 0) - value_given(t, x, s, 0))
                    })
                    .sum()
            })
            .collect()
    }

    fn explain_one(t: &Tree, x: &[f64]) -> Vec<f64> {
        let e = Explainer::new(vec![t.clone()]).expect("explainer");
        let (mut phi, mut paths) = (Vec::new(), e.paths());
        e.explain(x, &mut phi, &mut paths);
        phi
    }

    #[test]
    fn a_stump_gives_its_whole_effect_to_its_feature() {
        // x0 <= 0.5 → 1.0 (3 rows), else 0.0 (1 row): E = 0.75.
        let mut t = Tree {
            nodes: vec![split(0, 0.5, 1, 2), leaf(1.0), leaf(0.0)],
            depth: 1,
        };
        t.set_covers(&[4.0, 3.0, 1.0]).expect("covers fit");
        assert_eq!(t.expected(), 0.75);
        let phi = explain_one(&t, &[0.9, 0.1]);
        assert!((phi[0] + 0.75).abs() < 1e-12, "{phi:?}");
        assert_eq!(phi[1], 0.0);
        let phi = explain_one(&t, &[0.2, 0.1]);
        assert!((phi[0] - 0.25).abs() < 1e-12, "{phi:?}");
    }

    #[test]
    fn tree_shap_equals_brute_force_shapley_values_and_sums_to_the_output() {
        let mut rng = StdRng::seed_from_u64(11);
        let mut empty = 0;
        for case in 0..60 {
            let m = 2 + case % 5;
            let mut t = random_tree(&mut rng, m, 2 + case % 5);
            let train = rows(&mut rng, 300, m);
            t.count_covers(&train);
            // Covers from rows add up; some nodes no row reached.
            t.set_covers(&t.covers()).expect("covers fit");
            empty += usize::from(t.nodes.iter().any(|n| n.cover == 0.0));
            let mean = train.iter().map(|r| t.predict(r)).sum::<f64>() / train.len() as f64;
            assert!((t.expected() - mean).abs() < 1e-12);
            for x in rows(&mut rng, 5, m) {
                let phi = explain_one(&t, &x);
                let exact = brute_force(&t, &x, m);
                for (a, b) in phi.iter().zip(&exact) {
                    assert!((a - b).abs() < 1e-9, "case {case}: {phi:?} vs {exact:?}");
                }
                let sum: f64 = phi.iter().sum();
                assert!((sum - (t.predict(&x) - t.expected())).abs() < 1e-9);
            }
        }
        assert!(empty > 10, "only {empty} trees with empty nodes");
    }

    #[test]
    fn a_branch_no_training_row_took_is_handled() {
        // The right branch of node 2 is empty in training: covers 0 below it.
        let mut t = Tree {
            nodes: vec![
                split(0, 0.5, 1, 2),
                leaf(0.2),
                split(1, 0.5, 3, 4),
                leaf(0.6),
                leaf(0.9),
            ],
            depth: 2,
        };
        t.set_covers(&[10.0, 6.0, 4.0, 4.0, 0.0])
            .expect("covers fit");
        for x in [[0.7, 0.9], [0.7, 0.1], [0.1, 0.9]] {
            let phi = explain_one(&t, &x);
            let exact = brute_force(&t, &x, 2);
            assert!(phi.iter().all(|p| p.is_finite()));
            for (a, b) in phi.iter().zip(&exact) {
                assert!((a - b).abs() < 1e-12, "{x:?}: {phi:?} vs {exact:?}");
            }
        }
    }

    #[test]
    fn a_forest_explains_as_the_mean_of_its_trees() {
        let mut rng = StdRng::seed_from_u64(5);
        let train = rows(&mut rng, 400, 4);
        let trees: Vec<Tree> = (0..5)
            .map(|_| {
                let mut t = random_tree(&mut rng, 4, 5);
                t.count_covers(&train);
                t
            })
            .collect();
        let e = Explainer::new(trees.clone()).expect("explainer");
        let x = [0.3, 0.8, 0.5, 0.1];
        let (mut phi, mut paths) = (Vec::new(), e.paths());
        e.explain(&x, &mut phi, &mut paths);
        for (j, p) in phi.iter().enumerate() {
            let mean = trees.iter().map(|t| explain_one(t, &x)[j]).sum::<f64>() / 5.0;
            assert!((p - mean).abs() < 1e-12);
        }
        let sum: f64 = phi.iter().sum();
        assert!((sum - (e.predict(&x) - e.expected())).abs() < 1e-12);
        // Buffers are reused: the same row again gives the same answer.
        let first = phi.clone();
        e.explain(&x, &mut phi, &mut paths);
        assert_eq!(phi, first);
    }

    #[test]
    fn covers_that_do_not_fit_the_tree_are_refused() {
        let mut t = Tree {
            nodes: vec![split(0, 0.5, 1, 2), leaf(1.0), leaf(0.0)],
            depth: 1,
        };
        assert!(t.set_covers(&[4.0, 3.0]).is_err());
        assert!(t.set_covers(&[4.0, 3.0, 2.0]).is_err());
        assert!(t.set_covers(&[0.0, 0.0, 0.0]).is_err());
        assert!(t.set_covers(&[4.0, f64::NAN, 1.0]).is_err());
        assert!(t.set_covers(&[4.0, 5.0, -1.0]).is_err());
        assert!(t.set_covers(&[4.0, 3.0, 1.0]).is_ok());
    }

    #[test]
    fn smartcore_trees_are_read_and_broken_ones_refused() {
        let ok = serde_json::json!({"forest_regressor": {"trees": [{"nodes": [
            {"output": 0.5, "split_feature": 1, "split_value": 2.0, "split_score": 1.0,
             "true_child": 1, "false_child": 2},
            {"output": 0.1, "split_feature": 0, "split_value": null, "split_score": null,
             "true_child": null, "false_child": null},
            {"output": 0.9, "split_feature": 0, "split_value": null, "split_score": null,
             "true_child": null, "false_child": null}
        ]}]}});
        let trees = Tree::from_smartcore(&ok, 2).expect("parses");
        assert_eq!(trees[0].predict(&[0.0, 2.0]), 0.1);
        assert_eq!(trees[0].predict(&[0.0, 2.5]), 0.9);
        assert_eq!(trees[0].depth, 1);
        assert!(Tree::from_smartcore(&ok, 1).is_err(), "feature 1 of 1");
        let mut cycle = ok.clone();
        cycle["forest_regressor"]["trees"][0]["nodes"][0]["true_child"] = 0.into();
        assert!(Tree::from_smartcore(&cycle, 2).is_err());
        assert!(Tree::from_smartcore(&serde_json::json!({"x": 1}), 2).is_err());
    }
}

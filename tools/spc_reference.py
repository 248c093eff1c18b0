#!/usr/bin/env python3
"""Reference values for CellGuard's SPC module (app/src/spc), computed
independently of the Rust code with the Python 3 standard library only.

Builds deterministic data sets (random.Random(seed)), computes control limits,
per-point centre/limits/sigma/z, run-rule violations (by brute force over each
point's window, not the Rust single-pass counters), capability indices and the
Anderson-Darling test, and writes app/src/spc/fixtures/reference.json, which
the Rust test `spc::tests::reference` reads with include_str!.

Run from the repository root:  python3 tools/spc_reference.py
"""

import json
import math
import os
import random
import statistics

OUT = os.path.join(os.path.dirname(__file__), "..", "app", "src", "spc", "fixtures", "reference.json")

# Published 4-decimal d2 and d3, n = 2..25 (ASTM E2587; NIST/SEMATECH e-Handbook 6.3.2).
D2 = {2: 1.1284, 3: 1.6926, 4: 2.0588, 5: 2.3259, 6: 2.5344, 7: 2.7044, 8: 2.8472,
      9: 2.9700, 10: 3.0775, 11: 3.1729, 12: 3.2585, 13: 3.3360, 14: 3.4068,
      15: 3.4718, 16: 3.5320, 17: 3.5879, 18: 3.6401, 19: 3.6890, 20: 3.7350,
      21: 3.7783, 22: 3.8194, 23: 3.8583, 24: 3.8953, 25: 3.9306}
D3 = {2: 0.8525, 3: 0.8884, 4: 0.8798, 5: 0.8641, 6: 0.8480, 7: 0.8332, 8: 0.8198,
      9: 0.8078, 10: 0.7971, 11: 0.7873, 12: 0.7785, 13: 0.7704, 14: 0.7630,
      15: 0.7562, 16: 0.7499, 17: 0.7441, 18: 0.7386, 19: 0.7335, 20: 0.7287,
      21: 0.7242, 22: 0.7199, 23: 0.7159, 24: 0.7121, 25: 0.7084}


# ------------------------------------------------------------------ factors

def c4(n):
    """c4(n) = sqrt(2/(n-1)) * Gamma(n/2) / Gamma((n-1)/2), n may be real."""
    return math.sqrt(2.0 / (n - 1.0)) * math.exp(math.lgamma(n / 2.0) - math.lgamma((n - 1.0) / 2.0))


def factors(n):
    c = c4(n)
    k = 3.0 * math.sqrt(1.0 - c * c) / c
    return {
        "n": n, "d2": D2[n], "d3": D3[n], "c4": c,
        "a2": 3.0 / (D2[n] * math.sqrt(n)),
        "a3": 3.0 / (c * math.sqrt(n)),
        "b3": max(0.0, 1.0 - k), "b4": 1.0 + k,
        "big_d3": max(0.0, 1.0 - 3.0 * D3[n] / D2[n]),
        "big_d4": 1.0 + 3.0 * D3[n] / D2[n],
    }


# ----------------------------------------------------------------- helpers

def mean(xs):
    total = 0.0
    for x in xs:
        total += x
    return total / len(xs)


def sd(xs):
    return statistics.stdev(xs)


def z_of(value, centre, sigma):
    d = value - centre
    if d == 0.0:
        return 0.0
    return d / sigma


def point(index, n, value, centre, sigma, lcl, ucl):
    return {"index": index, "n": n, "value": value, "centre": centre, "lcl": lcl,
            "ucl": ucl, "sigma": sigma, "z": z_of(value, centre, sigma)}


# ------------------------------------------------------------------ charts

def imr(values, k):
    base = values[:k]
    centre = mean(base)
    mrs = [abs(base[i] - base[i - 1]) for i in range(1, len(base))]
    mr_bar = mean(mrs)
    sigma = mr_bar / D2[2]
    limits = {"centre": centre, "sigma": sigma, "spread_centre": mr_bar}
    points = [point(i, 1, x, centre, sigma, centre - 3 * sigma, centre + 3 * sigma)
              for i, x in enumerate(values)]
    f = factors(2)
    spread = [point(i, 2, abs(values[i] - values[i - 1]), mr_bar, mr_bar * D3[2] / D2[2],
                    f["big_d3"] * mr_bar, f["big_d4"] * mr_bar) for i in range(1, len(values))]
    return limits, points, spread


def xbar_r(groups, k):
    base = groups[:k]
    n = len(base[0])
    xbarbar = mean([mean(g) for g in base])
    r_bar = mean([max(g) - min(g) for g in base])
    sigma = r_bar / D2[n]
    limits = {"centre": xbarbar, "sigma": sigma, "spread_centre": r_bar}
    f = factors(n)
    points, spread = [], []
    for i, g in enumerate(groups):
        s_i = sigma / math.sqrt(n)
        points.append(point(i, n, mean(g), xbarbar, s_i, xbarbar - f["a2"] * r_bar, xbarbar + f["a2"] * r_bar))
        spread.append(point(i, n, max(g) - min(g), r_bar, r_bar * D3[n] / D2[n],
                            f["big_d3"] * r_bar, f["big_d4"] * r_bar))
    return limits, points, spread


def xbar_s(groups, k):
    base = groups[:k]
    sizes = [len(g) for g in base]
    total = sum(sizes)
    xbarbar = sum(len(g) * mean(g) for g in base) / total
    if min(sizes) == max(sizes):
        s_bar = mean([sd(g) for g in base])
    else:
        num = sum((len(g) - 1) * sd(g) ** 2 for g in base)
        s_bar = math.sqrt(num / (total - len(base)))
    n_bar = total / len(base)
    sigma = s_bar / c4(n_bar)
    limits = {"centre": xbarbar, "sigma": sigma, "spread_centre": s_bar}
    points, spread = [], []
    for i, g in enumerate(groups):
        n = len(g)
        c = c4(n)
        a3 = 3.0 / (c * math.sqrt(n))
        points.append(point(i, n, mean(g), xbarbar, s_bar / (c * math.sqrt(n)),
                            xbarbar - a3 * s_bar, xbarbar + a3 * s_bar))
        k3 = 3.0 * math.sqrt(1.0 - c * c) / c
        spread.append(point(i, n, sd(g), s_bar, s_bar * math.sqrt(1.0 - c * c) / c,
                            max(0.0, 1.0 - k3) * s_bar, (1.0 + k3) * s_bar))
    return limits, points, spread


def p_chart(counts, k):
    base = counts[:k]
    p_bar = sum(d for d, _ in base) / sum(n for _, n in base)
    limits = {"centre": p_bar, "sigma": math.sqrt(p_bar * (1 - p_bar)), "spread_centre": None}
    points = []
    for i, (d, n) in enumerate(counts):
        s = math.sqrt(p_bar * (1 - p_bar) / n)
        points.append(point(i, n, d / n, p_bar, s, max(0.0, p_bar - 3 * s), min(1.0, p_bar + 3 * s)))
    return limits, points, []


def np_chart(counts, k):
    base = counts[:k]
    n = base[0][1]
    p_bar = sum(d for d, _ in base) / sum(m for _, m in base)
    centre = n * p_bar
    s = math.sqrt(n * p_bar * (1 - p_bar))
    limits = {"centre": centre, "sigma": s, "spread_centre": None}
    points = [point(i, m, float(d), centre, s, max(0.0, centre - 3 * s), centre + 3 * s)
              for i, (d, m) in enumerate(counts)]
    return limits, points, []


# ------------------------------------------------------------------- rules
# Brute force: for every point i, look at the window ending at i.

def side(z):
    return 1 if z > 0 else (-1 if z < 0 else 0)


def same_side(z, length):
    out = []
    for i in range(length - 1, len(z)):
        w = z[i - length + 1:i + 1]
        if all(x > 0 for x in w) or all(x < 0 for x in w):
            out.append([i, list(range(i - length + 1, i + 1))])
    return out


def all_in_window(z, length, test):
    out = []
    for i in range(length - 1, len(z)):
        if all(test(x) for x in z[i - length + 1:i + 1]):
            out.append([i, list(range(i - length + 1, i + 1))])
    return out


def trend(z, length):
    out = []
    for i in range(length - 1, len(z)):
        idx = range(i - length + 2, i + 1)
        if all(z[j] > z[j - 1] for j in idx) or all(z[j] < z[j - 1] for j in idx):
            out.append([i, list(range(i - length + 1, i + 1))])
    return out


def alternating(z, length):
    out = []
    for i in range(length - 1, len(z)):
        ok = True
        for j in range(i - length + 2, i + 1):
            if z[j] == z[j - 1]:
                ok = False
            if j > i - length + 2:
                up_now = z[j] > z[j - 1]
                up_before = z[j - 1] > z[j - 2]
                if up_now == up_before:
                    ok = False
        if ok:
            out.append([i, list(range(i - length + 1, i + 1))])
    return out


def k_of_m(z, k, m, limit):
    out = []
    for i in range(len(z)):
        for sgn in (1, -1):
            if sgn * z[i] > limit:
                window = range(max(0, i - m + 1), i + 1)
                pts = [j for j in window if sgn * z[j] > limit]
                if len(pts) >= k:
                    out.append([i, pts])
    return out


def violations(z):
    return {
        "N1": all_in_window(z, 1, lambda x: abs(x) > 3),
        "N2": same_side(z, 9),
        "N3": trend(z, 6),
        "N4": alternating(z, 14),
        "N5": k_of_m(z, 2, 3, 2.0),
        "N6": k_of_m(z, 4, 5, 1.0),
        "N7": all_in_window(z, 15, lambda x: abs(x) <= 1),
        "N8": all_in_window(z, 8, lambda x: abs(x) > 1),
        "WE1": all_in_window(z, 1, lambda x: abs(x) > 3),
        "WE2": k_of_m(z, 2, 3, 2.0),
        "WE3": k_of_m(z, 4, 5, 1.0),
        "WE4": same_side(z, 8),
    }


# -------------------------------------------------------------- capability

def phi(x):
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def ln_phi(x):
    return math.log(max(phi(x), 2.2250738585072014e-308))


def ad_p(a):
    if a >= 5.709 / (2 * 0.0186):
        p = 0.0
    elif a >= 0.6:
        p = math.exp(1.2937 - 5.709 * a + 0.0186 * a * a)
    elif a >= 0.34:
        p = math.exp(0.9177 - 4.279 * a - 1.38 * a * a)
    elif a >= 0.2:
        p = 1 - math.exp(-8.318 + 42.796 * a - 59.938 * a * a)
    else:
        p = 1 - math.exp(-13.436 + 101.14 * a - 223.73 * a * a)
    return min(1.0, max(0.0, p))


def capability(values, sigma_w, lsl, usl):
    n = len(values)
    mu = mean(values)
    s = sd(values)

    def idx(sig):
        sides = []
        if usl is not None:
            sides.append((usl - mu) / (3 * sig))
        if lsl is not None:
            sides.append((mu - lsl) / (3 * sig))
        both = (usl - lsl) / (6 * sig) if (usl is not None and lsl is not None) else None
        return both, min(sides)

    cp, cpk = idx(sigma_w)
    pp, ppk = idx(s)
    half = 1.959963984540054 * math.sqrt(1 / (9 * n) + cpk ** 2 / (2 * (n - 1)))
    w = sorted((x - mu) / s for x in values)
    total = 0.0
    for i in range(1, n + 1):
        total += (2 * i - 1) * (ln_phi(w[i - 1]) + ln_phi(-w[n - i]))
    a2 = -n - total / n
    a2s = a2 * (1 + 0.75 / n + 2.25 / n ** 2)
    p = ad_p(a2s)
    note = None
    if p < 0.05:
        ptxt = "p < 0.001" if p < 0.001 else "p = %.3f" % p
        note = "Data fail the Anderson\u2013Darling normality test (%s): Cpk is not to be trusted." % ptxt
    return {"lsl": lsl, "usl": usl, "sigma_within": sigma_w, "n": n, "mean": mu,
            "sigma_overall": s, "cp": cp, "cpk": cpk, "cpk_low": cpk - half,
            "cpk_high": cpk + half, "pp": pp, "ppk": ppk, "a2": a2, "a2_star": a2s,
            "p_value": p, "normal": p >= 0.05, "note": note}


# ---------------------------------------------------------------- datasets

def binomial(rng, n, p):
    return sum(1 for _ in range(n) if rng.random() < p)


def datasets():
    out = []

    def add(name, kind, baseline, data, spec=None, expect=()):
        out.append({"name": name, "kind": kind, "baseline": baseline, "data": data,
                    "spec": spec, "expect": list(expect)})

    rng = random.Random(1)
    add("normal", "IMr", 30, [rng.gauss(10.0, 0.5) for _ in range(60)], (8.5, 11.5))

    rng = random.Random(2)
    shift = [rng.gauss(0, 1) for _ in range(30)] + [rng.gauss(1.5, 1) for _ in range(30)]
    add("shift", "IMr", 30, shift, (-4.0, 4.0), ("N2", "N5", "N6"))

    rng = random.Random(3)
    tr = [rng.gauss(0, 1) for _ in range(20)] + [-1.5 + 0.5 * i + rng.gauss(0, 0.1) for i in range(8)] \
        + [rng.gauss(0, 1) for _ in range(12)]
    add("trend", "IMr", 20, tr, None, ("N3",))

    rng = random.Random(4)
    add("alternating", "IMr", 30, [5.0 + (1.0 if i % 2 else -1.0) + rng.gauss(0, 0.2) for i in range(30)],
        None, ("N4",))

    rng = random.Random(5)
    add("stratified", "IMr", 30, [rng.gauss(0, 1) for _ in range(30)] + [rng.gauss(0, 0.15) for _ in range(30)],
        None, ("N7",))

    rng = random.Random(6)
    mix = [rng.gauss(0, 1) for _ in range(30)]
    mix += [(2.2 if rng.random() < 0.5 else -2.2) + rng.gauss(0, 0.3) for _ in range(20)]
    add("mixture", "IMr", 30, mix, None, ("N8",))

    rng = random.Random(7)
    add("skewed", "IMr", 100, [rng.expovariate(1.0) for _ in range(100)], (None, 6.0))

    rng = random.Random(8)
    counts = []
    for i in range(30):
        n = rng.randint(80, 200)
        counts.append([binomial(rng, n, 0.2 if i == 25 else 0.05), n])
    add("p_variable_n", "P", 20, counts, None, ("N1",))

    rng = random.Random(9)
    add("np_constant_n", "Np", 30, [[binomial(rng, 150, 0.04), 150] for _ in range(30)])

    rng = random.Random(10)
    groups = [[rng.gauss(50.0 + (3.0 if i >= 20 else 0.0), 2.0) for _ in range(5)] for i in range(25)]
    add("xbar_r_n5", "XbarR", 20, groups, (44.0, 56.0), ("N1",))
    add("xbar_s_n5", "XbarS", 20, groups, (44.0, 56.0))

    rng = random.Random(11)
    vgroups = [[rng.gauss(20.0, 1.0) for _ in range(rng.randint(3, 10))] for _ in range(25)]
    add("xbar_s_variable_n", "XbarS", 25, vgroups, (17.0, 23.5))
    return out


def compute(ds):
    kind, k, data = ds["kind"], ds["baseline"], ds["data"]
    if kind == "IMr":
        limits, points, spread = imr(data, k)
        flat = data
    elif kind == "XbarR":
        limits, points, spread = xbar_r(data, k)
        flat = [x for g in data for x in g]
    elif kind == "XbarS":
        limits, points, spread = xbar_s(data, k)
        flat = [x for g in data for x in g]
    elif kind == "P":
        limits, points, spread = p_chart(data, k)
        flat = None
    else:
        limits, points, spread = np_chart(data, k)
        flat = None
    z = [p["z"] for p in points]
    result = {"name": ds["name"], "kind": kind, "baseline": k, "limits": limits,
              "points": points, "spread": spread, "violations": violations(z), "capability": None}
    if kind in ("IMr", "XbarR", "XbarS"):
        result["values" if kind == "IMr" else "subgroups"] = data
    else:
        result["counts"] = [{"defective": d, "inspected": n} for d, n in data]
    if ds["spec"] is not None:
        lsl, usl = ds["spec"]
        result["capability"] = capability(flat, limits["sigma"], lsl, usl)
    for code in ds["expect"]:
        assert result["violations"][code], "%s: expected %s to fire" % (ds["name"], code)
    return result


def main():
    results = [compute(ds) for ds in datasets()]
    skewed = next(r for r in results if r["name"] == "skewed")
    assert not skewed["capability"]["normal"], "the skewed set should fail Anderson-Darling"
    doc = {
        "generator": "tools/spc_reference.py (Python %s standard library)" % ".".join(map(str, __import__("sys").version_info[:3])),
        "constants": [factors(n) for n in range(2, 26)],
        "charts": results,
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False, allow_nan=False)
        f.write("\n")
    for r in results:
        fired = {c: len(v) for c, v in r["violations"].items() if v}
        print("%-20s %s" % (r["name"], fired))


if __name__ == "__main__":
    main()

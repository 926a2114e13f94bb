"""How few MPE reads can any check schedule spend on the compare bench's tenants and still meet issue #20's
overshoot target (median <= 1 s, p95 <= 3 s)?  An analysis, not a test:

    pip install numpy
    python3 docs/analysis/schedule-floor.py [--parts docs/analysis/parts-400.csv]

(about 30 seconds on 2 cores). The results, and what they mean for the issue, are in docs/analysis/floors.md.

The model: each parent's MPEs are checked together (one read of the parent's MPE list serves them all);
a check at spacing g finds an MPE that turned ready at a uniformly random point of the interval, so
P(detection delay > d) = max(0, 1 - d / g); the approving check adds A seconds; a parent's reads stop once
all its MPEs are ready. Readiness per source and target, the long tail, the parents and their sizes are the
bench's own (crates/demo/benches/compare/tenant.rs), drawn here again with numpy. "Reads" below are the
reads made while the MPE is not ready yet (the one read that finds it ready, the same for every schedule,
is not counted).

1. The floor: a schedule that knows every MPE's readiness *distribution* (not its draw) and may vary its
   spacing with the parent's age; a Lagrangian lower bound on its reads per approval under "P(overshoot >
   1 s) <= 0.5 and P(> 3 s) <= 0.05". A is 0.25 s (no throttling), or, with --parts, each strategy's
   approving check as the bench measured it (the last read showing the MPE pending -> its PEC approved,
   the `approving` column of `cargo bench -p mpe-demo --bench compare -- ... --parts FILE`).
2. Policies on the same model: the 5 s poll (one loop per MPE, nothing shared), the configured default
   schedule (2 s to 30 s, 3 s to 90 s, 10 s to 5.5 min, then 30 s), and the square-root rule
   core/readiness.rs uses (g = c / sqrt(rate of MPEs turning ready), between 1 s and 10 s) with the
   distributions known exactly.
"""
import csv
import sys

import numpy as np

rng = np.random.default_rng(20)
DT = 0.05
T = np.arange(0, 700, DT)
TAIL_SHARE, TAIL_MAX = 0.03, 600.0
READY = {
    ('asa', 'st'): ('ln', 3.5, 0.3), ('asa', 'iot'): ('u', 30, 90),
    ('srch', 'st'): ('ln', 90, 0.1), ('srch', 'sql'): ('ln', 90, 0.1),
    ('graf', 'mon'): ('u', 45, 120),
    ('adf', 'st'): ('ln', 20, 0.5), ('adf', 'sql'): ('ln', 20, 0.5), ('adf', 'kv'): ('ln', 20, 0.5),
    ('adx', 'st'): ('ln', 20, 0.5),
    ('sigr', 'web'): ('ln', 30, 0.4), ('wps', 'web'): ('ln', 30, 0.4),
}
PARENTS = [  # source, (min, max) MPEs, targets and shares, weight
    ('adf', (1, 20), [('st', .5), ('sql', .25), ('kv', .25)], .2),
    ('asa', (1, 6), [('st', .6), ('iot', .4)], .3),
    ('srch', (1, 3), [('st', .6), ('sql', .4)], .15),
    ('graf', (1, 3), [('mon', 1.0)], .15),
    ('sigr', (1, 2), [('web', 1.0)], .1),
    ('wps', (1, 2), [('web', 1.0)], .1),
]
# The seed mix, one copy: the parents and their MPEs' (source, target) (the deleted and the rejected MPE,
# which nobody approves, left out).
SEED_MIX = [[('asa', 'st'), ('asa', 'iot')], [('adx', 'st')], [('adf', 'kv')], [('sigr', 'web')], [('wps', 'web')]]


def readiness_mass(kind, n=400_000):
    """Probability mass of readiness per time bin, the long tail included, drawn as the generator draws."""
    r = kind[1] * np.exp(kind[2] * rng.standard_normal(n)) if kind[0] == 'ln' else rng.uniform(kind[1], kind[2], n)
    tail = rng.random(n) < TAIL_SHARE
    factor = np.minimum(2.0 / (1.0 - rng.random(n)) ** (1 / 1.5), 10.0)
    r = np.maximum(np.where(tail, np.minimum(r * factor, TAIL_MAX), r), 1.0)
    h, _ = np.histogram(r, bins=len(T), range=(0, T[-1] + DT))
    return h / n


MASS = {k: readiness_mass(v) for k, v in READY.items()}


def shifted(pair, i):
    """The readiness mass of the i-th MPE of a parent (created 0.5 s after the one before)."""
    s = int(round(0.5 * i / DT))
    return np.concatenate([np.zeros(s), MASS[pair][:len(T) - s]])


def tenant(n):
    """Parents as (source, per-MPE readiness mass), drawn as the bench's generator draws them."""
    w = np.array([p[3] for p in PARENTS])
    w /= w.sum()
    parents, total = [], 0
    while total < n:
        src, (lo, hi), targets, _ = PARENTS[rng.choice(len(PARENTS), p=w)]
        k = min(int(rng.integers(lo, hi + 1)), n - total)
        rows = []
        for i in range(k):
            t = targets[rng.choice(len(targets), p=[x[1] for x in targets])][0]
            rows.append(shifted((src, t), i))
        parents.append((src, np.array(rows)))
        total += k
    return parents


def seed_mix(copies=4):
    return [(p[0][0], np.array([shifted(pair, i) for i, pair in enumerate(p)])) for _ in range(copies) for p in SEED_MIX]


def late(x, g, approving):
    """P(overshoot > x) at spacing g (an array), the approving check taking one of `approving`'s seconds."""
    a = np.asarray(approving, dtype=float)[:, None]
    return np.where(a >= x, 1.0, np.clip(1 - (x - a) / g[None, :], 0, 1)).mean(axis=0)


def parent_curves(parents):
    """Per parent: S (some MPE not ready yet) and f (MPEs turning ready) per time bin."""
    return [(np.maximum(1 - np.prod(np.cumsum(m, axis=1), axis=0), 0), m.sum(axis=0)) for _, m in parents]


def evaluate(parents, spacing, approving=(0.25,)):
    """Reads per approval, P(overshoot > 1 s), P(> 3 s) of a policy: spacing(t, S, f) per parent."""
    reads = o1 = o3 = 0
    n = sum(len(m) for _, m in parents)
    for S, f in parent_curves(parents):
        g = spacing(T, S, f)
        reads += (S * DT / g).sum()
        o1 += (f * late(1.0, g, approving)).sum()
        o3 += (f * late(3.0, g, approving)).sum()
    return round(float(reads / n), 2), round(float(o1 / n), 3), round(float(o3 / n), 3)


def poll_reads(parents, every=5.0):
    """The poll's reads per approval while not ready: one loop per MPE, nothing shared."""
    n = sum(len(m) for _, m in parents)
    return round(float(sum((np.maximum(1 - np.cumsum(row), 0) * DT / every).sum() for _, m in parents for row in m) / n), 2)


def envelope(a, b):
    """The lower envelope of the lines a + b x over x >= 0, h(x) = min_i (a_i + b_i x), as a function of an
    array x: the lines that are lowest somewhere, each with the x from which it is."""
    hull = []  # (a, b, x from which it is the lowest)
    for i in np.lexsort((a, -b)):  # slope descending, then intercept ascending
        ai, bi = a[i], b[i]
        if hull and hull[-1][1] == bi:
            continue  # as steep as the last one and no lower
        while hull:
            aj, bj, xj = hull[-1]
            x = (ai - aj) / (bj - bi)  # where line i drops below line j
            if x > xj:
                hull.append((ai, bi, x))
                break
            hull.pop()
        if not hull:
            hull.append((ai, bi, 0.0))
    ha, hb, hx = (np.array(c) for c in zip(*hull))
    return lambda x: (lambda k: ha[k] + hb[k] * x)(np.searchsorted(hx, x, side='right') - 1)


def floor(parents, approving=(0.25,), q1=0.5, q3=0.05, x1=1.0, x3=3.0):
    """Lagrangian lower bound on reads per approval with P(> x1) <= q1 and P(> x3) <= q3: for any
    multipliers l1, l3 >= 0, min over schedules of reads + l1 (P1 - q1) + l3 (P3 - q3) is at most the
    constrained minimum, and it splits into one choice of spacing per parent and time bin: the least of
    S DT / g + f (l1 P1(g) + l3 P3(g)) over the spacings g, S times the lower envelope of those lines in f / S."""
    G = np.concatenate([np.arange(0.2, 5, 0.1), np.arange(5, 30, 0.5), np.arange(30, 121, 5)])
    L1, L3 = late(x1, G, approving), late(x3, G, approving)
    curves = parent_curves(parents)
    S = np.concatenate([c[0] for c in curves])
    f = np.concatenate([c[1] for c in curves])
    live = S > 0
    x = f[live] / S[live]
    n = sum(len(m) for _, m in parents)
    best = 0.0
    for lam1 in [0, 1, 2, 5, 10, 20, 50, 100, 200]:
        for lam3 in [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]:
            w = lam1 * L1 + lam3 * L3
            h = envelope(DT / G, w)
            dual = -lam1 * q1 * n - lam3 * q3 * n + (S[live] * h(x)).sum() + f[~live].sum() * w.min()
            best = max(best, dual / n)
    return round(best, 2)


def measured(path):
    """The approving check's seconds per (scenario, strategy) from the bench's --parts CSV."""
    out = {}
    with open(path, newline='') as fh:
        for row in csv.DictReader(fh):
            out.setdefault((row['scenario'], int(row['mpes']), row['strategy']), []).append(float(row['approving']))
    return out


def report(name, parents, approvings):
    default = lambda t, S, f: np.where(t < 30, 2.0, np.where(t < 90, 3.0, np.where(t < 330, 10.0, 30.0)))
    root = lambda t, S, f: np.clip(0.5 * np.sqrt(S * DT / np.maximum(f, 1e-12)), 1.0, 10.0)
    print(f"\n== {name}: {sum(len(m) for _, m in parents)} MPEs in {len(parents)} parents")
    print(f"the 5 s poll: {poll_reads(parents)} reads per approval while not ready")
    print("policy (A = 0.25 s): reads per approval, P(overshoot > 1 s), P(> 3 s)")
    print("  default schedule        ", evaluate(parents, default))
    print("  square-root rule, c 0.5 ", evaluate(parents, root))
    for label, a in approvings:
        print(f"floor, the approving check {label}:")
        print(f"  median <= 1 s and p95 <= 3 s: {floor(parents, a)} reads per approval")
        print(f"  median <= 1 s alone:          {floor(parents, a, q3=1.0)} reads per approval")
        print(f"  p95 <= 3 s alone:             {floor(parents, a, q1=1.0)} reads per approval")


if __name__ == '__main__':
    parts = measured(sys.argv[sys.argv.index('--parts') + 1]) if '--parts' in sys.argv else {}
    fixed = [('0.25 s (no throttling)', (0.25,))]
    mix = seed_mix()
    report('seed mix, 4 copies (no throttling)', mix, fixed)
    print("the floor for p95 <= 3 s and a median of at most:")
    for x in [1.0, 1.2, 1.5, 2.0]:
        print(f"  {x} s: {floor(mix, x1=x)} reads per approval")
    at400 = [(f'as {s} measured it ({len(v)} approvals, over 2 s: {100 * np.mean(np.array(v) > 2):.1f} %)', v)
             for (sc, n, s), v in sorted(parts.items()) if sc == 'tenant' and n == 400]
    parents = tenant(400)
    report('tenant, 400 MPEs', parents, fixed + at400)
    print("\nthe floor for median <= 1 s and p95 <= 3 s against the share of approving checks that meet a 2 s wait")
    print("(0.25 s, or 2.3 s):")
    for q in [0.02, 0.04, 0.05, 0.06, 0.07, 0.08, 0.10]:
        k = int(round(q * 1000))
        print(f"  {100 * q:4.0f} %: {floor(parents, [2.3] * k + [0.25] * (1000 - k))} reads per approval")

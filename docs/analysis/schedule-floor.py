"""How few MPE-list reads can any check schedule spend on the compare bench's 400-MPE tenant and still
meet an overshoot target?  An analysis, not a test: `pip install numpy; python3 docs/analysis/schedule-floor.py`
(about 2 minutes on 2 cores). Written for issue #20; the results are in its session notes.

The model: each parent's MPEs are checked together (one read of the parent's MPE list serves them all);
a check at spacing g finds an MPE that turned ready at a uniformly random point of the interval, so
P(detection delay > d) = max(0, 1 - d / g); approving adds `a` seconds; a parent's reads stop once all its
MPEs are ready. Readiness per source and target, the long tail, the parents and their sizes are the
bench's own (crates/demo/benches/compare/tenant.rs), drawn here again with numpy.

1. The floor: a schedule that knows every MPE's readiness *distribution* (not its draw) and may vary its
   spacing with the parent's age; a Lagrangian lower bound on its reads per approval under "median
   overshoot <= 1 s and p95 <= 3 s" (the issue's done-when, without throttling: a = 0.25 s).
2. Policies on the same model: the configured default schedule (2 s to 30 s, 3 s to 90 s, 10 s to 5.5 min,
   then 30 s) and the square-root rule core/readiness.rs uses (g = c / sqrt(rate of MPEs turning ready),
   between 1 s and 10 s) with the distributions known exactly.
"""
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


def readiness_mass(kind, n=400_000):
    """Probability mass of readiness per time bin, the long tail included, drawn as the generator draws."""
    r = kind[1] * np.exp(kind[2] * rng.standard_normal(n)) if kind[0] == 'ln' else rng.uniform(kind[1], kind[2], n)
    tail = rng.random(n) < TAIL_SHARE
    factor = np.minimum(2.0 / (1.0 - rng.random(n)) ** (1 / 1.5), 10.0)
    r = np.maximum(np.where(tail, np.minimum(r * factor, TAIL_MAX), r), 1.0)
    h, _ = np.histogram(r, bins=len(T), range=(0, T[-1] + DT))
    return h / n


MASS = {k: readiness_mass(v) for k, v in READY.items()}


def tenant(n):
    """Parents as (source, per-MPE readiness mass), the MPEs of a parent created 0.5 s apart."""
    w = np.array([p[3] for p in PARENTS])
    w /= w.sum()
    parents, total = [], 0
    while total < n:
        src, (lo, hi), targets, _ = PARENTS[rng.choice(len(PARENTS), p=w)]
        k = min(int(rng.integers(lo, hi + 1)), n - total)
        rows = []
        for i in range(k):
            t = targets[rng.choice(len(targets), p=[x[1] for x in targets])][0]
            shift = int(round(0.5 * i / DT))
            rows.append(np.concatenate([np.zeros(shift), MASS[(src, t)][:len(T) - shift]]))
        parents.append((src, np.array(rows)))
        total += k
    return parents


def late(x, a, g):
    """P(overshoot > x) at spacing g, approving taking a."""
    return np.clip(1 - (x - a) / g, 0, 1) if x > a else np.ones_like(g)


def evaluate(parents, spacing, a=0.25):
    """Reads per approval, P(overshoot > 1 s), P(> 3 s) of a policy: spacing(t, S, f) per parent."""
    reads = o1 = o3 = n = 0
    for _, mass in parents:
        n += len(mass)
        S = np.maximum(1 - np.prod(np.cumsum(mass, axis=1), axis=0), 0)  # some MPE of the parent not ready
        f = mass.sum(axis=0)
        g = spacing(T, S, f)
        reads += (S * DT / g).sum()
        o1 += (f * late(1.0, a, g)).sum()
        o3 += (f * late(3.0, a, g)).sum()
    return round(float(reads / n), 2), round(float(o1 / n), 3), round(float(o3 / n), 3)


def floor(parents, a=0.25, q1=0.5, q3=0.05):
    """Lagrangian lower bound on reads per approval with P(> 1 s) <= q1 and P(> 3 s) <= q3."""
    G = np.concatenate([np.arange(0.2, 5, 0.1), np.arange(5, 30, 0.5), np.arange(30, 121, 5)])
    L1, L3 = late(1.0, a, G), late(3.0, a, G)
    prepared = []
    for _, mass in parents:
        S = np.maximum(1 - np.prod(np.cumsum(mass, axis=1), axis=0), 0)
        prepared.append((S, mass.sum(axis=0)))
    n = sum(len(m) for _, m in parents)
    best = 0.0
    for lam1 in [0, 1, 2, 5, 10, 20, 50, 100]:
        for lam3 in [0, 1, 2, 5, 10, 20, 50, 100, 200, 500]:
            dual = -lam1 * q1 * n - lam3 * q3 * n
            for S, f in prepared:
                cost = S[:, None] * DT / G[None, :] + f[:, None] * (lam1 * L1[None, :] + lam3 * L3[None, :])
                dual += cost.min(axis=1).sum()
            best = max(best, dual / n)
    return best


if __name__ == '__main__':
    parents = tenant(400)
    default = lambda t, S, f: np.where(t < 30, 2.0, np.where(t < 90, 3.0, np.where(t < 330, 10.0, 30.0)))
    print("policy: reads per approval, P(overshoot > 1 s), P(> 3 s)")
    print("default schedule          ", evaluate(parents, default))
    for c in [0.4, 0.5, 0.6, 0.7]:
        rule = lambda t, S, f, c=c: np.clip(c * np.sqrt(S * DT / np.maximum(f, 1e-12)), 1.0, 10.0)
        print(f"square-root rule, c = {c}  ", evaluate(parents, rule))
    print("floor for median <= 1 s and p95 <= 3 s:", round(floor(parents), 2), "reads per approval")

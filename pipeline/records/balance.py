"""Class balancing by duplication over valence-arousal quadrants (paper, Section 2.1).

What the paper says: "we duplicated data that had negative valence and arousal values, as
well as positive valence and negative arousal values. As a consequence, the training set
consisted of about 43 % of positive valence and arousal values, 24 % of negative valence and
positive arousal values, 19 % of positive valence and negative arousal values and 14 % of
negative valence and arousal values." Only the two negative-arousal quadrants were
duplicated; the shares are what that gave on Aff-Wild ("about"), not a rule. It does not say
how many copies. Two methods here (``balance.method``):

* ``paper`` (:func:`paper_counts`): whole copies of every unit of V+A- and of V-A- — one
  integer factor per quadrant, V+A+ and V-A+ kept once — with the factors that bring the four
  shares nearest to the targets (least squared difference; the search is ours). On other
  data the shares land where these factors can take them.
* ``exact`` (:func:`duplication_counts`, our choice): the smallest training set that reaches
  the target shares *without dropping anything*, duplicating whichever quadrant is short
  (V-A+ or V+A+ included): with ``n_q`` units in quadrant ``q`` and target share ``t_q``,
  the balanced size is ``M = max_q n_q / t_q`` and quadrant ``q`` gets ``round(t_q * M)``
  units — every unit at least once, whole copies first, and the remainder drawn without
  replacement from a seeded generator.

Only the training split is balanced; :func:`quadrant_table` is what the shard summary records
per quadrant (count before and after, factor).
"""

from __future__ import annotations

import numpy as np

QUADRANTS = ("V+A+", "V-A+", "V+A-", "V-A-")
# The quadrants the paper duplicated: negative arousal (V+A-, V-A-).
PAPER_DUPLICATED = (2, 3)
# Largest whole-copy factor the paper method considers.
MAX_FACTOR = 100


def quadrant(valence, arousal) -> np.ndarray:
    """Quadrant index (0..3, order of :data:`QUADRANTS`) of each (valence, arousal).

    Zero counts as positive. NaN inputs give -1.
    """
    v = np.asarray(valence, np.float32)
    a = np.asarray(arousal, np.float32)
    q = np.where(v >= 0, 0, 1) + np.where(a >= 0, 0, 2)
    return np.where(np.isfinite(v) & np.isfinite(a), q, -1).astype(np.int64)


def duplication_counts(
    quadrants: np.ndarray, targets: tuple[float, ...], seed: int
) -> tuple[np.ndarray, dict]:
    """How many copies of each unit the balanced set holds, and a description of it.

    Quadrants with no unit cannot be reached by duplication; the targets of the others are
    renormalised (and this is reported).
    """
    quadrants = np.asarray(quadrants)
    counts = np.bincount(quadrants[quadrants >= 0], minlength=4)[:4]
    t = np.asarray(targets, np.float64)
    reachable = (counts > 0) & (t > 0)
    copies = np.ones(len(quadrants), np.int64)
    copies[quadrants < 0] = 0
    if not reachable.any():
        return copies, {"reachable": False, "factors": [1.0] * 4}
    t_eff = np.where(reachable, t, 0.0)
    t_eff /= t_eff.sum()
    total = max(counts[q] / t_eff[q] for q in range(4) if reachable[q])
    wanted = np.where(reachable, np.round(t_eff * total), counts).astype(np.int64)
    wanted = np.maximum(wanted, counts)
    rng = np.random.default_rng(seed)
    for q in range(4):
        idx = np.flatnonzero(quadrants == q)
        if not len(idx):
            continue
        whole, extra = divmod(int(wanted[q]), len(idx))
        copies[idx] = whole
        if extra:
            copies[rng.choice(idx, size=extra, replace=False)] += 1
    info = {
        # Every quadrant with a target share has units to duplicate.
        "reachable": bool(((counts > 0) | (t == 0)).all()),
        "targets": dict(zip(QUADRANTS, [round(float(x), 4) for x in t], strict=True)),
        "effective_targets": dict(zip(QUADRANTS, [round(float(x), 4) for x in t_eff], strict=True)),
        "factors": dict(
            zip(
                QUADRANTS,
                [
                    round(float(w / c), 4) if c else None
                    for w, c in zip(wanted, counts, strict=True)
                ],
                strict=True,
            )
        ),
    }
    return copies, info


def shares(quadrants: np.ndarray, weights: np.ndarray | None = None) -> dict:
    """Counts and shares per quadrant (``weights`` = copies of each unit)."""
    quadrants = np.asarray(quadrants)
    w = np.ones(len(quadrants), np.int64) if weights is None else np.asarray(weights)
    keep = quadrants >= 0
    counts = np.bincount(quadrants[keep], weights=w[keep], minlength=4)[:4].astype(np.int64)
    total = int(counts.sum())
    return {
        "total": total,
        "counts": dict(zip(QUADRANTS, counts.tolist(), strict=True)),
        "shares": dict(
            zip(QUADRANTS, [round(c / total, 4) if total else 0.0 for c in counts], strict=True)
        ),
    }


def paper_factors(counts, targets) -> tuple[int, int, int, int]:
    """Integer copies per quadrant: 1 for V+A+ and V-A+, and for V+A- and V-A- the factors
    in 1..:data:`MAX_FACTOR` whose shares are nearest (least squares) to ``targets``; the
    smaller factors where two are as near."""
    n = np.asarray(counts, np.float64)
    t = np.asarray(targets, np.float64)
    f = np.arange(1, MAX_FACTOR + 1, dtype=np.float64)
    f2, f3 = np.meshgrid(f, f, indexing="ij")
    after = np.stack([np.full_like(f2, n[0]), np.full_like(f2, n[1]), f2 * n[2], f3 * n[3]])
    total = after.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.where(total > 0, ((after / total - t[:, None, None]) ** 2).sum(axis=0), 0.0)
    i, j = np.unravel_index(int(np.argmin(err)), err.shape)  # first minimum: smallest factors
    factors = [1, 1, int(f[i]) if n[2] else 1, int(f[j]) if n[3] else 1]
    return tuple(factors)  # type: ignore[return-value]


def paper_counts(quadrants: np.ndarray, targets: tuple[float, ...]) -> tuple[np.ndarray, dict]:
    """Copies of each unit under the paper's balancing (:func:`paper_factors`), and a
    description of it. Units without a quadrant (-1) get 0 copies."""
    quadrants = np.asarray(quadrants)
    counts = np.bincount(quadrants[quadrants >= 0], minlength=4)[:4]
    factors = paper_factors(counts, targets)
    copies = np.where(quadrants >= 0, np.asarray(factors)[np.maximum(quadrants, 0)], 0)
    info = {
        "method": "paper",
        "duplicated": [QUADRANTS[q] for q in PAPER_DUPLICATED],
        "targets": dict(zip(QUADRANTS, [round(float(x), 4) for x in targets], strict=True)),
        "factors": dict(zip(QUADRANTS, factors, strict=True)),
    }
    return copies.astype(np.int64), info


def quadrant_table(quadrants: np.ndarray, copies: np.ndarray) -> dict:
    """Per quadrant: units before balancing, records after, and the factor (after / before,
    None where the quadrant is empty)."""
    before = shares(quadrants)["counts"]
    after = shares(quadrants, copies)["counts"]
    return {
        q: {
            "before": before[q],
            "after": after[q],
            "factor": round(after[q] / before[q], 4) if before[q] else None,
        }
        for q in QUADRANTS
    }

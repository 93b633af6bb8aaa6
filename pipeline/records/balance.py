"""Class balancing by duplication over valence-arousal quadrants (paper, Section 2.1).

The paper duplicated training frames of the under-represented quadrants until the training
set was about 43 % V+A+, 24 % V-A+, 19 % V+A-, 14 % V-A-. Here the smallest training set
that reaches the target shares *without dropping anything* is computed exactly: with ``n_q``
units in quadrant ``q`` and target share ``t_q``, the balanced size is
``M = max_q n_q / t_q`` and quadrant ``q`` gets ``round(t_q * M)`` units — every unit at
least once, whole copies first, and the remainder drawn without replacement from a seeded
generator.
"""

from __future__ import annotations

import numpy as np

QUADRANTS = ("V+A+", "V-A+", "V+A-", "V-A-")


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

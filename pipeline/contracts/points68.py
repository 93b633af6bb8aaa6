"""The 68-point iBUG 300-W vocabulary: counts, point groups, mirror pairs. Pure (NumPy only).

Every module that stores, checks, mirrors or groups the 68 landmarks takes its numbers from
here (the tables' and records' list sizes, the models' ``landmarks`` input, the flip
augmentation, the NME per group). Indices are 0-based; a face's points are stored as
``x0, y0, x1, y1, ...`` (:data:`N_VALUES` values).

Layout (image-left = the subject's right, for an unmirrored face)::

    jaw 0-16 (8 = chin)      brows 17-21 | 22-26     nose 27-30 bridge, 31-35 base
    eyes 36-41 | 42-47       outer lips 48-59        inner lips 60-67
"""

from __future__ import annotations

import numpy as np

N_POINTS = 68
N_VALUES = 2 * N_POINTS  # x0, y0, x1, y1, ...

# Point groups (slices into the 68 points).
JAW = slice(0, 17)
BROWS = slice(17, 27)
NOSE = slice(27, 36)
EYES = slice(36, 48)
OUTER_LIPS = slice(48, 60)
INNER_LIPS = slice(60, 68)
MOUTH = slice(48, 68)

GROUPS: dict[str, slice] = {
    "jaw": JAW,
    "brows": BROWS,
    "nose": NOSE,
    "eyes": EYES,
    "outer_lips": OUTER_LIPS,
    "inner_lips": INNER_LIPS,
}
# The same with both lips as one "mouth" (what per-photo annotation checks report).
COARSE_GROUPS: dict[str, slice] = {
    "jaw": JAW,
    "brows": BROWS,
    "nose": NOSE,
    "eyes": EYES,
    "mouth": MOUTH,
}

# Outer eye corners (right eye's outer, left eye's outer): 300-W's inter-ocular normaliser.
OUTER_EYE_CORNERS = (36, 45)

# Left/right pairs: a mirrored face's point ``a`` is the original's point ``b``.
MIRROR_PAIRS: tuple[tuple[int, int], ...] = (
    *((i, 16 - i) for i in range(8)),  # jaw; 8 (chin) stays
    *((17 + i, 26 - i) for i in range(5)),  # brows 17-21 <-> 26-22
    (31, 35), (32, 34),  # nose base; bridge 27-30 and tip 33 stay
    (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),  # eyes
    (48, 54), (49, 53), (50, 52), (55, 59), (56, 58),  # outer lips; 51, 57 stay
    (60, 64), (61, 63), (65, 67),  # inner lips; 62, 66 stay
)  # fmt: skip


def _flip_permutation() -> np.ndarray:
    perm = np.arange(N_POINTS)
    for a, b in MIRROR_PAIRS:
        perm[a], perm[b] = b, a
    return perm


# Point index permutation that maps a mirrored face's points back to 300-W order.
FLIP_PERMUTATION: np.ndarray = _flip_permutation()
FLIP_PERMUTATION.flags.writeable = False

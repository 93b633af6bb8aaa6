"""The 68-point vocabulary: groups cover every point once, and mirroring is an involution that
maps the (nearly symmetric) mean 300-W face onto itself."""

from __future__ import annotations

import numpy as np

from pipeline.contracts import points68
from pipeline.face.reference import MEAN_SHAPE_68


def _members(groups: dict[str, slice]) -> list[int]:
    return sorted(i for sl in groups.values() for i in range(points68.N_POINTS)[sl])


def test_groups_partition_the_68_points():
    assert points68.N_VALUES == 2 * points68.N_POINTS == 136
    assert _members(points68.GROUPS) == list(range(68))
    assert _members(points68.COARSE_GROUPS) == list(range(68))


def test_flip_permutation_is_an_involution_fixing_the_midline():
    perm = points68.FLIP_PERMUTATION
    assert np.array_equal(perm[perm], np.arange(68))
    fixed = set(np.flatnonzero(perm == np.arange(68)).tolist())
    assert fixed == {8, 27, 28, 29, 30, 33, 51, 57, 62, 66}


def test_mirrored_mean_face_is_the_mean_face():
    shape = MEAN_SHAPE_68
    centre = shape[:, 0].mean()
    mirrored = np.stack([2 * centre - shape[:, 0], shape[:, 1]], axis=1)[points68.FLIP_PERMUTATION]
    face_width = np.ptp(shape[:, 0])
    # The mean face is symmetric to within ~2 % of its width; a wrong pair moves points far more.
    assert np.abs(mirrored - shape).max() < 0.03 * face_width
    swapped = points68.FLIP_PERMUTATION.copy()
    swapped[[36, 39]] = swapped[[39, 36]]  # one eye's corners confused
    assert np.abs(np.stack([2 * centre - shape[:, 0], shape[:, 1]], 1)[swapped] - shape).max() > (
        0.1 * face_width
    )

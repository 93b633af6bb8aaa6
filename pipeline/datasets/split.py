"""Assigning train / val / test by video (never by frame), deterministically from a seed.

Entries of one recording (Aff-Wild2's left and right subjects) share a ``group`` and always
land in the same split, so no frame of a test video is ever seen in training.
"""

from __future__ import annotations

import numpy as np

from pipeline.config import SplitConfig
from pipeline.datasets.base import Entry

# Independent random streams for the two hold-outs, so changing one fraction does not
# reshuffle the other.
_VAL_STREAM, _TEST_STREAM = 1, 2


def held_out(groups: list[str], fraction: float, seed: int, stream: int) -> set[str]:
    """A seeded ``fraction`` of ``groups`` (at least one, never all, when fraction > 0)."""
    unique = sorted(set(groups))
    if fraction <= 0 or len(unique) < 2:
        return set()
    n = min(max(1, round(fraction * len(unique))), len(unique) - 1)
    rng = np.random.default_rng(np.random.SeedSequence([seed, stream]))
    order = rng.permutation(len(unique))
    return {unique[i] for i in order[:n]}


def assign_splits(entries: list[Entry], cfg: SplitConfig) -> None:
    """Fill in ``Entry.split`` in place.

    Entries that come with a split keep it, except that a seeded share of the training
    groups becomes validation when the data set has no validation split of its own.
    Entries without one (AFEW-VA) are split into test, val and train by the fractions.
    """
    unsplit = [e for e in entries if not e.split]
    if unsplit:
        test = held_out([e.group for e in unsplit], cfg.test_fraction, cfg.seed, _TEST_STREAM)
        for e in unsplit:
            e.split = "test" if e.group in test else "train"

    if any(e.split == "val" for e in entries):
        return
    train_groups = [e.group for e in entries if e.split == "train"]
    val = held_out(train_groups, cfg.val_fraction, cfg.seed, _VAL_STREAM)
    for e in entries:
        if e.split == "train" and e.group in val:
            e.split = "val"

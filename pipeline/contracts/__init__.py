"""Shared contracts, the bottom layer every subpackage may import (it imports none of them).

- ``options``  — the typed options of a backbone (``model.backbone: {name, <option>: ...}``)
- ``points68`` — the 68-point iBUG 300-W vocabulary: counts, groups, mirror pairs
- ``schema``   — the interim tables ``ingest`` writes and every later stage reads
- ``windows``  — how a CNN-RNN's overlapping windows cover a video (evaluation and predict)
"""

"""Schemas of the interim tables that ``ingest`` writes and every later stage reads.

One definition each; writers build tables with these schemas and readers check them.
"""

from __future__ import annotations

import pyarrow as pa

from pipeline.contracts import points68

SPLITS = ("train", "val", "test")
SUBJECTS = ("", "left", "right")

MANIFEST = pa.schema(
    [
        ("video_id", pa.string()),
        ("dataset", pa.string()),
        ("split", pa.string()),
        ("source", pa.string()),  # video file, or frame folder (AFEW-VA)
        ("fps", pa.float32()),
        ("n_frames", pa.int32()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("subject", pa.string()),  # "" | left | right (Aff-Wild2 two-person videos)
    ]
)

LABELS = pa.schema(
    [
        ("video_id", pa.string()),
        ("frame", pa.int32()),
        ("valence", pa.float32()),  # NaN where the frame is not annotated
        ("arousal", pa.float32()),
    ]
)

# Landmarks that ship with a data set (AFEW-VA), per frame, in source pixels.
SOURCE_LANDMARKS = pa.schema(
    [
        ("video_id", pa.string()),
        ("frame", pa.int32()),
        ("landmarks", pa.list_(pa.float32(), points68.N_VALUES)),  # x0, y0, ... source pixels
    ]
)

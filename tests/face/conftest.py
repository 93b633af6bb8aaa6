"""The face tests' videos (builders: ``tests/helpers/faces.py``; the ``faces`` photos are a
suite-wide fixture in ``tests/conftest.py``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.helpers.faces import Clip, H, W, canvas, count_frames, paste, write_video


@pytest.fixture(scope="session")
def clips(tmp_path_factory, faces) -> dict[str, Clip]:
    """The test videos; each one's frame layout is described in its ``note``."""
    d = tmp_path_factory.mktemp("videos")
    a, g = faces["astronaut"], faces["hopper"]
    out: dict[str, Clip] = {}

    # face -> no face -> face, the face drifting slowly to the right
    frames = []
    for i in range(30):
        f = canvas()
        if not 10 <= i < 20:
            paste(f, a, 80 + i, 40, 160)
        frames.append(f)
    out["gap"] = Clip(
        "gap", write_video(d / "gap.mp4", frames), 30, "", "face 0-9, none 10-19, face 20-29"
    )

    # the subject (astronaut, left) all along; a larger second face appears on the right at 10
    frames = []
    for i in range(30):
        f = canvas(400, 240)
        paste(f, a, 10, 60, 130)
        if i >= 10:
            paste(f, g, 190, 10, 200)
        frames.append(f)
    out["distractor"] = Clip("distractor", write_video(d / "distractor.mp4", frames), 30, "",
                             "subject left all along; larger face right from frame 10")  # fmt: skip

    # the subject leaves for 15 frames while a smaller face sits in a corner nearby, then
    # comes back (the demo's picture-in-picture case that once made the tracker switch)
    frames = []
    for i in range(48):
        f = canvas()
        if i >= 8:
            paste(f, g, 200, 5, 90)
        if not 16 <= i < 31:
            paste(f, a, 60, 60, 150)
        frames.append(f)
    out["away"] = Clip("away", write_video(d / "away.mp4", frames), 48, "",
                       "subject 0-15 and 31-47; smaller other face top right from 8")  # fmt: skip

    # two people side by side all along (Aff-Wild2 _left / _right subjects)
    frames = []
    for _ in range(16):
        f = canvas(400, 240)
        paste(f, g, 10, 50, 150)
        paste(f, a, 230, 50, 150)
        frames.append(f)
    src = write_video(d / "two.mp4", frames)
    out["two_left"] = Clip("two_left", src, 16, "left", "hopper left, astronaut right")
    out["two_right"] = Clip("two_right", src, 16, "right", "hopper left, astronaut right")

    # no face at all
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (H, W, 3), dtype=np.uint8) for _ in range(12)]
    out["noface"] = Clip("noface", write_video(d / "noface.mp4", frames), 12, "", "noise only")

    # grayscale, odd-sized (AVI / MJPG accepts odd sizes)
    frames = []
    for i in range(12):
        f = paste(canvas(317, 239), a, 70 + i, 40, 160)
        frames.append(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY))
    out["gray_odd"] = Clip("gray_odd", write_video(d / "gray_odd.avi", frames, codec="MJPG"), 12)

    # a video that stops decoding part-way: an MJPG AVI cut short (the manifest says 40)
    frames = [paste(canvas(), a, 80, 40, 160) for _ in range(40)]
    full = write_video(d / "full.avi", frames, codec="MJPG")
    data = full.read_bytes()
    cut = d / "truncated.avi"
    cut.write_bytes(data[: len(data) // 2])
    out["truncated"] = Clip("truncated", cut, 40, "", "decodes about half of its 40 frames")

    # a face leaving the frame to the right
    frames = [paste(canvas(), a, 60 + 14 * i, 40, 160) for i in range(20)]
    out["leaving"] = Clip("leaving", write_video(d / "leaving.mp4", frames), 20, "",
                          "face moves right and leaves the frame")  # fmt: skip

    for clip in out.values():
        if clip.video_id != "truncated":
            assert count_frames(clip.source) == clip.n_frames, clip.video_id
    return out

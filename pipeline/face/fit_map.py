"""Fit the learned mesh -> 68-point map (:mod:`pipeline.face.ibug68`) from annotated photos.

    python -m pipeline.face.fit_map FOLDER [--out pipeline/face/data/ibug68_map.npz]
                                    [--cache tmp/meshes.npz] [--frames 3] [--folds 5]

``FOLDER`` holds photos (``.jpg``/``.png``) with 300-W ``.pts`` files of the same name
(1-based points; a photo may hold several faces, the annotated one is the detection whose mesh
overlaps the box of the points most). Each photo is played as a still video of ``--frames``
frames through the stages' own per-frame code (:class:`~pipeline.face.detect.SubjectDetector`
-> :class:`~pipeline.face.landmarks.LandmarkFollower`), so the meshes are those the
``landmarks`` stage sees (detected, second pass, then tracked); they are cached in ``--cache``.
The regulariser is chosen by K-fold cross-validation folded by photo (the id is the file
name's part before ``_k``); the map is then refitted on every photo and written to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.contracts.points68 import COARSE_GROUPS, N_POINTS
from pipeline.face import ibug68
from pipeline.face.annotated import read_pts

DEV_ENV = "AFFWILD_DEV_DATA"  # overrides the folder of the development photos
DEV_SET = "helen-train-68"
LAMBDAS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)  # ridge regularisers tried (x samples x I)


def dev_folder() -> Path | None:
    """The development photos (HELEN training split with 300-W points): ``$AFFWILD_DEV_DATA``
    or ``../shared/data/helen-train-68`` beside the repository; None when absent."""
    env = os.environ.get(DEV_ENV)
    repo = Path(__file__).resolve().parents[2]
    # a git worktree may sit one level deeper than the main checkout
    for base in [Path(env)] if env else [repo.parent / "shared" / "data",
                                         repo.parent.parent / "shared" / "data"]:  # fmt: skip
        folder = base / DEV_SET if (base / DEV_SET).is_dir() else base
        if folder.is_dir() and any(folder.glob("*.pts")):
            return folder.resolve()
    return None


def photo_id(stem: str) -> str:
    """The photo a face window comes from: the file name's part before ``_k``."""
    return stem.rsplit("_", 1)[0]


def annotated_photos(folder: Path) -> list[tuple[str, Path, np.ndarray]]:
    """(stem, image path, (68, 2) 0-based points) of every photo with a ``.pts`` file."""
    out = []
    for pts_path in sorted(Path(folder).glob("*.pts")):
        img = next((p for p in (pts_path.with_suffix(s) for s in (".jpg", ".png", ".jpeg"))
                    if p.is_file()), None)  # fmt: skip
        if img is None:
            continue
        pts = read_pts(pts_path)
        if pts.shape != (N_POINTS, 2):
            raise ValueError(f"{pts_path}: {len(pts)} points, expected {N_POINTS}")
        out.append((pts_path.stem, img, pts))
    return out


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of the axis-aligned boxes around two point sets."""
    (ax0, ay0), (ax1, ay1) = a.min(0), a.max(0)
    (bx0, by0), (bx1, by1) = b.min(0), b.max(0)
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    return inter / ((ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter + 1e-9)


@dataclass
class StillResult:
    """One photo played as a still video: per frame the mesh (or None), its presence score,
    the detector's box (x, y, w, h; NaN where none) and the stage's 68 points (or None)."""

    meshes: list
    scores: list
    boxes: list
    points: list


def run_still(rgb: np.ndarray, params, n_frames: int = 3) -> StillResult:
    """``rgb`` pushed ``n_frames`` times through the detect and landmarks stages' per-frame
    code (no codec in between)."""
    from pipeline.face.detect import SubjectDetector
    from pipeline.face.landmarks import LandmarkFollower

    res = StillResult([None] * n_frames, [np.nan] * n_frames, [None] * n_frames, [None] * n_frames)
    with SubjectDetector(params.detect) as det, LandmarkFollower(params.landmarks, 25.0) as lf:
        decided = []
        for i in range(n_frames):
            decided += det.push(i, rgb)
        decided += det.finish()
        rows = []
        for d in decided:
            box = np.full(4, np.nan) if d.box is None else np.asarray(d.box, np.float64)
            kps = np.full((6, 2), np.nan) if d.keypoints is None else d.keypoints
            rows += lf.push(d.frame, rgb, box, kps)
            res.meshes[d.frame] = lf.prev_mesh
            res.boxes[d.frame] = box
        rows += lf.finish()
        for r in rows:
            res.points[r.frame] = r.points
            res.scores[r.frame] = r.score
    return res


def collect(folder: Path, params=None, n_frames: int = 3, cache: Path | None = None) -> dict:
    """Meshes of every annotated photo in ``folder`` through the stages (cached in ``cache``).

    Returns arrays: ``stem`` (n,), ``ref`` (n, 68, 2), ``mesh`` (n, frames, 468, 3; NaN where
    no face), ``score`` (n, frames), ``box`` (n, frames, 4), ``iou`` (n, frames: overlap of the
    mesh with the annotated face), ``shape`` (n, 2: image height, width).
    """
    from pipeline.config import Params

    if cache is not None and Path(cache).is_file():
        with np.load(cache, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    params = params or Params()
    photos = annotated_photos(folder)
    n = len(photos)
    out = {
        "stem": np.array([s for s, _, _ in photos]),
        "ref": np.stack([p for _, _, p in photos]).astype(np.float32),
        "mesh": np.full((n, n_frames, ibug68.N_MESH, 3), np.nan, np.float32),
        "score": np.full((n, n_frames), np.nan, np.float32),
        "box": np.full((n, n_frames, 4), np.nan, np.float32),
        "iou": np.zeros((n, n_frames), np.float32),
        "shape": np.zeros((n, 2), np.int32),
    }
    t0 = time.perf_counter()
    for k, (_, img, ref) in enumerate(photos):
        bgr = cv2.imread(str(img), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{img}: not a readable image")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        out["shape"][k] = rgb.shape[:2]
        res = run_still(rgb, params, n_frames)
        for f in range(n_frames):
            if res.boxes[f] is not None:
                out["box"][k, f] = res.boxes[f]
            if res.meshes[f] is not None and res.points[f] is not None:
                out["mesh"][k, f] = res.meshes[f]
                out["score"][k, f] = res.scores[f]
                out["iou"][k, f] = box_iou(res.meshes[f][:, :2], ref)
        if (k + 1) % 100 == 0:
            print(f"  {k + 1}/{n} photos, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if cache is not None:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, **out)
    return out


@dataclass
class Samples:
    """The fitting samples: one per (photo, frame) whose mesh is on the annotated face."""

    meshes: np.ndarray  # (n, 468, 2) pixels
    refs: np.ndarray  # (n, 68, 2) pixels
    groups: np.ndarray  # (n,) photo id (the folds never split a photo)


MIN_MATCH_IOU = 0.4  # a mesh overlapping the annotated face's box less is another face


def samples(data: dict) -> Samples:
    """The (photo, frame) pairs of :func:`collect`'s arrays whose mesh is the annotated face."""
    p, f = np.nonzero(data["iou"] >= MIN_MATCH_IOU)
    ids = np.array([photo_id(str(s)) for s in data["stem"]])
    return Samples(data["mesh"][p, f, :, :2].astype(np.float64),
                   data["ref"][p].astype(np.float64), ids[p])  # fmt: skip


def mean_mesh(meshes: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Generalised Procrustes mean of (n, 468, 2) meshes: centred, unit RMS radius."""
    mean = meshes[0] - meshes[0].mean(0)
    for _ in range(iterations):
        aligned = [ibug68.apply_similarity(ibug68.similarity_to(m, mean), m) for m in meshes]
        mean = np.mean(aligned, axis=0)
        mean -= mean.mean(0)
        mean /= np.sqrt((mean**2).sum(1).mean())
    return mean


def fit(s: Samples, lam: float, mean: np.ndarray | None = None) -> ibug68.LearnedMap:
    """Ridge regression of the aligned 68 points on the aligned mesh (``lam`` x n x I)."""
    mean = mean_mesh(s.meshes) if mean is None else mean
    x, y = _aligned(s, mean)
    x_mean, y_mean = x.mean(0), y.mean(0)
    xc = x - x_mean
    w = np.linalg.solve(xc.T @ xc + lam * len(x) * np.eye(x.shape[1]), xc.T @ (y - y_mean))
    return ibug68.LearnedMap(mean, x_mean, w, y_mean)


def _aligned(s: Samples, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for m, r in zip(s.meshes, s.refs, strict=True):
        t = ibug68.similarity_to(m, mean)
        xs.append(ibug68.apply_similarity(t, m).reshape(-1))
        ys.append(ibug68.apply_similarity(t, r).reshape(-1))
    return np.array(xs), np.array(ys)


def nme_table(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Mean NME over (n, 68, 2) faces by the reference's outer-eye-corner distance, overall and
    per coarse group (jaw, brows, nose, eyes, mouth)."""
    iod = np.linalg.norm(ref[:, 45] - ref[:, 36], axis=1)
    err = np.linalg.norm(pred - ref, axis=2) / iod[:, None]
    return {"all": float(err.mean())} | {g: float(err[:, sl].mean())
                                         for g, sl in COARSE_GROUPS.items()}  # fmt: skip


def folds(groups: np.ndarray, k: int = 5, seed: int = 0) -> np.ndarray:
    """Fold number of every sample; a photo's samples share a fold."""
    ids = np.unique(groups)
    fold_of = dict(zip(np.random.default_rng(seed).permutation(ids), np.arange(len(ids)) % k,
                       strict=True))  # fmt: skip
    return np.array([fold_of[g] for g in groups])


def cross_validate(s: Samples, lam: float, k: int = 5) -> tuple[dict[str, float], np.ndarray]:
    """K-fold (by photo) NME table of the map fitted with ``lam``, and the per-sample NME."""
    fold = folds(s.groups, k)
    pred = np.empty_like(s.refs)
    for i in range(k):
        test = fold == i
        train = Samples(s.meshes[~test], s.refs[~test], s.groups[~test])
        m = fit(train, lam)
        pred[test] = [m(x) for x in s.meshes[test]]
    iod = np.linalg.norm(s.refs[:, 45] - s.refs[:, 36], axis=1)
    per = (np.linalg.norm(pred - s.refs, axis=2) / iod[:, None]).mean(1)
    return nme_table(pred, s.refs), per


def rules_nme(s: Samples) -> dict[str, float]:
    """The rules mapping's NME on the same samples (nothing fitted)."""
    return nme_table(np.array([ibug68.mesh_to_ibug68(m) for m in s.meshes]), s.refs)


def _fmt(t: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.4f}" for k, v in t.items())


def main(argv: list[str] | None = None) -> None:
    from pipeline.quiet import quiet_native

    quiet_native()
    ap = argparse.ArgumentParser(prog="python -m pipeline.face.fit_map", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("folder", type=Path, help="photos with 300-W .pts files of the same name")
    ap.add_argument("--out", type=Path, default=ibug68.MAP_FILE)
    ap.add_argument("--cache", type=Path, default=None, help="meshes cache (.npz), reused")
    ap.add_argument("--frames", type=int, default=3, help="frames of each still video")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--lambdas", type=float, nargs="+", default=list(LAMBDAS),
                    help="ridge regularisers tried (times the number of samples)")  # fmt: skip
    args = ap.parse_args(argv)
    if not args.folder.is_dir():
        sys.exit(f"{args.folder}: no such folder")
    data = collect(args.folder, n_frames=args.frames, cache=args.cache)
    s = samples(data)
    n_photos = len(data["stem"])
    print(f"{n_photos} annotated faces; {len(np.unique(s.groups))} photos; {len(s.refs)} "
          f"frames on the annotated face (others: the mesh followed another face)")  # fmt: skip
    if len(np.unique(s.groups)) < args.folds:
        sys.exit(f"{args.folder}: too few photos for {args.folds}-fold cross-validation")
    print(f"rules mapping:          {_fmt(rules_nme(s))}")
    best = None
    for lam in args.lambdas:
        table, _ = cross_validate(s, lam, args.folds)
        print(f"learned, lambda {lam:<7g}: {_fmt(table)}  ({args.folds}-fold CV by photo)")
        if best is None or table["all"] < best[1]["all"]:
            best = (lam, table)
    lam, table = best
    m = fit(s, lam)
    m.info = (f"fitted by pipeline.face.fit_map on {args.folder.name}: {n_photos} faces, "
              f"{len(s.refs)} frames; ridge lambda {lam:g} chosen by {args.folds}-fold CV "
              f"by photo, CV NME {table['all']:.4f}")  # fmt: skip
    m.save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB): {m.info}")


if __name__ == "__main__":
    main()

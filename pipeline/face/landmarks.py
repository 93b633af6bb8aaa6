"""The ``landmarks`` stage for one video: 68 iBUG 300-W points per frame.

MediaPipe's face mesh runs in tracking mode, seeded by the subject's box: in each frame the
mesh's region of interest comes from the previous frame's mesh when there is one and it
agrees with the subject's box (ROI overlap >= ``track_min_iou``; status ``tracked``), else
from the subject's box (``detected``: with ``second_pass`` the mesh is run once more on the ROI
of its own points, since the detector's ROI is coarse); the 468 points become the 68 by
:func:`pipeline.face.ibug68.mesh_to_68` (``mapping``: the learnt map or the rules). With
``refine`` the mesh is MediaPipe's attention model (``refine_landmarks``); its face flag is
less strict than the plain model's, so a frame tracked with no subject box must also pass the
plain model's presence score. A mesh whose inner face has too little fine detail
(``min_texture``, :mod:`pipeline.face.plausible`: lettering) is no face, and a mesh that would
start a track (not ``tracked``) must also look like a face to the appearance classifier
(``min_appearance``: shaded 3-D lettering).
Short missing runs are interpolated (``interpolated``), optional One-Euro smoothing applies,
and everything else is ``missing`` — or ``rejected`` where the detector had a box but the mesh
has not yet seen a face (presence >= ``min_presence``, texture >= ``min_texture``) in that
box's episode (boxes on textures or lettering: the crop stage does not use them). With
``use_source_landmarks`` the data set's own points
(AFEW-VA) replace the mesh where it has them; otherwise, where it has them, the mesh's
agreement with them (NME per point group) goes into the report.

The per-frame work is :class:`LandmarkFollower` (streaming, no IO); :class:`LandmarksStep`
feeds it the boxes table's rows and gives its rows of the landmarks table
(``tables.LANDMARKS``), and :data:`LANDMARKS` is the registered face step
(:mod:`pipeline.face.jobs`) that the table driver and ``affwild predict``'s in-memory driver
run. MediaPipe is imported inside :class:`LandmarkFollower`, so importing this module is cheap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from pipeline.contracts.face_params import LandmarksConfig
from pipeline.contracts.points68 import GROUPS, N_POINTS, N_VALUES
from pipeline.contracts.reports import VideoReport
from pipeline.face import tables
from pipeline.face.ibug68 import mesh_to_68
from pipeline.face.jobs import FaceStep, Row, Video
from pipeline.face.plausible import appearance, texture_share
from pipeline.face.reference import nme
from pipeline.face.temporal import GapFiller, LandmarkRow, OneEuro
from pipeline.registry import FACE_STAGES


def load_source_landmarks(path: str, video_id: str) -> dict[int, np.ndarray]:
    """The data set's own 68 landmarks of one video (AFEW-VA), frame -> (68, 2)."""
    if not path or not Path(path).is_file():
        return {}
    table = pq.read_table(path, filters=[("video_id", "=", video_id)])
    if table.num_rows == 0:
        return {}
    frames = table.column("frame").to_numpy()
    pts = tables.fixed_list_to_numpy(table.column("landmarks"), N_VALUES).reshape(-1, N_POINTS, 2)
    return {int(f): p.astype(np.float64) for f, p in zip(frames, pts, strict=True)}


MIN_TRACK_IOU = 0.5  # below this overlap with the subject's box the mesh is never tracked


def _roi_overlap(a, b) -> float:
    """IoU of two ROIs' axis-aligned squares (rotation ignored)."""
    ax0, ay0, bx0, by0 = a.cx - a.size / 2, a.cy - a.size / 2, b.cx - b.size / 2, b.cy - b.size / 2
    iw = max(0.0, min(ax0 + a.size, bx0 + b.size) - max(ax0, bx0))
    ih = max(0.0, min(ay0 + a.size, by0 + b.size) - max(ay0, by0))
    inter = iw * ih
    return inter / (a.size**2 + b.size**2 - inter + 1e-9)


class LandmarkFollower:
    """68 points per frame from the mesh, one frame at a time (the ``landmarks`` stage's core).

    :meth:`push` frames in order with the subject's box and detector key points for that
    frame (NaN where there is none; ``rgb`` None where the frame did not decode); it returns
    the rows that are final now, in frame order (a missing run is held back, at most
    ``cfg.max_gap`` frames, until it is known whether it gets interpolated); :meth:`finish`
    returns the rest. ``source_pts`` (frame -> (68, 2)): a data set's own landmarks, used
    instead of the mesh with ``cfg.use_source_landmarks``, else measured against.
    Used by :class:`LandmarksStep` and by the landmark tools (``pipeline.face.annotated``).
    """

    def __init__(self, cfg, fps: float, source_pts: dict[int, np.ndarray] | None = None):
        from pipeline.face.mediapipe_models import FaceMesh

        self.cfg = cfg
        self.source_pts = source_pts or {}
        self.use_source = cfg.use_source_landmarks and bool(self.source_pts)
        self.filler = GapFiller(cfg.max_gap)
        self.smoother = (
            OneEuro(fps, cfg.smooth_min_cutoff, cfg.smooth_beta)
            if cfg.smoothing == "one_euro"
            else None
        )
        self.agree = {name: 0.0 for name in ["all", *GROUPS]}
        self.n_agree = 0
        self.prev_mesh = None
        self.confirmed = False  # the mesh has seen a face in the current box episode
        self._no_box = 0  # frames since the last subject box
        self.mesh = FaceMesh.reusable(refine=cfg.refine)
        self._plain = None  # the plain mesh model, for presence where there is no box

    def push(
        self, i: int, rgb: np.ndarray | None, box: np.ndarray, keypoints: np.ndarray
    ) -> list[LandmarkRow]:
        points, score, status = None, math.nan, "missing"
        if rgb is not None and self.use_source and i in self.source_pts:
            points, score, status = self.source_pts[i], 1.0, "detected"
            self.prev_mesh = None
        elif rgb is not None:
            roi_det, tries = self._rois(box, keypoints)
            points, score, status = self._fit(rgb, tries, roi_det, (points, score, status))
            if points is not None and i in self.source_pts:
                self._note_agreement(points, self.source_pts[i])
        status = self._episode(rgb, box, points, status)
        return self.filler.push(LandmarkRow(i, self._smooth(points), score, status))

    def _rois(self, box: np.ndarray, keypoints: np.ndarray):
        """The detector's ROI (None without a box) and the ROIs to try in order, each with
        the status a fit there gets."""
        from pipeline.face.mediapipe_models import roi_from_detection, roi_from_mesh

        roi_det = None
        if np.isfinite(box).all():
            roi_det = roi_from_detection(box, keypoints)
        tries = [] if roi_det is None else [(roi_det, "detected")]
        if self.prev_mesh is not None:
            # Track while the previous mesh's ROI agrees with the subject's box; where it
            # agrees less than track_min_iou (drift), re-detect first and track only if
            # that fails; below MIN_TRACK_IOU it is another place (face): never track.
            roi_trk = roi_from_mesh(self.prev_mesh)
            iou = 1.0 if roi_det is None else _roi_overlap(roi_trk, roi_det)
            if iou >= self.cfg.track_min_iou:
                tries.insert(0, (roi_trk, "tracked"))
            elif iou >= MIN_TRACK_IOU:
                tries.append((roi_trk, "tracked"))
        return roi_det, tries

    def _fit(self, rgb: np.ndarray, tries, roi_det, missing):
        """(68 points, presence score, status) of the first ROI where the mesh finds a face
        that passes the checks; ``missing`` where none does."""
        from pipeline.face.mediapipe_models import roi_from_mesh

        cfg = self.cfg
        self.prev_mesh = None
        for roi, how in tries:
            m, s = self.mesh(rgb, roi)
            ok = m is not None and s >= cfg.min_presence
            if ok and how == "detected" and cfg.second_pass:
                # The detector's ROI is coarse: run the mesh again on the ROI of its own
                # points (what tracking would use on the next frame), once per detection.
                m2, s2 = self.mesh(rgb, roi_from_mesh(m))
                if m2 is not None and s2 >= cfg.min_presence:
                    m, s = m2, s2
            if ok and roi_det is None and cfg.refine:  # no box vouches for the face
                s = min(s, self._plain_presence(rgb, roi))
                ok = s >= cfg.min_presence
            if ok:
                pts = mesh_to_68(m, cfg.mapping, cfg.jaw)
                # a face must look like one: lettering the mesh fits has no fine detail
                if cfg.min_texture and texture_share(rgb, pts) < cfg.min_texture:
                    continue
                # a track starts only on what looks like a face (tracked frames are held by
                # the texture check: a face turned or half covered may look less like one)
                if (
                    how != "tracked"
                    and cfg.min_appearance
                    and (appearance(rgb, pts) < cfg.min_appearance)
                ):
                    continue
                self.prev_mesh = m
                return pts, s, how
        return missing

    def _note_agreement(self, points: np.ndarray, source: np.ndarray) -> None:
        """Adds one frame's NME against the data set's own landmarks."""
        e = nme(points, source)
        for k in self.agree:
            self.agree[k] += e[k]
        self.n_agree += 1

    def _episode(self, rgb, box: np.ndarray, points, status: str) -> str:
        """Follows the box episode (a run of frames with a subject box, gaps up to max_gap);
        a box the mesh has never seen as a face in its episode is ``rejected``."""
        has_box = rgb is not None and bool(np.isfinite(box).all())
        self._no_box = 0 if has_box else self._no_box + 1
        if self._no_box > self.cfg.max_gap:
            self.confirmed = False  # the episode is over
        if points is not None:
            self.confirmed = True
        elif has_box and not self.confirmed:
            status = "rejected"  # a box the mesh has never seen as a face (texture, lettering)
        return status

    def _smooth(self, points):
        """The points through the causal smoother (reset where there are none), if any."""
        smoother = self.smoother
        if points is not None and smoother is not None:
            scale = float(np.linalg.norm(points[45] - points[36])) or 1.0
            return smoother(points, scale)
        if smoother is not None:
            smoother.reset()
        return points

    def _plain_presence(self, rgb: np.ndarray, roi) -> float:
        """The plain mesh model's face-presence score on ``roi``. The attention model's face
        flag is less strict (0.6-0.9 on a face-less patch next to another face, where the plain
        model stays below 0.5), so where the detector has no box to vouch for the face the
        plain model must agree too; made on first use (few frames need it)."""
        from pipeline.face.mediapipe_models import FaceMesh

        if self._plain is None:
            self._plain = FaceMesh.reusable(refine=False)
        return self._plain(rgb, roi)[1]

    def finish(self) -> list[LandmarkRow]:
        return self.filler.finish()

    def close(self) -> None:
        self.mesh.close()
        if self._plain is not None:
            self._plain.close()

    def __enter__(self) -> LandmarkFollower:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LandmarksStep:
    """The ``landmarks`` step on one video: :class:`LandmarkFollower` seeded by the boxes
    table's rows, its rows of the landmarks table, counted for the video's report."""

    def __init__(self, cfg: LandmarksConfig, video: Video):
        source_pts = load_source_landmarks(video.files.get("source_landmarks", ""), video.video_id)
        self.follower = LandmarkFollower(cfg, video.fps, source_pts)
        self.statuses = dict.fromkeys(tables.STATUSES, 0)

    def push(self, frame: int, rgb: np.ndarray | None, inputs: Mapping[str, Row]) -> list[Row]:
        b = inputs["boxes"]
        box = np.array([b["x"], b["y"], b["w"], b["h"]], np.float64)
        return self._rows(self.follower.push(frame, rgb, box, b["keypoints"].reshape(6, 2)))

    def finish(self) -> list[Row]:
        return self._rows(self.follower.finish())

    def _rows(self, rows: list[LandmarkRow]) -> list[Row]:
        out = []
        for r in rows:
            self.statuses[r.status] += 1
            out.append(dict(frame=r.frame, score=r.score, status=r.status,
                            landmarks=None if r.points is None else r.points.reshape(-1)))  # fmt: skip
        return out

    def note(self, report: VideoReport) -> None:
        follower = self.follower
        report.statuses = dict(self.statuses)
        report.missing = report.statuses["missing"] + report.statuses["rejected"]
        report.faces = report.frames - report.missing
        if follower.n_agree:
            report.extra["nme_vs_source_landmarks"] = {
                k: round(v / follower.n_agree, 4) for k, v in follower.agree.items()
            } | {"frames": follower.n_agree}
        if follower.use_source:
            report.extra["landmarks_from"] = "source"

    def close(self) -> None:
        self.follower.close()


def _no_landmarks(frame: int) -> Row:
    return dict(frame=frame, landmarks=None, score=math.nan, status="missing")


LANDMARKS = FACE_STAGES.register(
    "landmarks",
    FaceStep(
        name="landmarks",
        params=LandmarksConfig,
        start=LandmarksStep,
        writes="landmarks",
        schema=tables.LANDMARKS,
        reads=("boxes",),
        files=("source_landmarks",),
        blank=_no_landmarks,
        what="landmarks",
    ),
    "68 iBUG 300-W landmarks per frame (MediaPipe face mesh)",
)

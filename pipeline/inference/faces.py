"""The face stages in one streaming pass: frame -> subject box -> 68 landmarks -> crop.

This is the ``detect``, ``landmarks`` and ``crop`` stages' own per-frame code —
:class:`~pipeline.face.detect.SubjectDetector`, :class:`~pipeline.face.landmarks.LandmarkFollower`
and :func:`~pipeline.face.crop.crop_frame` — chained without writing their tables. Given the
same params, every frame gets exactly the box, landmarks and crop the three stages would have
written (values pass through float32 between the steps, as they do through the tables).

Both the subject tracker (while it chooses whom to follow) and the landmark gap filler hold
decisions back for a few frames, so the pass keeps the frames whose crop is not made yet:
at most about ``10 x detect.init_frames + landmarks.max_gap`` frames (when no face is seen
at the start), usually ``init_frames`` or fewer, plus up to ``detect.min_run x
(detect.max_gap_in_run + 1)`` while a new face has not yet persisted long enough to be
reported. That bound does not grow with the video.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from pipeline.face.crop import crop_frame
from pipeline.face.detect import SubjectDetector, SubjectFace
from pipeline.face.landmarks import LandmarkFollower

_NAN_BOX = np.full(4, np.nan)
_NAN_KEYPOINTS = np.full((6, 2), np.nan, np.float32)


@dataclass
class FaceFrame:
    """One frame's face: the subject's box and landmarks (source pixels) and its crop."""

    frame: int
    decoded: bool
    box: np.ndarray | None  # (4,) x, y, w, h
    points: np.ndarray | None  # (68, 2), source pixels
    status: str  # the landmarks stage's status: detected | tracked | interpolated | missing
    crop: bytes | None  # JPEG, crop.size square, as the crop stage stores it
    crop_landmarks: np.ndarray | None  # (136,) in [0, 1]; None where cropped from the box only

    @property
    def face(self) -> bool:
        return self.crop is not None


class FacePass:
    """Push frames in order, get :class:`FaceFrame` s back in order (see the module docstring).

    ``params`` has ``detect``, ``landmarks`` and ``crop`` (the model's
    :class:`~pipeline.inference.model.FaceParams`).
    """

    def __init__(self, params, fps: float, subject: str = ""):
        self.params = params
        self._detector = SubjectDetector(params.detect, subject)
        try:
            self._follower = LandmarkFollower(params.landmarks, fps)
        except BaseException:
            self._detector.close()
            raise
        self._frames: dict[int, np.ndarray | None] = {}
        self._subject: dict[int, SubjectFace] = {}
        self.held_max = 0  # most frames held at once (for tests and benchmarks)

    def push(self, frame: int, rgb: np.ndarray | None) -> list[FaceFrame]:
        self._frames[frame] = rgb
        self.held_max = max(self.held_max, len(self._frames))
        return self._after_detection(self._detector.push(frame, rgb))

    def finish(self) -> list[FaceFrame]:
        out = self._after_detection(self._detector.finish())
        out += self._crop(self._follower.finish())
        return out

    def _after_detection(self, decided: list[SubjectFace]) -> list[FaceFrame]:
        out: list[FaceFrame] = []
        for d in decided:
            self._subject[d.frame] = d
            if d.box is None:
                box, kps = _NAN_BOX, _NAN_KEYPOINTS
            else:
                box = np.asarray(d.box, np.float64)
                kps = np.asarray(d.keypoints, np.float32).reshape(6, 2)
            out += self._crop(self._follower.push(d.frame, self._frames[d.frame], box, kps))
        return out

    def _crop(self, rows) -> list[FaceFrame]:
        out = []
        for r in rows:
            rgb = self._frames.pop(r.frame)
            d = self._subject.pop(r.frame)
            # Through float32, as the landmarks / boxes tables pass them to the crop stage.
            pts = None if r.points is None else np.asarray(r.points, np.float32)
            box = _NAN_BOX if d.box is None else np.asarray(d.box, np.float32).astype(np.float64)
            if r.status == "rejected":  # never a face to the mesh: no crop from the box
                box = _NAN_BOX
            kps = _NAN_KEYPOINTS if d.keypoints is None else d.keypoints.reshape(6, 2)
            image, norm = crop_frame(rgb, pts, box, kps, self.params.crop)
            out.append(
                FaceFrame(
                    frame=r.frame,
                    decoded=rgb is not None,
                    box=None if d.box is None else box,
                    points=pts,
                    status=r.status,
                    crop=image,
                    crop_landmarks=None if norm is None else norm.reshape(-1).astype(np.float32),
                )
            )
        return out

    def close(self) -> None:
        self._follower.close()
        self._detector.close()

    def __enter__(self) -> FacePass:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def face_frames(frames, params, fps: float, subject: str = "") -> Iterator[FaceFrame]:
    """Every frame of ``frames`` (an iterable of RGB arrays, None where one did not decode)
    as a :class:`FaceFrame`, in order, streaming."""
    with FacePass(params, fps, subject) as fp:
        for i, rgb in enumerate(frames):
            yield from fp.push(i, rgb)
        yield from fp.finish()

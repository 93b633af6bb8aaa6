"""Rendering one demo video, frame by frame, from a :class:`VideoJob`.

A video is a "scene canvas" (a faceless background with the subject's photo standing in it,
scaled, mirrored and colour-shifted per video) filmed by a moving virtual camera:

- the subject's face is deformed every frame by :class:`~pipeline.demo.rig.FaceRig` from the
  *shown* expression (valence: smile/frown; arousal: eyes, brows, mouth opening), plus
  blinks and head nods/shakes whose rate and amplitude grow with arousal (visible only over
  time);
- the camera (a similarity transform) wanders, zooms and rolls; lighting gain, gamma and a
  side-light gradient drift; Gaussian sensor noise is added; the codec adds its artefacts;
- short runs of frames are occluded (a hand or an object over part of the face); short runs
  show no face (the camera turns away, or a cut to a faceless scene);
- in some videos a second, smaller face (the other identity, with its own unrelated
  expression) appears part-way through as a picture-in-picture "screen" in a top corner.

Everything random comes from the job's own seed, so a video does not depend on which
process renders it or on how many there are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.demo.cpumath import exp, power
from pipeline.demo.faces import DemoError, SourceFace
from pipeline.demo.rig import BASES, FaceRig
from pipeline.demo.traces import smooth_noise

K = {name: i for i, name in enumerate(BASES)}


@dataclass(frozen=True)
class VideoJob:
    video_id: str
    path: str  # the video file to write
    fourcc: str  # "mp4v" or "MJPG"
    n_frames: int
    fps: float
    width: int
    height: int
    expression: np.ndarray  # (n_frames, 2) valence/arousal the face shows at each frame
    subject: SourceFace
    other: SourceFace  # the distractor's identity
    scenes: tuple[tuple[str, np.ndarray], ...]
    distractor: bool
    seed: tuple[int, ...]  # SeedSequence entropy of this video's frame-level randomness
    face_height: tuple[float, float]  # nominal subject face height range, px
    expressiveness: tuple[float, float]
    noise_std: float
    occlusion_fraction: float
    no_face_fraction: float


@dataclass
class VideoResult:
    video_id: str
    n_frames: int
    face_visible: np.ndarray
    occluded: np.ndarray
    distractor_visible: np.ndarray
    box: np.ndarray  # (n, 4) x, y, w, h; NaN where the face is not visible
    design: dict  # per-video choices, for the README / summary


# --- helpers -----------------------------------------------------------------------------


def place_runs(
    rng: np.random.Generator,
    free: np.ndarray,
    fraction: float,
    min_len: int,
    max_len: int,
    start: int = 0,
) -> np.ndarray:
    """Mark runs of ``min_len``-``max_len`` frames, only where ``free``, about ``fraction`` of all."""
    n = len(free)
    mask = np.zeros(n, dtype=bool)
    target = fraction * n
    if target <= 0 or n - start < min_len:
        return mask
    # A share smaller than one run still gets one, with that probability.
    if target < min_len and rng.random() >= target / min_len:
        return mask
    for _ in range(200):
        if mask.sum() >= target - min_len / 2:
            break
        length = int(rng.integers(min_len, max_len + 1))
        if n - start - length < 0:
            break
        s = int(rng.integers(start, n - length + 1))
        # keep a gap of 3 frames to any other run
        lo, hi = max(0, s - 3), min(n, s + length + 3)
        if free[s : s + length].all() and not mask[lo:hi].any():
            mask[s : s + length] = True
    return mask


def _rescale(image: np.ndarray, landmarks: np.ndarray, face_px: float, mirror: bool):
    scale = face_px / float(np.ptp(landmarks[:, 1]))
    img = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    lm = landmarks * scale
    if mirror:
        img = np.ascontiguousarray(img[:, ::-1])
        lm = lm.copy()
        lm[:, 0] = img.shape[1] - 1 - lm[:, 0]
    return img, lm


def _colour(img: np.ndarray, gains: np.ndarray) -> np.ndarray:
    return np.clip(img.astype(np.float32) * gains[None, None, :], 0, 255).astype(np.uint8)


def _cover(scene: np.ndarray, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A random crop of ``scene`` resized to cover w x h."""
    sh, sw = scene.shape[:2]
    zoom = rng.uniform(1.0, 1.5)
    cw, ch = sw / zoom, sh / zoom
    # match aspect
    if cw / ch > w / h:
        cw = ch * w / h
    else:
        ch = cw * h / w
    x0 = rng.uniform(0, sw - cw)
    y0 = rng.uniform(0, sh - ch)
    m = np.array([[w / cw, 0, -x0 * w / cw], [0, h / ch, -y0 * h / ch]])
    out = cv2.warpAffine(scene, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if rng.random() < 0.5:
        out = np.ascontiguousarray(out[:, ::-1])
    return out


def _build_canvas(photo, lm, cw, ch, face_at, background):
    """Paste ``photo`` into ``background`` (cw x ch) with its face centre at ``face_at``.

    The photo fades into the background over its outer ``feather`` pixels (except where it
    meets the canvas edge), so there is no hard border. (An earlier version extended the
    photo by smearing its edge pixels; MediaPipe saw faces in the smeared flag stars.)
    """
    feather = 32.0
    h, w = photo.shape[:2]
    centre = (lm.min(0) + lm.max(0)) / 2
    off = np.asarray(face_at) - centre
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.minimum.reduce([xx, yy, w - 1 - xx, h - 1 - yy])
    alpha = np.clip(d / feather, 0, 1)
    alpha = alpha * alpha * (3 - 2 * alpha)
    # the photo's bottom edge continues below the canvas: no fade there
    if off[1] + h >= ch:
        alpha = np.where(yy > h / 2, np.clip(np.minimum(xx, w - 1 - xx) / feather, 0, 1), alpha)
    m = np.array([[1.0, 0, off[0]], [0, 1.0, off[1]]])
    placed = cv2.warpAffine(photo, m, (cw, ch), flags=cv2.INTER_LINEAR, borderValue=0)
    a = cv2.warpAffine(alpha, m, (cw, ch), flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
    canvas = placed.astype(np.float32) * a + background.astype(np.float32) * (1 - a)
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8), lm + off


def _camera(z: float, roll_deg: float, face_c: np.ndarray, target: np.ndarray) -> np.ndarray:
    """2x3 affine: canvas -> frame, putting canvas point ``face_c`` at frame point ``target``."""
    t = np.deg2rad(roll_deg)
    r = z * np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return np.hstack([r, (target - r @ face_c)[:, None]])


def _blinks(rng: np.random.Generator, arousal01: np.ndarray, fps: float) -> np.ndarray:
    """Blink closure per frame in [0, 1]; the rate grows with arousal (0.15-0.7 per second)."""
    n = len(arousal01)
    out = np.zeros(n)
    length = max(3, int(round(0.17 * fps)))
    profile = power(np.sin(np.pi * (np.arange(length) + 0.5) / length), 0.7)
    t = 0
    while t < n:
        rate = 0.15 + 0.55 * arousal01[t]
        if rng.random() < rate / fps:
            seg = min(length, n - t)
            out[t : t + seg] = np.maximum(out[t : t + seg], profile[:seg])
            t += length + int(0.25 * fps)
        else:
            t += 1
    return out


def expression_coefs(
    v: np.ndarray, a: np.ndarray, gain: float, neutral_v: float, neutral_a: float
) -> np.ndarray:
    """Rig coefficients (n, N_BASES) for shown valence ``v`` and arousal ``a`` (n,)."""
    c = np.zeros((len(v), len(BASES)))
    c[:, K["smile"]] = gain * (v - neutral_v)
    c[:, K["cheek"]] = gain * (np.maximum(v, 0) - max(neutral_v, 0))
    c[:, K["frown"]] = gain * (np.maximum(-v, 0) - max(-neutral_v, 0))
    c[:, K["eyes"]] = gain * (a - neutral_a)
    c[:, K["brows"]] = gain * (a - neutral_a)
    c[:, K["jaw"]] = gain * np.maximum(a - 0.1, 0.0) / 0.9
    return c


def _head_motion(rng, arousal01, fps, f, gain):
    """Head shift (n, 2) px: smooth wander plus nods/shakes faster and larger with arousal."""
    n = len(arousal01)
    freq = 0.3 + 1.8 * arousal01  # Hz
    phase = np.cumsum(2 * np.pi * freq / fps) + rng.uniform(0, 2 * np.pi)
    amp = f * gain * (0.006 + 0.04 * arousal01**2)
    nod = amp * np.sin(phase)
    shake = 0.6 * amp * np.sin(0.7 * phase + rng.uniform(0, 2 * np.pi))
    jitter = (
        0.01
        * f
        * arousal01[:, None]
        * np.stack([smooth_noise(rng, n, 2), smooth_noise(rng, n, 2)], 1)
    )
    wander = 0.015 * f * np.stack([smooth_noise(rng, n, fps), smooth_noise(rng, n, fps)], 1)
    return np.stack([shake, nod], 1) + jitter + wander


# --- occluders -----------------------------------------------------------------------------


def _draw_occluder(frame, kind, box, params, progress):
    """Draw a hand or an object over part of the face box (x, y, w, h) in place."""
    x, y, w, h = box
    colour, fx, fy, angle, drift = params
    cx = x + w * (fx + drift[0] * progress)
    cy = y + h * (fy + drift[1] * progress)
    col = tuple(float(c) for c in colour)
    edge = tuple(float(c) * 0.7 for c in colour)
    if kind == "hand":
        palm = ((cx, cy), (0.62 * w, 0.5 * h), angle)
        cv2.ellipse(frame, palm, col, -1, cv2.LINE_AA)
        for i in range(4):
            a = np.deg2rad(angle - 90 + (i - 1.5) * 8)
            fxy = (cx + (i - 1.5) * 0.17 * w + np.cos(a) * 0.4 * h, cy + np.sin(a) * 0.4 * h)
            finger = (fxy, (0.15 * w, 0.4 * h), np.rad2deg(a) + 90)
            cv2.ellipse(frame, finger, col, -1, cv2.LINE_AA)
            cv2.ellipse(frame, finger, edge, 1, cv2.LINE_AA)
        cv2.ellipse(frame, palm, edge, 1, cv2.LINE_AA)
    else:  # an object: a phone / cup held in front of part of the face
        rect = ((cx, cy), (0.45 * w, 0.8 * h), angle / 4)
        pts = cv2.boxPoints(rect)
        cv2.fillPoly(frame, [np.round(pts * 4).astype(np.int32)], col, cv2.LINE_AA, shift=2)
        cv2.polylines(frame, [np.round(pts * 4).astype(np.int32)], True, edge, 2, cv2.LINE_AA, 2)


# --- the video: its plan (every per-video random choice), each frame's drawing, the file ---
#
# The plan draws from the video's generator in a fixed order (scene, face motion, distractor,
# camera, runs, lighting), then the frames draw their sensor noise: the same job gives the
# same video whatever else changes.


@dataclass
class _Scene:
    """The subject standing in the scene canvas, and the per-video look."""

    canvas: np.ndarray
    rig: FaceRig
    face_c: np.ndarray  # the face's centre in the canvas
    face_px: float
    mirrored: bool
    gain: float  # expressiveness
    background: str


@dataclass
class _Pip:
    """The distractor: a second face in a picture-in-picture "screen" in a top corner."""

    rig: FaceRig
    centre: np.ndarray
    x: int
    y: int
    w: int
    h: int
    left: bool
    coefs: np.ndarray  # (n, N_BASES) its own expression
    start: int  # the first frame it shows in


@dataclass
class _Run:
    """A run of frames without the face (``pan`` away, ``cut`` to a scene) or with part of it
    covered (``hand``, ``object``); ``what`` is the pan's target, the scene, or the occluder."""

    kind: str
    start: int
    end: int
    what: object


@dataclass
class _Light:
    gain: np.ndarray  # (n,)
    gamma: np.ndarray  # (n,)
    side: np.ndarray  # (n,) side-light gradient strength
    noise_std: float


@dataclass
class _Plan:
    scene: _Scene
    coefs: np.ndarray  # (n, N_BASES) the subject's rig coefficients per frame
    pip: _Pip | None
    zoom: np.ndarray  # (n,)
    roll: np.ndarray  # (n,) degrees
    target: np.ndarray  # (n, 2) where the face centre goes in the frame
    no_face: np.ndarray  # (n,) bool
    occluded: np.ndarray  # (n,) bool
    runs: list[_Run | None]  # per frame: the run it is in
    light: _Light


def _plan_scene(job: VideoJob, rng: np.random.Generator) -> _Scene:
    width, height = job.width, job.height
    face_px = rng.uniform(*job.face_height)
    mirror = bool(rng.random() < 0.5)
    gain = rng.uniform(*job.expressiveness)
    tone = rng.uniform(-0.08, 0.08)
    colour = np.array([1 + tone, 1.0, 1 - tone]) * rng.uniform(0.94, 1.06, 3)
    scene_i = int(rng.integers(len(job.scenes)))
    cw, ch = 4 * width, 3 * height
    background = _cover(job.scenes[scene_i][1], cw, ch, rng)
    background = cv2.GaussianBlur(background, (0, 0), 1.5)
    photo, lm = _rescale(job.subject.image, job.subject.landmarks, face_px, mirror)
    face_at = np.array([2.0 * width, 1.25 * height])
    canvas, lm = _build_canvas(_colour(photo, colour), lm, cw, ch, face_at, background)
    face_c = (lm.min(0) + lm.max(0)) / 2
    return _Scene(
        canvas, FaceRig(canvas, lm), face_c, face_px, mirror, gain, job.scenes[scene_i][0]
    )


def _plan_face_motion(job: VideoJob, rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Rig coefficients per frame: the shown expression, blinks and head motion."""
    v, a = job.expression[:, 0], job.expression[:, 1]
    a01 = (a + 1) / 2
    subj = job.subject
    coefs = expression_coefs(v, a, scene.gain, subj.neutral_valence, subj.neutral_arousal)
    coefs[:, K["blink"]] = _blinks(rng, a01, job.fps)
    head = _head_motion(rng, a01, job.fps, scene.rig.face_height, scene.gain)
    coefs[:, K["head_x"]] = head[:, 0]
    coefs[:, K["head_y"]] = head[:, 1]
    return coefs


def _plan_distractor(job: VideoJob, rng: np.random.Generator, face_px: float) -> _Pip | None:
    if not job.distractor:
        return None
    n, fps = job.n_frames, job.fps
    start = int(rng.uniform(0.2, 0.5) * n)
    other = job.other
    fd = face_px * rng.uniform(0.5, 0.7)
    o_photo, o_lm = _rescale(other.image, other.landmarks, fd, bool(rng.random() < 0.5))
    padd = int(fd)
    o_canvas = cv2.copyMakeBorder(o_photo, padd, padd, padd, padd, cv2.BORDER_REPLICATE)
    o_rig = FaceRig(o_canvas, o_lm + padd)
    o_lm_c = (o_rig.lm.min(0) + o_rig.lm.max(0)) / 2 + o_rig.origin
    pw, ph = int(round(1.3 * fd)), int(round(1.5 * fd))
    left = bool(rng.random() < 0.5)
    px = 6 if left else job.width - 6 - pw
    o_expr = np.tanh(
        0.2 + 0.5 * np.stack([smooth_noise(rng, n, 1.5 * fps), smooth_noise(rng, n, fps)], 1)
    )
    o_coefs = expression_coefs(
        o_expr[:, 0], o_expr[:, 1], 0.8, other.neutral_valence, other.neutral_arousal
    )
    o_coefs[:, K["blink"]] = _blinks(rng, (o_expr[:, 1] + 1) / 2, fps)
    return _Pip(o_rig, o_lm_c, px, 6, pw, ph, left, o_coefs, start)


def _plan_camera(job: VideoJob, rng: np.random.Generator, f: float, pip: _Pip | None):
    """Zoom, roll (degrees) and the face centre's place in the frame, per frame; the face
    keeps clear of the frame's edges and of the distractor's screen."""
    n, fps, width, height = job.n_frames, job.fps, job.width, job.height
    a01 = (job.expression[:, 1] + 1) / 2
    zoom = exp(0.05 * smooth_noise(rng, n, 3 * fps))
    roll = 2.5 * smooth_noise(rng, n, 2 * fps) + 1.5 * a01 * np.sin(
        np.cumsum(2 * np.pi * (0.2 + 0.6 * a01) / fps)
    )
    half = np.array([0.5, 0.55]) * f * zoom.max() + 0.07 * f + 6
    lo = half.copy()
    hi = np.array([width, height]) - half
    if pip is not None:
        if pip.left:
            lo[0] = max(lo[0], pip.x + pip.w + 8 + half[0])
        else:
            hi[0] = min(hi[0], pip.x - 8 - half[0])
    hi = np.maximum(hi, lo)
    base = np.array([rng.uniform(0.4, 0.6) * width, rng.uniform(0.44, 0.52) * height])
    wander = np.stack([smooth_noise(rng, n, 2 * fps), smooth_noise(rng, n, 2 * fps)], 1)
    target = np.clip(base + wander * np.array([0.05 * width, 0.03 * height]), lo, hi)
    return zoom, roll, target


def _plan_runs(job: VideoJob, rng: np.random.Generator, scene: _Scene, zoom_max: float):
    """No-face runs and occlusions: the masks, and per frame the run it is in."""
    n, width, height = job.n_frames, job.width, job.height
    f = scene.rig.face_height
    no_face = place_runs(rng, np.ones(n, bool), job.no_face_fraction, 8, 20, start=10)
    occluded = place_runs(rng, ~no_face, job.occlusion_fraction, 5, 15, start=5)
    runs: list[_Run | None] = [None] * n
    skin = scene.canvas[int(scene.face_c[1]), int(scene.face_c[0])].astype(np.float32)
    for mask, kind in ((no_face, "no_face"), (occluded, "occluded")):
        starts = np.flatnonzero(mask & ~np.concatenate([[False], mask[:-1]]))
        for s in starts:
            e = s
            while e < n and mask[e]:
                e += 1
            if kind == "no_face":
                if rng.random() < 0.5:  # the camera turns away from the subject
                    side = int(rng.integers(3))
                    off = 0.6 * f * zoom_max + 24
                    pos = [
                        np.array([-off, height / 2]),
                        np.array([width + off, height / 2]),
                        np.array([width / 2, height + off + 0.1 * f]),
                    ][side]
                    run = _Run("pan", s, e, pos)
                else:  # a cut to a faceless scene
                    sc = job.scenes[int(rng.integers(len(job.scenes)))][1]
                    run = _Run("cut", s, e, _cover(sc, width + 40, height + 30, rng))
            else:
                hand = rng.random() < 0.6
                col = (
                    skin * rng.uniform(0.85, 1.1)
                    if hand
                    else rng.uniform(20, 90, 3) * rng.choice([1.0, 2.5])
                )
                params = (
                    np.clip(col, 0, 255),
                    rng.uniform(0.15, 0.85),
                    rng.uniform(0.45, 0.9) if hand else rng.uniform(0.2, 0.8),
                    rng.uniform(-30, 30),
                    rng.uniform(-0.15, 0.15, 2),
                )
                run = _Run("hand" if hand else "object", s, e, params)
            runs[s:e] = [run] * (e - s)
    return no_face, occluded, runs


def _plan_light(job: VideoJob, rng: np.random.Generator) -> _Light:
    n, fps = job.n_frames, job.fps
    gain = np.clip(exp(0.15 * smooth_noise(rng, n, 2 * fps)), 0.7, 1.35)
    gamma = np.clip(exp(0.12 * smooth_noise(rng, n, 3 * fps)), 0.8, 1.25)
    side = 0.12 * smooth_noise(rng, n, 3 * fps)
    return _Light(gain, gamma, side, job.noise_std * rng.uniform(0.6, 1.4))


def plan_video(job: VideoJob, rng: np.random.Generator) -> _Plan:
    """Every per-video choice of ``job``, drawn from ``rng`` (before any frame is drawn)."""
    scene = _plan_scene(job, rng)
    coefs = _plan_face_motion(job, rng, scene)
    pip = _plan_distractor(job, rng, scene.face_px)
    zoom, roll, target = _plan_camera(job, rng, scene.rig.face_height, pip)
    no_face, occluded, runs = _plan_runs(job, rng, scene, float(zoom.max()))
    light = _plan_light(job, rng)
    return _Plan(scene, coefs, pip, zoom, roll, target, no_face, occluded, runs, light)


class _FrameDrawer:
    """Draws the planned video's frames in order: the deformed face in the canvas, filmed by
    the camera (or the pan / cut of a no-face run), the occluder, the distractor's screen,
    then lighting and sensor noise."""

    def __init__(self, job: VideoJob, plan: _Plan, rng: np.random.Generator):
        self.job, self.plan, self.rng = job, plan, rng
        self.work = plan.scene.canvas.copy()  # the canvas with this frame's face pasted in
        self.ramp = np.linspace(-1.0, 1.0, job.width, dtype=np.float32)[None, :, None]
        self.levels = np.arange(256, dtype=np.float32) / 255.0

    def __call__(self, t: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Frame ``t`` (RGB uint8), and the subject's face box (x, y, w, h) in it where the
        face is in the picture (else None)."""
        p, width, height = self.plan, self.job.width, self.job.height
        rig = p.scene.rig
        rx0, ry0, rx1, ry1 = rig.box
        patch, pts = rig.render(p.coefs[t])
        self.work[ry0:ry1, rx0:rx1] = patch
        run = p.runs[t]
        kind = run.kind if run is not None else None
        tgt = run.what if kind == "pan" else p.target[t]
        m = _camera(p.zoom[t], p.roll[t], p.scene.face_c, tgt)
        if kind == "cut":
            k = (t - run.start) / max(1, run.end - run.start)
            frame = np.ascontiguousarray(
                run.what[int(15 * k) : int(15 * k) + height, int(20 * k) : int(20 * k) + width]
            )
        else:
            frame = cv2.warpAffine(
                self.work, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
            )
        box = None
        if not p.no_face[t]:
            fp = pts @ m[:, :2].T + m[:, 2]
            x0, y0 = fp.min(0)
            x1, y1 = fp.max(0)
            box = np.array((x0, y0, x1 - x0, y1 - y0), np.float32)
        if kind in ("hand", "object"):
            progress = (t - run.start) / max(1, run.end - run.start - 1)
            _draw_occluder(frame, kind, box, run.what, progress)
        if p.pip is not None and t >= p.pip.start:
            self._draw_pip(frame, t)
        return self._expose(frame, t), box

    def _draw_pip(self, frame: np.ndarray, t: int) -> None:
        pip = self.plan.pip
        o_patch, _ = pip.rig.render(pip.coefs[t])
        cx, cy = pip.centre - pip.rig.origin
        sub = cv2.getRectSubPix(o_patch, (pip.w, pip.h), (float(cx), float(cy)))
        x, y, pw, ph = pip.x, pip.y, pip.w, pip.h
        cv2.rectangle(frame, (x - 2, y - 2), (x + pw + 1, y + ph + 1), (20, 20, 20), -1)
        frame[y : y + ph, x : x + pw] = sub

    def _expose(self, frame: np.ndarray, t: int) -> np.ndarray:
        """Lighting: gamma (LUT) x gain x side light, then sensor noise."""
        light = self.plan.light
        lut = (power(self.levels, light.gamma[t]) * (255.0 * light.gain[t])).astype(np.float32)
        img = lut[frame] * (1.0 + light.side[t] * self.ramp)
        if light.noise_std > 0:
            img += self.rng.standard_normal(img.shape, dtype=np.float32) * light.noise_std
        return np.clip(img + 0.5, 0, 255).astype(np.uint8)


@contextmanager
def _video_file(job: VideoJob) -> Iterator[Callable[[np.ndarray], None]]:
    """``write(rgb_frame)`` into ``job.path`` (``job.fourcc``); the file is closed at the end."""
    size = (job.width, job.height)
    writer = cv2.VideoWriter(job.path, cv2.VideoWriter_fourcc(*job.fourcc), job.fps, size)
    if not writer.isOpened():
        raise DemoError(f"{job.path}: OpenCV cannot write a {job.fourcc} video here")
    try:
        yield lambda rgb: writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def render_video(job: VideoJob) -> VideoResult:
    """Render ``job`` into ``job.path``; return its per-frame ground truth."""
    cv2.setNumThreads(1)
    rng = np.random.default_rng(np.random.SeedSequence(job.seed))
    plan = plan_video(job, rng)
    draw = _FrameDrawer(job, plan, rng)
    n = job.n_frames
    box = np.full((n, 4), np.nan, np.float32)
    with _video_file(job) as write:
        for t in range(n):
            frame, face_box = draw(t)
            if face_box is not None:
                box[t] = face_box
            write(frame)
    pip = plan.pip
    return VideoResult(
        video_id=job.video_id,
        n_frames=n,
        face_visible=~plan.no_face,
        occluded=plan.occluded,
        distractor_visible=np.arange(n) >= pip.start if pip else np.zeros(n, bool),
        box=box,
        design={
            "subject": job.subject.name,
            "mirrored": plan.scene.mirrored,
            "face_px": round(float(plan.scene.face_px), 1),
            "expressiveness": round(float(plan.scene.gain), 3),
            "background": plan.scene.background,
            "distractor": job.other.name if job.distractor else None,
            "distractor_from_frame": pip.start if pip else None,
            "no_face_frames": int(plan.no_face.sum()),
            "occluded_frames": int(plan.occluded.sum()),
        },
    )

"""Following the labelled subject through a video, among every face the detector finds.

The label belongs to the person reacting, not to whichever face is largest: a trailer on a
screen or a second person may appear, come closer, or stay while the subject looks away.
:class:`SubjectTracker` keeps *continuity* instead:

1. **Choosing whom to follow.** The first ``init_frames`` frames that hold any face are
   buffered (detections only, never images). Faces are linked into tracklets across them by
   position and size; the subject is the most persistent tracklet (ties: the larger face), or
   for Aff-Wild2's ``left`` / ``right`` subjects the persistent tracklet furthest on that side.
2. **Following.** Each later frame's faces are matched to the subject's last position (plus
   its recent motion): a face counts only if its centre moved at most ``max_shift`` face
   sizes and its size changed at most ``max_scale_change`` (both allowances grow with the
   square root of the frames the subject has been unseen, up to 3x), and — once the subject
   has been unseen for 2 frames or more — only if it also *looks like* the subject; among
   those the best combined position / size / appearance match wins. No such face: the
   subject is not in this frame, whatever other faces are there.
3. **Appearance.** A face's signature is its normalised grey patch (structure) and its
   hue-saturation histogram (colour; left out for colourless video). Similarity is the mean
   of the two correlations; ``min_similarity`` separates people (on the demo's two identities
   the same person scores >= 0.67 in 95 % of frames, the other <= 0.32). The tracker keeps a
   running template and a slowly-learnt *anchor* of the person first chosen.
4. **Re-finding and repair.** A face elsewhere is taken as the subject after an absence only
   if it resembles the subject (template or anchor) by ``min_similarity``. If, for 5 frames
   running, another face resembles the anchor clearly better (by 0.2) than the followed one,
   the tracker switches to it — a wrong turn is undone. After ``4 * init_frames`` frames
   unseen, step 1 runs again (preferring a face that resembles the anchor).

Decisions for the buffered frames come out when the window closes, so :meth:`push` returns
a list of ``(frame, face index or None)`` in frame order, possibly empty; :meth:`finish`
returns the rest. Memory is bounded by the window.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

PATCH = 24  # side of the grey patch used as appearance descriptor


def appearance(gray: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-norm ``PATCH``x``PATCH`` grey patch of the box (structure signature)."""
    region = _region(gray, box)
    if region is None:
        return np.zeros(PATCH * PATCH, np.float32)
    patch = cv2.resize(region, (PATCH, PATCH), interpolation=cv2.INTER_AREA)
    v = patch.astype(np.float32).ravel()
    v -= v.mean()
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-6 else v


def colour_histogram(rgb: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """Unit-norm hue x saturation histogram of the box; None where the face is colourless."""
    region = _region(rgb, box)
    if region is None:
        return None
    hsv = cv2.cvtColor(region, cv2.COLOR_RGB2HSV)
    if float(hsv[..., 1].mean()) < 12:  # grey video (or nearly): colour says nothing
        return None
    h = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256]).ravel()
    n = float(np.linalg.norm(h))
    return (h / n).astype(np.float32) if n > 0 else None


def _region(img: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    h, w = img.shape[:2]
    x, y, bw, bh = box
    x0, y0 = int(max(0, math.floor(x))), int(max(0, math.floor(y)))
    x1, y1 = int(min(w, math.ceil(x + bw))), int(min(h, math.ceil(y + bh)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return img[y0:y1, x0:x1]


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-6 else v


@dataclass
class Signature:
    """Appearance of a person: grey-patch template and colour histogram (or None)."""

    grey: np.ndarray
    colour: np.ndarray | None

    def similarity(self, face: Face) -> float:
        s = float(face.desc @ self.grey)
        if self.colour is not None and face.hist is not None:
            s = 0.5 * (s + float(face.hist @ self.colour))
        return s

    def learn(self, face: Face, rate: float) -> None:
        self.grey = _unit((1 - rate) * self.grey + rate * face.desc)
        if face.hist is not None:
            c = face.hist if self.colour is None else (1 - rate) * self.colour + rate * face.hist
            self.colour = _unit(c)

    @classmethod
    def of(cls, face: Face) -> Signature:
        return cls(face.desc.copy(), None if face.hist is None else face.hist.copy())


@dataclass
class Face:
    """One detected face: box (x, y, w, h), 6 key points, score, appearance signature."""

    box: np.ndarray
    keypoints: np.ndarray
    score: float
    desc: np.ndarray  # grey patch (see :func:`appearance`)
    hist: np.ndarray | None = None  # colour (see :func:`colour_histogram`)

    @property
    def centre(self) -> np.ndarray:
        return np.array([self.box[0] + self.box[2] / 2, self.box[1] + self.box[3] / 2])

    @property
    def size(self) -> float:
        return float(math.sqrt(max(self.box[2] * self.box[3], 1e-6)))


@dataclass
class _Track:
    centre: np.ndarray
    size: float
    last: int
    look: Signature  # running template
    anchor: Signature  # the person first chosen, learnt slowly and only from good matches
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))

    @classmethod
    def start(cls, face: Face, frame: int) -> _Track:
        return cls(face.centre, face.size, frame, Signature.of(face), Signature.of(face))

    def update(self, face: Face, frame: int, learn: float = 0.1, anchor_ok: bool = True) -> None:
        gap = max(1, frame - self.last)
        v = (face.centre - self.centre) / gap
        self.velocity = 0.5 * self.velocity + 0.5 * v
        self.centre, self.size, self.last = face.centre, face.size, frame
        self.look.learn(face, learn)
        if anchor_ok:
            self.anchor.learn(face, 0.02)


class SubjectTracker:
    """See the module docstring. ``subject`` is "", "left" or "right"."""

    SWITCH_FRAMES = 5  # frames another face must look clearly more like the anchor
    SWITCH_MARGIN = 0.2

    def __init__(
        self,
        subject: str = "",
        init_frames: int = 15,
        max_shift: float = 0.6,
        max_scale_change: float = 0.5,
        min_similarity: float = 0.5,
    ):
        if subject not in ("", "left", "right"):
            raise ValueError(f"subject {subject!r}: expected '', 'left' or 'right'")
        self.subject = subject
        self.init_frames = init_frames
        self.max_shift = max_shift
        self.log_scale = math.log1p(max_scale_change)
        self.min_similarity = min_similarity
        self.reinit_after = 4 * init_frames
        self.track: _Track | None = None
        self._window: deque[tuple[int, list[Face]]] = deque()
        self._window_faces = 0
        self._old_anchor: Signature | None = None
        self._rival_frames = 0

    # -- matching -------------------------------------------------------------------------
    def _near(self, track: _Track, faces: list[Face], frame: int) -> int | None:
        lost = max(1, frame - track.last)
        grow = min(math.sqrt(lost), 3.0)
        pred = track.centre + track.velocity * min(lost, 5)
        best, best_cost = None, math.inf
        for i, f in enumerate(faces):
            shift = float(np.linalg.norm(f.centre - pred)) / track.size
            scale = abs(math.log(f.size / track.size))
            if shift > self.max_shift * grow or scale > self.log_scale * grow:
                continue
            sim = max(track.look.similarity(f), track.anchor.similarity(f))
            if lost >= 2 and sim < self.min_similarity:
                continue  # after a gap, being in the right place is not enough
            cost = shift / (self.max_shift * grow) + scale / (self.log_scale * grow) + (1 - sim)
            if cost < best_cost:
                best, best_cost = i, cost
        return best

    def _refind(self, track: _Track, faces: list[Face], frame: int) -> int | None:
        if frame - track.last < 3 or not faces:
            return None
        sims = np.array([max(track.look.similarity(f), track.anchor.similarity(f)) for f in faces])
        ok = np.flatnonzero(sims >= self.min_similarity)
        if not len(ok):
            return None
        return int(self._side_pick([faces[i] for i in ok], ok, sims[ok]))

    def _rival(self, track: _Track, faces: list[Face], chosen: int | None) -> int | None:
        """Another face that has looked clearly more like the anchor for a while, if any."""
        if len(faces) < 2 and chosen is not None:
            self._rival_frames = 0
            return None
        sims = [track.anchor.similarity(f) for f in faces]
        base = sims[chosen] if chosen is not None else -math.inf
        others = [k for k in range(len(faces)) if k != chosen]
        best = max(others, key=lambda k: sims[k], default=None)
        if (
            best is not None
            and sims[best] >= self.min_similarity
            and sims[best] > base + self.SWITCH_MARGIN
        ):
            self._rival_frames += 1
        else:
            self._rival_frames = 0
        if self._rival_frames >= self.SWITCH_FRAMES:
            self._rival_frames = 0
            return best
        return None

    def _side_pick(self, faces: list[Face], idx, sims) -> int:
        if self.subject == "left":
            return idx[int(np.argmin([f.centre[0] for f in faces]))]
        if self.subject == "right":
            return idx[int(np.argmax([f.centre[0] for f in faces]))]
        return idx[int(np.argmax(sims))]

    # -- choosing whom to follow ------------------------------------------------------------
    def _choose(self) -> list[tuple[int, int | None]]:
        """Link the window's faces into tracklets; pick the subject's; emit the window."""
        window = dict(self._window)
        tracklets = self._link(self._window)
        chosen = self._pick(tracklets, window) if tracklets else None
        members = tracklets[chosen][1] if chosen is not None else {}
        out = [(frame, members.get(frame)) for frame, _ in self._window]
        if chosen is not None:
            self._follow(members, window)
        self._window.clear()
        self._window_faces = 0
        return out

    def _link(self, frames) -> list[tuple[_Track, dict[int, int]]]:
        """The window's faces linked frame to frame into tracklets (track, frame -> face)."""
        tracklets: list[tuple[_Track, dict[int, int]]] = []
        for frame, faces in frames:
            taken: set[int] = set()
            for tr, members in tracklets:
                cand = [i for i in range(len(faces)) if i not in taken]
                j = self._near(tr, [faces[i] for i in cand], frame)
                if j is not None:
                    i = cand[j]
                    taken.add(i)
                    members[frame] = i
                    tr.update(faces[i], frame, learn=0.3)
            for i, f in enumerate(faces):
                if i not in taken:
                    tracklets.append((_Track.start(f, frame), {frame: i}))
        return tracklets

    def _pick(self, tracklets, window: dict[int, list[Face]]) -> int:
        """The subject's tracklet among the persistent ones: the leftmost / rightmost for a
        side, else the biggest of the most seen; a look-alike of the lost subject first."""
        counts = np.array([len(m) for _, m in tracklets])
        persistent = [k for k in range(len(tracklets)) if counts[k] >= 0.5 * counts.max()]

        def mean_x(k):
            return np.mean([window[fr][i].centre[0] for fr, i in tracklets[k][1].items()])

        def mean_size(k):
            return np.mean([window[fr][i].size for fr, i in tracklets[k][1].items()])

        if self._old_anchor is not None:  # re-initialising: prefer a look-alike
            alike = [
                k for k in range(len(tracklets)) if self._resembles_old(tracklets[k][1], window)
            ]
            if alike:
                persistent = [k for k in persistent if k in alike] or alike
        if self.subject == "left":
            return min(persistent, key=mean_x)
        if self.subject == "right":
            return max(persistent, key=mean_x)
        top = max(counts[k] for k in persistent)
        best = [k for k in persistent if counts[k] >= 0.8 * top]
        return max(best, key=mean_size)

    def _follow(self, members: dict[int, int], window: dict[int, list[Face]]) -> None:
        """Start following the chosen tracklet: its track replayed, its appearance learnt
        (the lost subject's kept where the first face resembles it)."""
        frames = sorted(members)
        first = window[frames[0]][members[frames[0]]]
        tr = _Track.start(first, frames[0])
        for fr in frames[1:]:
            tr.update(window[fr][members[fr]], fr, learn=0.3, anchor_ok=False)
        tr.anchor = Signature.of(first)
        for fr in frames[1:]:
            tr.anchor.learn(window[fr][members[fr]], 1.0 / (1 + frames.index(fr)))
        if (
            self._old_anchor is not None
            and self._old_anchor.similarity(first) >= self.min_similarity
        ):
            tr.anchor = self._old_anchor
        self.track = tr
        self._old_anchor = None

    def _resembles_old(self, members: dict[int, int], window: dict[int, list[Face]]) -> bool:
        sims = [self._old_anchor.similarity(window[fr][i]) for fr, i in members.items()]
        return float(np.median(sims)) >= self.min_similarity

    # -- public -------------------------------------------------------------------------------
    def push(self, frame: int, faces: list[Face]) -> list[tuple[int, int | None]]:
        """Add one frame's faces; return the decisions that are final now (frame order)."""
        if self.track is None:
            self._window.append((frame, faces))
            self._window_faces += bool(faces)
            if self._window_faces >= self.init_frames or len(self._window) >= 10 * self.init_frames:
                return self._choose() if self._window_faces else self._flush_empty()
            return []
        track = self.track
        i = self._near(track, faces, frame)
        if i is None:
            i = self._refind(track, faces, frame)
        rival = self._rival(track, faces, i)
        if rival is not None:
            i = rival
            track.centre, track.size = faces[i].centre, faces[i].size
            track.velocity = np.zeros(2)
        if i is not None:
            ok = track.anchor.similarity(faces[i]) >= self.min_similarity
            track.update(faces[i], frame, anchor_ok=ok)
            return [(frame, i)]
        if frame - track.last >= self.reinit_after:
            self._old_anchor = track.anchor
            self.track = None
        return [(frame, None)]

    def _flush_empty(self) -> list[tuple[int, int | None]]:
        out = [(frame, None) for frame, _ in self._window]
        self._window.clear()
        self._window_faces = 0
        return out

    def finish(self) -> list[tuple[int, int | None]]:
        """Decisions for frames still buffered at the end of the video."""
        if not self._window:
            return []
        return self._choose() if self._window_faces else self._flush_empty()

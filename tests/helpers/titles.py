"""Title clips: large rendered words over skies and gradients, moving and zooming, no person.

Lettering is where face detectors put false faces (an "a" or an "o" between two strokes looks
like eyes over a mouth); these clips must never get a face through the face stages. Each clip
is deterministic: ``word`` drawn with an OpenCV Hershey ``font`` (large, thick, anti-aliased)
over a ``background`` (vertical sky gradients, a radial gradient, blurred-noise clouds, or the
sky of ``skimage.data.rocket``, a real photo that ships with scikit-image), animated by
``motion`` (``pan``: the word slides across; ``zoom``: it grows from 1x to 3x about the
centre; ``zoom_out``: the reverse; ``blur``: it grows and blurs away at the end).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import cycle

import cv2
import numpy as np

W, H = 320, 240

FONTS = {
    "simplex": cv2.FONT_HERSHEY_SIMPLEX,
    "duplex": cv2.FONT_HERSHEY_DUPLEX,
    "complex": cv2.FONT_HERSHEY_COMPLEX,
    "triplex": cv2.FONT_HERSHEY_TRIPLEX,
    "script": cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
    "italic": cv2.FONT_HERSHEY_TRIPLEX | cv2.FONT_ITALIC,
}
WORDS = ["affwild", "Aloha", "good", "oOo", "Qa", "boo!", "moon", "a o", "GO 8", "aa"]
SKIES = {  # top and bottom colour, RGB
    "blue_sky": ((70, 120, 200), (220, 230, 245)),
    "dusk": ((40, 30, 90), (250, 150, 90)),
    "pale": ((200, 110, 60), (245, 220, 200)),
}
BACKGROUNDS = [*SKIES, "radial", "clouds", "rocket"]
MOTIONS = ["pan", "zoom", "zoom_out", "blur"]
TEXT_COLOURS = [(250, 250, 250), (30, 30, 30), (250, 220, 60), (200, 30, 30)]


def background(name: str, w: int = W, h: int = H) -> np.ndarray:
    if name in SKIES:
        top, bottom = (np.array(c, np.float64) for c in SKIES[name])
        y = np.linspace(0, 1, h)[:, None, None]
        return np.broadcast_to((1 - y) * top + y * bottom, (h, w, 3)).astype(np.uint8).copy()
    if name == "radial":
        yy, xx = np.mgrid[0:h, 0:w]
        r = np.hypot(xx - w * 0.6, yy - h * 0.3) / np.hypot(w, h)
        inner, outer = np.array([255, 240, 180]), np.array([60, 90, 160])
        return (inner + (outer - inner) * np.clip(r * 1.6, 0, 1)[..., None]).astype(np.uint8)
    if name == "clouds":
        rng = np.random.default_rng(7)
        noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 12)
        noise = (noise - noise.min()) / (np.ptp(noise) + 1e-9)
        sky = background("blue_sky", w, h).astype(np.float64)
        return (sky + (255 - sky) * noise[..., None] * 0.8).astype(np.uint8)
    if name == "rocket":  # a real photo's sky (scikit-image's sample data)
        import skimage.data

        img = skimage.data.rocket()[:200, :300]  # sky above the launch tower
        return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    raise ValueError(f"unknown background {name!r}")


@dataclass(frozen=True)
class Title:
    word: str
    font: str
    background: str
    motion: str
    colour: tuple[int, int, int] = (250, 250, 250)

    @property
    def name(self) -> str:
        return f"{self.word}-{self.font}-{self.background}-{self.motion}".replace(" ", "_")


def render(t: Title, n: int = 30, w: int = W, h: int = H) -> list[np.ndarray]:
    """The clip's ``n`` RGB frames."""
    bg = background(t.background, w, h)
    font = FONTS[t.font]
    base_scale, thick = 2.6, 9
    (tw, th), _ = cv2.getTextSize(t.word, font, base_scale, thick)
    # the text drawn once, large, on a transparent layer, then warped per frame
    pad = 20
    layer = np.zeros((th + 2 * pad + 20, tw + 2 * pad, 3), np.uint8)
    mask = np.zeros(layer.shape[:2], np.uint8)
    org = (pad, th + pad)
    cv2.putText(layer, t.word, org, font, base_scale, t.colour, thick, cv2.LINE_AA)
    cv2.putText(mask, t.word, org, font, base_scale, 255, thick, cv2.LINE_AA)
    lh, lw = mask.shape
    fit = min(0.95 * w / lw, 0.6 * h / lh)  # the whole word fits at scale 1
    frames = []
    for i in range(n):
        u = i / max(n - 1, 1)
        if t.motion == "pan":
            s, cx, cy = fit * 1.2, w * (1.1 - 1.2 * u), h * (0.45 + 0.1 * u)
        elif t.motion in ("zoom", "blur"):
            s, cx, cy = fit * (1 + 2 * u), w / 2, h / 2
        elif t.motion == "zoom_out":
            s, cx, cy = fit * (3 - 2 * u), w / 2, h / 2
        else:
            raise ValueError(f"unknown motion {t.motion!r}")
        m = np.array([[s, 0, cx - s * lw / 2], [0, s, cy - s * lh / 2]])
        txt = cv2.warpAffine(layer, m, (w, h), flags=cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_LINEAR)[..., None] / 255.0
        f = (bg * (1 - alpha) + txt * alpha).astype(np.uint8)
        if t.motion == "blur" and u > 0.7:
            f = cv2.GaussianBlur(f, (0, 0), 1 + 10 * (u - 0.7))
        frames.append(f)
    return frames


def titles(k: int | None = None) -> list[Title]:
    """The fixture set: every word, each with a font, background, motion and colour in turn
    (deterministic); the first ``k`` if given."""
    out = []
    fonts, bgs, motions, colours = cycle(FONTS), cycle(BACKGROUNDS), cycle(MOTIONS), cycle(
        TEXT_COLOURS)  # fmt: skip
    for _ in range(3):
        for word in WORDS:
            out.append(Title(word, next(fonts), next(bgs), next(motions), next(colours)))
    return out[:k] if k else out

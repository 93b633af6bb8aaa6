"""The real photographs the demo animates, their face landmarks, and faceless scenes.

Two face photographs ship inside installed packages:

- ``astronaut``: Eileen Collins, NASA portrait, in scikit-image's data (``skimage.data.astronaut``);
- ``grace_hopper``: Grace Hopper's portrait in matplotlib's sample data.

MediaPipe Face Mesh (static image mode) finds each face once per generation; its 468 points
(rounded to 0.5 px so that tiny numeric differences between machines rarely change a
video) are the control points of the expression warp. Every demo subject is one of these
two people, varied per video (mirror, skin tone, scale, background); that is documented in
the generated README.

Faceless scenes (coffee cup, rocket, brick, grass, gravel from scikit-image) are used as the
background the photo stands in and for cuts to shots without a face.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.errors import InputError


class DemoError(InputError):
    """The demo data set cannot be generated (a source photo is missing or has no face)."""


@dataclass(frozen=True)
class SourceFace:
    name: str
    image: np.ndarray  # RGB uint8
    landmarks: np.ndarray  # (468, 2) float64 pixel coordinates (x, y), rounded to 0.5 px
    # The expression the photo already shows, on the demo's valence / arousal scale: the
    # warp moves the face from this expression to the frame's.
    neutral_valence: float
    neutral_arousal: float

    @property
    def face_height(self) -> float:
        return float(np.ptp(self.landmarks[:, 1]))


# --- MediaPipe Face Mesh indices (the canonical 468-point topology) -------------------------
# "Left"/"right" are image left/right in the unmirrored photo.
MOUTH_CORNERS = (61, 291)
LIP_UPPER_OUTER = (0, 37, 267, 39, 269, 40, 270, 185, 409)
LIP_LOWER_OUTER = (17, 84, 314, 181, 405, 91, 321, 146, 375)
LIP_UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIP_LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
CHIN = (152, 148, 377, 176, 400, 149, 378)
# Eyes: (upper lid point, the lower lid point below it) pairs, both eyes.
EYELID_PAIRS = (
    (159, 145), (158, 153), (160, 144), (157, 154), (161, 163),
    (386, 374), (385, 380), (387, 373), (384, 381), (388, 390),
)  # fmt: skip
EYE_CORNERS = (33, 133, 263, 362)
BROWS = (70, 63, 105, 66, 107, 46, 53, 52, 65, 55, 300, 293, 334, 296, 336, 276, 283, 282, 295, 285)
BROWS_INNER = (107, 55, 336, 285)
BROWS_MID = (105, 65, 334, 295)
CHEEKS = (50, 280, 205, 425, 117, 346)
NOSE = (1, 4, 6, 168, 98, 327, 2, 5)
FOREHEAD = (10, 151, 9)
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
    377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip


def _astronaut() -> np.ndarray:
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut()[..., :3])


def _grace_hopper() -> np.ndarray:
    import matplotlib.cbook

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DemoError(f"{path}: matplotlib's Grace Hopper sample photo cannot be read")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


# name, loader, the photo's own (valence, arousal): Collins smiles broadly, Hopper is calm.
_SOURCES = (
    ("astronaut", _astronaut, 0.45, 0.15),
    ("grace_hopper", _grace_hopper, 0.05, -0.25),
)
SOURCE_NAMES = tuple(name for name, *_ in _SOURCES)


def detect_landmarks(image: np.ndarray, name: str = "image") -> np.ndarray:
    """The 468 Face Mesh points of the one face in ``image`` (RGB), rounded to 0.5 px."""
    from pipeline.face.mediapipe_models import stock_face_mesh
    from pipeline.quiet import native_stderr_silenced

    face_mesh = stock_face_mesh()

    # The stock graph logs (absl, TFLite) as it starts and runs: silenced.
    with (
        native_stderr_silenced(),
        face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=False) as mesh,
    ):
        result = mesh.process(image)
    if not result.multi_face_landmarks:
        raise DemoError(f"{name}: MediaPipe Face Mesh finds no face in the source photo")
    h, w = image.shape[:2]
    pts = np.array([[p.x * w, p.y * h] for p in result.multi_face_landmarks[0].landmark])
    return np.round(pts * 2.0) / 2.0


@functools.lru_cache(maxsize=1)
def load_sources() -> tuple[SourceFace, ...]:
    """Both source faces with their landmarks (MediaPipe runs once per process)."""
    faces = []
    for name, loader, v0, a0 in _SOURCES:
        image = loader()
        faces.append(SourceFace(name, image, detect_landmarks(image, name), v0, a0))
    return tuple(faces)


def _gray_to_rgb(img: np.ndarray) -> np.ndarray:
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]


@functools.lru_cache(maxsize=1)
def load_scenes() -> tuple[tuple[str, np.ndarray], ...]:
    """Faceless RGB scenes from scikit-image's data (backgrounds and cut-away shots)."""
    import skimage.data

    return tuple(
        (name, np.ascontiguousarray(_gray_to_rgb(getattr(skimage.data, name)())))
        for name in ("coffee", "rocket", "brick", "grass", "gravel")
    )

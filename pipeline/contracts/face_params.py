"""The params sections of the built-in face steps (``detect``, ``landmarks``, ``crop``):
each step's typed section (:attr:`pipeline.face.jobs.FaceStep.params`), which
:mod:`pipeline.config` validates with the rest of ``params.yaml``. Here, below both, so that a
face step does not import the params code that reads it through the registry."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pipeline.contracts.sections import Section


class DetectConfig(Section):
    """Face detection and following the labelled subject (``detect`` stage)."""

    # MediaPipe detector: "short" (faces within ~2 m, 128 px input), "full" (up to ~5 m,
    # 192 px input; finds smaller faces, misses faces that fill the frame, slower) or "auto"
    # (short, and full on the frames where short finds no face).
    model: Literal["auto", "short", "full"] = "auto"
    min_confidence: float = Field(0.5, gt=0, lt=1)
    # Frames looked at before choosing whom to follow: the most persistent face in them
    # (for Aff-Wild2's left / right subjects, the persistent face on that side).
    init_frames: int = Field(15, ge=1)
    # Largest jump of the face centre from one frame to the next, in face sizes; the
    # allowance grows with the square root of the frames the subject has been lost.
    max_shift: float = Field(0.6, gt=0)
    # Largest change of face size between matches (as a ratio, e.g. 0.5 = x1.5 or /1.5).
    max_scale_change: float = Field(0.5, gt=0)
    # Appearance similarity (mean of grey-patch and colour-histogram correlations) from which
    # a face counts as the subject after the subject was unseen, or as a better match.
    min_similarity: float = Field(0.5, ge=-1, le=1)
    # A face must persist to be reported: episodes (gaps of at most max_gap_in_run frames
    # bridged) with fewer face frames than min_run are dropped — a "face" on a texture or on
    # lettering for a frame or three. 1 turns this off. A clip shorter than min_run keeps a
    # face seen in all its frames.
    min_run: int = Field(5, ge=1)
    max_gap_in_run: int = Field(5, ge=0)


class LandmarksConfig(Section):
    """68 iBUG 300-W landmarks from MediaPipe's face mesh (``landmarks`` stage)."""

    # Minimum face-presence score of the mesh for a frame to count as a face.
    min_presence: float = Field(0.5, gt=0, lt=1)
    # Minimum share of the inner face with fine detail (pipeline.face.plausible): lettering
    # and flat shapes the mesh takes for a face fall below it. 0 turns the check off.
    min_texture: float = Field(0.48, ge=0, lt=1)
    # Minimum probability that the inner face looks like a face to the appearance classifier
    # (pipeline.face.plausible.appearance: HOG + logistic regression): shaded 3-D lettering
    # that has texture falls below it. 0 turns the check off.
    min_appearance: float = Field(0.5, ge=0, lt=1)
    # Missing runs of at most this many frames between two faces are interpolated.
    max_gap: int = Field(5, ge=0)
    # Causal One-Euro smoothing of the landmarks over time ("none" to turn off).
    smoothing: Literal["none", "one_euro"] = "none"
    # One-Euro cut-off (Hz) at rest and its growth with speed (per face-size per second).
    smooth_min_cutoff: float = Field(1.0, gt=0)
    smooth_beta: float = Field(0.5, ge=0)
    # Mesh -> 68 points: the linear map learnt from annotated photos ("learned") or the
    # hand-written rules ("rules"; then ``jaw`` chooses the jaw's rule).
    mapping: Literal["learned", "rules"] = "learned"
    # rules only: jaw on the visible face outline ("contour") or on fixed mesh vertices ("fixed").
    jaw: Literal["contour", "fixed"] = "contour"
    # The attention mesh model (MediaPipe's refine_landmarks): sharper lips and eyes.
    refine: bool = True
    # Where the mesh's ROI came from the detector, run the mesh again on its own points' ROI.
    second_pass: bool = True
    # Track (ROI from the previous mesh) first while that ROI overlaps the subject box's this
    # much; below it re-detect first (tracking is the fallback down to an overlap of 0.5).
    track_min_iou: float = Field(0.7, ge=0.5, le=1)
    # Use the landmarks a data set ships (AFEW-VA) instead of the mesh where there are any.
    use_source_landmarks: bool = False


class CropConfig(Section):
    """Square face crops for the networks (``crop`` stage)."""

    size: int = Field(224, ge=16, le=1024)  # 224 as in the paper
    # Added on each side of the face's extent, as a fraction of it.
    margin: float = Field(0.25, ge=0, le=2)
    # Rotate so that the eyes are level (in-plane alignment).
    align: bool = False
    jpeg_quality: int = Field(95, ge=1, le=100)
    # Outside the frame: "constant" (black) or "replicate" (edge pixels).
    border: Literal["constant", "replicate"] = "constant"

"""Typed, validated parameters: the one place ``params.yaml`` is parsed.

Every stage calls :func:`load_params` first, so a value that is not allowed (a typo in a
choice, a negative rate, an unknown key) fails at once, before any data is read, with a
message naming the key and what is allowed.

Each ``params.yaml`` section is one frozen model below; add a section by adding a model and
a field on :class:`Params`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DatasetFormat = Literal["affwild", "affwild2", "afewva"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(Section):
    """Where the data set lies and in which layout."""

    root: str = "data/raw/demo"
    format: DatasetFormat = "affwild"
    # Frame-folder data sets (AFEW-VA) carry no frame rate; this one is assumed for them.
    fps: float = Field(25.0, gt=0)


class SplitConfig(Section):
    """How videos are assigned to train / val / test. Always by video, never by frame."""

    seed: int = 0
    # Fraction of the training videos held out for validation (the paper validates
    # within the training set).
    val_fraction: float = Field(0.2, ge=0, lt=1)
    # Fraction of all clips used for testing, for data sets without an official test split
    # (AFEW-VA).
    test_fraction: float = Field(0.2, ge=0, lt=1)
    # Aff-Wild2's Validation_Set: used as the validation split as shipped, or as the test
    # split (its test labels are not public); with "test", val is held out from Train_Set.
    affwild2_validation: Literal["val", "test"] = "val"


class IngestConfig(Section):
    """What the ``ingest`` stage does with imperfect data."""

    # A label file with a different number of lines than the video has frames:
    # "error" stops; "truncate" keeps the shorter of the two and reports it.
    length_mismatch: Literal["error", "truncate"] = "error"
    # Broken videos / label files: "fail" stops listing every problem at once;
    # "skip" leaves those videos out and lists them (and why) in the ingest report.
    on_error: Literal["fail", "skip"] = "fail"
    n_jobs: int = Field(2, ge=1)


class DemoConfig(Section):
    """The synthetic demo data set (see ``pipeline.demo``)."""

    seed: int = 0
    n_train: int = Field(8, ge=1)
    n_test: int = Field(4, ge=1)
    min_frames: int = Field(240, ge=10)
    max_frames: int = Field(360, ge=10)
    fps: float = Field(30.0, gt=0)
    width: int = Field(320, ge=64)
    height: int = Field(240, ge=64)
    # Labels trail the visible expression by this much, like human annotators' reaction time.
    label_delay_s: float = Field(0.2, ge=0)
    # Share of videos in which a second, unlabelled face appears for a while.
    distractor_fraction: float = Field(0.35, ge=0, le=1)
    # Share of frames in which the subject's face is out of the picture.
    no_face_fraction: float = Field(0.04, ge=0, lt=0.5)
    # Share of frames in which part of the face is occluded.
    occlusion_fraction: float = Field(0.04, ge=0, lt=0.5)
    noise_std: float = Field(4.0, ge=0)
    n_jobs: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _frames_ordered(self) -> DemoConfig:
        if self.max_frames < self.min_frames:
            raise ValueError(f"max_frames ({self.max_frames}) < min_frames ({self.min_frames})")
        return self


class Params(Section):
    data: DataConfig = DataConfig()
    split: SplitConfig = SplitConfig()
    ingest: IngestConfig = IngestConfig()
    demo: DemoConfig = DemoConfig()


class ParamsError(ValueError):
    """A params.yaml value that is not allowed; the message lists every problem."""


def parse_params(raw: dict, source: str = "params.yaml") -> Params:
    """Validate a params mapping; raise :class:`ParamsError` naming every bad key."""
    try:
        return Params.model_validate(raw or {})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                section = _section_model(err["loc"][:-1])
                allowed = ", ".join(section.model_fields) if section else ""
                msg = f"unknown key (allowed: {allowed})"
            elif "input" in err and not isinstance(err["input"], dict):
                msg = f"{msg} (got {err['input']!r})"
            lines.append(f"  {key}: {msg}")
        raise ParamsError(f"{source}: invalid parameters\n" + "\n".join(lines)) from None


def load_params(path: str | os.PathLike = "params.yaml") -> Params:
    """Read and validate ``params.yaml``."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path}: no such file (run from the repository root)") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return parse_params(raw, str(path))


def _section_model(loc: tuple) -> type[BaseModel] | None:
    model: type[BaseModel] = Params
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type):
            return None
        if not issubclass(field.annotation, BaseModel):
            return None
        model = field.annotation
    return model

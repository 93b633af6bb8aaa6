"""Typed, validated parameters: the one place ``params.yaml`` is parsed.

Every stage calls :func:`load_params` first, so a value that is not allowed (a typo in a
choice, a negative rate, an unknown key) fails at once, before any data is read, with a
message naming the key and what is allowed.

Each ``params.yaml`` section is one frozen model below; add a section by adding a model and
a field on :class:`Params`. A registered face step that is not built in (a plug-in's,
:data:`pipeline.registry.FACE_STAGES`) brings its own section, named after it, validated
with the rest (:func:`params_model`).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    ValidationError,
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)

from pipeline.contracts.face_params import CropConfig, DetectConfig, LandmarksConfig
from pipeline.contracts.options import BackboneOptions
from pipeline.contracts.sections import Section
from pipeline.errors import InputError
from pipeline.registry import BACKBONES, DATA_FORMATS, ENGINES, FACE_STAGES

# Names of plug-ins, valid while registered (pipeline.registry: the single source of names).
DatasetFormat = Annotated[str, AfterValidator(DATA_FORMATS.check)]
EngineName = Annotated[str, AfterValidator(ENGINES.check)]


class DataConfig(Section):
    """Where the data set lies and in which layout."""

    root: str = "data/raw/demo"
    format: DatasetFormat = "affwild"
    # Frame-folder data sets (AFEW-VA) carry no frame rate; this one is assumed for them.
    fps: float = Field(25.0, gt=0)
    # The labels train and val are read from (Table 6), where the data set ships each
    # annotator's beside the mean (pipeline/datasets/annotators.py): null = the mean (the
    # data set's label); best = per video, the annotator who agrees best with the others (our
    # rule); k (1, 2, ...) = annotator k of every video. The test split is always the mean.
    annotator: Literal["best"] | int | None = None

    @field_validator("annotator", mode="before")
    @classmethod
    def _annotator(cls, value: Any) -> Any:
        ok = value is None or value == "best"
        ok = ok or (isinstance(value, int) and not isinstance(value, bool) and value >= 1)
        if not ok:
            raise ValueError(
                "Input should be null (the mean of the annotators), 'best' or an integer >= 1 "
                "(annotator k of every video)"
            )
        return value


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


class DemoConfig(Section):
    """The synthetic demo data set (see ``pipeline.demo``)."""

    seed: int = 0
    n_train: int = Field(12, ge=1)
    n_test: int = Field(5, ge=1)
    min_frames: int = Field(180, ge=10)
    max_frames: int = Field(270, ge=10)
    fps: float = Field(30.0, gt=0)
    width: int = Field(320, ge=64)
    height: int = Field(240, ge=64)
    # Annotators' reaction time: each of a video's 3-6 annotators lags the visible expression
    # by this much ± up to 3 frames (at least 0); the label, their mean, by about this much.
    label_delay_s: float = Field(0.2, ge=0)
    # Share of videos in which a second, unlabelled face appears for a while.
    distractor_fraction: float = Field(0.35, ge=0, le=1)
    # Share of frames in which the subject's face is out of the picture.
    no_face_fraction: float = Field(0.04, ge=0, lt=0.5)
    # Share of frames in which part of the face is occluded.
    occlusion_fraction: float = Field(0.04, ge=0, lt=0.5)
    noise_std: float = Field(4.0, ge=0)
    # Height of the subject's face (Face Mesh points, chin to forehead) at zoom 1, in frame
    # pixels; drawn per video. MediaPipe's short-range detector wants roughly 60-150 px here.
    face_height_min: float = Field(80.0, ge=32)
    face_height_max: float = Field(110.0, ge=32)
    # Per-video gain on the expression deformation (how much the face shows of the labels).
    expressiveness_min: float = Field(0.6, ge=0)
    expressiveness_max: float = Field(1.2, ge=0)

    @model_validator(mode="after")
    def _ranges_ordered(self) -> DemoConfig:
        for lo, hi in (
            ("min_frames", "max_frames"),
            ("face_height_min", "face_height_max"),
            ("expressiveness_min", "expressiveness_max"),
        ):
            if getattr(self, hi) < getattr(self, lo):
                raise ValueError(f"{hi} ({getattr(self, hi)}) < {lo} ({getattr(self, lo)})")
        if self.face_height_max > 0.6 * min(self.width, self.height):
            raise ValueError(
                f"face_height_max ({self.face_height_max}) must be at most 0.6 x the smaller "
                f"frame side ({min(self.width, self.height)} px), or the face cannot fit"
            )
        return self


class BalanceConfig(Section):
    """Class balancing of the training split by duplication (paper, Section 2.1;
    :mod:`pipeline.records.balance`)."""

    # paper: whole copies of the negative-arousal quadrants only (V+A-, V-A-), as the paper
    # did, the factors that bring the shares nearest to the targets; exact: copies of any
    # quadrant (whole, then a seeded draw) to reach the targets exactly (our choice); none:
    # the training set as recorded. Validation and test are never balanced.
    method: Literal["paper", "exact", "none"] = "exact"
    # Target shares of the quadrants V+A+, V-A+, V+A-, V-A- (the paper's 43/24/19/14 %).
    targets: tuple[float, float, float, float] = (0.43, 0.24, 0.19, 0.14)
    seed: int = 0

    @model_validator(mode="after")
    def _targets_are_shares(self) -> BalanceConfig:
        if any(t < 0 for t in self.targets) or abs(sum(self.targets) - 1) > 1e-6:
            raise ValueError(f"targets {list(self.targets)} must be >= 0 and sum to 1")
        return self


class ShardConfig(Section):
    """TFRecord shards: frame records for the CNN, sequence records for the CNN-RNN."""

    shard_mb: float = Field(64.0, gt=0)
    # Frames per sequence record (the paper found 100 best; the authors' release used 80).
    seq_len: int = Field(100, ge=2)
    # Step between training sequences (overlap allowed); validation and test sequences
    # never overlap, so every frame is predicted exactly once.
    train_stride: int = Field(10, ge=1)
    seed: int = 0


class AugmentConfig(Section):
    """Training-time augmentation in the input pipeline (never applied in evaluation)."""

    flip: bool = True  # horizontal flip; landmarks are mirrored with the 68-point permutation
    brightness: float = Field(0.1, ge=0, le=1)  # max brightness delta (images in [0, 1])
    contrast: float = Field(0.1, ge=0, lt=1)  # contrast factor drawn from [1 - c, 1 + c]
    saturation: float = Field(0.1, ge=0, lt=1)
    shift: float = Field(0.05, ge=0, lt=0.5)  # max translation, fraction of the crop size


class OptionsError(ValueError):
    """Bad ``model.backbone`` options; ``errors`` are ``(option, message)`` pairs, which
    :func:`parse_params` reports as ``model.backbone.<option>: <message>``."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{key}: {msg}" for key, msg in errors))


class BackboneConfig(BaseModel):
    """``model.backbone``: a name of :data:`pipeline.registry.BACKBONES` and that backbone's
    options. params.yaml gives either the name alone (its options at their defaults) or a
    mapping ``{name: small, width: 16}``; both are written back as the mapping."""

    model_config = ConfigDict(frozen=True)

    name: str
    options: BackboneOptions = BackboneOptions()

    @model_validator(mode="before")
    @classmethod
    def _name_and_options(cls, data: Any) -> Any:
        if isinstance(data, BackboneConfig):
            return data
        if isinstance(data, str):
            data = {"name": data}
        if isinstance(data, dict) and "name" in data and not isinstance(data["name"], str):
            return {"name": data["name"]}  # the `name` field names it: not a string
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise ValueError("a backbone name, or a mapping {name: <backbone>, <option>: ...}")
        values = {k: v for k, v in data.items() if k != "name"}
        return {"name": data["name"], "options": backbone_options(data["name"], values)}

    @model_serializer(mode="plain")
    def _flat(self, info: SerializationInfo) -> dict[str, Any]:
        return {"name": self.name, **self.options.model_dump(mode=info.mode)}


def backbone_options(name: str, values: dict[str, Any]) -> BackboneOptions:
    """``values`` checked against the options backbone ``name`` declares; an unknown name
    lists the registered ones, an unknown or bad option is named."""
    options = BACKBONES.get(name).options
    known = options.model_fields
    unknown = [k for k in values if k not in known]
    if unknown:
        takes = f"takes: {', '.join(known)}" if known else "takes no options"
        raise OptionsError([(str(k), f"unknown option ({name} {takes})") for k in unknown])
    try:
        return options.model_validate(values)
    except ValidationError as exc:
        raise OptionsError(
            [
                (
                    ".".join(str(p) for p in err["loc"]),
                    f"{err['msg'].removeprefix('Value error, ')} (got {err['input']!r})",
                )
                for err in exc.errors()
            ]
        ) from None


class ModelConfig(Section):
    """The network (``pipeline.models``): backbone, head, recurrent part, initialisation.

    The defaults are the paper's best CNN / CNN-RNN (VGG-Face with landmarks, one network
    per dimension, 2 x 128 GRU) except ``gru``, Keras' form, which every model folder written
    before the option holds; ``params.yaml`` sets a CPU-sized model for the demo and
    ``profiles/paper.yaml`` the paper's whole configuration.
    """

    # A name of pipeline.registry.BACKBONES: vgg_face | vgg16 (Table 2) | resnet50 (Table 1)
    # | small (CPU-sized, for the demo); with options: {name: small, width: 16}.
    # (built without the registry: importing this module loads no plug-in)
    backbone: BackboneConfig = BackboneConfig.model_construct(
        name="vgg_face", options=BackboneOptions()
    )
    # Scenario 2: the 136 landmark values join the fully connected part (where: per backbone).
    landmarks: bool = True
    # joint: one network predicts (valence, arousal); separate: one network per dimension.
    heads: Literal["joint", "separate"] = "separate"
    # Hidden FC sizes of the CNN head; None = the paper's for the backbone and scenario.
    fc_units: tuple[Annotated[int, Field(ge=1)], ...] | None = None
    dropout: float = Field(0.5, ge=0, lt=1)
    # CNN-RNN: recurrent cell (lstm = LSTM with peephole connections), layers and units.
    rnn: Literal["gru", "lstm"] = "gru"
    # The GRU's form (pipeline.models.cells): keras = Keras' GRU (reset gate after the
    # recurrent matmul, cuDNN's form); tf1 = TensorFlow 1's GRUCell, the paper's (reset gate
    # on the state before the matmul; Keras GRU(reset_after=False); Section 3: TensorFlow).
    gru: Literal["keras", "tf1"] = "keras"
    rnn_layers: int = Field(2, ge=1)
    rnn_units: int = Field(128, ge=1)
    # CNN-RNN: units of the FC layer before the RNN; None = the CNN head's first FC size.
    rnn_fc_units: int | None = Field(None, ge=1)
    # random | imagenet (vgg16, resnet50; downloads) | path to a .h5 / .weights.h5 file
    # whose layers are loaded by name (e.g. the public VGG-Face weights in Keras form).
    init: str = "random"

    @field_validator("init")
    @classmethod
    def _init_is_known(cls, value: str) -> str:
        if value in ("random", "imagenet") or value.endswith(".h5"):
            return value
        raise ValueError("must be 'random', 'imagenet' or a path to a .h5 / .weights.h5 file")

    @model_validator(mode="after")
    def _imagenet_exists(self) -> ModelConfig:
        if self.init == "imagenet" and not BACKBONES.get(self.backbone.name).imagenet:
            have = [n for n in BACKBONES.names() if BACKBONES.get(n).imagenet]
            raise ValueError(
                f"init: imagenet weights exist for backbone {' or '.join(have)}, not "
                f"{self.backbone.name!r} (use random, or a weights file)"
            )
        return self


class TrainConfig(Section):
    """Optimisation of one model (paper, Section 3: Adam, 1e-3 decayed x0.97 every 400 steps,
    batch 80 for the CNN, dropout 0.5)."""

    epochs: int = Field(30, ge=1)
    batch_size: int = Field(80, ge=1)  # per replica
    learning_rate: float = Field(1e-3, gt=0)
    decay_rate: float = Field(0.97, gt=0, le=1)
    decay_steps: int = Field(400, ge=1)
    weight_decay: float = Field(0.0, ge=0)  # > 0: AdamW
    loss: Literal["ccc", "mse", "ccc+mse"] = "ccc"
    patience: int = Field(5, ge=0)  # early stopping on validation CCC; 0 = never stop early
    image_size: int | None = Field(None, ge=16)  # None: the crop size of the records
    augment: bool = True  # the `augment` section, training only
    steps_per_epoch: int | None = Field(None, ge=1)  # None: one pass over the records
    mixed_precision: Literal["auto", "on", "off"] = "auto"  # auto: on when a GPU is present
    seed: int = 0


class TrainRnnConfig(TrainConfig):
    """Training of the CNN-RNN (paper, Section 3.2), starting from the trained CNN (our
    choice: the paper does not say how its CNN part is initialised)."""

    batch_size: int = Field(4, ge=1)  # sequences of shard.seq_len frames, per replica
    learning_rate: float = Field(1e-4, gt=0)
    # true: keep the CNN's convolutional part fixed and train the rest (FC, RNN);
    # false: fine-tune everything.
    freeze_cnn: bool = False


class SvrConfig(Section):
    """SIFT + SVR baseline (paper, Section 4's first attempt)."""

    max_train: int = Field(3000, ge=10)  # training frames used (SVR is quadratic in them)
    grid: int = Field(4, ge=1)  # SIFT keypoints per side of the crop
    kernel: Literal["rbf", "linear"] = "rbf"
    C: float = Field(1.0, gt=0)
    epsilon: float = Field(0.1, ge=0)
    pca: int = Field(128, ge=0)  # components kept (0 = no PCA)
    seed: int = 0


class EvaluateConfig(Section):
    """The ``evaluate`` stage: metrics over every labelled test frame, intervals, plots."""

    # Frames of the test split drawn in the prediction-vs-truth plots (the paper's Figs. 4-5
    # show about 6,000).
    trace_frames: int = Field(1000, ge=10)
    batch_size: int = Field(64, ge=1)
    # A frame without a face gets the nearest predicted frame's output of the same video
    # within fill_max_gap frames (nearest), else the training-set mean label (mean: always).
    fill: Literal["nearest", "mean"] = "nearest"
    fill_max_gap: int = Field(12, ge=0)
    # CNN-RNN windows overlap by this many frames of context; only each window's tail is
    # kept (null: half the sequence length; 0: back-to-back windows starting cold).
    rnn_context: int | None = Field(None, ge=0)
    # The last rnn_blend frames before each seam are crossfaded (linearly) from the earlier
    # window's prediction to the next one's; <= the context (null: the default of
    # pipeline.contracts.windows.default_blend; 0: the hard cut). docs/results-and-choices.md
    rnn_blend: int | None = Field(None, ge=0)
    # all_frames: the project's own protocol (every labelled frame, the fill rule above,
    # overlapping windows); authors: the authors' released eval_script.py (the frames with a
    # face and a label as one list, back-to-back cold windows, the remainder dropped).
    # docs/results-and-choices.md#evaluation-protocols
    protocol: Literal["all_frames", "authors"] = "all_frames"
    # Bootstrap over test videos for the 95 % intervals.
    bootstrap: int = Field(1000, ge=100)
    bootstrap_seed: int = 0
    # Extra training seeds of `dvc repro seeds/dvc.yaml` (besides train_cnn/train_rnn.seed).
    seeds: list[int] = Field(default_factory=lambda: [1, 2])

    @model_validator(mode="after")
    def _context_needs_all_frames(self) -> EvaluateConfig:
        if self.protocol == "authors" and self.rnn_context not in (None, 0):
            raise ValueError(
                f"rnn_context {self.rnn_context}: the authors protocol cuts back-to-back "
                "windows (no context); set rnn_context: null or protocol: all_frames"
            )
        if self.protocol == "authors" and self.rnn_blend not in (None, 0):
            raise ValueError(
                f"rnn_blend {self.rnn_blend}: the authors protocol cuts back-to-back windows "
                "(nothing to blend); set rnn_blend: null or protocol: all_frames"
            )
        return self

    @model_validator(mode="after")
    def _distinct_seeds(self) -> EvaluateConfig:
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds {self.seeds} repeat a seed")
        return self


class ParallelConfig(Section):
    """How fast and where, never what: no output depends on these knobs, so no stage lists
    this section as a DVC param (changing it re-runs nothing). Stages read it from here."""

    # A name of pipeline.registry.ENGINES. local: a process pool on this machine
    # (``pipeline.parallel``); ray: the per-video face stages (detect, landmarks, crop) as Ray
    # tasks, one actor per worker (``pip install -e ".[ray]"``). Every other parallel step
    # uses the local pool.
    engine: EngineName = "local"
    # Ray only. null: start a private Ray on this machine with n_jobs CPUs; "auto": join the
    # cluster started here with `ray start`; "ray://host:10001": Ray Client to a remote head.
    address: str | None = None
    # Worker processes (local), Ray actors (ray), shard-writing threads.
    n_jobs: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _address_needs_ray(self) -> ParallelConfig:
        if self.address is not None and not ENGINES.get(self.engine).uses_address:
            raise ValueError(
                f"address {self.address!r} is not used by engine {self.engine!r} "
                f"(only by: {', '.join(n for n in ENGINES.names() if ENGINES.get(n).uses_address)})"
            )
        return self


class Params(Section):
    data: DataConfig = DataConfig()
    split: SplitConfig = SplitConfig()
    ingest: IngestConfig = IngestConfig()
    demo: DemoConfig = DemoConfig()
    detect: DetectConfig = DetectConfig()
    landmarks: LandmarksConfig = LandmarksConfig()
    crop: CropConfig = CropConfig()
    balance: BalanceConfig = BalanceConfig()
    shard: ShardConfig = ShardConfig()
    augment: AugmentConfig = AugmentConfig()
    train_cnn: TrainConfig = TrainConfig()
    train_rnn: TrainRnnConfig = TrainRnnConfig()
    svr: SvrConfig = SvrConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    model: ModelConfig = ModelConfig()
    parallel: ParallelConfig = ParallelConfig()

    @model_validator(mode="after")
    def _blend_within_context(self) -> Params:
        from pipeline.contracts import windows

        ev, seq_len = self.evaluate, self.shard.seq_len
        if ev.rnn_blend is not None and ev.protocol == "all_frames":
            context = windows.default_context(seq_len) if ev.rnn_context is None else ev.rnn_context
            if ev.rnn_blend > context:
                raise ValueError(
                    f"evaluate.rnn_blend {ev.rnn_blend}: the crossfade runs over frames the "
                    f"next window also predicts, so it must be <= evaluate.rnn_context "
                    f"({context} for {seq_len}-frame windows)"
                )
        return self


class ParamsError(InputError):
    """A params.yaml value that is not allowed; the message lists every problem."""


def params_model() -> type[Params]:
    """:class:`Params` plus a section for each registered face step that has no field there
    (a plug-in's: the step's ``params`` type, named after the step, its defaults if absent)."""
    sections = tuple(
        (name, FACE_STAGES.get(name).params)
        for name in FACE_STAGES
        if name not in Params.model_fields
    )
    return _with_sections(sections)


@functools.cache
def _with_sections(sections: tuple[tuple[str, type[BaseModel]], ...]) -> type[Params]:
    if not sections:
        return Params
    fields: dict[str, Any] = {name: (kind, Field(default_factory=kind)) for name, kind in sections}
    return create_model("Params", __base__=Params, **fields)


def parse_params(raw: dict, source: str = "params.yaml") -> Params:
    """Validate a params mapping; raise :class:`ParamsError` naming every bad key."""
    try:
        return params_model().model_validate(raw or {})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            cause = err.get("ctx", {}).get("error")
            if isinstance(cause, OptionsError):
                lines += [f"  {key}.{option}: {text}" for option, text in cause.errors]
                continue
            if err["type"] == "extra_forbidden":
                section = _section_model(err["loc"][:-1])
                allowed = ", ".join(section.model_fields) if section else ""
                msg = f"unknown key (allowed: {allowed})"
            elif "input" in err and not (
                isinstance(err["input"], dict) and _section_model(err["loc"]) is not None
            ):  # the bad value, unless it is a whole section's mapping
                msg = f"{msg} (got {_shown(err['input'])})"
            lines.append(f"  {key}: {msg}")
        raise ParamsError(f"{source}: invalid parameters\n" + "\n".join(lines)) from None


def _shown(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
    model: type[BaseModel] = params_model()
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type):
            return None
        if not issubclass(field.annotation, BaseModel):
            return None
        model = field.annotation
    return model

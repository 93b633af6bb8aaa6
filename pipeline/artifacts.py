"""What crosses a stage boundary, typed: the one reader and writer of each such file.

- :class:`ModelMeta` — a trained network's ``meta.json`` (``train_cnn`` / ``train_rnn``):
  everything needed to use the model without the params. With ``model.keras`` beside it the
  folder is self-describing: :func:`pipeline.models.saved.load_model` (like
  ``from_pretrained``) gives a :class:`~pipeline.models.saved.TrainedModel`. (It lives with
  the networks, so that this module imports no Keras and a stage that reads only records
  summaries does not depend on the model code.)
- :class:`SvrMeta` — the SIFT + SVR baseline's ``meta.json`` (``train_svr``), beside its
  arrays and parameters (JPEG crops → dense SIFT → … → SVR, saved as data:
  :mod:`pipeline.baseline.saved`): :func:`pipeline.baseline.saved.load_svr`.
  A model folder's pickles are never loaded (:func:`refuse_pickles`).
- :class:`RecordsSummary` — the records' ``summary.json`` (``shard``): crop size, window
  length, and per split and record kind the counts, balance and shard files.
- :class:`FeaturesSummary` — the ``features`` stage's ``summary.json``.
- :class:`FaceStageSummary` — a face stage's ``{boxes,landmarks,crops}_summary.json``
  (``detect`` / ``landmarks`` / ``crop``): totals, failed videos, warnings and one
  :class:`VideoReport` per video (``videos_detail``). A video's report is what a worker
  process (or Ray actor) sends back: it is made, filled and pickled as this model.
- :class:`IngestReport` — the ``ingest`` stage's ``ingest_report.json``: per split counts,
  skipped and truncated videos, warnings and notes.
- :class:`EvaluationReport` — the ``evaluate`` stage's ``reports/evaluate.json``: per model
  the flat metrics (:class:`ModelScores`; ``metrics`` is what ``metrics/<model>.json`` holds),
  their bootstrap intervals, the paired comparisons, the fill rule and the window check.
- :class:`SeedsReport` — ``seeds/report.json``: the same over training seeds (mean, sd,
  per seed; :class:`SeedScores`).

Every reader turns a missing file, bad JSON or a value that does not fit into one
:class:`~pipeline.errors.InputError` line naming the file. Keys a reader does not know
are kept (and written back) as they are, except in a model's ``meta.json``: every key of
it is typed, and a folder another version wrote is one error naming the key and the
command that writes the folder anew.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)

from pipeline.config import ModelConfig, TrainConfig, TrainRnnConfig
from pipeline.contracts.reports import VideoReport
from pipeline.errors import InputError
from pipeline.io import write_json
from pipeline.registry import FACE_STAGES

log = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
META_FILE = "meta.json"
SUMMARY_FILE = "summary.json"
KINDS = ("cnn", "cnn_rnn")

T = TypeVar("T", bound="Artifact")


class ArtifactError(InputError):
    """An artifact file that is missing or does not hold what its writer writes."""


class ModelFolderError(ArtifactError):
    """A folder that is not a trained model of this project."""


def _one_line(exc: ValidationError) -> str:
    errs = exc.errors()
    first = errs[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
    return f"{key}: {first['msg']}{more}"


class Artifact(BaseModel):
    """A JSON file one stage writes and others read (see the module docstring)."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())
    FILE: ClassVar[str]
    ERROR: ClassVar[type[ArtifactError]] = ArtifactError
    HINT: ClassVar[str] = ""
    # Leave out keys whose value is None when writing (those that are written only sometimes).
    OMIT_NONE: ClassVar[bool] = False

    @classmethod
    def read_file(cls: type[T], path: str | Path) -> T:
        path = Path(path)
        if not path.is_file():
            raise cls.ERROR(f"{path}: no such file{f' ({cls.HINT})' if cls.HINT else ''}")
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise cls.ERROR(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise cls.ERROR(f"{path}: expected a JSON object, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            hint = cls.regenerate(data)
            raise cls.ERROR(f"{path}: {_one_line(exc)}{f' ({hint})' if hint else ''}") from None

    @classmethod
    def read(cls: type[T], folder: str | Path) -> T:
        """The artifact of the folder ``folder`` (its :attr:`FILE`)."""
        return cls.read_file(Path(folder) / cls.FILE)

    @classmethod
    def regenerate(cls, data: dict) -> str:
        """How to write a file that does not validate anew ("" where there is no one way)."""
        return ""

    def to_json(self) -> dict:
        return self.model_dump(mode="json", exclude_none=self.OMIT_NONE)

    def timings(self) -> dict[str, Any]:
        """The timing fields (``Field(exclude=True)``): kept out of the file, so that the
        output's hash depends on the data only; the stage writes them to its timing report
        (:func:`pipeline.io.write_timings`)."""
        return {k: getattr(self, k) for k, f in type(self).model_fields.items() if f.exclude}

    def write_file(self, path: str | Path) -> None:
        """Write atomically (:func:`pipeline.io.write_json`)."""
        write_json(self.to_json(), path)

    def write(self, folder: str | Path) -> None:
        self.write_file(Path(folder) / self.FILE)


# -- records -----------------------------------------------------------------------------
class ShardEntry(BaseModel):
    file: str  # relative to the records folder
    records: int = Field(ge=0)
    bytes: int = Field(ge=0)


class KindSummary(BaseModel):
    """One split's frame or sequence records."""

    model_config = ConfigDict(extra="allow")
    records: int = Field(ge=0)
    units: int = Field(ge=0)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    balance: dict[str, Any] = {}
    shards: list[ShardEntry] = []
    videos: int | None = None  # frame records only


class RecordsSummary(Artifact):
    """The records folder's ``summary.json``."""

    FILE: ClassVar[str] = SUMMARY_FILE
    HINT: ClassVar[str] = "no records summary: run the shard stage first"
    OMIT_NONE: ClassVar[bool] = True

    crop_size: int | None = None
    seq_len: int = Field(ge=1)
    train_stride: int | None = None
    balance: str | None = None
    splits: dict[str, dict[Literal["frames", "sequences"], KindSummary]] = {}

    def entry(self, split: str, kind: str) -> KindSummary | None:
        return self.splits.get(split, {}).get(kind)

    def n_records(self, split: str, kind: str) -> int:
        """Records of ``kind`` in ``split``; 0 where there are none."""
        e = self.entry(split, kind)
        return e.records if e is not None else 0


# -- trained models ------------------------------------------------------------------------
class FaceParams(BaseModel):
    """The face steps' params a model's crops were made with (``affwild predict`` repeats
    them): one section per registered face step (:data:`~pipeline.registry.FACE_STAGES`), in
    their order, each of the step's own type (``face.detect``, ``face.crop``, ...); a step the
    file does not name takes its defaults."""

    model_config = ConfigDict(frozen=True, extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _steps(cls, data: Any) -> Any:
        return _step_sections(data) if isinstance(data, dict) else data

    @classmethod
    def of(cls, params: Any) -> FaceParams:
        """The face steps' sections of ``params`` (a :class:`~pipeline.config.Params`)."""
        return cls.model_validate({name: getattr(params, name) for name in face_step_names()})


def face_step_names() -> list[str]:
    """The registered face steps in the order they run: each after the steps that write the
    tables it reads, otherwise in registration order (whichever module was imported first)."""
    todo = {name: FACE_STAGES.get(name) for name in FACE_STAGES}
    done: list[str] = []
    written: set[str] = set()
    while todo:
        ready = [n for n, step in todo.items() if set(step.reads) <= written]
        if not ready:
            raise ValueError(f"face steps {sorted(todo)} read tables no registered step writes")
        done.append(ready[0])
        written.add(todo.pop(ready[0]).writes)
    return done


def _step_sections(data: dict[str, Any]) -> dict[str, BaseModel]:
    """A model's face params, one section per registered step in their order (its defaults
    where ``data`` has none); an error names an unknown step or a bad key."""
    names = face_step_names()
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f"unknown face step {unknown} (registered: {', '.join(names)})")
    return {name: _step_section(name, data.get(name, {})) for name in names}


def _step_section(name: str, value: Any) -> BaseModel:
    """``value`` as the face step ``name``'s params (its type); an error names bad keys."""
    kind = FACE_STAGES.get(name).params
    if isinstance(value, kind):
        return value
    try:
        return kind.model_validate(value)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in (name, *err["loc"]))
            if err["type"] == "extra_forbidden":
                problems.append(f"{key}: unknown key (allowed: {', '.join(kind.model_fields)})")
            else:
                problems.append(f"{key}: {err['msg']}")
        raise ValueError("; ".join(problems)) from None


class TrainingData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    root: str | None = None
    format: str | None = None
    demo: bool = False  # learnt from the synthetic demo data set: `affwild predict` warns


class RunSummary(BaseModel):
    """What one training run did (``meta.json``'s ``run``). Only the keys the run set are
    written: ``best_val_ccc`` (``best_ccc`` without a validation split), ``kept`` by Keras
    ``fit``, the ``workers`` ... ``weights_sha256`` by the multi-worker loop."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")
    epochs_run: int = Field(ge=0)
    best_epoch: int
    best_val_ccc: float | None = None
    best_ccc: float | None = None
    kept: dict[str, int | float] | None = None  # the kept epoch's metrics (DVC shows them)
    workers: int | None = None
    steps_per_epoch: int | None = None
    steps_per_second: float | None = None
    weights_sha256: str | None = None

    @model_serializer(mode="wrap")
    def _set_only(self, handler):
        return {k: v for k, v in handler(self).items() if k in self.model_fields_set}


class TransferReport(BaseModel):
    """What the CNN-RNN took over from the trained CNN, layer by layer
    (:func:`pipeline.models.weights.transfer_cnn_weights`)."""

    model_config = ConfigDict(extra="forbid")
    source: str
    loaded: list[str] = []
    skipped: list[tuple[str, str]] = []  # (layer, why)
    not_in_source: list[str] = []
    unused: list[str] = []
    partial: list[tuple[str, str]] = []  # (layer, rule)


class CachedFeatures(BaseModel):
    """The ``features`` stage's cache the CNN-RNN's head trained on."""

    model_config = ConfigDict(extra="forbid")
    dim: int = Field(ge=1)
    frames: int = Field(ge=0)


class ImportedCheckpoint(BaseModel):
    """Where an imported network came from (``affwild import-checkpoint``)."""

    model_config = ConfigDict(extra="forbid")
    format: str
    arch: str  # a name of pipeline.models.tf1_import.ARCHS
    backbone: str
    about: str = ""
    checkpoint: str
    sha256: dict[str, str]
    scope_prefix: str
    variables: dict[str, list[int]]  # TF1 variable -> shape
    ignored: list[str] = []
    gru: Literal["keras", "tf1"] | None = None  # the recurrent part's GRU (model.gru), if any


class ModelMeta(Artifact):
    """A trained network's ``meta.json``. A folder another version wrote (a key this one
    does not know or misses) is one error naming the key and the command that writes the
    folder anew."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    FILE: ClassVar[str] = META_FILE
    ERROR: ClassVar[type[ArtifactError]] = ModelFolderError
    HINT: ClassVar[str] = "not a trained model folder; train one with `dvc repro train_cnn`"

    kind: Literal["cnn", "cnn_rnn"]
    image_size: int = Field(ge=1)
    records_crop_size: int | None = None
    # What the model's first layer (`preprocess`) does to the raw 0-255 crops it takes.
    normalization: Literal["unit", "symmetric", "caffe_imagenet", "caffe_vggface"]
    landmarks: bool
    seq_len: int | None = Field(None, ge=1)
    # (valence, arousal) evaluate falls back to on frames without a face
    train_label_mean: tuple[float, float] | None = None
    # The network (params.yaml's `model`); None for an imported network (`imported`).
    model: ModelConfig | None
    # params.yaml's train_cnn (a CNN) or train_rnn (a CNN-RNN); None for an imported network.
    train: TrainConfig | TrainRnnConfig | None = Field(None, union_mode="left_to_right")
    # How the face stages made the crops it learnt from: `affwild predict` repeats them.
    face: FaceParams
    replicas: int | None = None
    workers: int | None = None
    data: TrainingData | None = None
    run: RunSummary | None = None
    # A CNN has none (written as {}).
    transfer: TransferReport | None = None
    features: CachedFeatures | None = None
    imported: ImportedCheckpoint | None = None

    @classmethod
    def regenerate(cls, data: dict) -> str:
        if isinstance(data.get("imported"), dict):
            arch = data["imported"].get("arch", "ARCH")
            how = f"affwild import-checkpoint CHECKPOINT --arch {arch} --out FOLDER"
        else:
            how = f"dvc repro {'train_rnn' if data.get('kind') == 'cnn_rnn' else 'train_cnn'}"
        return f"written by another version of affwild; write it anew with `{how}`"

    @field_validator("transfer", mode="before")
    @classmethod
    def _no_transfer(cls, value: Any) -> Any:
        return None if value == {} else value

    @field_serializer("transfer")
    def _transfer_json(self, value: TransferReport | None) -> dict[str, Any]:
        return {} if value is None else value.model_dump(mode="json")

    @model_serializer(mode="wrap")
    def _imported_only_if_so(self, handler) -> dict[str, Any]:
        out = handler(self)
        if self.imported is None:
            out.pop("imported", None)
        return out

    @model_validator(mode="after")
    def _consistent(self) -> ModelMeta:
        if self.kind == "cnn_rnn" and self.seq_len is None:
            raise ValueError("a cnn_rnn model needs seq_len")
        if (self.model is None) != (self.imported is not None):
            raise ValueError("model: the network's params (or `imported` for an imported one)")
        want = TrainRnnConfig if self.kind == "cnn_rnn" else TrainConfig
        if self.train is not None and type(self.train) is not want:
            raise ValueError(f"train: the {self.kind}'s training params ({want.__name__})")
        return self

    @property
    def backbone_name(self) -> str:
        """The name of its backbone."""
        if self.model is not None:
            return self.model.backbone.name
        return self.imported.backbone

    @property
    def crop_size(self) -> int:
        """Side of the crops it learnt from (before resizing to ``image_size``)."""
        return int(self.records_crop_size or self.image_size)

    @property
    def trained_on_demo(self) -> bool:
        return bool(self.data and self.data.demo)


class SvrMeta(Artifact):
    """The SIFT + SVR baseline's ``meta.json`` (beside ``model.json`` + ``model.npz``:
    :mod:`pipeline.baseline.saved`)."""

    FILE: ClassVar[str] = META_FILE
    ERROR: ClassVar[type[ArtifactError]] = ModelFolderError
    HINT: ClassVar[str] = "not an SVR model folder; train one with `dvc repro train_svr`"
    MODEL_FILE: ClassVar[str] = "model.npz"  # the arrays
    SPEC_FILE: ClassVar[str] = "model.json"  # the structure and the scalars

    kind: Literal["svr"] = "svr"
    train_frames: int = Field(ge=0)
    feature_dim: int = Field(ge=1)
    svr: dict[str, Any] = {}
    fit_seconds: float | None = Field(None, exclude=True)  # timing: not written


# A model folder's files in these formats are never loaded: unpickling runs code.
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


def refuse_pickles(folder: Path, hint: str) -> None:
    """Raise :class:`ModelFolderError` naming the first pickle file in ``folder`` (a model
    saved as a pickle, e.g. ``model.joblib``): loading one runs whatever code it holds, so
    the project never does. Called where a folder lacks the data files a model is read from."""
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in PICKLE_SUFFIXES and path.is_file():
            raise ModelFolderError(
                f"{path}: refused: a pickle, and loading a pickle runs whatever code it "
                f"holds; models are read only from data files ({hint})"
            )


class FeaturesSummary(Artifact):
    """The ``features`` stage's ``summary.json``: what the cached CNN features belong to."""

    FILE: ClassVar[str] = SUMMARY_FILE
    HINT: ClassVar[str] = "no features summary: run `dvc repro features`"
    OMIT_NONE: ClassVar[bool] = True

    used: bool
    source: dict[str, str]
    reason: str | None = None  # why not used
    seq_len: int | None = None
    image_size: int | None = None
    backbone: str | None = None
    backbones: int | None = None
    dim: int | None = None
    splits: dict[str, dict[str, int]] | None = None
    frames: int | None = None
    # timings: not written (a re-run would change the hash of data/features)
    seconds: float | None = Field(None, exclude=True)
    frames_per_s: float | None = Field(None, exclude=True)


# -- face stages ---------------------------------------------------------------------------
class FailedVideo(BaseModel):
    video_id: str
    why: str


class FaceStageSummary(Artifact):
    """A face stage's summary file (``data/interim/{boxes,landmarks,crops}_summary.json``)."""

    HINT: ClassVar[str] = "no face stage summary: run `dvc repro detect` (landmarks, crop)"
    # written only when there are any (landmarks) / when the Ray engine ran the stage
    OPTIONAL: ClassVar[tuple[str, ...]] = ("statuses", "ray_cluster")

    stage: str  # the face stage's name (its runner writes it)
    videos: int = Field(ge=0)
    frames: int = Field(ge=0)
    frames_with_face: int = Field(ge=0)
    frames_missing: int = Field(ge=0)
    frames_not_decoded: int = Field(ge=0)
    frames_with_several_faces: int = Field(ge=0)
    engine: str = "local"
    n_jobs: int = Field(ge=1)
    # timings: not written into the summary (its hash in dvc.lock depends on the data only)
    wall_seconds: float = Field(0.0, exclude=True)
    frames_per_s: float | None = Field(None, exclude=True)
    frames_per_s_per_process: float | None = Field(None, exclude=True)
    failed: list[FailedVideo] = []
    warnings: list[str] = []
    videos_detail: list[VideoReport] = []
    statuses: dict[str, int] | None = None  # summed over the videos
    ray_cluster: str | None = None  # the GCS address of the Ray cluster that ran it

    @classmethod
    def of(
        cls, stage: str, reports: list[VideoReport], wall: float, n_jobs: int,
        engine: str = "local", ray_cluster: str | None = None,
    ) -> FaceStageSummary:  # fmt: skip
        """The summary of ``reports`` (one per video, in manifest order)."""
        frames = sum(r.frames for r in reports)
        busy = sum(r.seconds for r in reports)
        statuses: dict[str, int] = {}
        for r in reports:
            for k, v in r.statuses.items():
                statuses[k] = statuses.get(k, 0) + v
        return cls(
            stage=stage,
            videos=len(reports),
            frames=frames,
            frames_with_face=sum(r.faces for r in reports),
            frames_missing=sum(r.missing for r in reports),
            frames_not_decoded=sum(r.frames - r.decoded for r in reports if not r.error),
            frames_with_several_faces=sum(r.multi_face_frames for r in reports),
            engine=engine,
            n_jobs=n_jobs,
            wall_seconds=round(wall, 2),
            frames_per_s=round(frames / wall, 1) if wall > 0 else None,
            frames_per_s_per_process=round(frames / busy, 1) if busy > 0 else None,
            failed=[FailedVideo(video_id=r.video_id, why=r.error) for r in reports if r.error],
            warnings=[w for r in reports for w in r.warnings],
            videos_detail=reports,
            statuses=statuses or None,
            ray_cluster=ray_cluster,
        )

    def timings(self) -> dict[str, Any]:
        return {
            **super().timings(),
            "videos": {r.video_id: round(r.seconds, 2) for r in self.videos_detail},
        }

    def to_json(self) -> dict:
        d = self.model_dump(mode="json")
        for key in self.OPTIONAL:
            if d.get(key) is None:
                d.pop(key, None)
        return d


# -- ingest --------------------------------------------------------------------------------
class SplitReport(BaseModel):
    videos: int = Field(ge=0)
    frames: int = Field(ge=0)
    annotated_frames: int = Field(ge=0)
    quadrants: dict[str, float] = {}  # share of annotated frames per valence-arousal quadrant


class SkippedVideo(BaseModel):
    video_id: str
    problems: list[str]


class TruncatedVideo(BaseModel):
    video_id: str
    labels: int = Field(ge=0)
    frames: int = Field(ge=0)
    kept: int = Field(ge=0)


class IngestReport(Artifact):
    """The ``ingest`` stage's report (``data/interim/ingest_report.json``)."""

    FILE: ClassVar[str] = "ingest_report.json"
    HINT: ClassVar[str] = "no ingest report: run `dvc repro ingest`"

    format: str
    root: str
    splits: dict[str, SplitReport]
    skipped: list[SkippedVideo] = []  # left out (ingest.on_error: skip), with their problems
    truncated: list[TruncatedVideo] = []  # labels and video lengths differed: the shorter kept
    warnings: list[str] = []
    notes: list[str] = []
    datasets: dict[str, int] = {}  # videos per data set
    # The labels train and val were read from (data.annotator): mean | best | <k>; the test
    # split is always the mean. Per training / validation video, the annotator read.
    annotator: str = "mean"
    annotators: dict[str, str] = {}


# -- evaluation ----------------------------------------------------------------------------
# The metric keys (ccc_valence, mse_arousal, per_video_ccc_valence, ...) are those of the
# registered metrics (pipeline.evaluation.metrics), so they stay mappings keyed by name.
Interval = tuple[float, float]  # a 95 % bootstrap interval, [lo, hi] in the file


class Comparison(BaseModel):
    """Two models' paired bootstrap difference on one metric (``a vs b``: a minus b)."""

    diff_lo: float
    diff_hi: float
    verdict: Literal["higher", "lower", "not distinguishable here"]


class BootstrapInfo(BaseModel):
    unit: Literal["video"] = "video"
    resamples: int = Field(ge=1)
    seed: int
    level: float = 0.95


class FrameCounts(BaseModel):
    labelled: int = Field(ge=0)
    with_face: int = Field(ge=0)
    face_share: float
    videos: int = Field(ge=0)


class ModelScores(BaseModel):
    """One model's numbers on the test frames."""

    # metrics/<model>.json: the flat metrics (METRICS' `flat` ones) and ccc_mean_lo / _hi
    metrics: dict[str, float]
    intervals: dict[str, Interval]  # bootstrap intervals of the metrics with `from_stats`
    all_frames: dict[str, float]  # every metric, over all and per video, every labelled frame
    with_face: dict[str, float]  # the same over the frames with a face ({} when none has one)


class FillRule(BaseModel):
    """What a labelled frame without a prediction got (``evaluate.fill``)."""

    rule: Literal["nearest", "mean"]
    max_gap: int = Field(ge=0)
    fallback: tuple[float, float]  # the training set's mean (valence, arousal)


class WindowCheck(BaseModel):
    """Whether the CNN-RNN's prediction jumps where a window's kept part starts."""

    seq_len: int = Field(ge=1)
    context: int = Field(ge=0)
    jump_ratio: float
    what: str
    # frames crossfaded before each seam (evaluate.rnn_blend; 0: the hard cut)
    blend: int = Field(0, ge=0)
    # the two means of the ratio: mean |Δ prediction| into a start, and into any other frame
    at_start: float | None = None
    elsewhere: float | None = None


class EvaluationReport(Artifact):
    """``evaluate``'s report (``reports/evaluate.json``); :func:`pipeline.evaluation.evaluate.
    score` makes it, the stage adds the fill rule, the window check and the split."""

    HINT: ClassVar[str] = "no evaluation report: run `dvc repro evaluate`"
    OMIT_NONE: ClassVar[bool] = True

    frames: FrameCounts
    bootstrap: BootstrapInfo
    models: dict[str, ModelScores]
    comparisons: dict[str, dict[str, Comparison]]  # "a vs b" -> metric key -> comparison
    cnn_rnn_windows: WindowCheck | None = None
    fill: FillRule | None = None
    split: str | None = None
    # Written only for a protocol other than the default all_frames (its numbers differ).
    protocol: str | None = None


class SeedScores(BaseModel):
    """One model over the training seeds. In the file the sd of each metric sits beside the
    other keys as ``<metric>_sd`` (null for a single run)."""

    seeds: list[int]
    per_seed: dict[str, dict[str, float]]  # seed -> that run's flat metrics
    sd: dict[str, float | None] = Field(default_factory=dict)  # sample sd over the seeds
    intervals: dict[str, Interval]  # of the seed mean, over test videos
    metrics: dict[str, float]  # the seed means (and ccc_mean_lo / _hi): seeds/mean/<model>.json

    @model_validator(mode="before")
    @classmethod
    def _gather_sd(cls, data: Any) -> Any:
        if isinstance(data, dict) and "sd" not in data:
            sd = {k.removesuffix("_sd"): v for k, v in data.items() if k.endswith("_sd")}
            data = {k: v for k, v in data.items() if not k.endswith("_sd")} | {"sd": sd}
        return data

    @model_serializer(mode="wrap")
    def _flat_sd(self, handler: Any) -> dict[str, Any]:
        out = handler(self)
        sd = out.pop("sd")
        head = {k: out.pop(k) for k in ("seeds", "per_seed")}
        return head | {f"{k}_sd": v for k, v in sd.items()} | out


class MainRun(BaseModel):
    seed: int
    report: str


class SeedWindows(BaseModel):
    """The CNN-RNN's window check (:class:`WindowCheck`) over the training seeds: the jump
    ratio and its two means per run (from each run's predictions table), their seed means
    and the ratio's sample sd (null for a single run)."""

    per_seed: dict[str, dict[str, float]]  # seed -> jump_ratio, at_start, elsewhere
    jump_ratio: float
    jump_ratio_sd: float | None = None
    at_start: float
    elsewhere: float


class SeedsReport(Artifact):
    """``seeds/report.json`` (``dvc repro seeds/dvc.yaml``): every model over the training
    seeds (:mod:`pipeline.evaluation.seeds`)."""

    HINT: ClassVar[str] = "no seeds report: run `dvc repro seeds/dvc.yaml`"
    OMIT_NONE: ClassVar[bool] = True

    seeds: list[int]
    frames: int = Field(ge=0)
    videos: int = Field(ge=0)
    bootstrap: BootstrapInfo
    models: dict[str, SeedScores]
    comparisons: dict[str, dict[str, Comparison]]
    main_run: MainRun | None = None
    fill: FillRule | None = None
    cnn_rnn_windows: SeedWindows | None = None

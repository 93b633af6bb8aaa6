"""The ``evaluate`` stage's core: every model on every labelled test frame, metrics, plot
data.

Two protocols (``evaluate.protocol``; docs/results-and-choices.md#evaluation-protocols).

``all_frames``, the project's own and the default: **every labelled frame is scored** (the
paper does not state how its test frames were scored). The frame grid holds every frame
of the test videos (from the sequence records, which cover each frame exactly once), with
its label from the labels table (NaN where unlabelled) and whether a face was found.
Networks predict the frames with a face: the CNN each frame, the CNN-RNN windows over the
whole video (:mod:`pipeline.contracts.windows`: overlapping windows, only the tail of each is
kept, so every frame has past context; ``evaluate.rnn_blend`` frames before each seam
crossfaded). A frame without a face (or without a prediction)
gets, by :func:`fill_missing`:

- ``fill: nearest`` — the prediction of the nearest frame of the same video that has one,
  if it is at most ``fill_max_gap`` frames away (the earlier one on a tie), else
- the training-set mean label, stored in the model's ``meta.json`` by the training stage
  (so evaluation never derives it from test data); ``fill: mean`` always uses it.

The CNN-RNN's own output on a face-less step (a black placeholder) is not used: every model
gets the same rule. Metrics over all labelled frames are the headline; the same metrics
over the frames with a face (and a network prediction) stand beside them with their share.
CCC and MSE are computed over all frames concatenated (how Aff-Wild results are reported),
with a bootstrap 95 % interval over test videos (:mod:`pipeline.evaluation.spread`).

``authors``, the authors' released ``eval_script.py``: only the frames with a face crop and a
label, as one list across videos, cut into back-to-back cold windows of the CNN-RNN's
sequence length, the remainder dropped (:func:`authors_list`); no filling.
``affwild evaluate --csv`` (:mod:`pipeline.evaluation.protocols`) does the same on a list of
JPEG crops in the authors' CSV format.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf

from pipeline.artifacts import (
    BootstrapInfo,
    Comparison,
    EvaluationReport,
    FrameCounts,
    ModelMeta,
    ModelScores,
    RecordsSummary,
)
from pipeline.contracts import windows as win
from pipeline.errors import InputError
from pipeline.evaluation import spread
from pipeline.evaluation.metrics import (
    DIMENSIONS,
    PRIMARY,
    flat_keys,
    interval_keys,
    primary_keys,
)
from pipeline.evaluation.metrics import jump_means as video_jump_means
from pipeline.records.reader import (
    damage_named,
    decode_images,
    load_summary,
    make_dataset,
    shard_files,
)
from pipeline.records.schema import parse
from pipeline.registry import METRICS

FILL_RULES = ("nearest", "mean")
# all_frames: the project's own (the module docstring); authors: the authors' released
# eval_script.py (:func:`authors_list`). docs/results-and-choices.md#evaluation-protocols
PROTOCOLS = ("all_frames", "authors")


def read_records(records_dir, split: str, kind: str, seq_len: int | None = None) -> dict:
    """All records of a split as numpy arrays (raw: JPEG bytes, no decoding)."""
    files = [str(f) for f in shard_files(records_dir, split, kind)]
    out: dict[str, list] = {}
    with damage_named(files):  # a corrupted record: its shard and index named
        for batch in tf.data.TFRecordDataset(files).batch(4096):
            for k, v in parse(batch, kind, seq_len).items():
                out.setdefault(k, []).append(v.numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def check_compatible(meta: ModelMeta, summary: RecordsSummary, model_dir) -> None:
    """A model only makes sense on records cut like the ones it was trained on."""
    if meta.records_crop_size != summary.crop_size:
        raise InputError(
            f"{model_dir}: trained on {meta.records_crop_size} px crops, the records "
            f"hold {summary.crop_size} px crops: re-train it on these records "
            "(dvc repro), or evaluate it on records made with its crop settings"
        )
    if meta.kind == "cnn_rnn" and meta.seq_len != summary.seq_len:
        raise InputError(
            f"{model_dir}: trained on sequences of {meta.seq_len} frames, the records "
            f"hold {summary.seq_len}-frame sequences"
        )


def frame_grid(records_dir, split: str, labels_path=None, with_inputs: bool = False) -> dict:
    """Every frame of the split once, in video/frame order, from the (non-overlapping)
    sequence records: video_id, frame, valence, arousal (from ``labels_path`` where given,
    NaN where unlabelled), face, mask (face and label: what the records train on) and
    labelled. ``with_inputs`` adds each frame's JPEG crop and landmarks (the CNN-RNN's
    input stream)."""
    seq_len = load_summary(records_dir).seq_len
    r = read_records(records_dir, split, "sequences", seq_len)
    if not len(r.get("frame", [])):
        raise InputError(f"{records_dir}: no {split} records")
    real = r["frame"] >= 0
    vids = np.repeat(r["video_id"], seq_len).reshape(-1, seq_len)
    mask = r["mask"][real].astype(bool)
    grid = {
        "video_id": np.array([v.decode() for v in vids[real]], dtype=object),
        "frame": r["frame"][real],
        "valence": np.where(mask, r["valence"][real], np.nan),
        "arousal": np.where(mask, r["arousal"][real], np.nan),
        "face": r["face"][real].astype(bool),
        "mask": mask,
    }
    if with_inputs:
        grid["image"] = r["image"][real]
        grid["landmarks"] = r["landmarks"].reshape(*r["frame"].shape, -1)[real]
    order = np.lexsort((grid["frame"], grid["video_id"]))
    grid = {k: v[order] for k, v in grid.items()}
    if labels_path is not None:
        _join_labels(grid, labels_path)
    grid["labelled"] = np.isfinite(grid["valence"]) & np.isfinite(grid["arousal"])
    return grid


def _join_labels(grid: dict, labels_path) -> None:
    """Labels of every grid frame from the labels table (frames without a face have a label
    there but not in the records)."""
    t = pq.read_table(labels_path, columns=["video_id", "frame", "valence", "arousal"])
    vid = t.column("video_id").to_pylist()
    frame = t.column("frame").to_numpy()
    index = {(v, int(f)): i for i, (v, f) in enumerate(zip(vid, frame, strict=True))}
    rows = np.array(
        [index.get((v, int(f)), -1) for v, f in zip(grid["video_id"], grid["frame"], strict=True)]
    )
    for dim in DIMENSIONS:
        col = t.column(dim).to_numpy(zero_copy_only=False).astype(np.float64)
        grid[dim] = np.where(rows >= 0, col[np.maximum(rows, 0)], np.nan)


def _place(grid: dict, vids, frames, values: np.ndarray) -> np.ndarray:
    """Scatter per-frame predictions (n, 2) onto the grid's rows (NaN elsewhere)."""
    index = {
        (v, int(f)): i for i, (v, f) in enumerate(zip(grid["video_id"], grid["frame"], strict=True))
    }
    out = np.full((len(grid["frame"]), 2), np.nan, np.float32)
    for v, f, p in zip(vids, frames, values, strict=True):
        i = index.get((v, int(f)))
        if i is not None:
            out[i] = p
    return out


def predict_model(
    model, meta: ModelMeta, records_dir, split: str, grid: dict, batch_size: int, context=None,
    protocol: str = "all_frames", blend=None,
):  # fmt: skip
    """A trained CNN (frame records) or CNN-RNN (windows over the grid's input stream, see
    :func:`predict_sequences`; ``protocol="authors"``: the grid is :func:`authors_list`'s,
    cut back to back) on every frame of the split, placed on the grid's rows. ``context`` /
    ``blend`` None: :func:`pipeline.contracts.windows.default_context` / ``default_blend``."""
    if meta.kind != "cnn" and protocol == "authors":
        wins = authors_windows(len(grid["frame"]), meta.seq_len)
        return predict_windows(model, meta, grid, wins, batch_size)
    if meta.kind != "cnn":
        if context is None:
            context = win.default_context(meta.seq_len)
        if blend is None:
            blend = win.default_blend(context)
        return predict_sequences(model, meta, grid, batch_size, context, blend)
    files = shard_files(records_dir, split, "frames")
    ds = make_dataset(
        files, "frames", batch_size=batch_size, training=False, with_meta=True,
        image_size=meta.image_size,
    )  # fmt: skip
    vids, frames, preds = [], [], []
    with damage_named(files):
        for x, _, _, m in ds:
            p = np.asarray(model.predict_on_batch(x), np.float32)
            vids += [s.decode() for s in m["video_id"].numpy()]
            frames.append(m["frame"].numpy())
            preds.append(p)
    if not preds:
        return np.full((len(grid["frame"]), 2), np.nan, np.float32)
    return _place(grid, vids, np.concatenate(frames), np.concatenate(preds))


def sequence_windows(grid: dict, seq_len: int, context: int) -> list[tuple[np.ndarray, int, int]]:
    """The CNN-RNN's windows over the grid: (grid rows read, (L,) with -1 = padding; first
    kept position; one past the last kept position), video by video."""
    out = []
    vids = grid["video_id"]
    bounds = np.flatnonzero(np.r_[True, vids[1:] != vids[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        for w in win.plan(int(b - a), seq_len, context):
            rows = np.full(seq_len, -1)
            n = min(seq_len, b - a - w.start)
            rows[:n] = a + w.start + np.arange(n)
            out.append((rows, w.keep_from - w.start, w.keep_to - w.start))
    return out


def predict_sequences(model, meta: ModelMeta, grid: dict, batch_size: int, context: int,
                      blend: int = 0):  # fmt: skip
    """The CNN-RNN over overlapping windows of each test video; frame t's prediction comes
    from the window that keeps it (at least ``context`` frames of past in the window), the
    last ``blend`` frames before each window's kept part crossfaded into it
    (:func:`pipeline.contracts.windows.place`)."""
    win.check_blend(context, blend)
    wins = sequence_windows(grid, meta.seq_len, context)
    return predict_windows(model, meta, grid, wins, batch_size, blend)


def authors_windows(n_rows: int, seq_len: int) -> list[tuple[np.ndarray, int, int]]:
    """The authors' cut (:func:`pipeline.contracts.windows.back_to_back`) of ``n_rows`` listed
    frames, as :func:`sequence_windows` gives windows: (rows, 0, seq_len) each."""
    return [(w.start + np.arange(seq_len), 0, seq_len) for w in win.back_to_back(n_rows, seq_len)]


def predict_windows(model, meta: ModelMeta, grid: dict, wins: list, batch_size: int,
                    blend: int = 0):  # fmt: skip
    """The CNN-RNN on the windows ``wins`` ((rows, kept from, kept to) triples) over the grid's
    input stream (:func:`grid_loader`); NaN on rows no window keeps."""
    load = grid_loader(meta, grid)
    return run_windows(model_call(model), wins, len(grid["frame"]), load, meta.seq_len,
                       batch_size, blend)  # fmt: skip


def grid_loader(meta: ModelMeta, grid: dict):
    """``load(rows)``: the (images, landmarks) of grid rows (-1: a black, landmark-less
    padding step), the JPEG crops decoded as the records are."""
    size = meta.image_size
    blank = tf.io.encode_jpeg(tf.zeros([8, 8, 3], tf.uint8)).numpy()
    images = np.append(grid["image"], blank)  # row -1: padding
    n_lm = grid["landmarks"].shape[1]
    landmarks = np.concatenate([grid["landmarks"], np.zeros((1, n_lm), np.float32)])

    @tf.function
    def prepare(jpegs):
        img = decode_images({"image": jpegs}, "sequences", size)["image"]
        return tf.cast(img, tf.float32)  # raw crops: the model normalises

    def load(rows):
        return prepare(tf.constant(images[rows])), landmarks[rows]

    return load


def model_call(model):
    """``x`` (a dict of inputs) -> the Keras model's (..., 2) output as float32 numpy; only the
    inputs the model has are passed."""
    names = {t.name.split(":")[0] for t in model.inputs}

    def call(x: dict) -> np.ndarray:
        x = {n: v for n, v in x.items() if n in names} or x
        return np.asarray(model.predict_on_batch(x), np.float32)

    return call


def run_windows(call, wins: list, n_rows: int, load, seq_len: int, batch_size: int,
                blend: int = 0):  # fmt: skip
    """``call`` on the windows ``wins`` (``batch_size // seq_len`` per call, at least one, in
    order), ``load(rows)`` giving the (images, landmarks) of rows (-1: padding); each window's
    kept part placed on its rows of an (n_rows, 2) array, NaN elsewhere, with the ``blend``
    rows before it crossfaded (:func:`pipeline.contracts.windows.place`)."""
    per_call = max(1, batch_size // seq_len)
    out = np.full((n_rows, 2), np.nan, np.float32)
    for k in range(0, len(wins), per_call):
        chunk = wins[k : k + per_call]
        rows = np.stack([r for r, _, _ in chunk])  # (W, L)
        img, lm = load(rows.ravel())
        x = {
            "image": tf.reshape(img, [len(chunk), seq_len, *img.shape[1:]]),
            "landmarks": np.asarray(lm).reshape(len(chunk), seq_len, -1),
        }
        p = call(x)
        for (r, a, b), pw in zip(chunk, p, strict=True):
            win.place(out, r, pw[:, :2], a, b, blend)
    return out


def authors_list(grid: dict, seq_len: int) -> dict:
    """The authors' protocol on a split's grid: the frames their list would hold (a face
    crop and a label), in video / frame order as ONE list across videos, cut from its start
    into back-to-back ``seq_len``-frame windows; the frames after the last full window are
    dropped. Our choice: the stage scores every model on these same frames (the CNN's and
    the SVR's predictions do not depend on the cut), so that they are compared pairwise."""
    listed = np.flatnonzero(grid["labelled"] & grid["face"])
    kept = listed[: len(listed) // seq_len * seq_len]
    if not kept.size:
        raise InputError(
            f"protocol authors: {listed.size} labelled frames with a face, fewer than one "
            f"{seq_len}-frame window"
        )
    return {k: v[kept] for k, v in grid.items()}


def window_starts(grid: dict, seq_len: int, context: int, protocol: str = "all_frames"):
    """True at the grid rows where a window's kept part begins (after the first window of
    each video): where a cold-start jump would show. ``protocol="authors"``: every
    ``seq_len``-th row of :func:`authors_list`'s grid."""
    starts = np.zeros(len(grid["frame"]), bool)
    if protocol == "authors":
        starts[::seq_len] = True
    else:
        for rows, a, _ in sequence_windows(grid, seq_len, context):
            starts[rows[a]] = True
    first = np.r_[True, grid["video_id"][1:] != grid["video_id"][:-1]]
    return starts & ~first


def jump_means(grid: dict, pred: np.ndarray, starts: np.ndarray) -> tuple[float, float]:
    """Mean |Δ prediction| into the grid rows where a window starts, and elsewhere
    (:func:`pipeline.evaluation.metrics.jump_means`)."""
    return video_jump_means(grid["video_id"], grid["face"], pred, starts)


def jump_ratio(grid: dict, pred: np.ndarray, starts: np.ndarray) -> float:
    """:func:`jump_means`' at-start mean over the mean elsewhere. About 1 when windows leave
    no trace; >> 1 when each starts cold."""
    at, rest = jump_means(grid, pred, starts)
    return at / rest if np.isfinite(at) and np.isfinite(rest) else float("nan")


def predict_svr(model, records_dir, split: str, grid: dict):
    """The SIFT + SVR pipeline (:func:`pipeline.baseline.saved.load_svr`) on the split's frame
    records' JPEG crops, placed on the grid's rows."""
    r = read_records(records_dir, split, "frames")
    if not len(r.get("frame", [])):
        return np.full((len(grid["frame"]), 2), np.nan, np.float32)
    pred = model.predict(r["image"]).astype(np.float32)
    return _place(grid, [v.decode() for v in r["video_id"]], r["frame"], pred)


def fill_missing(
    grid: dict, pred: np.ndarray, fallback, rule: str = "nearest", max_gap: int = 12
) -> np.ndarray:
    """A prediction for every frame: network outputs where there is a face; elsewhere the
    nearest prediction of the same video within ``max_gap`` frames (``rule="nearest"``,
    the earlier one on a tie), else ``fallback`` (the training-set mean label)."""
    if rule not in FILL_RULES:
        raise ValueError(f"fill rule {rule!r} (allowed: {', '.join(FILL_RULES)})")
    out = np.array(pred, np.float32, copy=True)
    out[~grid["face"]] = np.nan
    have = np.isfinite(out).all(axis=1)
    filled = out.copy()
    vids, frames = grid["video_id"], np.asarray(grid["frame"], np.int64)
    bounds = np.flatnonzero(np.r_[True, vids[1:] != vids[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        f, ok = frames[a:b], have[a:b]
        missing = np.flatnonzero(~ok)
        if not missing.size:
            continue
        src = np.flatnonzero(ok)
        if rule == "nearest" and src.size:
            pos = np.searchsorted(f[src], f[missing])
            before = src[np.clip(pos - 1, 0, src.size - 1)]
            after = src[np.clip(pos, 0, src.size - 1)]
            d_before = np.where(pos > 0, f[missing] - f[before], np.iinfo(np.int64).max)
            d_after = np.where(pos < src.size, f[after] - f[missing], np.iinfo(np.int64).max)
            take = np.where(d_before <= d_after, before, after)
            near = np.minimum(d_before, d_after) <= max_gap
            filled[a + missing[near]] = out[a + take[near]]
            missing = missing[~near]
        filled[a + missing] = np.asarray(fallback, np.float32)
    return filled


def _metrics(grid: dict, sel: np.ndarray, pred: np.ndarray) -> dict:
    res: dict = {}
    videos = np.unique(grid["video_id"][sel])
    for d, dim in enumerate(DIMENSIONS):
        truth, p = grid[dim][sel], pred[sel, d]
        metrics = {m: METRICS.get(m).fn for m in METRICS.names()}
        for m, fn in metrics.items():
            res[f"{m}_{dim}"] = round(fn(truth, p), 4)
        per_video = [
            [fn(truth[grid["video_id"][sel] == v], p[grid["video_id"][sel] == v])
             for fn in metrics.values()]
            for v in videos
        ]  # fmt: skip
        for m, col in zip(metrics, np.array(per_video, np.float64).T, strict=True):
            res[f"per_video_{m}_{dim}"] = round(float(np.nanmean(col)), 4)
    res[f"{PRIMARY}_mean"] = round((res[f"{PRIMARY}_valence"] + res[f"{PRIMARY}_arousal"]) / 2, 4)
    return res


def score(
    grid: dict,
    predictions: dict[str, np.ndarray],
    raw: dict[str, np.ndarray] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> EvaluationReport:
    """Metrics over all labelled frames (``predictions`` must cover them: filled), the same
    over the frames with a face that every network predicted (``raw``: predictions before
    filling), bootstrap intervals over videos and paired comparisons of the models.

    Each model's ``metrics`` (:class:`~pipeline.artifacts.ModelScores`) is what
    ``metrics/<name>.json`` holds (one narrow row of ``dvc metrics show``)."""
    labelled = grid["labelled"]
    if not labelled.any():
        raise InputError(
            "the test split has no labelled frame: nothing to evaluate (check the labels "
            "table and the ingest report)"
        )
    for name, p in predictions.items():
        if not np.isfinite(p[labelled]).all():
            raise ValueError(f"{name}: labelled frames without a prediction (fill them first)")
    with_face = labelled & grid["face"]
    for p in (raw or {}).values():
        with_face &= np.isfinite(p).all(axis=1)
    boot = spread.bootstrap(
        grid["video_id"][labelled],
        {dim: grid[dim][labelled] for dim in DIMENSIONS},
        {n: p[labelled] for n, p in predictions.items()},
        n_boot,
        seed,
    )
    names = list(predictions)
    return EvaluationReport(
        frames=FrameCounts(
            labelled=int(labelled.sum()),
            with_face=int(with_face.sum()),
            face_share=round(float(with_face.sum() / labelled.sum()), 4),
            videos=len(np.unique(grid["video_id"][labelled])),
        ),
        bootstrap=BootstrapInfo(resamples=n_boot, seed=seed),
        models={
            name: _model_scores(grid, labelled, with_face, pred, boot[name])
            for name, pred in predictions.items()
        },
        comparisons={
            f"{a} vs {b}": {
                key: Comparison(**spread.compare(boot[a][key], boot[b][key]))
                for key in primary_keys()
            }
            for i, a in enumerate(names)
            for b in names[i + 1 :]
        },
    )


def _model_scores(grid: dict, labelled, with_face, pred: np.ndarray, boot: dict) -> ModelScores:
    """One model: its flat metrics with the interval of the mean CCC, every metric's
    interval, and every metric over all labelled frames and over those with a face."""
    all_frames = _metrics(grid, labelled, pred)
    intervals = {key: spread.interval(boot[key]) for key in interval_keys()}
    intervals = {key: (round(lo, 4), round(hi, 4)) for key, (lo, hi) in intervals.items()}
    flat = {k: all_frames[k] for k in flat_keys()}
    flat[f"{PRIMARY}_mean_lo"], flat[f"{PRIMARY}_mean_hi"] = intervals[f"{PRIMARY}_mean"]
    return ModelScores(
        metrics=flat,
        intervals=intervals,
        all_frames=all_frames,
        with_face=_metrics(grid, with_face, pred) if with_face.any() else {},
    )


def predictions_table(
    grid: dict, predictions: dict[str, np.ndarray], window_start: np.ndarray | None = None
) -> pa.Table:
    """One row per test frame: labels, face, the (filled) predictions of every model and
    where a CNN-RNN window's kept part starts."""
    cols = {
        "video_id": pa.array(grid["video_id"].tolist(), pa.string()),
        "frame": pa.array(grid["frame"].astype(np.int32)),
        "valence": pa.array(grid["valence"].astype(np.float32)),
        "arousal": pa.array(grid["arousal"].astype(np.float32)),
        "face": pa.array(grid["face"]),
        "labelled": pa.array(grid["labelled"]),
        "with_face": pa.array(grid["mask"]),
    }
    if window_start is not None:
        cols["window_start"] = pa.array(window_start)
    for name, p in predictions.items():
        cols[f"{name}_valence"] = pa.array(p[:, 0])
        cols[f"{name}_arousal"] = pa.array(p[:, 1])
    return pa.table(cols)

"""The ``evaluate`` stage's core: every model on every test frame, metrics, plot data.

All models are scored on the same frames: the labelled test frames that have a face (the
``mask`` of the sequence records, which cover every test frame exactly once). CCC and MSE
are computed over all those frames concatenated (how Aff-Wild results are reported) and as
the mean of per-video values.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import tensorflow as tf

from pipeline.errors import InputError
from pipeline.evaluation.metrics import DIMENSIONS, METRICS
from pipeline.records.reader import load_summary, make_dataset, shard_files
from pipeline.records.schema import parse


def read_records(records_dir, split: str, kind: str, seq_len: int | None = None) -> dict:
    """All records of a split as numpy arrays (raw: JPEG bytes, no decoding)."""
    files = [str(f) for f in shard_files(records_dir, split, kind)]
    out: dict[str, list] = {}
    for batch in tf.data.TFRecordDataset(files).batch(4096):
        for k, v in parse(batch, kind, seq_len).items():
            out.setdefault(k, []).append(v.numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def check_compatible(meta: dict, summary: dict, model_dir) -> None:
    """A model only makes sense on records cut like the ones it was trained on."""
    if meta.get("records_crop_size") != summary.get("crop_size"):
        raise InputError(
            f"{model_dir}: trained on {meta.get('records_crop_size')} px crops, the records "
            f"hold {summary.get('crop_size')} px crops: re-train it on these records "
            "(dvc repro), or evaluate it on records made with its crop settings"
        )
    if meta.get("kind") == "cnn_rnn" and meta.get("seq_len") != summary.get("seq_len"):
        raise InputError(
            f"{model_dir}: trained on sequences of {meta.get('seq_len')} frames, the records "
            f"hold {summary.get('seq_len')}-frame sequences"
        )


def frame_grid(records_dir, split: str) -> dict:
    """Every frame of the split once, from the (non-overlapping) sequence records:
    video_id, frame, valence, arousal (NaN where unlabelled), face, mask."""
    seq_len = load_summary(records_dir)["seq_len"]
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
    order = np.lexsort((grid["frame"], grid["video_id"]))
    return {k: v[order] for k, v in grid.items()}


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


def predict_model(model, meta: dict, records_dir, split: str, grid: dict, batch_size: int):
    """A trained CNN (frame records) or CNN-RNN (sequence records) on every frame of the
    split, placed on the grid's rows; padding steps of sequences are dropped."""
    kind = "frames" if meta["kind"] == "cnn" else "sequences"
    ds = make_dataset(
        shard_files(records_dir, split, kind),
        kind,
        seq_len=meta.get("seq_len"),
        batch_size=batch_size,
        training=False,
        with_meta=True,
        image_size=meta["image_size"],
        normalization=meta["normalization"],
    )
    vids, frames, preds = [], [], []
    for x, _, _, m in ds:
        p = np.asarray(model.predict_on_batch(x), np.float32)  # (B, 2) or (B, L, 2)
        f = m["frame"].numpy()
        v = m["video_id"].numpy().reshape(-1, *[1] * (f.ndim - 1))
        real = f >= 0
        vids += [s.decode() for s in np.broadcast_to(v, f.shape)[real]]
        frames.append(f[real])
        preds.append(p[real])
    if not preds:
        return np.full((len(grid["frame"]), 2), np.nan, np.float32)
    return _place(grid, vids, np.concatenate(frames), np.concatenate(preds))


def predict_svr(model, records_dir, split: str, grid: dict, sift_grid: int):
    from pipeline.baseline.sift_svr import sift_features

    r = read_records(records_dir, split, "frames")
    if not len(r.get("frame", [])):
        return np.full((len(grid["frame"]), 2), np.nan, np.float32)
    pred = model.predict(sift_features(r["image"], sift_grid)).astype(np.float32)
    return _place(grid, [v.decode() for v in r["video_id"]], r["frame"], pred)


def score(grid: dict, predictions: dict[str, np.ndarray]) -> dict[str, dict]:
    """Per model: {dimension: {metric: value}} over all evaluated frames concatenated, plus
    the mean of per-video values and the mean CCC of the two dimensions."""
    evaluated = grid["mask"].copy()
    for p in predictions.values():
        evaluated &= np.isfinite(p).all(axis=1)
    if not evaluated.any():
        raise InputError(
            "the test split has no frame with both a label and a face that every model "
            "predicted: nothing to evaluate (check the labels and the face stages' summaries)"
        )
    videos = np.unique(grid["video_id"][evaluated])
    out = {}
    for name, pred in predictions.items():
        res: dict = {"frames": int(evaluated.sum()), "videos": len(videos)}
        for d, dim in enumerate(DIMENSIONS):
            truth = grid[dim][evaluated]
            p = pred[evaluated, d]
            res[dim] = {m: round(fn(truth, p), 4) for m, fn in METRICS.items()}
            per_video = []
            for v in videos:
                sel = grid["video_id"][evaluated] == v
                per_video.append([fn(truth[sel], p[sel]) for fn in METRICS.values()])
            res[dim]["per_video"] = {
                m: round(float(np.nanmean(col)), 4)
                for m, col in zip(METRICS, np.array(per_video, np.float64).T, strict=True)
            }
        res["ccc_mean"] = round((res["valence"]["ccc"] + res["arousal"]["ccc"]) / 2, 4)
        out[name] = res
    return out


def predictions_table(grid: dict, predictions: dict[str, np.ndarray]) -> pa.Table:
    cols = {
        "video_id": pa.array(grid["video_id"].tolist(), pa.string()),
        "frame": pa.array(grid["frame"].astype(np.int32)),
        "valence": pa.array(grid["valence"].astype(np.float32)),
        "arousal": pa.array(grid["arousal"].astype(np.float32)),
        "face": pa.array(grid["face"]),
        "evaluated": pa.array(grid["mask"]),
    }
    for name, p in predictions.items():
        cols[f"{name}_valence"] = pa.array(p[:, 0])
        cols[f"{name}_arousal"] = pa.array(p[:, 1])
    return pa.table(cols)

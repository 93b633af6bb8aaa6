"""A trained network's folder (``model.keras`` + ``meta.json``), loaded: :func:`load_model`,
like ``from_pretrained``, gives a :class:`TrainedModel` — the Keras model, which takes raw
0-255 crops (its first layer normalises them), and its :class:`~pipeline.artifacts.ModelMeta`.
:func:`save_model` writes ``model.keras`` so that the same weights give the same bytes.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import keras

from pipeline.artifacts import (
    META_FILE,
    MODEL_FILE,
    FaceParams,
    ModelFolderError,
    ModelMeta,
    refuse_pickles,
)
from pipeline.models import cells  # noqa: F401 - registers the peephole LSTM cell a CNN-RNN may hold
from pipeline.models.layers import preprocess_layer


@dataclass
class TrainedModel:
    """A loaded model folder: the Keras model and its meta."""

    folder: Path
    keras_model: keras.Model
    meta: ModelMeta

    @property
    def kind(self) -> str:
        return self.meta.kind

    @property
    def image_size(self) -> int:
        return self.meta.image_size

    @property
    def landmarks(self) -> bool:
        return self.meta.landmarks

    @property
    def seq_len(self) -> int | None:
        return self.meta.seq_len if self.kind == "cnn_rnn" else None

    @property
    def face(self) -> FaceParams:
        return self.meta.face


def _renumber_shared_objects(node, ids: dict) -> None:
    """Keras writes ``shared_object_id: id(obj)`` (a memory address) into ``config.json``;
    the same objects get the same small numbers, in order of appearance."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "shared_object_id" and isinstance(value, int):
                node[key] = ids.setdefault(value, len(ids))
            else:
                _renumber_shared_objects(value, ids)
    elif isinstance(node, list):
        for value in node:
            _renumber_shared_objects(value, ids)


def save_model(model: keras.Model, path: str | Path) -> None:
    """``model.save(path)``, then the archive rewritten without what changes from one save to
    the next (the save time in ``metadata.json``, memory addresses in ``config.json``, the
    members' zip time stamps): equal weights give an equal file, so DVC sees a re-trained but
    unchanged model as unchanged and skips what follows it."""
    path = Path(path)
    raw = path.with_name(path.name + ".raw.keras")
    model.save(raw)
    try:
        with zipfile.ZipFile(raw) as src, zipfile.ZipFile(path, "w") as dst:
            for info in src.infolist():
                data = src.read(info)
                if info.filename == "metadata.json":
                    meta = json.loads(data)
                    meta.pop("date_saved", None)
                    data = json.dumps(meta, sort_keys=True).encode()
                elif info.filename == "config.json":
                    config = json.loads(data)
                    _renumber_shared_objects(config, {})
                    data = json.dumps(config).encode()
                member = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
                member.compress_type, member.external_attr = info.compress_type, 0o644 << 16
                dst.writestr(member, data)
    finally:
        raw.unlink(missing_ok=True)


def load_model(folder: str | Path) -> TrainedModel:
    """A trained model folder → :class:`TrainedModel` (inference only: no optimiser or loss
    is restored). Every problem is a :class:`ModelFolderError` naming the file.

    The Keras model takes raw crops (0-255): its first layer normalises them. A model saved
    before the normalisation moved into it (it took normalised images) is built anew with
    that layer and given the saved weights, so old and new folders are used the same way."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"{folder}: no such model folder")
    if not (folder / MODEL_FILE).is_file():
        refuse_pickles(folder, f"a trained model folder holds {MODEL_FILE} + {META_FILE}")
        raise ModelFolderError(
            f"{folder}: not a trained model folder (no {MODEL_FILE}; train one with `dvc repro`)"
        )
    meta = ModelMeta.read(folder)
    _check_archive(folder / MODEL_FILE)
    try:
        # safe mode: a Lambda layer's (or any) Python bytecode in the file is refused, not run
        model = keras.saving.load_model(folder / MODEL_FILE, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types here
        raise ModelFolderError(_load_failure(folder / MODEL_FILE, exc)) from None
    layer = preprocess_layer(model)
    if layer is None:
        raise ModelFolderError(
            f"{folder}/{MODEL_FILE}: no preprocess layer (the model's first layer, which "
            f"normalises the raw crops); {ModelMeta.regenerate(meta.model_dump())}"
        )
    if layer.normalization != meta.normalization:
        raise ModelFolderError(
            f"{folder}/{META_FILE}: normalization {meta.normalization!r}, but the model's "
            f"preprocess layer applies {layer.normalization!r}"
        )
    return TrainedModel(folder, model, meta)


def _check_archive(path: Path) -> None:
    """A ``.keras`` file is a zip archive: one cut short or damaged (a member whose checksum
    fails) is named as such, not as Keras' "file not found"."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise ModelFolderError(
            f"{path}: not a complete .keras archive, truncated or damaged ({exc})"
        ) from None
    if bad is not None:
        raise ModelFolderError(f"{path}: damaged .keras archive (member {bad} fails its checksum)")


def _load_failure(path: Path, exc: Exception) -> str:
    """The one line that says why ``path`` was not loaded."""
    text = str(exc)
    if "safe_mode" in text and ("lambda" in text.lower() or "arbitrary code" in text):
        return (
            f"{path}: refused: it holds Python code (a Lambda layer or function), which "
            "loading would run; the project's models need none"
        )
    return f"{path}: cannot be loaded as a Keras model ({type(exc).__name__}: {_first_line(exc)})"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else ""

"""The SIFT + SVR baseline's saved form: data, not code.

A fitted pipeline (:func:`pipeline.baseline.sift_svr.fit_svr`: dense SIFT → standardise →
PCA → one SVR per dimension) is written as two files a loader reads without running code:

- ``model.json`` — the structure and every scalar: the SIFT grid, whether there is a PCA step,
  and per output dimension the SVR's kernel, its ``gamma`` (the value the fit used, also when
  the params said ``scale``) and intercept;
- ``model.npz`` — the arrays (read with ``allow_pickle=False``): the scaler's mean and scale,
  PCA's mean and components, each SVR's support vectors and dual coefficients.

:class:`SavedSvr` predicts from them with NumPy, repeating scikit-learn's arithmetic step by
step (float32 scaling and projection as scikit-learn does them on float32 descriptors, then
the kernel expansion in float64 as libsvm does), so a saved model predicts what the fitted
pipeline predicts (checked in the tests to float32 precision). Pickles (``joblib``) are never
read: they run whatever code they hold.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.artifacts import ModelFolderError, SvrMeta, refuse_pickles

FORMAT = "sift_svr"
VERSION = 1
KERNELS = ("rbf", "linear")
_CHUNK = 1 << 22  # float64 values per block of (frame, support vector, feature) differences


@dataclass(frozen=True)
class KernelSvr:
    """One output dimension's SVR: ``sum_i dual_coef[i] * K(sv_i, x) + intercept``."""

    kernel: str
    gamma: float
    intercept: float
    support_vectors: np.ndarray  # (n_sv, d) float64
    dual_coef: np.ndarray  # (n_sv,) float64

    def kernel_values(self, x: np.ndarray) -> np.ndarray:
        """(n, n_sv) kernel between the rows of ``x`` (float64) and the support vectors."""
        sv = self.support_vectors
        if self.kernel == "linear":
            return x @ sv.T
        rows = max(1, _CHUNK // max(1, sv.size))
        out = np.empty((len(x), len(sv)))
        for a in range(0, len(x), rows):
            diff = x[a : a + rows, None, :] - sv[None, :, :]
            out[a : a + rows] = np.einsum("nsd,nsd->ns", diff, diff)
        return np.exp(-self.gamma * out)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.kernel_values(x) @ self.dual_coef + self.intercept


@dataclass(frozen=True)
class SavedSvr:
    """The baseline as arrays and numbers: JPEG face crops in, (n, 2) valence/arousal out."""

    grid: int
    scale_mean: np.ndarray  # (D,) float64
    scale_scale: np.ndarray  # (D,) float64
    pca_mean: np.ndarray | None  # (D,) float32
    pca_components: np.ndarray | None  # (k, D) float32
    outputs: tuple[KernelSvr, ...]

    @property
    def n_features(self) -> int:
        return self.grid * self.grid * 128

    def reduce(self, feats: np.ndarray) -> np.ndarray:
        """Dense SIFT descriptors (float32) → the SVRs' inputs, as scikit-learn computes them:
        StandardScaler in place in float32, then PCA's projection and its centring after it."""
        x = np.array(feats, np.float32, copy=True)
        x -= self.scale_mean.astype(x.dtype)
        x /= self.scale_scale.astype(x.dtype)
        if self.pca_components is not None:
            c = self.pca_components
            projected = x @ c.T
            projected -= np.reshape(self.pca_mean, (1, -1)) @ c.T
            x = projected
        return x

    def predict(self, jpegs) -> np.ndarray:
        """(n, 2) float64: one column per output dimension."""
        from pipeline.baseline.sift_svr import sift_features

        x = self.reduce(sift_features(jpegs, self.grid)).astype(np.float64)
        return np.stack([svr.predict(x) for svr in self.outputs], axis=1)


def from_pipeline(model) -> SavedSvr:
    """The arrays and numbers of a fitted :func:`~pipeline.baseline.sift_svr.make_regressor`
    pipeline."""
    steps = model.named_steps
    scaler, pca = steps["scale"], steps.get("pca")
    if pca is not None and pca.whiten:
        raise ValueError("SavedSvr: a whitening PCA is not supported")
    dim = len(scaler.mean_)
    outputs = []
    for est in steps["svr"].estimators_:
        if est.kernel not in KERNELS:
            raise ValueError(f"SavedSvr: kernel {est.kernel!r} (supported: {', '.join(KERNELS)})")
        outputs.append(
            KernelSvr(
                kernel=est.kernel,
                gamma=float(est._gamma),
                intercept=float(est.intercept_[0]),
                support_vectors=np.asarray(est.support_vectors_, np.float64),
                dual_coef=np.asarray(est.dual_coef_[0], np.float64),
            )
        )
    return SavedSvr(
        grid=steps["sift"].grid,
        scale_mean=np.zeros(dim) if scaler.mean_ is None else np.asarray(scaler.mean_),
        scale_scale=np.ones(dim) if scaler.scale_ is None else np.asarray(scaler.scale_),
        pca_mean=None if pca is None else np.asarray(pca.mean_),
        pca_components=None if pca is None else np.asarray(pca.components_),
        outputs=tuple(outputs),
    )


def _arrays(model: SavedSvr) -> dict[str, np.ndarray]:
    arrays = {"scale_mean": model.scale_mean, "scale_scale": model.scale_scale}
    if model.pca_components is not None:
        arrays |= {"pca_mean": model.pca_mean, "pca_components": model.pca_components}
    for i, svr in enumerate(model.outputs):
        arrays |= {
            f"svr{i}_support_vectors": svr.support_vectors,
            f"svr{i}_dual_coef": svr.dual_coef,
        }
    return arrays


def _same_layout(a: np.ndarray) -> np.ndarray:
    """``a`` in one block, in the memory order it has (a column-major view stays column-major,
    as ``.npy`` can record): BLAS picks its kernel by layout, and the last bits of a float32
    projection depend on it."""
    column_major = not a.flags.c_contiguous and a.ndim == 2 and a.strides[0] == a.itemsize
    return np.asfortranarray(a) if column_major else np.ascontiguousarray(a)


def save(model: SavedSvr, folder: str | Path) -> None:
    """``model.json`` + ``model.npz`` into ``folder``; equal models give equal bytes (the
    archive's time stamps are fixed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "format": FORMAT,
        "version": VERSION,
        "grid": model.grid,
        "pca": model.pca_components is not None,
        "outputs": [
            {"kernel": s.kernel, "gamma": s.gamma, "intercept": s.intercept} for s in model.outputs
        ],
    }
    (folder / SvrMeta.SPEC_FILE).write_text(json.dumps(spec, indent=2) + "\n")
    with zipfile.ZipFile(folder / SvrMeta.MODEL_FILE, "w") as zf:
        for name, array in _arrays(model).items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, _same_layout(array), allow_pickle=False)
            member = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            member.external_attr = 0o644 << 16
            zf.writestr(member, buf.getvalue())


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kernel: Literal["rbf", "linear"]
    gamma: float = Field(gt=0)
    intercept: float


class _Spec(BaseModel):
    """``model.json``."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["sift_svr"]
    version: Literal[1]
    grid: int = Field(ge=1)
    pca: bool
    outputs: list[_Output] = Field(min_length=1)


def load(folder: str | Path) -> SavedSvr:
    """``model.json`` + ``model.npz`` of ``folder`` → :class:`SavedSvr`; every problem is a
    :class:`ModelFolderError` naming the file (and the array or key)."""
    folder = Path(folder)
    spec = _read_spec(folder / SvrMeta.SPEC_FILE)
    path = folder / SvrMeta.MODEL_FILE
    arrays = _read_arrays(path)

    def take(name: str, shape: tuple) -> np.ndarray:  # None in shape: any length
        if name not in arrays:
            raise ModelFolderError(f"{path}: no array {name!r} (an incomplete model file)")
        a = arrays[name]
        fits = a.ndim == len(shape) and all(
            w in (None, n) for w, n in zip(shape, a.shape, strict=True)
        )
        if a.dtype.kind != "f" or not fits or not np.isfinite(a).all():
            want = "(" + ", ".join("n" if w is None else str(w) for w in shape) + ")"
            raise ModelFolderError(
                f"{path}: array {name!r} is {a.dtype} {a.shape}; expected finite floats "
                f"of shape {want}"
            )
        return a

    dim = spec.grid * spec.grid * 128
    pca = (take("pca_mean", (dim,)), take("pca_components", (None, dim))) if spec.pca else None
    k = len(pca[1]) if pca else dim
    outputs = []
    for i, out in enumerate(spec.outputs):
        dual = take(f"svr{i}_dual_coef", (None,))
        sv = take(f"svr{i}_support_vectors", (len(dual), k))
        outputs.append(KernelSvr(out.kernel, out.gamma, out.intercept, sv, dual))
    return SavedSvr(
        grid=spec.grid,
        scale_mean=take("scale_mean", (dim,)),
        scale_scale=take("scale_scale", (dim,)),
        pca_mean=pca[0] if pca else None,
        pca_components=pca[1] if pca else None,
        outputs=tuple(outputs),
    )


def _read_spec(path: Path) -> _Spec:
    if not path.is_file():
        raise ModelFolderError(f"{path}: no such file ({SvrMeta.HINT})")
    try:
        return _Spec.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ModelFolderError(
            f"{path}: not a SIFT + SVR model description ({where}: {err['msg']})"
        ) from None


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of ``model.npz``, read with ``allow_pickle=False``."""
    if not path.is_file():
        raise ModelFolderError(f"{path}: no such file ({SvrMeta.HINT})")
    try:
        with np.load(path, allow_pickle=False) as z:
            # fresh (aligned) copies, in the order the file records
            return {name: np.array(z[name], copy=True) for name in z.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise ModelFolderError(
                f"{path}: refused: it holds pickled Python objects, and unpickling runs "
                "whatever code they carry"
            ) from None
        raise ModelFolderError(f"{path}: cannot be read as arrays ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelFolderError(
            f"{path}: cannot be read as arrays ({type(exc).__name__}: {exc}); "
            "truncated or not a model file"
        ) from None


def save_svr(model, folder: str | Path) -> None:
    """The fitted pipeline's arrays and parameters into ``folder`` (``model.json`` +
    ``model.npz``, :func:`save`): data, no pickle."""
    save(from_pipeline(model), folder)


def load_svr(folder: str | Path):
    """The SIFT + SVR baseline's folder → its predictor
    (:class:`SavedSvr`: ``predict(jpegs)`` → (n, 2) valence,
    arousal), which takes the crops' JPEG bytes. Read from data files only: a folder whose
    model is a pickle (``model.joblib``, ``*.pkl``) is refused, since unpickling runs code.
    Every problem is a :class:`ModelFolderError` naming the file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"{folder}: no such model folder")
    if not (folder / SvrMeta.MODEL_FILE).is_file():
        refuse_pickles(folder, "re-train it with `dvc repro train_svr`")
    SvrMeta.read(folder)
    return load(folder)

"""affwild: valence/arousal estimation from faces in the wild, as a reproducible DVC pipeline.

The package is organised by what it computes. Subpackages:

- ``pipeline.contracts``   the bottom layer every part may import: the 68-point vocabulary, the interim table schemas, CNN-RNN windows
- ``pipeline.datasets``    readers for Aff-Wild, Aff-Wild2 and AFEW-VA, label parsing, splits, ingest core
- ``pipeline.video``       frame-by-frame reading of video files and frame folders (rotation, time stamps)
- ``pipeline.demo``        the synthetic demo data set (animated real face photographs)
- ``pipeline.face``        the detect, landmarks and crop stages' library (subject following, 468 -> 68 points)
- ``pipeline.records``     TFRecord schema, balancing, shard writing, the ``tf.data`` input pipeline
- ``pipeline.models``      backbone registry, the paper's heads, CNN-RNN, peephole LSTM, weights by layer name, the authors' TF1 checkpoints imported
- ``pipeline.training``    losses, the CNN and CNN-RNN fits (resume, best on validation), feature cache, devices
- ``pipeline.baseline``    the SIFT + SVR baseline
- ``pipeline.evaluation``  metrics, evaluation on the test split (protocols all_frames / authors, a CSV list of crops), bootstrap intervals, seeds, plots, ablations
- ``pipeline.inference``   ``affwild predict`` (files and live sources) and ``affwild export``

Modules:

- ``pipeline.api``         the Python API: ``Predictor`` (a trained model -> DataFrames) and ``FaceTracker`` (the face steps alone); ``from pipeline import Predictor`` loads it on first use
- ``pipeline.config``      typed, validated parameters (``params.yaml``)
- ``pipeline.profiles``    whole configurations (``profiles/*.yaml``: paper, demo) composed onto params.yaml, run as DVC experiments
- ``pipeline.artifacts``   typed readers and writers of every file that crosses a stage boundary
- ``pipeline.registry``    one registry per extension point: backbones, data formats, face stages, engines, metrics
- ``pipeline.parallel``    the Engine interface and the one local process pool every fan-out over videos or shards uses
- ``pipeline.ray_engine``  the same Engine on Ray actors (optional extra ``ray``)
- ``pipeline.io``          atomic output writing, Parquet / CSV / JSON helpers
- ``pipeline.errors``      the base class of input errors and their one-line report
- ``pipeline.quiet``       the one place that silences native (MediaPipe / TensorFlow / FFmpeg) logging
- ``pipeline.repro``       per-file hashes of the data stages and the comparison with the committed run
- ``pipeline.stage_deps``   each DVC stage's code deps from its import closure (``affwild dag deps --write / --check``)
- ``pipeline.cli``         the ``affwild`` command
"""

__version__ = "0.1.0"

# The Python API, importable from the package; loaded on first use (``import pipeline`` stays
# cheap: no TensorFlow, no MediaPipe).
_API = ("ArrayError", "FaceTracker", "Predictor")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from pipeline import api

        return getattr(api, name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])

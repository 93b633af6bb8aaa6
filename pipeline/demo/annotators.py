"""The demo's annotators: each a delayed, noisy, differently scaled reading of the truth.

The paper's labels are "the average over some annotators" and Table 6 trains on one of them;
the demo renders such a panel per video so that both can be run. What the face shows
(``truth.parquet``'s ``expr_*``) is read by every annotator ``j`` of the video as::

    annotation_j[t] = clip(gain_j * shown[t - lag_j] + noise_j[t], -1, 1)

- **how many** (our choice): 3-6 annotators per video (:data:`N_ANNOTATORS`), drawn per video;
- **lag** (our choice): ``label_delay_s`` in frames plus an integer in ``[-3, 3]``
  (:data:`LAG_SPREAD`), at least 0 — the mean of the panel trails the expression by about
  ``label_delay_s`` (exactly so only where every lag is the same; below 3 frames of delay the
  lags cut at 0 make it trail a little more);
- **gain** (our choice): uniform in ``[0.7, 1.3]`` (:data:`GAIN`), one per annotator;
- **noise** (our choice): a jittery hand (Gaussian-filtered noise, 0.08 at a 0.1 s time scale)
  plus a slow drift of attention (0.05 at 2 s), per dimension (:data:`JITTER`, :data:`DRIFT`):
  one annotator's trace is less smooth than the mean, as the paper says of its annotators.

Every annotation is rounded to 4 decimals (what the files hold, ``%.4f``); the label is the
mean of the rounded annotations, rounded to 4 decimals, so the mean of the files equals the
label file to 5e-5. Randomness comes only from the ``rng`` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.demo.traces import smooth_noise

N_ANNOTATORS = (3, 6)  # inclusive
LAG_SPREAD = 3  # frames either side of the label delay
GAIN = (0.7, 1.3)
JITTER = (0.08, 0.1)  # amplitude, time scale (s)
DRIFT = (0.05, 2.0)
DECIMALS = 4


@dataclass(frozen=True)
class Panel:
    """One video's annotators: lag (frames), gain and noise (n_frames, 2) of each."""

    lags: np.ndarray  # (k,) int
    gains: np.ndarray  # (k,) float
    noise: np.ndarray  # (k, n_frames, 2)

    def read(self, trace: np.ndarray, lead: int) -> np.ndarray:
        """Every annotator's reading of ``trace`` (the expression shown at frame t is
        ``trace[t + lead]``; before ``trace[0]`` it is held at ``trace[0]``), shape
        (k, n_frames, 2), clipped and rounded."""
        n = self.noise.shape[1]
        padded = np.concatenate([np.repeat(trace[:1], LAG_SPREAD, axis=0), trace])
        out = np.empty_like(self.noise)
        for j, (lag, gain) in enumerate(zip(self.lags, self.gains, strict=True)):
            start = LAG_SPREAD + lead - int(lag)
            out[j] = gain * padded[start : start + n] + self.noise[j]
        return np.round(np.clip(out, -1.0, 1.0), DECIMALS)


def draw_panel(rng: np.random.Generator, n: int, fps: float, delay: int) -> Panel:
    """A panel of 3-6 annotators for a video of ``n`` frames whose labels trail by ``delay``."""
    k = int(rng.integers(N_ANNOTATORS[0], N_ANNOTATORS[1] + 1))
    lags = np.maximum(delay + rng.integers(-LAG_SPREAD, LAG_SPREAD + 1, size=k), 0)
    gains = rng.uniform(*GAIN, size=k)
    noise = np.empty((k, n, 2))
    for j in range(k):
        for d in range(2):
            jitter = smooth_noise(rng, n, JITTER[1] * fps)
            drift = smooth_noise(rng, n, DRIFT[1] * fps)
            noise[j, :, d] = JITTER[0] * jitter + DRIFT[0] * drift
    return Panel(lags, np.round(gains, 3), noise)


def mean_label(annotations: np.ndarray) -> np.ndarray:
    """The label: the mean of a panel's (rounded) annotations, rounded the same way."""
    return np.round(annotations.mean(axis=0), DECIMALS)


def annotator_summary(annotated: dict[str, tuple[Panel, np.ndarray]]) -> dict:
    """Per video the panel's lags and gains; over the set, how many annotators a video has
    and each annotator's CCC with its video's mean label (min / mean / max per dimension)."""
    from pipeline.evaluation.metrics import ccc

    videos, agree = {}, {"valence": [], "arousal": []}
    for vid, (panel, readings) in annotated.items():
        videos[vid] = {"lags": panel.lags.tolist(), "gains": panel.gains.tolist()}
        label = mean_label(readings)
        for k, dim in enumerate(agree):
            agree[dim] += [ccc(label[:, k], a[:, k]) for a in readings]
    counts = [len(v["lags"]) for v in videos.values()]
    return {
        "per_video": [min(counts), max(counts)],
        "total": sum(counts),
        "ccc_vs_mean": {
            dim: [round(f(v), 3) for f in (np.min, np.mean, np.max)] for dim, v in agree.items()
        },
        "videos": videos,
    }

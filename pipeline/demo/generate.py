"""Generating the whole demo data set: plan the videos, render them in parallel, write labels.

Output (the Aff-Wild layout, each annotator's trace beside the label, plus ground truth the
reader ignores)::

    <out>/videos/{train,test}/<id>.{mp4,avi}
    <out>/annotations/{train,test}/{valence,arousal}/<id>.txt   one value per decoded frame:
                                                                the mean of the annotators
    <out>/annotations/{train,test}/individual/{valence,arousal}/<id>/<j>.txt   annotator j
    <out>/truth.parquet                                         per-frame ground truth
    <out>/README.md                                             how it was made

Seeding: split-level choices (lengths, traces, which videos get a distractor) come from
``SeedSequence([seed, split])``; each video's frame-level randomness from
``SeedSequence([seed, split, index])``, its annotator panel from
``SeedSequence([seed, split, index, 1])``. So a video depends only on the seed, its split's
size and its index, never on ``n_jobs``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import DemoConfig
from pipeline.demo.annotators import (
    DRIFT,
    GAIN,
    JITTER,
    LAG_SPREAD,
    N_ANNOTATORS,
    Panel,
    annotator_summary,
    draw_panel,
    mean_label,
)
from pipeline.demo.faces import DemoError, load_scenes, load_sources
from pipeline.demo.render import VideoJob, VideoResult, render_video
from pipeline.demo.traces import QUADRANTS, quadrant_shares, split_traces
from pipeline.io import atomic_dir
from pipeline.parallel import map_ordered
from pipeline.video.reader import probe

SPLITS = ("train", "test")
DIMENSIONS = ("valence", "arousal")
INDIVIDUAL = "individual"  # annotations/<split>/individual/: each annotator's own trace
AVI_EVERY = 4  # every 4th video (globally) is an MJPG .avi, the others mp4v .mp4

TRUTH_SCHEMA = pa.schema(
    [
        ("video_id", pa.string()),
        ("frame", pa.int32()),
        ("face_visible", pa.bool_()),
        ("occluded", pa.bool_()),
        ("distractor_visible", pa.bool_()),
        ("x", pa.float32()),
        ("y", pa.float32()),
        ("w", pa.float32()),
        ("h", pa.float32()),
        ("expr_valence", pa.float32()),
        ("expr_arousal", pa.float32()),
    ]
)


def delay_frames(cfg: DemoConfig) -> int:
    return int(round(cfg.label_delay_s * cfg.fps))


ANNOTATOR_STREAM = 1  # SeedSequence([seed, split, index, 1]): a video's annotator panel


def _panels(cfg: DemoConfig, si: int, lengths: list[int], delay: int) -> list[Panel]:
    """Each video's annotator panel, from its own seed (not the split's trace generator)."""
    return [
        draw_panel(
            np.random.default_rng(np.random.SeedSequence([cfg.seed, si, i, ANNOTATOR_STREAM])),
            n,
            cfg.fps,
            delay,
        )
        for i, n in enumerate(lengths)
    ]


def plan(cfg: DemoConfig, root: Path) -> tuple[list[VideoJob], dict[str, tuple[Panel, np.ndarray]]]:
    """Every video's job (files under ``root``), its annotator panel and their annotations
    (k, n_frames, 2): one reading of what the face shows per annotator
    (:mod:`pipeline.demo.annotators`); the label is their mean."""
    sources = load_sources()
    scenes = load_scenes()
    d = delay_frames(cfg)
    jobs, annotations = [], {}
    k = 0
    for si, split in enumerate(SPLITS):
        n_videos = cfg.n_train if split == "train" else cfg.n_test
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, si]))
        lengths = [int(n) for n in rng.integers(cfg.min_frames, cfg.max_frames + 1, n_videos)]
        panels = _panels(cfg, si, lengths, d)

        def readout(traces, panels=panels):
            return [mean_label(p.read(t, d)) for p, t in zip(panels, traces, strict=True)]

        # The face shows trace[t + d] at frame t; annotator j reads it lag_j frames late.
        # The split is redrawn until its mean labels' quadrant shares are near the targets.
        traces = split_traces(rng, [n + d for n in lengths], cfg.fps, readout=readout)
        n_distract = int(round(cfg.distractor_fraction * n_videos))
        distract = set(rng.permutation(n_videos)[:n_distract].tolist())
        first_identity = int(rng.integers(len(sources)))
        for i in range(n_videos):
            vid = f"demo_{split}_{i:03d}"
            avi = k % AVI_EVERY == AVI_EVERY - 1
            k += 1
            path = root / "videos" / split / f"{vid}{'.avi' if avi else '.mp4'}"
            subject = sources[(first_identity + i) % len(sources)]
            other = sources[(first_identity + i + 1) % len(sources)]
            n = lengths[i]
            jobs.append(
                VideoJob(
                    video_id=vid,
                    path=str(path),
                    fourcc="MJPG" if avi else "mp4v",
                    n_frames=n,
                    fps=cfg.fps,
                    width=cfg.width,
                    height=cfg.height,
                    expression=traces[i][d : d + n],
                    subject=subject,
                    other=other,
                    scenes=scenes,
                    distractor=i in distract,
                    seed=(cfg.seed, si, i),
                    face_height=(cfg.face_height_min, cfg.face_height_max),
                    expressiveness=(cfg.expressiveness_min, cfg.expressiveness_max),
                    noise_std=cfg.noise_std,
                    occlusion_fraction=cfg.occlusion_fraction,
                    no_face_fraction=cfg.no_face_fraction,
                )
            )
            annotations[vid] = (panels[i], panels[i].read(traces[i], d))
    return jobs, annotations


def _render_all(jobs: list[VideoJob], n_jobs: int) -> list[VideoResult]:
    # longest first, for a better balance
    return map_ordered(render_video, jobs, n_jobs, cost=lambda job: job.n_frames)


def _write_labels(path: Path, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{x:.4f}\n" for x in values))


def _write_annotations(root: Path, split: str, vid: str, annotations: np.ndarray) -> None:
    """The label (the panel's mean) where Aff-Wild has it, each annotator's beside it:
    ``annotations/<split>/individual/<dim>/<vid>/<j>.txt``, j = 1, 2, ... (the layout of
    :mod:`pipeline.datasets.affwild`)."""
    label = mean_label(annotations)
    for k, dim in enumerate(DIMENSIONS):
        _write_labels(root / "annotations" / split / dim / f"{vid}.txt", label[:, k])
        for j, values in enumerate(annotations[:, :, k]):
            path = root / "annotations" / split / INDIVIDUAL / dim / vid / f"{j + 1}.txt"
            _write_labels(path, values)


def generate_demo(out_dir: str | os.PathLike, cfg: DemoConfig, n_jobs: int = 1) -> dict:
    """Generate the demo data set into ``out_dir`` (replaced atomically), rendering videos
    in ``n_jobs`` processes; return a summary."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        for split in SPLITS:
            (tmp / "videos" / split).mkdir(parents=True)
        jobs, annotated = plan(cfg, tmp)
        labels = {vid: mean_label(a) for vid, (_, a) in annotated.items()}
        results = _render_all(jobs, n_jobs)

        tables = []
        for job, res in zip(jobs, results, strict=True):
            info = probe(job.path, default_fps=cfg.fps)
            if info.n_frames != job.n_frames:
                raise DemoError(
                    f"{job.path}: {info.n_frames} frames decode, {job.n_frames} were written"
                )
            split = Path(job.path).parent.name
            _write_annotations(tmp, split, job.video_id, annotated[job.video_id][1])
            n = job.n_frames
            tables.append(
                pa.table(
                    {
                        "video_id": [job.video_id] * n,
                        "frame": np.arange(n, dtype=np.int32),
                        "face_visible": res.face_visible,
                        "occluded": res.occluded,
                        "distractor_visible": res.distractor_visible,
                        "x": res.box[:, 0],
                        "y": res.box[:, 1],
                        "w": res.box[:, 2],
                        "h": res.box[:, 3],
                        "expr_valence": job.expression[:, 0].astype(np.float32),
                        "expr_arousal": job.expression[:, 1].astype(np.float32),
                    },
                    schema=TRUTH_SCHEMA,
                )
            )
        pq.write_table(pa.concat_tables(tables), tmp / "truth.parquet", compression="zstd")

        summary = _summary(cfg, jobs, results, labels)
        summary["annotators"] = annotator_summary(annotated)
        (tmp / "README.md").write_text(_readme(cfg, summary, jobs, results))
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    summary["out_dir"] = str(out_dir)
    return summary


def _summary(cfg, jobs, results, labels) -> dict:
    out: dict = {"videos": {}, "frames": {}, "quadrant_shares": {}}
    for split in SPLITS:
        ids = [j.video_id for j in jobs if Path(j.path).parent.name == split]
        out["videos"][split] = len(ids)
        out["frames"][split] = int(sum(len(labels[i]) for i in ids))
        shares = quadrant_shares(np.concatenate([labels[i] for i in ids]))
        out["quadrant_shares"][split] = {q: round(shares[q], 3) for q in QUADRANTS}
    out["distractor_videos"] = sum(bool(r.design["distractor"]) for r in results)
    out["no_face_frames"] = int(sum(r.design["no_face_frames"] for r in results))
    out["occluded_frames"] = int(sum(r.design["occluded_frames"] for r in results))
    out["label_delay_frames"] = delay_frames(cfg)
    return out


def _panel_cell(panel: dict) -> str:
    return ", ".join(
        f"{lag} x {g:.2f}" for lag, g in zip(panel["lags"], panel["gains"], strict=True)
    )


def _video_rows(jobs, results, annotators: dict) -> str:
    """The README's per-video table rows."""
    return "\n".join(
        f"| {j.video_id} | {Path(j.path).name} | {j.n_frames} | {r.design['subject']} "
        f"| {'yes' if r.design['mirrored'] else 'no'} | {r.design['face_px']} "
        f"| {r.design['expressiveness']} | {r.design['background']} "
        f"| {r.design['distractor_from_frame'] if r.design['distractor'] else '-'} "
        f"| {r.design['no_face_frames']} | {r.design['occluded_frames']} "
        f"| {_panel_cell(annotators['videos'][j.video_id])} |"
        for j, r in zip(jobs, results, strict=True)
    )


def _share_rows(summary: dict) -> str:
    """The README's per-split table rows: videos, frames and quadrant shares."""
    return "\n".join(
        f"| {s} | {summary['videos'][s]} | {summary['frames'][s]} | "
        + " | ".join(f"{100 * summary['quadrant_shares'][s][q]:.1f}" for q in QUADRANTS)
        + " |"
        for s in SPLITS
    )


def _what_it_is(cfg: DemoConfig, d: int) -> str:
    """The README's "What it is" section: how the set is made, with its parameters."""
    return f"""## What it is
Two real face photographs that ship with installed packages, animated:
**astronaut** (Eileen Collins, NASA portrait, `skimage.data.astronaut`) and **grace_hopper**
(matplotlib's sample data). Every subject is one of these two people; videos vary them by
mirroring, skin-tone/colour shift, face size, background scene and camera path.
MediaPipe Face Mesh finds each photo's 468 points once; they steer the expression warp.

- **Expression** (what the face shows at frame t, `expr_valence/expr_arousal` in
  `truth.parquet`): a smooth displacement field (blended Gaussian bumps at Face Mesh control
  points, `cv2.remap`) scaled by a per-video expressiveness gain
  ({cfg.expressiveness_min}-{cfg.expressiveness_max}). Valence lifts (or lowers) the mouth
  corners, raises the cheeks (positive) or lowers and knits the inner brows (negative).
  Arousal widens the eyes, raises the brows and opens the mouth.
- **Temporal cues** (visible only over several frames): arousal also sets the rate of blinks
  (0.15-0.7 per second) and the speed (0.3-2.1 Hz) and amplitude of head nods and shakes.
- **Annotators** (our model of them): each video has {N_ANNOTATORS[0]}-{N_ANNOTATORS[1]} annotators
  (drawn per video), each a delayed, noisy, differently scaled reading of the expression:
  `annotation_j[t] = clip(gain_j * expression[t - lag_j] + noise_j[t], -1, 1)`, lag_j =
  `label_delay_s` ({cfg.label_delay_s} s = {d} frames) ± up to {LAG_SPREAD} frames (at least 0),
  gain_j in [{GAIN[0]}, {GAIN[1]}], noise a jittery hand ({JITTER[0]} at {JITTER[1]} s) plus a
  slow drift ({DRIFT[0]} at {DRIFT[1]} s). Lags and gains of every video are in the table below.
- **The label is the annotators' mean**, like Aff-Wild's: it trails the expression by about
  {d} frames (the mean of the lags; the face shows it first, and the first labels read the
  expression from just before the video starts) and is smoother than any one annotator.
- **Traces**: `tanh(offset + slow + fast)`, a per-video offset (skewed positive) plus
  Gaussian-filtered noise with time scales of 2 s and 0.5 s. Each split covers all four
  quadrants; the raw set is skewed more than the paper's balanced training set
  (43/24/19/14 %), so balancing has work to do.
- **Camera and picture**: the photo stands in a blurred faceless scene (scikit-image's coffee,
  rocket, brick, grass, gravel); a virtual camera wanders, zooms and rolls; lighting gain,
  gamma and a side-light gradient drift; Gaussian sensor noise (std about {cfg.noise_std} grey
  levels x 0.6-1.4 per video); the codec adds its artefacts (mp4v `.mp4`, every
  {AVI_EVERY}th video MJPG `.avi`).
- **Hard frames**: runs of 5-15 occluded frames (a hand or an object over part of the face,
  about {100 * cfg.occlusion_fraction:g} % of frames), runs of 8-20 frames without the subject's face
  (the camera turns away, or a cut to a faceless scene; about {100 * cfg.no_face_fraction:g} %), and in
  about {100 * cfg.distractor_fraction:g} % of the videos a second, smaller face (the other identity with its
  own unrelated expression) on a picture-in-picture "screen" in a top corner from part-way
  through the video. The subject is the main face from frame 0.

"""


def _ccc_range(summary: dict, dim: str) -> str:
    return " / ".join(f"{x:.2f}" for x in summary["annotators"]["ccc_vs_mean"][dim])


def _readme(cfg: DemoConfig, summary: dict, jobs, results) -> str:
    shares, rows = _share_rows(summary), _video_rows(jobs, results, summary["annotators"])
    return f"""# Demo data set (synthetic, Aff-Wild layout)

Generated by `pipeline.demo` (`dvc repro demo` or `affwild demo OUT_DIR`) with
`seed={cfg.seed}`, {cfg.width}x{cfg.height} px at {cfg.fps:g} fps. Same parameters, same bytes.

{_what_it_is(cfg, summary["label_delay_frames"])}## Files
- `videos/{{train,test}}/<id>.{{mp4,avi}}`, `annotations/{{train,test}}/{{valence,arousal}}/<id>.txt`
  (one value in [-1, 1] per decodable frame, `%.4f`): the Aff-Wild layout. The label is the
  mean of the annotators' rounded values, rounded to 4 decimals.
- `annotations/{{train,test}}/individual/{{valence,arousal}}/<id>/<j>.txt`, j = 1, 2, ...: each
  annotator's own trace, in the same format (annotator j of one video is not annotator j of
  another). Their mean is the label file to 1e-4. Per-annotator CCC with the mean label:
  valence {_ccc_range(summary, "valence")}, arousal {_ccc_range(summary, "arousal")} (min / mean / max).
- `truth.parquet`: per frame `video_id, frame, face_visible, occluded, distractor_visible,
  x, y, w, h` (the subject's face box in frame pixels: the box around the deformed 468
  Face Mesh points; NaN without a face) and `expr_valence, expr_arousal` (undelayed).

## Splits
| split | videos | frames | V+A+ % | V-A+ % | V+A- % | V-A- % |
|---|---|---|---|---|---|---|
{shares}

## Videos
| id | file | frames | subject | mirrored | face px | expressiveness | background | distractor from | no-face frames | occluded frames | annotators: lag (frames) x gain |
|---|---|---|---|---|---|---|---|---|---|---|---|
{rows}
"""

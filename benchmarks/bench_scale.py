"""Benchmark: cost vs data size. Demo-like data at 1x, 4x, 16x the demo's frames, through
ingest -> detect -> landmarks -> crop -> shard -> one epoch of train_cnn, each stage a real
stage process (``python -m stages.<name>``, as ``dvc repro`` runs it) with the repository's
params.yaml except for the overrides below.

Per stage: wall time, peak resident memory of its largest process (GNU time's maximum RSS:
the stage process or its biggest worker) and the disk its outputs take. Scaling is by the
number of videos (``demo.n_train`` / ``n_test`` x k, same lengths), as data sets grow.

Kept feasible on 2 cores (say so when quoting): frames are 160x120 with 50-70 px faces
(instead of 320x240, 80-110 px), the CNN trains on 32 px crops with the small backbone at
width 8 (the demo: 64 px, 16); ``--train-steps`` can cap the epoch. The demo generation is not
timed.

``--replicate``: only the smallest scale is generated and run through every stage; a larger
scale k is that data set k times over (each video and its label files hard-linked under k
names), run for real through ingest, shard and train_cnn, while the per-video face stages
(independent videos, one table each) have their outputs copied k times and their cost is
k x the measured one (marked "k x" in the table). Without it every scale runs every stage.

    python benchmarks/bench_scale.py --scales 1 4 16 --replicate [--n-jobs 2]
    python benchmarks/bench_scale.py --plot-only     # table + plot from benchmarks/scale.json

Results go to ``<out>.json`` (appended per scale), the log-log plot to ``<out>.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = ["ingest", "detect", "landmarks", "crop", "shard", "train_cnn"]


def params_for(scale: int, n_jobs: int, train_steps: int) -> dict:
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    p["demo"].update(
        n_train=12 * scale, n_test=5 * scale, width=160, height=120,
        face_height_min=50.0, face_height_max=70.0,
    )  # fmt: skip
    p["crop"].update(size=48)
    p["parallel"] = {"engine": "local", "address": None, "n_jobs": n_jobs}
    p["model"].update(backbone={"name": "small", "width": 8})
    p["train_cnn"].update(epochs=1, image_size=32, steps_per_epoch=train_steps)
    return p


def commands(d: Path) -> dict[str, list[str]]:
    i = d / "interim"
    py = [sys.executable, "-m"]
    par = ["--params", str(d / "params.yaml")]
    return {
        "demo": [*py, "stages.demo", "--out", str(d / "raw"), *par],
        "ingest": [*py, "stages.ingest", "--root", str(d / "raw"), "--manifest",
                   str(i / "manifest.parquet"), "--labels", str(i / "labels.parquet"),
                   "--source-landmarks", str(i / "source_landmarks.parquet"),
                   "--report", str(i / "ingest_report.json"), *par],
        "detect": [*py, "stages.face", "detect", "--manifest", str(i / "manifest.parquet"),
                   "--out", str(i / "boxes"), "--summary", str(i / "boxes.json"), *par],
        "landmarks": [*py, "stages.face", "landmarks", "--manifest", str(i / "manifest.parquet"),
                      "--input", f"boxes={i / 'boxes'}", "--input",
                      f"source_landmarks={i / 'source_landmarks.parquet'}", "--out", str(i / "landmarks"),
                      "--summary", str(i / "landmarks.json"), *par],
        "crop": [*py, "stages.face", "crop", "--manifest", str(i / "manifest.parquet"),
                 "--input", f"boxes={i / 'boxes'}", "--input", f"landmarks={i / 'landmarks'}",
                 "--out", str(i / "crops"), "--summary", str(i / "crops.json"), *par],
        "shard": [*py, "stages.shard", "--manifest", str(i / "manifest.parquet"),
                  "--labels", str(i / "labels.parquet"), "--crops", str(i / "crops"),
                  "--out", str(d / "records"), *par],
        "train_cnn": [*py, "stages.train_cnn", "--records", str(d / "records"),
                      "--out", str(d / "models/cnn"), "--checkpoints", str(d / "ckpt"),
                      "--live", str(d / "live"), *par],
    }  # fmt: skip


OUTPUTS = {
    "demo": ["raw"],
    "ingest": ["interim/manifest.parquet", "interim/labels.parquet"],
    "detect": ["interim/boxes"],
    "landmarks": ["interim/landmarks"],
    "crop": ["interim/crops"],
    "shard": ["records"],
    "train_cnn": ["models/cnn"],
}


def disk_mb(d: Path, rels: list[str]) -> float:
    total = 0
    for rel in rels:
        p = d / rel
        files = [p] if p.is_file() else list(p.rglob("*")) if p.exists() else []
        total += sum(f.stat().st_size for f in files if f.is_file())
    return round(total / 2**20, 2)


def timed(cmd: list[str], log: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MB of the largest process) of one stage process."""
    stats = log.with_suffix(".time")
    env = dict(os.environ, PYTHONPATH=str(REPO))  # the stages quiet native logs
    t0 = time.perf_counter()
    with open(log, "w") as f:
        r = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(stats), *cmd],
                           cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT)  # fmt: skip
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{cmd[2]} failed, see {log}:\n{log.read_text()[-2000:]}")
    return wall, int(stats.read_text().split()[-1]) / 1024


FACE = ("detect", "landmarks", "crop")


def replicate(base: Path, d: Path, k: int) -> None:
    """``base``'s raw data set k times over into ``d`` (hard links, new names ``<id>_r<j>``),
    and its face-stage outputs copied k times under the same names."""
    for f in (base / "raw").rglob("*"):
        if not f.is_file() or f.parent == base / "raw":
            continue
        rel = f.relative_to(base / "raw")
        for j in range(k):
            dst = d / "raw" / rel.parent / f"{f.stem}_r{j}{f.suffix}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.link(f, dst)
    for name in ("boxes", "landmarks", "crops"):
        for f in (base / "interim" / name).glob("*.parquet"):
            for j in range(k):
                dst = d / "interim" / name / f"{f.stem}_r{j}.parquet"
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.link(f, dst)


def run_scale(
    scale: int, n_jobs: int, train_steps: int, keep: Path | None, base: dict | None = None
) -> dict:
    """Every stage at ``scale``; with ``base`` (the result of a smaller scale, its folder
    kept), the data are that scale's replicated and the face stages are not re-run."""
    d = Path(tempfile.mkdtemp(prefix=f"scale{scale}x-"))
    try:
        gen_scale = base["scale"] if base else scale
        (d / "params.yaml").write_text(yaml.safe_dump(params_for(gen_scale, n_jobs, train_steps)))
        cmds = commands(d)
        k = scale // gen_scale
        if base:
            replicate(Path(base["folder"]), d, k)
        else:
            timed(cmds["demo"], d / "demo.log")
        manifest_frames = None
        result: dict = {"scale": scale, "n_jobs": n_jobs, "stages": {}}
        for stage in STAGES:
            if base and stage in FACE:
                b = base["stages"][stage]
                result["stages"][stage] = {
                    "seconds": round(b["seconds"] * k, 2),
                    "peak_rss_mb": b["peak_rss_mb"],
                    "disk_mb": disk_mb(d, OUTPUTS[stage]),
                    "extrapolated": f"{k} x the {gen_scale}x run",
                }
                continue
            wall, rss = timed(cmds[stage], d / f"{stage}.log")
            result["stages"][stage] = {
                "seconds": round(wall, 2),
                "peak_rss_mb": round(rss, 1),
                "disk_mb": disk_mb(d, OUTPUTS[stage]),
            }
            if stage == "ingest":
                import pyarrow.parquet as pq

                m = pq.read_table(d / "interim/manifest.parquet").to_pylist()
                manifest_frames = sum(r["n_frames"] for r in m)
                result["videos"] = len(m)
            print(f"{scale}x {stage}: {result['stages'][stage]}", flush=True)
        result["frames"] = manifest_frames
        result["raw_mb"] = disk_mb(d, OUTPUTS["demo"])
        result["load"] = os.getloadavg()
        result["folder"] = str(d)
        return result
    finally:
        if keep:
            shutil.copytree(d, keep / d.name, dirs_exist_ok=True)
        if not (base is None and _KEEP_BASE):
            shutil.rmtree(d, ignore_errors=True)


_KEEP_BASE = False  # set by main() with --replicate: the base scale's folder is reused


def table(results: list[dict]) -> str:
    rows = ["| scale | videos | frames | stage | wall s | µs/frame | peak RSS MB | disk MB |",
            "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in sorted(results, key=lambda r: r["scale"]):
        for stage, s in r["stages"].items():
            us = 1e6 * s["seconds"] / r["frames"]
            mark = f" ({s['extrapolated']})" if s.get("extrapolated") else ""
            rows.append(f"| {r['scale']}x | {r['videos']} | {r['frames']} | {stage}{mark} | "
                        f"{s['seconds']:.1f} | {us:.0f} | {s['peak_rss_mb']:.0f} | "
                        f"{s['disk_mb']:.1f} |")  # fmt: skip
    return "\n".join(rows)


def plot(results: list[dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = sorted(results, key=lambda r: r["scale"])
    frames = [r["frames"] for r in results]
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    for stage in STAGES:
        est = any(r["stages"][stage].get("extrapolated") for r in results)
        style = "o--" if est else "o-"
        label = f"{stage} (k x the 1x run)" if est else stage
        ax[0].loglog(frames, [r["stages"][stage]["seconds"] for r in results], style,
                     label=label, mfc="none" if est else None)  # fmt: skip
        ax[1].loglog(frames, [r["stages"][stage]["peak_rss_mb"] for r in results], style,
                     label=label, mfc="none" if est else None)  # fmt: skip
    f0, f1 = frames[0], frames[-1]
    t0 = results[0]["stages"]["shard"]["seconds"]
    ax[0].loglog([f0, f1], [t0, t0 * f1 / f0], "k:", lw=0.8, label="linear (from shard at 1x)")
    ax[0].set(xlabel="frames", ylabel="wall seconds", title="time per stage")
    ax[1].set(xlabel="frames", ylabel="peak RSS MB (largest process)", title="memory per stage")
    for a in ax:
        a.grid(True, which="both", alpha=0.3)
    ax[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--train-steps", type=int, default=None,
                    help="cap on the epoch's steps (default: one pass over the records)")  # fmt: skip
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "scale")
    ap.add_argument("--plot-only", action="store_true")
    ap.add_argument("--replicate", action="store_true", help="see the module doc")
    ap.add_argument("--keep", type=Path, default=None, help="copy each run's folder here")
    a = ap.parse_args()
    js = a.out.with_suffix(".json")
    results = json.loads(js.read_text()) if js.exists() else []
    global _KEEP_BASE
    _KEEP_BASE = a.replicate
    if not a.plot_only:
        base = None
        for scale in sorted(a.scales):
            r = run_scale(scale, a.n_jobs, a.train_steps, a.keep, base)
            if a.replicate and base is None:
                base = r
            results = [x for x in results if x["scale"] != scale] + [r]
            js.write_text(json.dumps(results, indent=1))
        if base is not None:
            shutil.rmtree(base["folder"], ignore_errors=True)
    print(table(results))
    if len(results) > 1:
        plot(results, a.out.with_suffix(".png"))
        print(f"plot: {a.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()

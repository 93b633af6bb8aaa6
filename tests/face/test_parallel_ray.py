"""The face stages on a real local 2-worker Ray (``parallel.engine: ray``), real MediaPipe.

Same bytes as the local engine, a failing video reported without stopping the others, and a
worker killed mid-video retried by Ray with the stage still completing. Skipped when Ray is
not installed (``pip install -e ".[ray]"``; the ``test`` extra pulls it in).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.artifacts import FaceStageSummary
from pipeline.config import CropConfig, DetectConfig, LandmarksConfig
from pipeline.face.runner import make_jobs, read_manifest, run_stage
from pipeline.ray_engine import KILL_VIDEO_ENV, MARKER_ENV
from tests.helpers.faces import Clip, canvas, paste, write_manifest, write_video

ray = pytest.importorskip("ray")

CFG = {"detect": DetectConfig(), "landmarks": LandmarksConfig(max_gap=3),
       "crop": CropConfig(size=48, margin=0.2)}  # fmt: skip


@pytest.fixture(scope="module")
def killed_marker(tmp_path_factory) -> Path:
    """Where the worker that dies mid-video (video ``long0``, frame 100) leaves its pid."""
    return tmp_path_factory.mktemp("fault") / "killed.txt"


@pytest.fixture(scope="module")
def local_ray(killed_marker):
    fault = {KILL_VIDEO_ENV: "long0:100", MARKER_ENV: str(killed_marker)}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": fault})  # fmt: skip
    yield ray
    ray.shutdown()


def _three_stages(manifest_path: Path, out: Path, **engine) -> dict:
    manifest = read_manifest(manifest_path)
    o = {k: out / k for k in ("boxes", "landmarks", "crops")}
    inputs = {
        "detect": {},
        "landmarks": {"boxes": str(o["boxes"])},
        "crop": {"boxes": str(o["boxes"]), "landmarks": str(o["landmarks"])},
    }
    summaries = {}
    for stage, kind in (("detect", "boxes"), ("landmarks", "landmarks"), ("crop", "crops")):
        jobs = make_jobs(manifest, o[kind], inputs[stage])
        summaries[stage] = run_stage(stage, jobs, CFG[stage], o[kind], **engine)
    return summaries


def _bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.parquet"))}


def test_ray_writes_the_same_bytes_as_local_and_reports_a_bad_video(
    local_ray, clips, tmp_path
):  # fmt: skip
    chosen = [clips[k] for k in ("gap", "distractor", "noface", "two_left")]
    chosen.append(Clip("absent", tmp_path / "absent.mp4", 8, "", "file missing"))
    manifest = write_manifest(tmp_path / "manifest.parquet", chosen)

    local = _three_stages(manifest, tmp_path / "local", n_jobs=1)
    on_ray = _three_stages(manifest, tmp_path / "ray", n_jobs=2, engine="ray")

    a, b = _bytes(tmp_path / "local"), _bytes(tmp_path / "ray")
    assert len(a) == 3 * len(chosen) and a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    for stage in ("detect", "landmarks", "crop"):
        assert (on_ray[stage].engine, local[stage].engine) == ("ray", "local")
        assert on_ray[stage].ray_cluster == ray.get_runtime_context().gcs_address
        assert "ray_cluster" not in local[stage].to_json()
        failed = on_ray[stage].failed
        assert [f.video_id for f in failed] == ["absent"], failed
        assert "absent.mp4" in failed[0].why
        assert on_ray[stage].frames_with_face == local[stage].frames_with_face > 0


def test_worker_killed_mid_video_is_retried_and_the_stage_completes(
    local_ray, killed_marker, faces, tmp_path
):  # fmt: skip
    """The worker running ``long0`` SIGKILLs itself after 100 of its 300 frames (the fault
    hook of pipeline/ray_engine.py, armed for this module's Ray): Ray restarts it, the video
    is run again, and the tables are the same bytes as one process's."""
    long = []
    for k in range(2):
        frames = [paste(canvas(), faces["astronaut"], 60 + i // 3, 40, 150) for i in range(300)]
        long.append(Clip(f"long{k}", write_video(tmp_path / f"long{k}.mp4", frames), 300))
    manifest = read_manifest(write_manifest(tmp_path / "manifest.parquet", long))
    ref = run_stage("detect", make_jobs(manifest, tmp_path / "ref"), CFG["detect"],
                    tmp_path / "ref", n_jobs=1)  # fmt: skip
    assert not killed_marker.exists()  # the local pool has no fault hook

    out = tmp_path / "ray"
    s = run_stage("detect", make_jobs(manifest, out), CFG["detect"], out, n_jobs=2,
                  engine="ray")  # fmt: skip
    assert killed_marker.exists(), "no worker was killed"
    assert s.failed == [] and s.frames_with_face == ref.frames_with_face == 600
    assert _bytes(out) == _bytes(tmp_path / "ref")


@pytest.mark.slow
def test_detect_stage_joins_a_running_ray_cluster(clips, tmp_path):
    """`ray start --head` (as on a cluster's head node), then the detect stage from the command
    line with `parallel.engine: ray, address: auto`; Ray 2.60's `ray start` turns on token
    authentication, so the driver runs with RAY_AUTH_MODE=token (docs/scaling.md).

    ``auto`` joins the cluster that the last ``ray start`` on this machine recorded in Ray's
    temp folder; failing that, ANY Ray instance running here (the module's own private one, a
    concurrent test run's). Head and stage therefore share a private temp folder (RAY_TMPDIR),
    as they would share /tmp/ray on a cluster node, and the stage's summary must name the head."""
    import shutil
    import socket
    import subprocess
    import sys
    import tempfile

    import yaml

    from tests.helpers.repo import REPO, tool_env

    with socket.socket() as s:
        s.bind(("", 0))
        port = s.getsockname()[1]
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # socket paths must stay < 108 bytes
    env = dict(tool_env(), RAY_AUTH_MODE="token", PYTHONPATH=str(REPO), RAY_TMPDIR=ray_tmp)
    head = subprocess.Popen(
        [str(Path(sys.executable).parent / "ray"), "start", "--head", f"--port={port}",
         "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={ray_tmp}/ray", "--block"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        seen = []
        for line in head.stdout:  # wait until the head is up
            seen.append(line)
            if "Ray runtime started" in line:
                break
        assert "Ray runtime started" in seen[-1], "".join(seen)[-3000:]
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        params["parallel"] = {"engine": "ray", "address": "auto", "n_jobs": 2}
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        manifest = write_manifest(tmp_path / "m.parquet", [clips["gap"], clips["noface"]])
        r = subprocess.run(
            [sys.executable, "-m", "stages.face", "detect", "--params", str(tmp_path / "params.yaml"),
             "--manifest", str(manifest), "--out", str(tmp_path / "boxes"),
             "--summary", str(tmp_path / "s.json")],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
        s = FaceStageSummary.read_file(tmp_path / "s.json")
        assert s.engine == "ray" and s.videos == 2 and not s.failed
        assert s.ray_cluster.endswith(f":{port}")  # joined the head, did not start its own
    finally:
        head.terminate()  # `ray start --block` stops what it started on SIGTERM
        head.wait(timeout=60)
        shutil.rmtree(ray_tmp, ignore_errors=True)

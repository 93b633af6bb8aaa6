"""Atomic outputs: stale temporaries of a killed writer are swept, a live writer's are not."""

from __future__ import annotations

import os
import subprocess
import sys

from pipeline.io import atomic_dir, sweep_stale, write_json


def test_killed_stage_leaves_temporaries_that_the_next_run_removes(tmp_path):
    out = tmp_path / "interim" / "boxes"
    code = (
        "import os, sys, time\n"
        "from pipeline.io import atomic_dir\n"
        f"with atomic_dir({str(out)!r}) as tmp:\n"
        "    (tmp / 'a.parquet').write_text('half')\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, env=env, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    stale = list(out.parent.glob(".boxes.*.tmp"))
    assert len(stale) == 1 and stale[0].is_dir()
    assert sweep_stale(out) == []  # its writer is alive: left alone
    proc.kill()  # kill -9: no cleanup runs
    proc.wait()
    assert stale[0].exists()
    with atomic_dir(out) as tmp:
        (tmp / "b.parquet").write_text("done")
    assert sorted(p.name for p in out.parent.iterdir()) == ["boxes"]
    assert [p.name for p in out.iterdir()] == ["b.parquet"]


def test_unowned_old_temporaries_swept_fresh_ones_kept(tmp_path):
    old = tmp_path / ".summary.json.abc123.tmp"
    new = tmp_path / ".summary.json.def456.tmp"
    other = tmp_path / ".other.json.1.tmp"
    for p in (old, new, other):
        p.write_text("x")
    os.utime(old, (1, 1))
    write_json({"a": 1}, tmp_path / "summary.json")
    assert not old.exists() and new.exists() and other.exists()

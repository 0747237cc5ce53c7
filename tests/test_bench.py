"""The benchmark suite (bench/) runs end to end: ``python -m bench --quick`` on two small cases
writes a JSON file of rows and a PNG chart. It checks that the suite works, not any speed."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quick_run_writes_json_and_chart(tmp_path):
    pytest.importorskip("threadpoolctl", reason="the benchmark needs threadpoolctl")
    command = [sys.executable, "-m", "bench", "--quick", "--threads", "1", "--suite", "conv", "layers",
               "--cases", "tiny", "max_pool_3x3_s2", "--methods", "naive", "im2col", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr

    (result,) = tmp_path.glob("conv-layers-*.json")
    report = json.loads(result.read_text())
    assert report["machine"]["threads"] == 1
    assert report["options"]["quick"] is True
    rows = {(r["case"], r["mode"], r["method"]): r for r in report["rows"]}
    for key in [("tiny", "forward", "naive"), ("tiny", "forward+backward", "im2col"),
                ("max_pool_3x3_s2", "forward+backward", "numba")]:
        assert key in rows, f"missing row {key}; got {sorted(rows)}"
        assert rows[key]["median_s"] > 0 and len(rows[key]["runs_s"]) >= 1
    assert rows[("tiny", "forward+backward", "im2col")]["peak_bytes"] > 0
    assert rows[("tiny", "forward", "im2col")]["auto_pick"] is True
    assert result.with_suffix(".png").exists() or report["rows"][0]["vs_torch"] is None
    assert "| conv | tiny | forward | naive |" in done.stdout

"""The memory suite of the benchmark (issue 19) runs end to end in quick mode: every row has our
build and step peaks, the weights they are set against and, where PyTorch is installed, its
peaks from a process of its own. It checks that the suite measures, not any target."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _quick_run(tmp_path, *options):
    pytest.importorskip("threadpoolctl", reason="the benchmark needs threadpoolctl")
    command = [sys.executable, "-m", "bench", "--quick", "--threads", "1", "--suite", "memory",
               "--out", str(tmp_path), *options]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (result,) = tmp_path.glob("memory-*.json")
    return json.loads(result.read_text()), done.stdout


def _check_peaks(peaks, weights_at_least):
    # Measured, not copied: building allocates at least the weights, a step at least its activations.
    assert peaks["weights_bytes"] >= weights_at_least
    assert peaks["build_bytes"] >= 0.9 * peaks["weights_bytes"]
    assert 0 < peaks["step_bytes"] < 4 * 2**30


def test_quick_memory_run_reports_build_and_step_peaks(tmp_path):
    report, stdout = _quick_run(tmp_path, "--cases", "resnet20")
    (row,) = report["rows"]
    assert (row["suite"], row["case"], row["geometry"]) == ("memory", "resnet20", {"batch": 4, "input": [3, 32, 32]})
    # ResNet-20 has 0.27 million float32 parameters: at least 1 MB of weights.
    _check_peaks(row, 10**6)
    assert len(row["runs_s"]) == 2 and min(row["runs_s"]) > 0
    if row["torch"] is None:
        assert row["torch_skipped"]
    else:
        _check_peaks(row["torch"], 10**6)
        # The same model in both frameworks: the same bytes of parameters and batch-norm buffers
        # (ours counts its batch counter as int64 too).
        assert row["torch"]["weights_bytes"] == row["weights_bytes"]
        assert row["step_vs_torch"] == pytest.approx(row["step_bytes"] / row["torch"]["step_bytes"])
    assert "| resnet20 | batch 4, 32x32 |" in stdout


def test_quick_memory_run_without_torch_says_so(tmp_path):
    report, stdout = _quick_run(tmp_path, "--cases", "resnet50", "--no-torch")
    (row,) = report["rows"]
    assert row["torch"] is None and "not installed" in row["torch_skipped"]
    # ResNet-50: 25.6 million float32 parameters, over 100 MB.
    _check_peaks(row, 10**8)
    assert "| resnet50 | batch 1, 64x64 |" in stdout and "(skipped)" in stdout


def test_quick_memory_run_trains_with_adam_in_the_adam_case(tmp_path):
    report, stdout = _quick_run(tmp_path, "--cases", "resnet50", "resnet50_adam", "--no-torch")
    sgd, adam = report["rows"]
    assert (sgd["optimizer"], adam["optimizer"]) == ("sgd", "adam")
    _check_peaks(adam, 10**8)
    # Adam keeps two moments where SGD keeps one momentum buffer, each the size of the weights.
    assert adam["step_bytes"] - sgd["step_bytes"] > 0.8 * adam["weights_bytes"]
    assert "| resnet50_adam | batch 1, 64x64 |" in stdout

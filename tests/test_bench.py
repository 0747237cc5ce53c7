"""The benchmark suite (bench/) runs end to end: ``python -m bench --quick`` on two small cases
writes a JSON file of rows and a PNG chart. It checks that the suite works, not any speed; and
the report's arithmetic, on made-up rows."""

import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quick_run_writes_json_and_chart(tmp_path):
    pytest.importorskip("threadpoolctl", reason="the benchmark needs threadpoolctl")
    command = [sys.executable, "-m", "bench", "--quick", "--threads", "1", "--suite", "conv", "layers",
               "--cases", "tiny", "max_pool_3x3_s2", "--methods", "naive", "gemm", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr

    (result,) = tmp_path.glob("conv-layers-*.json")
    report = json.loads(result.read_text())
    assert report["machine"]["threads"] == 1
    assert report["options"]["quick"] is True
    rows = {(r["case"], r["mode"], r["method"]): r for r in report["rows"]}
    for key in [("tiny", "forward", "naive"), ("tiny", "forward+backward", "gemm"),
                ("max_pool_3x3_s2", "forward+backward", "numba")]:
        assert key in rows, f"missing row {key}; got {sorted(rows)}"
        assert rows[key]["median_s"] > 0 and len(rows[key]["runs_s"]) >= 1
    assert rows[("tiny", "forward+backward", "gemm")]["peak_bytes"] > 0
    assert rows[("tiny", "forward", "gemm")]["auto_pick"] is True
    assert result.with_suffix(".png").exists() or report["rows"][0]["vs_torch"] is None
    assert "| conv | tiny | forward | naive |" in done.stdout


def test_report_gives_the_gemm_limit_in_pytorchs_units():
    from bench import report

    row = {"suite": "conv", "case": "resnet_64", "mode": "forward", "method": "gemm", "auto_pick": True,
           "median_s": 0.3, "vs_torch": 3.0, "torch_s": 0.1, "gemm_share": 0.5, "gemm_s": 0.15,
           "peak_bytes": None, "target": 1.5, "gemm_target": 0.7}
    # The GEMMs alone take 0.15 s where PyTorch's whole convolution takes 0.1 s: 1.50x.
    line = report.markdown([row]).splitlines()[2]
    assert line == ("| conv | resnet_64 | forward | gemm (auto) | 300.0 ms | 3.00x | 50% | 1.50x |  "
                    "| <= 1.5x; GEMM >= 70% | **no**; **no** |")


def test_distributed_table_gives_speedup_and_communication_share():
    from bench import distributed_suite

    rows = [{"suite": "distributed", "case": "lenet5_digits", "median_s": 0.02, "images_per_s": 1600.0,
             "communication_share": 0.0, "geometry": {"batch_per_process": 32, "processes": 1}},
            {"suite": "distributed", "case": "lenet5_digits", "median_s": 0.025, "images_per_s": 2560.0,
             "communication_share": 0.25, "speedup": 1.6, "geometry": {"batch_per_process": 32, "processes": 2}}]
    table = distributed_suite.markdown(rows)
    assert "| lenet5_digits | 2 | 32 | 25.0 ms | 2560 | 1.60x | 25% |" in table


def test_canziani_quick_run_measures_time_memory_and_the_line(tmp_path):
    pytest.importorskip("threadpoolctl", reason="the benchmark needs threadpoolctl")
    pytest.importorskip("matplotlib", reason="the canziani suite draws its figures with matplotlib")
    command = [sys.executable, "-m", "bench", "--quick", "--threads", "1", "--repeats", "1", "--no-torch",
               "--suite", "canziani", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr

    (result,) = tmp_path.glob("canziani-*.json")
    report = json.loads(result.read_text())
    rows = {(r["case"], r["geometry"]["batch"]): r for r in report["rows"]}
    assert sorted(rows) == [(m, b) for m in sorted(("squeezenet1_0", "mobilenet_v2", "resnet18")) for b in (1, 2)]
    for (name, batch), row in rows.items():
        assert row["median_s"] > 0 and row["seconds_per_image"] == pytest.approx(row["median_s"] / batch)
        # Measured: the forward raised the peak RSS above the built model's.
        assert row["forward_memory_bytes"] > 0
        assert row["peak_forward_bytes"] - row["peak_built_bytes"] == row["forward_memory_bytes"]
        assert row["quoted_top1"] == report["canziani"]["quoted"][name]["top1"]
    macs = {name: rows[(name, 1)]["macs"] for name in ("squeezenet1_0", "mobilenet_v2", "resnet18")}
    # ResNet-18 does more multiply-accumulates per image than the two small networks at 64x64.
    assert macs["resnet18"] > max(macs["squeezenet1_0"], macs["mobilenet_v2"]) > 0
    fit = report["canziani"]["fit"]
    assert fit["models"] == 3 and 0 <= fit["r2"] <= 1 and math.isfinite(fit["slope_s_per_gmac"])
    for figure in ("accuracy", "batch", "macs"):
        assert (tmp_path / f"{result.stem}-{figure}.png").stat().st_size > 0
    assert "| resnet18 | 2 |" in done.stdout


def test_canziani_fit_recovers_a_line():
    from bench import canziani_suite

    rows = [{"suite": "canziani", "macs": m, "median_s": 0.002 + 0.05 * m / 1e9} for m in (1e8, 5e8, 2e9)]
    fit = canziani_suite.fit(rows)
    assert fit["slope_s_per_gmac"] == pytest.approx(0.05)
    assert fit["intercept_s"] == pytest.approx(0.002)
    assert fit["r2"] == pytest.approx(1.0)

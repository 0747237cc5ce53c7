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


def _quick(tmp_path, *options, env=None):
    """``python -m bench --quick --threads 1 --repeats 1 ...`` into tmp_path: (its JSON, its stdout)."""
    pytest.importorskip("threadpoolctl", reason="the benchmark needs threadpoolctl")
    command = [sys.executable, "-m", "bench", "--quick", "--threads", "1", "--repeats", "1", "--out", str(tmp_path),
               *options]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    (result,) = tmp_path.glob("*.json")
    return json.loads(result.read_text()), done.stdout


def test_train_rows_for_resnet20_plain20_the_cifar_vgg_and_mobilenet_v2(tmp_path):
    cases = ("resnet20_synthetic", "resnet20_synthetic_128", "plain20_synthetic", "vgg16_bn_cifar_synthetic",
             "mobilenet_v2_synthetic")
    report, stdout = _quick(tmp_path, "--suite", "train", "--cases", *cases)
    rows = {r["case"]: r for r in report["rows"]}
    assert sorted(rows) == sorted(cases)
    # The batch-128 row is its own batch size, larger than the batch-64 row's, in quick mode too.
    assert rows["resnet20_synthetic_128"]["geometry"]["batch"] > rows["resnet20_synthetic"]["geometry"]["batch"]
    for case, row in rows.items():
        assert row["images_per_s"] == pytest.approx(row["geometry"]["batch"] / row["median_s"])
        if row["vs_torch"] is not None:
            # PyTorch ran in the same rounds: its images/s sits beside ours in the row and the table.
            assert row["torch_images_per_s"] == pytest.approx(row["geometry"]["batch"] / row["torch_s"])
            assert f"img/s, PyTorch {row['torch_images_per_s']:.0f};" in stdout
        assert f"| train | {case} | train step | auto |" in stdout
        # Where the step went: every part measured, the GEMMs and the column copies of a conv net's
        # step among them, and the row's GEMM share taken from that profile.
        parts = row["breakdown_s"]
        copies = parts["im2col column copies (stack)"] + parts["row column copies (gemm at stride 1)"]
        assert parts["GEMMs (matmul)"] > 0 and copies > 0
        assert min(seconds for part, seconds in parts.items() if part != "everything else") >= 0
        assert row["gemm_share"] == pytest.approx(parts["GEMMs (matmul)"] / sum(parts.values()))
        assert f"| {case} | GEMMs (matmul) | {parts['GEMMs (matmul)'] * 1e3:.1f} |" in stdout
    # Every one of these networks has batch norm (plain-20 too: conv-BN-ReLU without the shortcuts).
    assert all(row["breakdown_s"]["batch norm"] > 0 for row in rows.values())


def test_profile_step_counts_the_layers_inside_a_step():
    import numpy as np

    import minitorch_cnn as mt
    import minitorch_cnn.functional as F
    from bench import train_suite

    x = mt.tensor(np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32), requires_grad=True)
    weight = mt.ones(3, requires_grad=True)

    def step():
        F.relu(F.batch_norm(x, None, None, weight, training=True)).sum().backward()

    parts = train_suite.profile_step(step, steps=2)
    assert parts["batch norm"] > 0 and parts["ReLU"] > 0
    no_convolution = ("GEMMs (matmul)", "im2col column copies (stack)", "row column copies (gemm at stride 1)")
    assert all(parts[part] == 0 for part in no_convolution)


@pytest.mark.parametrize("name", ["lenet5", "resnet20", "plain20", "vgg16_bn_cifar", "mobilenet_v2"])
def test_pytorch_twins_have_our_parameter_counts(name):
    torch = pytest.importorskip("torch", reason="the PyTorch twins need PyTorch")
    from bench import torch_models, train_suite

    ours = sum(p.numel() for p in train_suite.build(name).parameters())
    theirs = sum(p.numel() for p in getattr(torch_models, name)(torch).parameters())
    assert ours == theirs


def test_peers_are_skipped_with_the_reason_when_tinygrad_cannot_be_imported(tmp_path):
    # A package named tinygrad that fails to import stands for an environment without it.
    hidden = tmp_path / "hide" / "tinygrad"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('hidden for this test')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hidden.parent), ROOT]))
    out = tmp_path / "out"
    report, stdout = _quick(out, "--suite", "conv", "--cases", "tiny", "--methods", "gemm", "--no-torch", "--peers",
                            env=env)
    skipped = [r for r in report["rows"] if "skipped" in r]
    assert skipped == [{"suite": "conv", "case": "peers", "method": "tinygrad",
                        "skipped": "tinygrad is not installed (pip install -e .[peers])"}]
    assert "skipped (tinygrad): tinygrad is not installed" in stdout
    assert not any(r.get("peer") for r in report["rows"])


def test_peers_quick_run_gives_ratio_rows(tmp_path):
    pytest.importorskip("tinygrad", reason="tinygrad is not installed (the peers extra)")
    report, stdout = _quick(tmp_path, "--suite", "conv", "train", "--cases", "tiny", "resnet20_synthetic",
                            "--methods", "gemm", "--peers")
    skipped = {r["case"]: r["skipped"] for r in report["rows"] if "skipped" in r}
    if "peers" in skipped:
        pytest.skip(f"tinygrad is installed but cannot run here: {skipped['peers']}")
    assert report["machine"]["tinygrad"]
    assert report["machine"]["env"]["NUM_CPU_THREADS"] == "1"
    peer = {(r["case"], r["mode"]): r for r in report["rows"] if r.get("peer")}
    assert sorted(peer) == [("tiny", "forward"), ("tiny", "forward+backward")]
    ours = {r["mode"]: r for r in report["rows"] if r["suite"] == "conv" and r.get("auto_pick")}
    for (case, mode), row in peer.items():
        assert row["method"] == "tinygrad" and row["median_s"] > 0
        # One round each (--repeats 1): the ratio is that round's pair of times.
        assert row["vs_ours"] == pytest.approx(row["median_s"] / ours[mode]["median_s"])
        assert (row["vs_torch"] is None) == (ours[mode]["vs_torch"] is None)
    # The training step is too slow to compile for a smoke run: skipped, with the reason.
    assert "--quick" in skipped["resnet20_synthetic"]
    assert "Peers, measured in the same rounds" in stdout and "| conv | tiny | forward+backward | tinygrad |" in stdout


def test_tinygrad_resnet20_has_our_parameter_count(monkeypatch):
    monkeypatch.setenv("DEV", "CPU")
    tinygrad = pytest.importorskip("tinygrad", reason="tinygrad is not installed (the peers extra)")
    from bench import peers, train_suite

    ours = sum(p.numel() for p in train_suite.build("resnet20").parameters())
    assert peers.parameter_count(tinygrad, peers.ResNet20(tinygrad)) == ours


def test_peers_table_gives_ratios_and_images_per_second():
    from bench import report

    rows = [{"suite": "train", "case": "resnet20_synthetic", "mode": "train step", "method": "auto",
             "geometry": {"batch": 64}, "median_s": 0.5, "torch_s": 0.25},
            {"suite": "train", "case": "resnet20_synthetic", "mode": "train step", "method": "tinygrad", "peer": True,
             "geometry": {"batch": 64}, "median_s": 2.0, "torch_s": 0.25, "vs_ours": 4.0, "vs_torch": 8.0}]
    line = report.peers_table(rows).splitlines()[2]
    assert line == ("| train | resnet20_synthetic | train step | tinygrad | 2.00 s | 500.0 ms | 250.0 ms | 4.00x | 8.00x "
                    "| 32 / 128 / 256 |")


def test_numba_steps_sets_the_method_of_every_depthwise_conv_and_max_pool():
    from bench import numba_steps, train_suite

    model = train_suite.build("mobilenet_v2")
    assert numba_steps.set_methods(model, depthwise="gemm") == (17, 0)
    depthwise = [m for m in model.modules() if getattr(m, "groups", 1) > 1]
    assert len(depthwise) == 17 and {m.method for m in depthwise} == {"gemm"}
    # The other convs keep "auto".
    assert {m.method for m in model.modules() if hasattr(m, "groups") and m.groups == 1} == {"auto"}
    vgg = train_suite.vgg16_bn_cifar()
    assert numba_steps.set_methods(vgg, pool="slices") == (0, 5)
    assert {m.method for m in vgg.modules() if type(m).__name__ == "MaxPool2d"} == {"slices"}

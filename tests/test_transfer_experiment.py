"""The lecture-11 experiment (``minitorch-cnn transfer-demo``): what it writes, in quick mode."""

import json

from minitorch_cnn import cli


def test_transfer_demo_quick_writes_metrics_table_and_plot(tmp_path):
    out = tmp_path / "demo"
    assert cli.main(["transfer-demo", "--quick", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("scratch", "feature_extract", "fine_tune"):
        assert 0 <= metrics[key] <= 1
        assert 0 <= metrics["shapes"][key]["mean"] <= 1
    assert metrics["digits"]["labels"] == 50 and metrics["shapes"]["labels"] == 40
    assert "| digits 0-4 -> digits 5-9" in (out / "table.md").read_text()
    assert (out / "transfer.png").stat().st_size > 1000

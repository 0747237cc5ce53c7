"""summary(), conv_output_size() and receptive_field(): the lecture facts come out of the tools."""

from minitorch_cnn import models, nn
from minitorch_cnn.functional import conv_output_size
from minitorch_cnn.summary import receptive_field, summary


def test_lenet5_table_matches_the_paper_layout():
    s = summary(models.create("lenet5"), (1, 32, 32))
    shapes = [r["output_shape"] for r in s.rows if r["type"] in ("Conv2d", "AvgPool2d", "Linear")]
    assert shapes == [(1, 6, 28, 28), (1, 6, 14, 14), (1, 16, 10, 10), (1, 16, 5, 5), (1, 120, 1, 1), (1, 84), (1, 10)]
    assert s.total_params == 61_706
    conv1 = s.rows[0]
    assert conv1["macs"] == 28 * 28 * 6 * 1 * 5 * 5
    assert "total MACs" in s.table()


def test_macs_of_grouped_conv_and_linear():
    model = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, groups=4), nn.Flatten(), nn.Linear(16 * 5 * 5, 10))
    s = summary(model, (8, 5, 5))
    assert s.rows[0]["macs"] == 5 * 5 * 16 * (8 // 4) * 3 * 3
    assert s.rows[-1]["macs"] == 400 * 10
    assert s.total_macs == s.rows[0]["macs"] + 4000
    assert s.activation_mb == s.total_activations * 4 / 1e6


def test_three_stacked_3x3_convs_see_7x7():
    assert receptive_field([(3, 1)] * 3) == (7, 1)
    stack = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3))
    assert receptive_field(stack)[0] == 7


def test_output_size_formula_and_stride_that_does_not_fit():
    assert [conv_output_size(7, 3, S) for S in (1, 2)] == [5, 3]
    assert conv_output_size(7, 3, 3) == 2  # floor: the last column is never visited
    import pytest

    with pytest.raises(ValueError, match="not an integer"):
        conv_output_size(7, 3, 3, exact=True)

"""Real-GPU tests (CuPy): a full training step of a small CNN on "cuda" agrees with the CPU.

They skip, with the reason, on machines without CuPy or a GPU; ``make test-gpu`` runs only these.
"""

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import backend, models, optim

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not backend.cuda_is_available(), reason=f"no GPU: {backend.cuda_unavailable_reason()}"),
]


def _step(device, method):
    mt.manual_seed(0)
    model = models.create("lenet5", variant="modern")
    model.to(device=device, dtype="float64")
    for m in model.modules():
        if isinstance(m, mt.nn.Conv2d):
            m.method = method
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    x = mt.tensor(rng.standard_normal((4, 1, 32, 32)), device=device)
    y = mt.tensor(rng.integers(0, 10, 4), device=device)
    for _ in range(2):
        loss = mt.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item(), {k: v for k, v in model.state_dict().items()}


@pytest.mark.parametrize("method", ["im2col", "numba"])
def test_training_step_on_gpu_matches_cpu(method):
    cpu_loss, cpu_state = _step("cpu", "im2col")
    gpu_loss, gpu_state = _step("cuda", method)
    assert gpu_loss == pytest.approx(cpu_loss, rel=1e-9)
    for key in cpu_state:
        np.testing.assert_allclose(gpu_state[key], cpu_state[key], rtol=1e-9, atol=1e-12, err_msg=key)


def test_tensor_and_module_move_to_cuda_and_back():
    t = mt.tensor([1.0, 2.0], device="cuda")
    assert t.device == "cuda"
    assert t.to("cpu").device == "cpu"
    model = models.create("lenet5").to(device="cuda")
    assert all(p.device == "cuda" for p in model.parameters())

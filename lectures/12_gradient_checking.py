# %%
# Quick mode (the small settings the tests run, about a minute): uncomment the next line and run
# from the top; a script takes --quick. MINITORCH_CNN_QUICK=1 in the environment selects it too.
# # %env MINITORCH_CNN_QUICK=1

# %% [markdown]
# # Lecture 12: gradient checking
#
# Every op in `minitorch_cnn` has a hand-written `backward`. A single wrong sign or a missing
# factor there does not crash anything: the network still trains, only worse, and nobody
# notices. The cure is to compare the analytic gradient with a numerical one:
#
# $$\frac{\partial L}{\partial x_i} \approx \frac{L(x + \varepsilon e_i) - L(x - \varepsilon e_i)}{2\varepsilon}$$
#
# This lecture shows how to read a gradient check (what error to expect, why it runs in
# float64, what `mt.gradcheck` prints), and then breaks a backward on purpose to watch the
# check catch it.

# %%
import inspect

import numpy as np

import minitorch_cnn as mt
import minitorch_cnn.functional as F
from minitorch_cnn.backend import array_namespace
from _common import QUICK, check, plt, show

mt.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Central differences, and the error to expect
#
# Take the sigmoid, whose derivative $\sigma(x)(1 - \sigma(x))$ we know exactly. The central
# difference has two error sources pulling in opposite directions:
#
# * **truncation**: the Taylor series leaves a term $\frac{\varepsilon^2}{6} f'''(x)$, so a
#   *large* $\varepsilon$ is inaccurate;
# * **round-off**: $L(x \pm \varepsilon)$ are each rounded to the machine precision $u$, and the
#   difference is divided by $2\varepsilon$, so a *small* $\varepsilon$ amplifies an error of
#   about $u / \varepsilon$.
#
# The best step sits where they meet, near $u^{1/3}$, so it depends on the precision:
# float64 has $u \approx 10^{-16}$, float32 only $u \approx 10^{-7}$. We measure the relative
# error $|a - n| / \max(|a|, |n|)$ (CS231n's `rel_error`) for both precisions over a range of
# steps; the best step and the best error of each are printed below.

# %%
def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def central_difference(f, x, eps):
    return (f(x + eps) - f(x - eps)) / (2 * eps)


x0 = 0.7
exact = sigmoid(x0) * (1 - sigmoid(x0))
steps = np.logspace(-12, -1, 23)
errors = {}
for dtype in (np.float64, np.float32):
    errors[dtype.__name__] = np.array([
        abs(float(central_difference(lambda v: sigmoid(np.asarray(v, dtype=dtype)), dtype(x0), dtype(eps))) - exact)
        / abs(exact)
        for eps in steps
    ])

for name, err in errors.items():
    best = int(np.argmin(err))
    print(f"{name}: best step {steps[best]:.1e}, relative error {err[best]:.1e}; at step 1e-6: "
          f"{err[np.argmin(abs(steps - 1e-6))]:.1e}")

best64 = check("float64: best relative error of the central difference", float(errors["float64"].min()),
               lambda e: e < 1e-9)
best32 = check("float32: best relative error of the central difference", float(errors["float32"].min()),
               lambda e: e > 1e-7)
check("float32's best error is at least 100x float64's", best32 / best64, lambda r: r > 100)

fig, ax = plt.subplots(figsize=(6, 4))
for name, err in errors.items():
    ax.loglog(steps, np.maximum(err, 1e-17), marker="o", label=name)
ax.set(xlabel="step eps", ylabel="relative error of d sigmoid / dx at x = 0.7",
       title="central differences: round-off (left) vs truncation (right)")
ax.grid(alpha=0.3, which="both")
ax.legend()
show(fig, "12_central_difference_error")

# %% [markdown]
# The V shapes are the two error sources. In float32 even the best step leaves an error that
# a real bug could hide behind, and the step `1e-6` that suits float64 is useless there (both
# printed above). That is why `mt.gradcheck` converts everything to float64 first, and why
# reading a check starts with the precision it ran in.
#
# CS231n's rule of thumb for the relative error: above `1e-2` the gradient is probably wrong;
# `1e-4` to `1e-2` is suspicious (acceptable only near a kink, see section 4); below `1e-7`
# it is right. `mt.gradcheck` passes an element when
# `|analytic - numeric| <= atol + rtol * |numeric|`; its defaults for the step and the two
# tolerances are printed below.

# %%
defaults = {name: p.default for name, p in inspect.signature(mt.gradcheck).parameters.items()
            if name in ("eps", "atol", "rtol")}
print("mt.gradcheck defaults:", defaults)
check("mt.gradcheck's default step is the float64 one used above", defaults["eps"], 1e-6)

# %% [markdown]
# ## 2. What `mt.gradcheck` does, on an op that is right
#
# `mt.gradcheck(fn, inputs)` turns the output into a scalar `L = sum(fn(x) * R)` with a fixed
# random `R` (so every output element matters, with a different weight), back-propagates it
# once, and then perturbs each input element in turn (`mode="full"`: two forward passes per
# element) or along a few random directions `v`, comparing the numeric
# `(L(x + eps v) - L(x - eps v)) / 2 eps` with `<grad, v>` (`mode="directional"`: two forward
# passes per direction, which is what makes a whole network checkable). It returns `True` or
# raises `mt.GradcheckError`.

# %%
x = mt.tensor(rng.standard_normal((2, 3, 5, 5)), requires_grad=True)
w = mt.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
elements = x.numel() + w.numel()
print(f"conv2d: {elements} input and weight elements -> {2 * elements} forward passes in full mode")
check("gradcheck(conv2d, stride 2, padding 1), full mode",
      mt.gradcheck(lambda x, w: F.conv2d(x, w, stride=2, padding=1), [x, w]), True)
check("gradcheck(sigmoid), full mode", mt.gradcheck(F.sigmoid, [mt.tensor(rng.standard_normal((3, 4)),
                                                                              requires_grad=True)]), True)
check("gradcheck(conv2d), directional mode (3 directions per tensor)",
      mt.gradcheck(lambda x, w: F.conv2d(x, w, padding=1), [x, w], mode="directional"), True)

# %% [markdown]
# To see the numbers `mt.gradcheck` compares, here is the same computation written out for
# one weight element of the convolution: the analytic value from `backward` and the numeric
# one from two forward passes.

# %%
R = rng.standard_normal((2, 4, 3, 3))
x64 = mt.tensor(x.detach().numpy(), requires_grad=True)
w64 = mt.tensor(w.detach().numpy(), requires_grad=True)
(F.conv2d(x64, w64, stride=2, padding=1) * mt.tensor(R)).sum().backward()
index, eps = (1, 2, 0, 1), 1e-6


def loss_at(weights):
    with mt.no_grad():
        return float(np.sum(F.conv2d(mt.tensor(x.detach().numpy()), mt.tensor(weights), stride=2, padding=1).detach().numpy() * R))


plus, minus = w.detach().numpy().copy(), w.detach().numpy().copy()
plus[index] += eps
minus[index] -= eps
analytic = float(w64.grad[index])
numeric = (loss_at(plus) - loss_at(minus)) / (2 * eps)
relative = abs(analytic - numeric) / max(abs(analytic), abs(numeric))
print(f"dL/dw{index}: analytic {analytic:.10f}, numeric {numeric:.10f}")
check("relative error of that one weight (float64, eps = 1e-6)", relative, lambda r: r < 1e-7)

# %% [markdown]
# ## 3. A deliberately wrong backward
#
# Three bugs of the kind that really happen, each a `Function` whose forward is right and
# whose backward is not. None of them crashes: training with them would run.
#
# * `SigmoidForgotFactor`: the derivative `y (1 - y)` written as `y`.
# * `MatmulWrongTranspose`: `dL/dB = A @ grad` instead of `A^T @ grad`. For square matrices the
#   shapes agree, so nothing complains.
# * `SoftplusSignSlip`: the derivative of `log(1 + exp(x))` is `sigmoid(x)`; the bug uses
#   `sigmoid(-x)`, right only at `x = 0`.

# %%
class SigmoidForgotFactor(mt.Function):
    @staticmethod
    def forward(ctx, x):
        xp = array_namespace(x)
        y = 1 / (1 + xp.exp(-x))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y  # the bug: the factor (1 - y) is missing


class MatmulWrongTranspose(mt.Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return array_namespace(a).matmul(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        xp = array_namespace(a)
        grad_a = xp.matmul(grad, xp.matrix_transpose(b))
        grad_b = xp.matmul(a, grad)  # the bug: should be matrix_transpose(a) @ grad
        return grad_a, grad_b


class SoftplusSignSlip(mt.Function):
    @staticmethod
    def forward(ctx, x):
        xp = array_namespace(x)
        ctx.save_for_backward(x)
        return xp.log(1 + xp.exp(x))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        xp = array_namespace(x)
        return grad / (1 + xp.exp(x))  # the bug: sigmoid(-x) instead of sigmoid(x)


def run_check(title, fn, inputs, **options):
    """Run ``mt.gradcheck`` and return the error message, or ``None`` if the check passed."""
    try:
        mt.gradcheck(fn, inputs, **options)
    except mt.GradcheckError as error:
        print(f"{title}: CAUGHT\n    {error}")
        return str(error)
    print(f"{title}: passed")
    return None


a = mt.tensor(rng.standard_normal((4, 4)), requires_grad=True)
b = mt.tensor(rng.standard_normal((4, 4)), requires_grad=True)
s = mt.tensor(rng.standard_normal((3, 5)), requires_grad=True)
caught = {
    "sigmoid": run_check("SigmoidForgotFactor", SigmoidForgotFactor.apply, [s]),
    "matmul": run_check("MatmulWrongTranspose", MatmulWrongTranspose.apply, [a, b]),
    "matmul (directional)": run_check("MatmulWrongTranspose, directional mode", MatmulWrongTranspose.apply,
                                      [a, b], mode="directional"),
    "softplus": run_check("SoftplusSignSlip", SoftplusSignSlip.apply, [s]),
}
for name, message in caught.items():
    check(f"the check catches the {name} bug", message is not None, True)
check("the matmul message blames input 1 (B), not input 0 (A)", "input 1" in caught["matmul"], True)
check("the message prints both values", "analytic" in caught["sigmoid"] and "numeric" in caught["sigmoid"], True)
check("the correct matmul passes the same check", run_check("F.matmul", F.matmul, [a, b]) is None, True)

# %% [markdown]
# How to read each message: *which* tensor failed (`input 1` is `B`: the gradient of `A` is
# right, so the bug is in the second half of the backward), *where* (the worst index), the two
# values, their relative error, and how many elements are out of tolerance. The sigmoid bug
# fails everywhere; a bug that fails in only a few elements points at a boundary, a padding or
# a tie instead.
#
# A check only sees the points it is run at. The softplus bug is right at `x = 0`, where
# `sigmoid(x) = sigmoid(-x)`; checked there, it passes:

# %%
at_zero = mt.tensor(np.zeros((2, 3)), requires_grad=True)
check("SoftplusSignSlip checked only at x = 0 passes (the bug hides)",
      run_check("SoftplusSignSlip at x = 0", SoftplusSignSlip.apply, [at_zero]) is None, True)

# %% [markdown]
# So check at random inputs, never at zeros, ones or other symmetric points.
#
# ## 4. False alarms at kinks
#
# The opposite mistake: a right backward that fails the check. ReLU's derivative at 0 is
# taken as 0 (our convention), but the central difference at 0 straddles the kink and gives
# `(eps - 0) / 2 eps = 1/2` of the slope (times the random weight `R` of that output, so the
# numeric value printed below is half of that weight). Max pooling has the same problem at ties.

# %%
kink = mt.tensor(np.array([[-1.0, 0.0, 2.0]]), requires_grad=True)
message = run_check("F.relu at x = (-1, 0, 2)", F.relu, [kink])
check("the check fails at the kink, though relu's backward is right", message is not None, True)
check("...and it blames the element at 0, index (0, 1)", "index (0, 1)" in message, True)
away = mt.tensor(np.array([[-1.0, 0.3, 2.0]]), requires_grad=True)
check("F.relu away from the kink passes", run_check("F.relu at x = (-1, 0.3, 2)", F.relu, [away]) is None, True)

# %% [markdown]
# A relative error near `1` at a single element whose input is exactly at a kink is a false
# alarm; the remedy is to draw inputs at random (a continuous distribution hits 0 with
# probability 0) or to nudge them away from the kink.
#
# ## 5. Checking a whole module
#
# `mt.gradcheck_module(module, x)` moves a module to float64 and checks the gradients of the
# input and of every parameter, along random directions. It is how the test suite checks
# whole networks; here a small convolutional block with batch norm.

# %%
block = mt.nn.Sequential(mt.nn.Conv2d(2, 3, 3, padding=1), mt.nn.BatchNorm2d(3), mt.nn.ReLU(),
                         mt.nn.Conv2d(3, 2, 3, stride=2))
params = sum(p.numel() for p in block.parameters())
check(f"gradcheck_module(conv-BN-ReLU-conv, {params} parameters)",
      mt.gradcheck_module(block, mt.tensor(rng.standard_normal((4, 2, 6, 6))), directions=2 if QUICK else 5), True)

# %% [markdown]
# ## Summary
#
# * Check in float64 at random inputs with a step near `1e-6`; a correct op then agrees to
#   about `1e-7` relative error or better.
# * A failure message names the tensor, the worst index, both values and how many elements
#   are off; a bug in the whole backward fails everywhere, a boundary bug in a few places.
# * A failure exactly at a kink (ReLU at 0, max-pool ties) can be a false alarm.
# * A check that passes at a symmetric point (zeros) proves little.

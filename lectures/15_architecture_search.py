# %%
# Quick mode (the small settings the tests run, under a minute): uncomment the next line and run
# from the top; a script takes --quick. MINITORCH_CNN_QUICK=1 in the environment selects it too.
# # %env MINITORCH_CNN_QUICK=1

# %% [markdown]
# # Lecture 15: neural architecture search at toy scale
#
# Every network so far was designed by hand. Zoph & Le ("Neural Architecture Search with
# Reinforcement Learning", ICLR 2017) let a recurrent *controller* write the architecture as a
# sequence of decisions (filter sizes, numbers of filters, strides, skip connections), trained
# each proposed network on CIFAR-10 and used its validation accuracy as the reward for a policy
# gradient (REINFORCE). The NASNet paper (Zoph, Vasudevan, Shlens & Le, CVPR 2018) searched
# instead for a small *cell*, a DAG of a few operations that is stacked to make the network, and
# Real, Aggarwal, Huang & Le ("Regularized Evolution for Image Classifier Architecture Search",
# AAAI 2019) searched the same cell space with a simple evolutionary algorithm and matched the
# controller. Each of these searches trained thousands of networks on hundreds of GPUs.
#
# This lecture first computes, with `summary`, the parameter column of the hand-designed rows of
# the course's NAS-on-CIFAR-10 table (Zoph & Le's Table 1); then it runs the three search
# strategies (random search, regularised evolution and REINFORCE) on a cell space like NASNet's,
# with the same budget of trained architectures each, on the digits, using `minitorch_cnn.nas`.

# %%
import time

import numpy as np

from minitorch_cnn import data, models, nas
from minitorch_cnn.summary import summary
from minitorch_cnn.training import evaluate

from _common import QUICK, check, plt, show

# %% [markdown]
# ## 1. The hand-designed rows of the NAS table, counted
#
# Zoph & Le compared their searched networks with the best hand-designed CIFAR-10 networks of
# the time. The zoo builds these rows; `summary` runs each on a 3x32x32 image and counts its
# parameters and multiply-accumulates. The quoted columns are the table's (parameters rounded to
# 0.1M, test error in %); the plain DenseNets (no bottleneck, no compression) are the zoo's
# `densenet40` and `densenet100`, and the DenseNet-BC rows are `densenet_bc(depth, k)`.

# %%
#: (row as the table names it, zoo name, options, quoted parameters in millions, quoted error %).
#: Zoph & Le 2017 Table 1, except DenseNet-BC (L=250, k=24), from Huang et al. 2017 Table 2.
NAS_TABLE = [
    ("ResNet-110", "resnet110", {}, 1.7, 6.61),
    ("Wide ResNet 28-10", "wrn", {}, 36.5, 4.17),
    ("DenseNet (L=40, k=12)", "densenet40", {}, 1.0, 5.24),
    ("DenseNet (L=100, k=12)", "densenet100", {}, 7.0, 4.10),
    ("DenseNet (L=100, k=24)", "densenet100", {"growth_rate": 24}, 27.2, 3.74),
    ("DenseNet-BC (L=250, k=24)", "densenet_bc", {"depth": 250, "growth_rate": 24}, 15.3, 3.62),
    ("DenseNet-BC (L=190, k=40)", "densenet_bc", {"depth": 190, "growth_rate": 40}, 25.6, 3.46),
]
print(f"{'network':<28} {'params (summary)':>17} {'quoted':>8} {'GMACs (summary)':>16} {'quoted error %':>15}")
worst = 0.0
for row, name, options, quoted, error in NAS_TABLE:
    s = summary(models.create(name, **options), (3, 32, 32))
    worst = max(worst, abs(s.total_params / 1e6 - quoted))
    print(f"{row:<28} {s.total_params:>17,} {quoted:>7.1f}M {s.total_macs / 1e9:>16.2f} {error:>15.2f}")
    if name == "densenet40":
        check("densenet40 parameters from summary", s.total_params, 1_019_722)
check("largest difference from the quoted parameter counts (millions; they are rounded to 0.1M)", round(worst, 3),
      lambda v: v < 0.06)

# %% [markdown]
# Every count agrees with the quoted one to its rounding. The searched networks of the same
# table (Zoph & Le's 4.2M to 37.4M, 3.65% to 6.01% error) are not in the zoo: their exact layer
# lists were published as figures, not as a layer table we could count from.
#
# ## 2. The search space: a NASNet-style cell
#
# A cell is a DAG. Node 0 is its input; each node `i = 1..B` picks two earlier nodes and an
# operation for each of the two edges and adds the results, `h_i = op_a(h_a) + op_b(h_b)`; the
# cell's output is the mean of the nodes no later node reads. The operations are NASNet's kind:
# 1x1, 3x3 and 5x5 convolutions (ReLU-conv-BN), a depthwise-separable 3x3, 3x3 max and average
# pooling and the identity, all shape-preserving. The network is a 3x3 stem, `N` copies of the
# cell, global average pooling and a linear layer. An architecture is then `4B` integer
# decisions (for each edge: which node, which operation), the sequence a controller emits.

# %%
NODES = 3
space = nas.CellSpace(nodes=NODES)
K = len(nas.OPERATIONS)
check("decisions per architecture: 4 per node", len(space.choices()), 4 * NODES)
check("architectures in the space: prod_i (i*K)^2", space.size(),
      int(np.prod([(i * K) ** 2 for i in range(1, NODES + 1)])))
example = space.sample(np.random.default_rng(0))
print("an architecture:", nas.describe(example))
print("its decisions:  ", space.encode(example))
child = space.mutate(example, np.random.default_rng(1))
print("a mutation:     ", nas.describe(child))

# %% [markdown]
# ## 3. The proxy task
#
# The real searches trained each child network for minutes to hours. Ours trains a network of
# one cell at 8 channels for 3 epochs of 400 digits at 8x8, with one seeded schedule shared by
# every candidate (same initialisation seed, same batch order, Adam with a cosine decay), and
# scores it on a *validation* split of 288 training digits the search never trains on. The test digits are kept for the end: the
# search must not see them, or the winner's accuracy is optimistic by however much the search
# overfitted the data it selected on.
#
# A proxy this short ranks architectures by how fast they learn, not by how well they would end
# up: the searches here find cells that train quickly at this width, which is what they are asked.

# %%
#: The proxy, the same in both modes: a longer one (all 1,150 digits, 4 epochs, two cells of 16
#: channels) put the median random cell at 98% validation accuracy and left nothing to search for.
PROXY = dict(train=400, epochs=3, channels=8, cells=1)
#: Evaluations per strategy, and evolution's population and tournament sizes.
SEARCH = {"quick": dict(budget=10, population=4, sample=2), "full": dict(budget=60, population=12, sample=4)}
settings = {**PROXY, **SEARCH["quick" if QUICK else "full"]}
#: The last 288 of the shuffled 1,438 training digits are the validation split (20%).
VALIDATION = 288
digits_train, digits_test = data.digits("train", size=8), data.digits("test", size=8)
order = np.random.default_rng(0).permutation(len(digits_train))


def subset(dataset, index):
    return data.TensorDataset(dataset.images[index], dataset.labels[index], classes=dataset.classes)


train_set, val_set = subset(digits_train, order[:settings["train"]]), subset(digits_train, order[-VALIDATION:])
print(f"search on {len(train_set)} training and {len(val_set)} validation digits; {len(digits_test)} test digits "
      f"held out")
task = nas.ProxyTask(space, train_set, val_set, epochs=settings["epochs"], channels=settings["channels"],
                     cells=settings["cells"], lr=2e-2, batch_size=32, seed=0)
BUDGET = settings["budget"]


def with_progress(name):
    """``task`` for strategy ``name``; in full mode it prints the running best every tenth evaluation."""
    count, best, start = 0, 0.0, time.perf_counter()

    def evaluate_arch(arch):
        nonlocal count, best
        accuracy = task(arch)
        count, best = count + 1, max(best, accuracy)
        if not QUICK and count % 10 == 0:
            print(f"  {name}: {count}/{BUDGET} evaluated, best {best:.3f}, {time.perf_counter() - start:.0f} s",
                  flush=True)
        return accuracy

    return evaluate_arch

# %% [markdown]
# ## 4. Three strategies, one budget
#
# Each strategy may train `BUDGET` architectures (full mode: 60 each, about two minutes on two
# cores; quick mode: 10).
#
# * **Random search** samples uniformly: the baseline every search method must beat, and a hard
#   one (Li & Talwalkar, "Random Search and Reproducibility for Neural Architecture Search", 2019).
# * **Regularised evolution** keeps a population; each step samples a few members, mutates the
#   best of them (one edge gets another input or another operation) and drops the *oldest* member,
#   so a lucky architecture cannot stay forever. It starts from the same random samples as random
#   search (same seed): whatever it gains over random search comes from the mutations.
# * **REINFORCE** samples each decision from a softmax policy, uses the validation accuracy `R`
#   as the reward and moves the policy by `(R - b) * grad log pi(architecture)`, `b` a moving
#   average of past rewards. Zoph & Le's controller was an LSTM whose decisions depend on the
#   earlier ones; ours has one independent softmax per decision, trained by our autograd and Adam.
#
# The task remembers every result, so an architecture proposed twice (by two strategies, or by
# evolution's start) is trained once; it still counts in each strategy's budget.

# %%
start = time.perf_counter()
random_result = nas.random_search(space, with_progress("random search"), BUDGET, seed=0)
print(f"random search: {time.perf_counter() - start:.1f} s")

# %%
start = time.perf_counter()
evolution_result = nas.regularized_evolution(space, with_progress("evolution"), BUDGET,
                                             population=settings["population"], sample=settings["sample"], seed=0)
print(f"regularised evolution: {time.perf_counter() - start:.1f} s")

# %%
start = time.perf_counter()
reinforce_result = nas.reinforce(space, with_progress("REINFORCE"), BUDGET, lr=0.05, seed=0)
print(f"REINFORCE: {time.perf_counter() - start:.1f} s")
print(f"{len(task.results)} distinct architectures trained for {3 * BUDGET} evaluations")

# %% [markdown]
# ## 5. What each found
#
# The best architecture of each search (by validation accuracy), its parameters, and its
# accuracy on the held-out test digits after the same short schedule (retrained with the same
# seed, so it is the very network the search scored).

# %%
results = [random_result, evolution_result, reinforce_result]
median_random = float(np.median(random_result.accuracies))
print(f"median validation accuracy of the random architectures: {median_random:.3f}\n")
print(f"{'strategy':<22} {'params':>7} {'val acc':>8} {'test acc':>9}  best architecture")
again = []
for result in results:
    arch, accuracy = result.best
    model = task.train(arch)
    test_accuracy = evaluate(model, data.DataLoader(digits_test, 256))["accuracy"]
    print(f"{result.name:<22} {task.results[arch][1]:>7,} {accuracy:>8.3f} {test_accuracy:>9.3f}  "
          f"{nas.describe(arch)}")
    again.append(evaluate(model, data.DataLoader(val_set, 256))["accuracy"] == accuracy)
check("each retrained winner scores its search accuracy again (the schedule is seeded)", all(again), True)
for result in results:
    check(f"{result.name}: best validation accuracy beats the median random architecture", result.best[1],
          lambda v: v > median_random)
quarter = BUDGET // 4
for result in results:
    first, last = np.mean(result.accuracies[:quarter]), np.mean(result.accuracies[-quarter:])
    print(f"{result.name}: mean validation accuracy of the first {quarter} evaluations {first:.3f}, "
          f"of the last {quarter} {last:.3f}")

# %%
fig, (ax, ax_entropy) = plt.subplots(1, 2, figsize=(11, 4))
steps = np.arange(1, BUDGET + 1)
for result, style in zip(results, ["-", "--", "-."]):
    ax.plot(steps, result.best_so_far(), style, label=result.name)
    ax.plot(steps, result.accuracies, ".", color=ax.lines[-1].get_color(), alpha=0.4)
ax.set_xlabel("architectures evaluated")
ax.set_ylabel("validation accuracy")
ax.set_title("best so far (lines) and each evaluation (dots)")
ax.legend()
ax_entropy.plot(steps, reinforce_result.entropy)
ax_entropy.set_xlabel("architectures evaluated")
ax_entropy.set_ylabel("policy entropy (nats)")
ax_entropy.set_title("REINFORCE: the controller's entropy")
show(fig, "15_best_so_far")
check("REINFORCE: policy entropy at the end / at the start (uniform)",
      round(reinforce_result.entropy[-1] / reinforce_result.entropy[0], 4), lambda v: v < 1.0)

# %% [markdown]
# ## 6. What to make of it
#
# * One run of tens of evaluations cannot rank the strategies: the gaps between the curves are of
#   the size of the spread between single evaluations, and in Real et al.'s experiments evolution
#   and reinforcement learning pulled ahead of random search over thousands of models. What this
#   run does show is that each search finds architectures well above the median random one: the
#   space is uneven (a cell of pools and identities barely learns; convolutions on the main path
#   do), and even random search finds the good part of it.
# * The controller's entropy falls from its uniform start, `sum_t log(choices_t)`. That alone
#   does not prove learning: with noisy rewards a policy gradient also drifts away from uniform.
#   Learning shows when later samples are better than earlier ones (the mean accuracies of the
#   first and last quarter above). Quick mode is too short to tell; in our full-mode run the last
#   15 architectures of evolution averaged 0.61 against 0.48 for its first 15, REINFORCE's 0.51
#   against 0.42, and random search's 0.41 against 0.48: the two searches that learn from their
#   results move towards the good part of the space, random search by construction does not.
#   `tests/test_nas.py` shows the controller learning on a cheap stand-in reward over 150 steps.
# * Regularised evolution's ageing is what distinguishes it from plain tournament selection: an
#   architecture survives only `population` steps, so one that scored high by luck is forgotten
#   unless its mutated children keep scoring high.
# * The proxy decides what is found: short training favours cells that learn fast. NASNet
#   searched with short training too and then trained the winner far longer; the real test of a
#   searched cell is that longer run, on the test set, which the search never saw.

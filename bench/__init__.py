"""The speed benchmark suite: ``python -m bench`` (or ``make bench``); ``python -m bench --help``.

Suites, each selectable with ``--suite``:

* ``conv`` - conv2d forward, and forward plus backward (dx and dw), for every method on the six
  layer shapes of issue 6 (naive only on a tiny shape), against PyTorch's CPU kernels, with
  the same GEMMs timed as plain NumPy matmuls (the limit) and each method's peak memory;
* ``layers`` - max-pool, batch norm and LRN, forward plus backward;
* ``train`` - images/s of a full training step: LeNet-5 on digits, ResNet-20 on synthetic
  32x32 images, each against the same model written in PyTorch.

Every figure is the median of at least 5 timed runs after a warm-up, all candidates of a row
timed in turn in the same process; a ratio is the median of the per-run ratios. Thread counts
are set before NumPy is imported (:mod:`bench.__main__`). Results go to
``bench/results/<suite>-<time>.json`` with a PNG chart beside them.
"""

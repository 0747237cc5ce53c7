"""The engine room: what makes the lesson's ops fast, and nothing a student needs to follow them.

Importing it adds its methods to the one method table (:mod:`minitorch_cnn.methods`) and sets
what ``method="auto"`` runs; see README.md in this folder for what replaces what and which
test pins it to the lesson. ``mt.reference_mode()`` turns it off for ``"auto"``.
"""

from . import conv, compiled, auto  # conv first: "gemm", "direct", then "numba" in the method table
from .memory import keep_freed_memory

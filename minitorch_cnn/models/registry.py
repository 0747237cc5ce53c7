"""Name -> constructor registry for the model zoo."""

from __future__ import annotations

import inspect

_REGISTRY = {}


def register(name, reference, min_input=32):
    """Register a constructor ``fn(num_classes=1000, in_channels=3, **options)`` under ``name``.

    ``reference`` says which definition the layout (and parameter count) follows;
    ``min_input`` is the smallest square input size the model accepts.
    """

    def wrap(fn):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = {"fn": fn, "reference": reference, "min_input": min_input}
        return fn

    return wrap


def list_models():
    """Sorted names of every registered model."""
    return sorted(_REGISTRY)


def model_info(name):
    """The registry entry for ``name``: its constructor, reference and minimum input size."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return dict(_REGISTRY[name])


def create(name, num_classes=None, in_channels=None, weights=None, **options):
    """Build model ``name``; ``num_classes``/``in_channels`` default to the model's own defaults.

    ``weights`` names a checkpoint written by ``minitorch-cnn train``/``pretrain`` (loaded after
    checking that it was saved from the same architecture) or a bare state dict saved with
    ``mt.save(model.state_dict(), path)``.
    """
    fn = model_info(name)["fn"]
    kwargs = dict(options)
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if in_channels is not None:
        kwargs["in_channels"] = in_channels
    accepted = inspect.signature(fn).parameters
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise TypeError(f"{name}: unknown option(s) {unknown}; it takes {list(accepted)}")
    checkpoint = None
    if weights is not None:
        from ..serialization import load

        # Checked before building: a full-size model takes seconds to build and initialise.
        checkpoint = load(weights)
        saved = checkpoint.get("metadata", {}).get("architecture")
        if saved is not None and saved != name:
            raise ValueError(f"create: {weights} holds weights of architecture {saved!r}, not {name!r}")
    model = fn(**kwargs)
    if checkpoint is not None:
        # A state dict's keys are dotted parameter names, never the bare word "model".
        model.load_state_dict(checkpoint["model"] if "model" in checkpoint else checkpoint)
    return model

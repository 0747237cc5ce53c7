"""Name -> constructor registry for the model zoo."""

from __future__ import annotations

import inspect
import warnings

_REGISTRY = {}
#: The batch-norm buffer PyTorch 0.4.1 added (used only with momentum=None).
BN_COUNTER = ".num_batches_tracked"


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


class HeadReplacedWarning(UserWarning):
    """``create(name, num_classes=K, weights=path)`` kept a new classifier: the file has other than K classes."""


def create(name, num_classes=None, in_channels=None, weights=None, **options):
    """Build model ``name``; ``num_classes``/``in_channels`` default to the model's own defaults.

    ``weights`` names a weights file :func:`minitorch_cnn.load_weights` reads (a checkpoint of
    ``minitorch-cnn train``/``pretrain``, a ``torch.save`` state dict, ``.safetensors``). Every
    tensor must fit, by name and shape, except for the transfer-learning start: when
    ``num_classes`` is given and differs from the file's, the output layers (tensors whose first
    dimension is the class count) keep their fresh initialisation, and a
    :class:`HeadReplacedWarning` names the tensors skipped. Batch-norm counters missing from files
    older than PyTorch 0.4.1 stay 0, as PyTorch loads them. A file that does not fit says which zoo architecture it looks like, when its
    names and shapes tell (:func:`~minitorch_cnn.models.fingerprint.guess_architecture`).
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
    state = None
    if weights is not None:
        from ..weights import read_weights

        # Checked before building: a full-size model takes seconds to build and initialise.
        state, metadata = read_weights(weights)
        saved = metadata.get("architecture")
        if saved is not None and saved != name:
            raise ValueError(f"create: {weights} holds weights of architecture {saved!r}, not {name!r}")
    model = fn(**kwargs)
    if state is not None:
        _load_weights(model, name, state, weights, num_classes)
    return model


def _load_weights(model, name, state, path, num_classes):
    own = model.state_dict()
    skipped = []
    if num_classes is not None:
        skipped = [k for k, v in state.items()
                   if k in own and _is_other_head(tuple(v.shape), tuple(own[k].shape), num_classes)]
    fitted = dict(state)
    fitted.update({k: own[k] for k in skipped})
    # Files saved before PyTorch 0.4.1 have no batch-norm counter: a new model's, 0, stays (as in PyTorch).
    fitted.update({k: own[k] for k in own if k.endswith(BN_COUNTER) and k not in state})
    try:
        model.load_state_dict(fitted)
    except ValueError as exc:
        raise ValueError(f"create: {path} does not fit {name}{_hint(name, state, own)}\n{exc}") from None
    if skipped:
        warnings.warn(HeadReplacedWarning(
            f"create: {name} was built for {num_classes} classes and {path} holds {state[skipped[0]].shape[0]}: "
            f"loaded every other tensor and kept the new classifier's initial values for {', '.join(skipped)}"),
            stacklevel=3,
        )


def _is_other_head(saved, built, num_classes):
    """An output layer sized for another class count: same shape but for the first dimension."""
    return saved != built and built[:1] == (num_classes,) and saved[1:] == built[1:]


def _hint(name, state, own):
    from .fingerprint import guess_architecture

    guess = guess_architecture(state)
    if guess is not None and guess != name:
        where = f"use models.create({guess!r}, weights=...)" if guess in _REGISTRY else "which this zoo does not define"
        return f": it looks like torchvision's {guess} ({where})"
    # Only the output layers differ: the file was trained for another number of classes.
    mismatched = [k for k in state if k in own and tuple(state[k].shape) != tuple(own[k].shape)]
    heads = [k for k in mismatched if _is_other_head(tuple(state[k].shape), tuple(own[k].shape), own[k].shape[0])]
    classes = {state[k].shape[0] for k in heads}
    if set(state) == set(own) and mismatched and heads == mismatched and len(classes) == 1:
        return f": its output layers have {classes.pop()} classes; pass num_classes= to start a new classifier"
    return ""

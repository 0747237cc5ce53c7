"""Transfer learning: reuse a network trained on one task for another.

The lecture's recipe, for a model pretrained on a large dataset:

1. keep the network and replace its output layer with one sized for the new classes:
   :func:`replace_head`;
2. freeze the convolutional *base* and train only the *head*, the classifier on top of it
   (*feature extraction*): :func:`freeze`;
3. then unfreeze the later stages and train them too (*fine-tuning*) at a lower learning rate,
   earlier stages 3-10x lower than later ones: :func:`unfreeze`, :func:`differential_param_groups`.

Which recipe to pick depends on the new data (CS231n, "Transfer Learning")::

                        similar data               very different data
    little data         feature extraction         a linear classifier on an earlier stage
    a lot of data       fine-tune a few stages     fine-tune many stages (or all)

Stages
------
Zoo models name their modules as torchvision does, so there are two layouts. Most (LeNet,
AlexNet, VGG, DenseNet, MobileNet, EfficientNet, ...) have a ``features``
:class:`~minitorch_cnn.nn.Sequential` (the convolutional *base*) and a ``classifier`` (the *head*);
torchvision's ResNets put the base's parts at the top level (``conv1``, ``bn1``, ``relu``,
``maxpool``, ``layer1`` ... ``layer4``, ``avgpool``) and call the head ``fc``. A model's *stages*
are, in forward order:

* the children of ``model.features``, named ``"features.0"``, ``"features.1"``, ... (or by their
  own keys, e.g. ``"features.denseblock1"``), and the other top-level children (``avgpool``;
  a ResNet's ``conv1``, ``layer1``, ...): the base;
* ``classifier`` or ``fc``, and any auxiliary classifier (``aux1``/``aux2`` of GoogLeNet,
  ``AuxLogits`` of Inception-v3): the
  head, which :func:`freeze` leaves trainable. Its hidden layers (LeNet's F6, VGG's fc6 and fc7)
  keep their pretrained weights as a starting point, but they are specific to the pretraining
  classes, so they train with the new output layer that :func:`replace_head` puts in.

A model with neither ``features`` nor a head of those names uses its top-level children as
stages, the last one being the head.
:func:`stages` lists the stages that own parameters (a conv, a batch norm, a residual stage, an
inception module), which are the ones freezing and learning rates are about; names of
parameter-free stages (a ReLU, a pool) are accepted as boundaries too.

The lecture-11 experiment that compares these recipes (``minitorch-cnn transfer-demo``) is in
:mod:`minitorch_cnn.transfer_experiment`.
"""

from __future__ import annotations

import numpy as np

from . import backend, data, models, nn, optim
from .backend import get_rng_state, set_rng_state
from .serialization import load, save
from .training import ResumeError, _differences, evaluate, fit

#: The head's name: torchvision's ``classifier`` for most models, ``fc`` for ResNets.
HEAD_NAMES = ("classifier", "fc")
#: Auxiliary classifiers (GoogLeNet's ``aux1``, ``aux2``, Inception-v3's ``AuxLogits``) are heads
#: too: they predict the classes. Matched without regard to case.
AUX_PREFIX = "aux"
STRATEGIES = ("feature-extract", "fine-tune-top", "full")
#: The lecture's "earlier layers 3-10x lower": the default ratio between neighbouring groups.
DEFAULT_FACTOR = 3.0
#: Phase 2 of fine-tuning trains at the phase-1 learning rate times this.
FINETUNE_LR_SCALE = 0.1


# ---------------------------------------------------------------- stages


def _has_parameters(module):
    return next(iter(module.parameters()), None) is not None


def _children(name, module):
    """A container's children as stages named ``"name.key"``; a single layer is one stage."""
    inner = list(module.named_children())
    return [(f"{name}.{key}", m) for key, m in inner] if inner else [(name, module)]


def _is_head(name):
    return name in HEAD_NAMES or name.lower().startswith(AUX_PREFIX)


def _all_stages(model):
    """``(base, head)``: lists of ``(name, module)`` in forward order, parameter-free stages included."""
    children = list(model.named_children())
    if not children:
        raise ValueError(f"transfer: expected a model with sub-modules, got {type(model).__name__}")
    if "features" not in dict(children) and not any(_is_head(name) for name, _ in children):
        return children[:-1], children[-1:]
    base, head = [], []
    for name, child in children:
        if name == "features":
            base += _children(name, child)
        elif _is_head(name):
            head.append((name, child))
        else:
            base.append((name, child))
    # The main classifier is the last stage even when aux heads were registered after it.
    head.sort(key=lambda item: item[0] in HEAD_NAMES)
    return base, head


def split_stages(model):
    """``(base, head)``: the stages that own parameters, each a list of ``(name, module)``.

    For LeNet-5: base ``features.0`` (C1), ``features.3`` (C3), ``features.6`` (C5); head
    ``classifier`` (F6 and the output layer). For ResNet-18: base ``conv1``, ``bn1``, ``layer1``
    ... ``layer4``; head ``fc``.
    """
    base, head = _all_stages(model)
    return ([s for s in base if _has_parameters(s[1])], [s for s in head if _has_parameters(s[1])])


def stages(model):
    """Every stage that owns parameters, in forward order: the base, then the head."""
    base, head = split_stages(model)
    return base + head


def _position(model, key, op):
    """Index into the full stage list (parameter-free stages included) of the stage ``key`` names.

    ``key`` is an int (an index into :func:`stages`, negative counts from the end), a stage name
    (``"features.3"``), or a top-level child name (``"features"``: its last stage).
    """
    base, head = _all_stages(model)
    everything = [name for name, _ in base + head]
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        named = [name for name, _ in stages(model)]
        if not -len(named) <= key < len(named):
            raise IndexError(f"{op}: stage index {key} is out of range for {len(named)} stages {named}")
        return everything.index(named[key])
    if isinstance(key, str):
        if key in everything:
            return everything.index(key)
        inside = [i for i, name in enumerate(everything) if name.startswith(key + ".")]
        if inside:
            return inside[-1]
        raise ValueError(f"{op}: expected a stage name from {everything}, got {key!r}")
    raise TypeError(f"{op}: expected a stage name or index, got {type(key).__name__}")


# ---------------------------------------------------------------- freezing


def _is_batch_norm(module):
    return isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d))


def _batch_norms(module):
    return [m for m in module.modules() if _is_batch_norm(m)]


def freeze(model, upto=None, bn_eval=False):
    """Freeze the stages of ``model`` up to and including ``upto``; returns their names.

    A frozen parameter has ``requires_grad=False``: backward gives it no gradient and the
    optimisers skip it, so its values stay bit-identical however long the rest trains.

    Args:
        model: a zoo model (or any model whose top-level children are its stages; see the module
            docstring).
        upto: the last stage to freeze: a stage name (``"features.3"``), a top-level child name
            (``"features"``), or an index into :func:`stages` (``-1`` is the head: everything).
            ``None`` (default) freezes the whole base and leaves the head trainable: feature
            extraction.
        bn_eval: also set ``freeze_stats`` on the batch-norm layers of the frozen stages: they
            then normalise with their running statistics and stop updating them, as in eval mode,
            even after ``model.train()``. Without it, a frozen batch norm keeps its scale and shift
            but still normalises with each batch's statistics in training, and its running
            statistics move to the new data. With few labels or small batches, ``bn_eval=True`` is
            the safer choice.
    """
    base, head = _all_stages(model)
    chosen = base if upto is None else (base + head)[: _position(model, upto, "freeze") + 1]
    for _, module in chosen:
        module.requires_grad_(False)
        if bn_eval:
            for bn in _batch_norms(module):
                bn.freeze_stats = True
    return [name for name, module in chosen if _has_parameters(module)]


def layers(model):
    """The layers of ``model``: every module that owns parameters itself (a convolution, a batch
    norm, a linear layer), as ``(name, module)`` in ``model.named_modules()`` order, which for the
    zoo is the order of the forward pass.

    Parameter-free modules (ReLU, pooling, dropout) and containers (``Sequential``, a residual
    block) are not layers here: they hold nothing to freeze. Keras counts every layer, activations
    and additions included, so its "first 140 layers" of a network is not our first 140; print
    ours with ``minitorch-cnn layers MODEL``. For LeNet-5: ``features.0`` (C1), ``features.3``
    (C3), ``features.6`` (C5), ``classifier.1`` (F6), ``classifier.3`` (output).
    """
    return [(name, m) for name, m in model.named_modules() if next(m.parameters(recurse=False), None) is not None]


def freeze_layers(model, spec, bn_eval=False):
    """Freeze layers of ``model`` (see :func:`layers`) at any depth; returns their names.

    Args:
        spec: an int ``k``, the first ``k`` layers; or a name prefix (or a list of them): every
            layer whose name is the prefix or starts with it followed by a dot (``"layer1"``
            freezes ``layer1.0.conv1`` ... but not ``layer10``; ``"features.1"`` not
            ``features.10``).
        bn_eval: as in :func:`freeze`: frozen batch norms normalise with their running
            statistics and stop updating them.
    """
    chosen = _select_layers(model, spec, "freeze_layers")
    for _, module in chosen:
        for p in module.parameters(recurse=False):
            p.requires_grad = False
        if bn_eval and _is_batch_norm(module):
            module.freeze_stats = True
    return [name for name, _ in chosen]


def _select_layers(model, spec, op):
    named = layers(model)
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        if not 0 <= spec <= len(named):
            raise ValueError(f"{op}: expected 0 <= k <= {len(named)} (the layers of {type(model).__name__}), "
                             f"got {spec}")
        return named[:spec]
    prefixes = [spec] if isinstance(spec, str) else list(spec)
    unknown = [p for p in prefixes if not any(_under(name, p) for name, _ in named)]
    if not prefixes or unknown:
        raise ValueError(f"{op}: no layer of {type(model).__name__} is named by {unknown or prefixes}; "
                         f"its layers are {[name for name, _ in named]}")
    return [(name, m) for name, m in named if any(_under(name, p) for p in prefixes)]


def _under(name, prefix):
    return name == prefix or name.startswith(prefix + ".")


def unfreeze(model, from_=None):
    """Make the stages from ``from_`` to the end trainable again; returns their names.

    ``from_`` is a stage name, top-level child name or index into :func:`stages`, as in
    :func:`freeze`; ``None`` (default) unfreezes every parameter. The batch norms of these stages
    get ``freeze_stats=False``: those that ``freeze(bn_eval=True)`` held at their running
    statistics follow ``model.train()``/``eval()`` again.
    """
    base, head = _all_stages(model)
    everything = base + head
    chosen = everything if from_ is None else everything[_position(model, from_, "unfreeze"):]
    targets = [model] if from_ is None else [module for _, module in chosen]
    for module in targets:
        module.requires_grad_(True)
        for bn in _batch_norms(module):
            bn.freeze_stats = False
    return [name for name, module in chosen if _has_parameters(module)]


def unfreeze_last(model, count):
    """Unfreeze the last ``count`` base stages (and the head); returns the unfrozen stage names."""
    base, _ = split_stages(model)
    if count < 0 or count > len(base):
        raise ValueError(f"unfreeze_last: expected 0 <= count <= {len(base)} (the base stages), got {count}")
    return unfreeze(model, len(base) - count)


# ---------------------------------------------------------------- the head


def _fresh_like(layer, num_classes):
    if isinstance(layer, nn.Linear):
        new = nn.Linear(layer.in_features, num_classes, bias=layer.bias is not None)
    else:
        new = nn.Conv2d(layer.in_channels, num_classes, layer.kernel_size, stride=layer.stride,
                        padding=layer.padding, dilation=layer.dilation, bias=layer.bias is not None)
    return new.to(device=layer.weight.device, dtype=backend.dtype_name(layer.weight.dtype))


def replace_head(model, num_classes):
    """Swap the output layer of every head for a freshly initialised one with ``num_classes`` outputs.

    The output layer is the last ``Linear`` in ``model.classifier`` (LeNet, AlexNet, VGG, DenseNet,
    MobileNet, GoogLeNet, EfficientNet) or ``model.fc`` (ResNet), or the last ``Conv2d`` of
    ``model.classifier``, when the class scores come from a 1x1 convolution followed by global
    average pooling (SqueezeNet, NiN). Auxiliary heads (GoogLeNet's ``aux1``/``aux2``, Inception-v3's ``AuxLogits``) get a new
    output layer too; a model without a head of those names has its last child's. Every other weight, the whole base and the hidden layers of the
    classifier, is kept. The new layer has PyTorch's default initialisation, the dtype and device of
    the old one, and is trainable. Returns ``model``.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"replace_head: expected a positive number of classes, got {num_classes!r}")
    children = list(model.named_children())
    heads = [(n, m) for n, m in children if _is_head(n)] or children[-1:]
    modules = dict(model.named_modules())
    for head_name, head in heads:
        layers = [(name, m) for name, m in head.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
        if not layers:
            raise ValueError(f"replace_head: expected a Linear or Conv2d in model.{head_name}, got {head!r}")
        path, layer = layers[-1]
        parent_path, _, attribute = f"{head_name}.{path}".rstrip(".").rpartition(".")
        setattr(modules[parent_path], attribute, _fresh_like(layer, int(num_classes)))
    return model


# ---------------------------------------------------------------- learning rates


def differential_param_groups(model, base_lr, factor=DEFAULT_FACTOR, stages=None):
    """Optimiser parameter groups whose learning rate falls by ``factor`` per group towards the input.

    The head trains at ``base_lr``; the base is cut into groups of consecutive stages, and the
    ``k``-th group counted back from the head (``k = 1, 2, ...``) trains at ``base_lr / factor**k``.
    Early layers detect edges and blobs that suit almost any image task, late layers are specific
    to the pretraining classes, so the course's rule is "earlier layers 3-10x lower" (``factor``
    between 3 and 10).

    Args:
        model: a zoo model (see the module docstring for its stages).
        base_lr: learning rate of the head.
        factor: ratio between the learning rates of neighbouring groups (default 3).
        stages: how many groups to cut the base into, as evenly as possible (the groups nearest
            the head take the extra stages); ``None`` (default) makes every base stage its own
            group.

    Returns:
        a list of dicts, earliest group first, each ``{"params": [...], "lr": ..., "stages":
        [stage names]}``, for ``optim.SGD(groups, lr=base_lr)`` or ``optim.Adam``. Every parameter
        of the model is in exactly one group; frozen ones are included (the optimisers skip them),
        so one optimiser keeps working after :func:`unfreeze`.
    """
    if factor <= 0:
        raise ValueError(f"differential_param_groups: expected factor > 0, got {factor}")
    base, head = split_stages(model)
    count = len(base) if stages is None else stages
    if base and (isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 1 <= count <= len(base)):
        raise ValueError(f"differential_param_groups: expected 1 <= stages <= {len(base)} (the base stages), "
                         f"got {stages!r}")
    # Cut from the head backwards, so the groups nearest the head take the extra stages.
    chunks, end = [], len(base)
    for k in range(count if base else 0):
        size = len(base) // count + (k < len(base) % count)
        chunks.insert(0, base[end - size:end])
        end -= size
    groups, seen = [], set()
    for k, chunk in zip(range(len(chunks), 0, -1), chunks):
        groups.append(_group([m for _, m in chunk], [n for n, _ in chunk], base_lr / factor**k, seen))
    groups.append(_group([m for _, m in head], [n for n, _ in head], base_lr, seen))
    # Parameters outside every stage (one owned by the model itself) train with the head.
    groups[-1]["params"] += [p for p in model.parameters() if id(p) not in seen]
    return groups


def _group(modules, names, lr, seen):
    params = []
    for module in modules:
        for p in module.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    return {"params": params, "lr": lr, "stages": names}


# ---------------------------------------------------------------- intermediate outputs


class FeatureExtractor:
    """Run a model and return the outputs of named sub-modules, for probes on different stages.

    ``FeatureExtractor(model, layers=["features.2", "features.5"])(x)`` runs ``model(x)`` once and
    returns ``{"features.2": Tensor (N, 6, 14, 14), "features.5": Tensor (N, 16, 5, 5)}`` (LeNet-5
    on 32x32), in the order of ``layers``. Names are those of ``model.named_modules()``; the outputs
    are caught by forward hooks, so the model itself is unchanged. Call :meth:`remove` (or use
    ``with FeatureExtractor(...) as extract:``) to unhook.
    """

    def __init__(self, model, layers):
        modules = dict(model.named_modules())
        layers = list(layers)
        unknown = [name for name in layers if name not in modules or name == ""]
        if unknown or not layers:
            raise ValueError(f"FeatureExtractor: expected layer names from {[n for n in modules if n]}, got {layers}")
        self.model = model
        self.layers = layers
        self._outputs = {}
        self._handles = [modules[name].register_forward_hook(self._catch(name)) for name in layers]

    def _catch(self, name):
        def hook(module, inputs, output):
            self._outputs[name] = output

        return hook

    def __call__(self, x):
        self._outputs = {}
        self.model(x)
        missing = [name for name in self.layers if name not in self._outputs]
        if missing:
            raise RuntimeError(f"FeatureExtractor: layers {missing} did not run in the forward pass")
        outputs, self._outputs = self._outputs, {}
        return {name: outputs[name] for name in self.layers}

    def remove(self):
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


# ---------------------------------------------------------------- datasets for transfer


def keep_classes(dataset, classes):
    """The images of ``dataset`` whose label is in ``classes``, relabelled ``0 .. len(classes)-1``
    in the order given (digits 5-9 become labels 0-4, named "5".."9")."""
    classes = [int(c) for c in classes]
    known = len(dataset.classes) if dataset.classes is not None else int(dataset.labels.max()) + 1
    if not classes or len(set(classes)) != len(classes) or not all(0 <= c < known for c in classes):
        raise ValueError(f"keep_classes: expected distinct class indices in [0, {known}), got {classes}")
    lookup = np.full(known, -1, dtype=np.int64)
    lookup[classes] = np.arange(len(classes))
    keep = lookup[dataset.labels] >= 0
    names = [dataset.classes[c] if dataset.classes is not None else str(c) for c in classes]
    return data.TensorDataset(dataset.images[keep], lookup[dataset.labels[keep]], classes=names)


def split_per_class(dataset, per_class, seed=0):
    """``(labelled, rest)``: ``per_class`` images of every class drawn with ``seed``, and all the others
    (in-memory datasets stay in memory; any other, such as an ImageFolder, is split into Subsets)."""
    rng = np.random.default_rng(seed)
    picked = []
    for k in np.unique(dataset.labels):
        members = np.flatnonzero(dataset.labels == k)
        if len(members) < per_class:
            raise ValueError(f"split_per_class: class {k} has {len(members)} images, fewer than {per_class}")
        picked.append(rng.choice(members, per_class, replace=False))
    chosen = np.zeros(len(dataset), dtype=bool)
    chosen[np.concatenate(picked)] = True
    if not isinstance(dataset, data.TensorDataset):
        return data.Subset(dataset, np.flatnonzero(chosen)), data.Subset(dataset, np.flatnonzero(~chosen))
    part = (lambda mask: data.TensorDataset(dataset.images[mask], dataset.labels[mask], classes=dataset.classes))
    return part(chosen), part(~chosen)


# ---------------------------------------------------------------- pretraining and fine-tuning


def default_optimizer(params, lr):
    """The default ``make_optimizer(params, lr)`` of :func:`pretrain` and :func:`finetune`."""
    return optim.Adam(params, lr=lr)


def standardization(train_set):
    """The ``Normalize`` a model trained on ``train_set`` uses: the images' own per-channel mean and
    std when they are in memory; ImageNet's for a folder of photos (an ImageFolder or a Subset of
    one), whose own statistics would cost decoding every photo once more."""
    if isinstance(train_set, data.TensorDataset):
        return data.transforms.Normalize.from_images(train_set.images)
    return data.transforms.Normalize(data.imagenet.IMAGENET_MEAN, data.imagenet.IMAGENET_STD)


def normalization(model_metadata):
    """The :class:`~minitorch_cnn.data.transforms.Normalize` a pretrained model expects."""
    return data.transforms.Normalize(model_metadata["normalize_mean"], model_metadata["normalize_std"])


def pretrain(name, train_set, test_set, epochs, lr=1e-3, batch_size=32, make_optimizer=default_optimizer, options=None,
             shift=0, dataset="", progress=False, device="cpu", checkpoint=None, resume=None, run_options=None):
    """Train zoo model ``name`` from scratch; returns ``(model, metadata)`` for :func:`save_pretrained`.

    Images are standardised as :func:`standardization` says; the mean and std go into the metadata
    with the architecture, its ``options``, the class names, the image size and the test accuracy:
    everything :func:`load_pretrained` and ``minitorch-cnn finetune`` need. ``shift``
    augments with random shifts of up to that many pixels: features that must hold wherever the
    object sits are the ones that carry over to a new task.

    ``checkpoint`` and ``resume`` are :func:`~minitorch_cnn.training.fit`'s; ``run_options``
    (the command line's other options) join the metadata, so a resume with other ones is refused.
    """
    options = dict(options or {})
    normalize = standardization(train_set)
    mean, std = normalize.mean.tolist(), normalize.std.tolist()
    classes = train_set.classes or [str(k) for k in range(int(train_set.labels.max()) + 1)]
    C, H, _ = train_set[0][0].shape
    metadata = {
        "architecture": name, "options": options, "dataset": dataset, "classes": [str(c) for c in classes],
        "in_channels": int(C), "image_size": int(H),
        "normalize_mean": mean, "normalize_std": std, **(run_options or {}),
    }
    model = models.create(name, num_classes=len(classes), in_channels=C, **options)
    if device != "cpu":
        model.to(device=device)
    augment = data.transforms.Compose([data.transforms.RandomShift(shift), normalize]) if shift else normalize
    train_loader = data.DataLoader(train_set, batch_size=batch_size, shuffle=True, transform=augment, device=device)
    test_loader = data.DataLoader(test_set, batch_size=256, transform=normalize, device=device)
    fit(model, train_loader, make_optimizer(list(model.parameters()), lr), epochs, progress=progress,
        checkpoint=checkpoint, metadata=metadata, resume=resume)
    metadata["test_accuracy"] = evaluate(model, test_loader)["accuracy"]
    return model, metadata


def save_pretrained(model, metadata, path):
    """Write a zoo checkpoint: ``{"model": state dict, "metadata": metadata}`` as ``.npz``."""
    save({"model": model.state_dict(), "metadata": dict(metadata)}, path)


def load_pretrained(path, num_classes=None):
    """``(model, metadata)`` from a checkpoint of :func:`save_pretrained` (or of ``minitorch-cnn train``).

    The model is built by ``models.create(architecture, weights=path)``, which refuses weights saved
    from another architecture. With ``num_classes``, the head is then replaced by a fresh one with
    that many outputs (:func:`replace_head`), even when the count is unchanged: a new task's
    classes are not the pretraining classes.
    """
    metadata = load(path).get("metadata", {})
    missing = [k for k in ("architecture", "classes", "in_channels") if k not in metadata]
    if missing:
        raise ValueError(f"load_pretrained: expected a checkpoint written by 'pretrain' or 'train', "
                         f"but {path} has no {', '.join(missing)} in its metadata")
    model = models.create(metadata["architecture"], num_classes=len(metadata["classes"]),
                          in_channels=metadata["in_channels"], weights=path, **metadata.get("options", {}))
    if num_classes is not None:
        replace_head(model, num_classes)
    return model, metadata


def imagenet_metadata(name):
    """The metadata of :func:`load_pretrained` for zoo model ``name`` with ImageNet weights
    (torchvision's): ImageNet's 1,000 class names and statistics, and the crop size the weights
    were trained at (:func:`~minitorch_cnn.data.imagenet.preprocessing`)."""
    return {
        "architecture": name, "options": {}, "dataset": "imagenet", "classes": list(data.imagenet.imagenet_classes()),
        "in_channels": 3, "image_size": data.imagenet.preprocessing(name).crop_size,
        "normalize_mean": list(data.imagenet.IMAGENET_MEAN), "normalize_std": list(data.imagenet.IMAGENET_STD),
    }


def finetune(model, train_loader, test_loader, strategy="fine-tune-top", head_epochs=10, finetune_epochs=10,
             lr=1e-3, unfreeze_stages=1, factor=DEFAULT_FACTOR, make_optimizer=default_optimizer, bn_eval=True,
             progress=False, log=None, checkpoint=None, resume=None, metadata=None, keep_frozen=None):
    """The course's two-phase recipe on a pretrained ``model`` whose head is already replaced.

    Phase 1: the base is frozen (with ``bn_eval``, its batch norms' running statistics too; see
    :func:`freeze`) and the head trains for ``head_epochs`` at ``lr``. Phase 2, unless
    ``strategy="feature-extract"``: the later stages are unfrozen, the last ``unfreeze_stages``
    base stages for ``"fine-tune-top"`` or all of them for ``"full"``, and everything trainable
    runs ``finetune_epochs`` more epochs at ``lr * 0.1``, earlier stages ``factor`` times lower
    per stage (:func:`differential_param_groups`). ``keep_frozen`` cuts at any depth instead of
    at a stage: phase 2 of ``"fine-tune-top"`` then trains every layer but those it names, the
    first ``k`` layers for an int ``k`` or the layers under a name prefix (:func:`freeze_layers`),
    as Keras' recipe "unfreeze the base, then freeze its first ``k`` layers" does.

    Returns a list with one dict per phase: ``phase``, ``trainable`` (stage names), ``lr``,
    ``epochs``, ``test_accuracy``, ``test_loss`` and ``history``. ``log`` (e.g. ``print``) is called
    with a line after each phase.

    ``checkpoint``, ``resume`` and ``metadata`` are :func:`~minitorch_cnn.training.fit`'s, for both
    phases. The checkpoint's metadata also records the phase in progress (``finetune_phase``) and
    the results of the phases finished (``finetune_done``), so a run stopped in either phase, or
    between them, resumes where it stopped and ends with the parameters an uninterrupted run ends
    with. ``model`` must be prepared as for the run that wrote it (the same pretrained file and
    the head replaced the same way); the phase plan is rebuilt from the arguments, which must be
    the same as well (``metadata`` is compared).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"finetune: expected strategy from {STRATEGIES}, got {strategy!r}")
    if keep_frozen is not None and strategy != "fine-tune-top":
        raise ValueError(f"finetune: keep_frozen chooses what phase 2 of 'fine-tune-top' trains; strategy "
                         f"{strategy!r} {'has no phase 2' if strategy == 'feature-extract' else 'trains every layer'}")
    if keep_frozen is not None:
        _select_layers(model, keep_frozen, "finetune")  # a wrong keep_frozen is refused before phase 1 trains
    frozen = set(freeze(model, bn_eval=bn_eval))
    plan = [(1, head_epochs, lr, lambda: [p for p in model.parameters() if p.requires_grad])]
    if strategy != "feature-extract":
        def phase2_groups():
            if strategy == "full":
                unfreeze(model)
            elif keep_frozen is not None:
                unfreeze(model)
                freeze_layers(model, keep_frozen, bn_eval=bn_eval)
            else:
                unfreeze_last(model, unfreeze_stages)
            return differential_param_groups(model, lr * FINETUNE_LR_SCALE, factor)

        plan.append((2, finetune_epochs, lr * FINETUNE_LR_SCALE, phase2_groups))
    metadata = dict(metadata or {})
    phases, first, resume_inside = [], 1, False
    if resume is not None:
        phases, first, resume_inside = _finetune_progress(resume, model, train_loader, metadata)
    for phase, epochs, phase_lr, params in plan:
        if phase < first:
            continue
        optimizer = make_optimizer(params(), phase_lr)
        trainable = [name for name, m in stages(model) if any(p.requires_grad for p in m.parameters())]
        history = fit(model, train_loader, optimizer, epochs, progress=progress, checkpoint=checkpoint,
                      metadata=dict(metadata, finetune_phase=phase, finetune_done=list(phases)),
                      resume=resume if resume_inside and phase == first else None)
        result = evaluate(model, test_loader)
        phases.append({"phase": phase, "trainable": trainable, "lr": phase_lr, "epochs": epochs,
                       "test_accuracy": result["accuracy"], "test_loss": result["loss"], "history": history})
        if checkpoint is not None:
            # Marked finished in the checkpoint, with the random and loader states as the next
            # phase finds them (evaluating may have drawn): a stop before the next phase writes
            # its own checkpoint resumes with that phase, not with this one again.
            state = load(checkpoint)
            state["metadata"]["finetune_done"] = phases
            state["training"].update(rng=get_rng_state(), loader=train_loader.state_dict())
            save(state, checkpoint)
        if log is not None:
            still = [name for name in frozen if name not in trainable]
            named = layers(model)
            held = sum(1 for _, m in named if not any(p.requires_grad for p in m.parameters(recurse=False)))
            log(f"phase {phase}: trained {', '.join(trainable)} for {epochs} epochs at lr {phase_lr:g} "
                f"({len(still)} stages, {held} of {len(named)} layers frozen): test accuracy {result['accuracy']:.4f}, "
                f"loss {result['loss']:.4f}")
    return phases


def _finetune_progress(path, model, train_loader, metadata):
    """Where a :func:`finetune` checkpoint stopped: ``(phases finished, the phase to run next,
    whether that phase continues from the checkpoint)``. When the checkpoint's phase had finished,
    the model, the random state and the loader's state are taken from its end and the next phase
    starts afresh."""
    try:
        state = load(path)
    except (ValueError, FileNotFoundError) as exc:
        raise ResumeError(f"finetune: cannot resume: {exc}") from exc
    saved = state.get("metadata", {})
    if "finetune_phase" not in saved or "training" not in state:
        raise ResumeError(f"finetune: cannot resume from {path}: it holds no fine-tuning state (it was not "
                          "written by finetune, or it is a finished run's final file)")
    differences = _differences(saved, metadata)
    if differences:
        raise ResumeError(f"finetune: cannot resume from {path}: {'; '.join(differences)}")
    done, phase = saved["finetune_done"], saved["finetune_phase"]
    if len(done) < phase:
        return done, phase, True
    model.load_state_dict(state["model"])
    set_rng_state(state["training"]["rng"])
    train_loader.load_state_dict(state["training"]["loader"])
    return done, phase + 1, False

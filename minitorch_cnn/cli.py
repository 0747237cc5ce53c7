"""The ``minitorch-cnn`` command line: train, evaluate, inspect models and run the lecture tools.

Every subcommand has ``--help``. ``minitorch-cnn train lenet5 --dataset digits --out DIR`` is
enough to train LeNet-5 on the digits that scikit-learn ships.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shlex
import signal
import sys
import time
import warnings

import numpy as np

DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "synthetic")
#: ``--dataset folder:PATH``: a folder of photos, one subfolder per class (data.ImageFolder).
FOLDER_PREFIX = "folder:"
#: The share of each class of a folder dataset held out as its test set (data.stratified_split).
FOLDER_TEST_FRACTION = 0.2
DATASET_HELP = f"one of {', '.join(DATASETS)}, or {FOLDER_PREFIX}PATH for a folder with one subfolder of images per class"


def _dataset_name(text):
    if text in DATASETS or (text.startswith(FOLDER_PREFIX) and len(text) > len(FOLDER_PREFIX)):
        return text
    raise argparse.ArgumentTypeError(f"expected {DATASET_HELP}; got {text!r}")


def _load_dataset(name, data_dir, size):
    """Train and test sets of dataset ``name``, with square images of side ``size``.

    Images of another size are resized bilinearly (LeNet-5 expects 32x32; MNIST's are 28x28).
    A folder of photos (``folder:PATH``) stays on disk: each photo is decoded when a batch needs
    it, its shorter side resized to ``size`` and its centre cropped, and a stratified
    ``FOLDER_TEST_FRACTION`` of every class is the test set.
    """
    from . import data

    if name.startswith(FOLDER_PREFIX):
        try:
            folder = data.ImageFolder(name[len(FOLDER_PREFIX):], transform=_photo_transform(size))
        except FileNotFoundError as exc:
            raise SystemExit(f"--dataset {name}: {exc}") from None
        return data.stratified_split(folder, FOLDER_TEST_FRACTION, seed=0)
    train, test = _load_native(name, data_dir, size)
    if train.images.shape[-1] != size or train.images.shape[-2] != size:
        train, test = (data.TensorDataset(data.transforms.resize(d.images, size), d.labels, d.classes)
                       for d in (train, test))
    return train, test


def _photo_transform(size):
    """A photo of any shape to ``size`` x ``size``: shorter side resized, centre cropped."""
    from . import data

    return data.transforms.Compose([data.imagenet.ResizeShorter(size), data.imagenet.CenterCrop(size)])


def _load_native(name, data_dir, size):
    from . import data

    if name == "digits":
        return data.digits("train", size=size), data.digits("test", size=size)
    if name in ("mnist", "fashion_mnist"):
        if data_dir is None:
            raise SystemExit(f"--dataset {name} needs --data-dir, the folder holding the IDX files")
        loader = getattr(data, name)
        return loader(data_dir, "train"), loader(data_dir, "test")
    if name == "cifar10":
        if data_dir is None:
            raise SystemExit("--dataset cifar10 needs --data-dir, the folder holding the binary batches")
        return data.cifar10(data_dir, "train"), data.cifar10(data_dir, "test")
    if name == "synthetic":
        return data.synthetic_shapes(1000, size=size, seed=0), data.synthetic_shapes(250, size=size, seed=1)
    raise SystemExit(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")


def _optimizer(name, params, lr, momentum, weight_decay):
    from . import optim

    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise SystemExit(f"unknown optimizer {name!r}; choose sgd or adam")


#: Options that do not change what a run computes (a resumed run may give them other values), and
#: those the metadata records in another form (the model as architecture, --classes as class
#: names, --option as options).
_NOT_RUN_OPTIONS = ("command", "func", "model", "classes", "option", "epochs", "data_dir", "out", "resume",
                    "no_progress")


def _run_options(args):
    """The command's options that decide its result, as stored in a checkpoint's metadata and
    compared on ``--resume`` (``--epochs`` may change, see README)."""
    return {k: v for k, v in vars(args).items() if k not in _NOT_RUN_OPTIONS}


def _resume_path(args, checkpoint):
    """``--resume`` alone means the checkpoint this command writes; ``--resume PATH`` another."""
    if args.resume is None:
        return None
    return args.resume or checkpoint


def cmd_train(args):
    """Train in this process, or data-parallel when started by ``mpiexec -n R`` (R > 1): each rank
    trains on its shard with ``--batch-size`` images per step (R times as many per step in all),
    batch norm becomes SyncBatchNorm, and only rank 0 prints and writes files."""
    import minitorch_cnn as mt
    from . import data, distributed, models, optim, transfer
    from .serialization import atomic_write
    from .training import fit, evaluate, plot_history

    world, rank = distributed.get_world_size(), distributed.get_rank()
    say = print if rank == 0 else lambda *a, **k: None
    mt.manual_seed(args.seed)
    train_set, test_set = _load_dataset(args.dataset, args.data_dir, args.image_size)
    normalize = transfer.standardization(train_set)
    mean, std = normalize.mean.tolist(), normalize.std.tolist()
    in_channels, image_size, _ = train_set[0][0].shape
    model = models.create(args.model, num_classes=len(train_set.classes), in_channels=in_channels)
    if args.device != "cpu":
        model.to(device=args.device)
    optimizer = _optimizer(args.optimizer, model.parameters(), args.lr, args.momentum, args.weight_decay)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs) if args.schedule == "cosine" else None
    augment = normalize
    if args.shift:
        augment = data.transforms.Compose([data.transforms.RandomShift(args.shift), normalize])
    if world > 1:
        model = distributed.DistributedDataParallel(mt.nn.SyncBatchNorm.convert_sync_batchnorm(model))
        # Every rank built the same model (rank 0's is broadcast anyway); from here on each draws
        # its own dropout masks and shifts.
        mt.manual_seed(args.seed + rank)
        train_loader = data.DataLoader(train_set, batch_size=args.batch_size, transform=augment, device=args.device,
                                       sampler=data.DistributedSampler(train_set, seed=args.seed))
        test_loader = data.DataLoader(test_set, batch_size=256, transform=normalize, device=args.device,
                                      sampler=data.InferenceSampler(test_set))
    else:
        train_loader = data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True, transform=augment,
                                       device=args.device)
        test_loader = data.DataLoader(test_set, batch_size=256, transform=normalize, device=args.device)
    if rank == 0:
        os.makedirs(args.out, exist_ok=True)
    checkpoint = os.path.join(args.out, "checkpoint.npz")
    metadata = {
        "architecture": args.model,
        "dataset": args.dataset,
        "classes": [str(c) for c in train_set.classes],
        "in_channels": in_channels,
        "image_size": int(image_size),
        "normalize_mean": mean,
        "normalize_std": std,
        **_run_options(args),
    }
    resume = _resume_path(args, checkpoint)
    n_params = sum(p.numel() for p in model.parameters())
    batch = f"batch {args.batch_size}" + (f" per process x {world} processes" if world > 1 else "")
    say(f"training {args.model} ({n_params:,} parameters) on {args.dataset}: "
        f"{len(train_set)} train / {len(test_set)} test images, {args.epochs} epochs, "
        f"{args.optimizer} lr={args.lr}, {batch}, device {args.device}"
        + (f", resuming from {resume}" if resume else ""))
    start = time.perf_counter()
    history = fit(model, train_loader, optimizer, args.epochs, test_loader=test_loader, scheduler=scheduler,
                  checkpoint=checkpoint, progress=not args.no_progress, metadata=metadata, resume=resume)
    seconds = time.perf_counter() - start
    result = evaluate(model, test_loader)
    if rank > 0:
        return 0
    state = mt.load(checkpoint)
    state["metadata"]["test_accuracy"] = result["accuracy"]
    mt.save(state, checkpoint)
    plot_history(history, os.path.join(args.out, "curves.png"), title=f"{args.model} on {args.dataset}")
    metrics = {
        "model": args.model,
        "dataset": args.dataset,
        "test_accuracy": result["accuracy"],
        "test_top1_error": result["top1_error"],
        "test_top5_error": result["top5_error"],
        "test_loss": result["loss"],
        "train_seconds": seconds,
        "epochs": args.epochs,
        "history": history,
    }
    with atomic_write(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    print(f"test accuracy {result['accuracy']:.4f} (top-1 error {result['top1_error']:.4f}) "
          f"after {seconds:.1f} s of training")
    print(f"wrote {args.out}/metrics.json, {args.out}/checkpoint.npz and {args.out}/curves.png")
    return 0


def load_model(source, weights=None, num_classes=None, in_channels=None):
    """``(model, metadata)``: the trained model a command works on, in eval mode.

    ``source`` is a checkpoint written by ``train``, ``pretrain`` or ``finetune``, whose metadata
    names the architecture (with its options), the classes, the input channels and size, the
    normalisation and the dataset. Or, with ``weights``, ``source`` is a model name (see
    ``minitorch-cnn models``) and ``weights`` a file ``mt.load_weights`` reads: torchvision's
    ``.pth``, ``.safetensors``, a state dict saved with ``mt.save(model.state_dict(), path)``, or
    a checkpoint. ``num_classes`` and ``in_channels`` are by default the model's own defaults and
    must be the file's. A model with ImageNet's 1,000 classes and 3 channels gets ImageNet's
    metadata (:func:`~minitorch_cnn.transfer.imagenet_metadata`: class names, statistics, crop
    size); any other holds only the architecture, the classes (numbered) and the input channels,
    and with no normalisation in it, a command feeds such a model pixels in [0, 1].

    Any problem (a missing or unreadable file, weights of another shape) exits with its reason.
    """
    from . import data, models, transfer

    try:
        if weights is None:
            if source in models.list_models():
                raise SystemExit(f"{source} is a model name: give its weights with --weights FILE "
                                 "(or give a checkpoint written by 'train' instead)")
            if num_classes is not None or in_channels is not None:
                raise SystemExit(f"--num-classes and --in-channels go with MODEL --weights FILE; "
                                 f"the checkpoint {source} records its own")
            model, metadata = transfer.load_pretrained(source)
        else:
            with warnings.catch_warnings():
                # A new classifier is a transfer-learning start, never a model to run: refused here.
                warnings.simplefilter("error", models.HeadReplacedWarning)
                model = models.create(source, num_classes=num_classes, in_channels=in_channels, weights=weights)
            defaults = inspect.signature(models.model_info(source)["fn"]).parameters
            num_classes = num_classes or defaults["num_classes"].default
            in_channels = in_channels or defaults["in_channels"].default
            if (num_classes, in_channels) == (data.imagenet.NUM_CLASSES, 3):
                metadata = transfer.imagenet_metadata(source)
            else:
                metadata = {"architecture": source, "classes": [str(k) for k in range(num_classes)],
                            "in_channels": in_channels}
    except models.HeadReplacedWarning as exc:
        raise SystemExit(f"{exc}; --num-classes must be the number of classes the weights were trained for") from None
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise SystemExit(exc.args[0] if exc.args else repr(exc)) from None
    model.eval()
    return model, metadata


def cmd_evaluate(args):
    from . import data
    from .training import evaluate

    model, meta = load_model(args.checkpoint)
    dataset = args.dataset or meta["dataset"]
    _, test_set = _load_dataset(dataset, args.data_dir, meta["image_size"])
    loader = data.DataLoader(test_set, batch_size=256,
                             transform=data.transforms.Normalize(meta["normalize_mean"], meta["normalize_std"]))
    result = evaluate(model, loader)
    print(json.dumps(result, indent=2))
    return 0


def cmd_info(args):
    import numba
    import minitorch_cnn as mt
    from . import backend

    reason = backend.cuda_unavailable_reason()
    print(f"minitorch_cnn {mt.__version__}")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, numba {numba.__version__}")
    print(f"default dtype {backend.DEFAULT_DTYPE}; cpu backend: numpy")
    print("cuda: available (CuPy)" if reason is None else f"cuda: not available: {reason}")
    return 0


def cmd_init_stats(args):
    from . import experiments

    if args.symmetry:
        print(f"{'init':>9}{'hidden_weight_spread':>22}{'hidden_weight_std':>19}{'test_accuracy':>15}")
        for init in ("constant", "random"):
            result = experiments.constant_init_symmetry(init, seed=args.seed)
            print(f"{init:>9}{result['hidden_weight_spread']:>22.4g}{result['hidden_weight_std']:>19.4g}"
                  f"{result['test_accuracy']:>15.4f}")
        print("constant: every hidden unit keeps the same weights (spread 0), so the MLP has one unit's capacity")
        return 0
    init = args.init
    try:
        init = float(init)
    except ValueError:
        pass
    stats = experiments.activation_statistics([args.width] * (args.layers + 1), args.activation, init,
                                              batch=args.batch, seed=args.seed, gradients=args.gradients)
    print(experiments.format_table(stats))
    experiments.plot_activation_histograms(stats, args.out)
    print(f"wrote {args.out}")
    return 0


def _shape(text):
    try:
        return tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a shape like 3x224x224, got {text!r}") from None


def _options(pairs):
    options = {}
    for pair in pairs or []:
        key, _, value = pair.partition("=")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def cmd_models(args):
    from . import models

    for name in models.list_models():
        info = models.model_info(name)
        print(f"{name:<20} min input {info['min_input']:>3}  {info['reference']}")
    return 0


def cmd_summary(args):
    from . import models
    from .summary import summary

    model = models.create(args.name, num_classes=args.num_classes, in_channels=args.input[0], **_options(args.option))
    print(summary(model, args.input).table())
    return 0


def cmd_gradcheck(args):
    import minitorch_cnn as mt
    from . import models

    mt.manual_seed(args.seed)
    model = models.create(args.name, num_classes=args.num_classes, in_channels=args.input[0], **_options(args.option))
    host = mt.backend.generator().standard_normal((args.batch,) + args.input)
    x = mt.tensor(host, dtype="float64")
    from .gradcheck import GradcheckError, gradcheck_model

    n = sum(p.numel() for p in model.parameters())
    for mode in ("train", "eval"):
        try:
            gradcheck_model(model, x, mode=mode, eps=args.eps, directions=args.directions)
        except GradcheckError as exc:
            # Seen with ResNet-18 at 32x32 (seeds 0-5): its last stage's 1x1 maps leave train-mode
            # batch norm two values per channel, and a step of 1e-8 along a direction that moves
            # every unit may cross a ReLU or max-pool kink. A wrong backward fails at every seed.
            print(f"{args.name} ({mode} mode, input {(args.batch,) + args.input}): {exc}\n"
                  f"A failure in one seed only can be a false alarm: a ReLU or max-pool kink within the step "
                  f"(lecture 12), or batch norm over very few values per channel in train mode (a larger "
                  f"--input or --batch gives it more). Run other --seed values: a wrong backward fails at "
                  f"every seed.", file=sys.stderr)
            return 1
        print(f"{args.name} ({mode} mode, input {(args.batch,) + args.input}, {n:,} parameters): gradcheck passed")
    return 0


def _classes(text):
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected class indices like 0,1,2,3,4, got {text!r}") from None


def _keep_classes(args, train_set, test_set):
    from . import transfer

    if not args.classes:
        return train_set, test_set
    if args.dataset.startswith(FOLDER_PREFIX):
        raise SystemExit(f"{args.command}: --classes picks classes of an in-memory dataset; for a folder, keep only "
                         "the class subfolders you want")
    return transfer.keep_classes(train_set, args.classes), transfer.keep_classes(test_set, args.classes)


def cmd_pretrain(args):
    import minitorch_cnn as mt
    from . import transfer

    mt.manual_seed(args.seed)
    train_set, test_set = _load_dataset(args.dataset, args.data_dir, args.image_size)
    train_set, test_set = _keep_classes(args, train_set, test_set)
    dataset = os.path.basename(os.path.normpath(args.dataset[len(FOLDER_PREFIX):])) if args.dataset.startswith(
        FOLDER_PREFIX) else args.dataset
    out = args.out or os.path.join("zoo", f"{args.model}-{dataset}.npz")
    resume = _resume_path(args, out)
    print(f"pretraining {args.model} on {args.dataset} (classes {', '.join(train_set.classes)}): "
          f"{len(train_set)} train / {len(test_set)} test images, {args.epochs} epochs"
          + (f", resuming from {resume}" if resume else ""))
    model, metadata = transfer.pretrain(
        args.model, train_set, test_set, args.epochs, lr=args.lr, batch_size=args.batch_size,
        make_optimizer=lambda params, lr: _optimizer(args.optimizer, params, lr, args.momentum, args.weight_decay),
        options=_options(args.option), shift=args.shift, dataset=args.dataset, progress=not args.no_progress,
        device=args.device, checkpoint=out, resume=resume, run_options=_run_options(args))
    transfer.save_pretrained(model, metadata, out)
    print(f"test accuracy {metadata['test_accuracy']:.4f}; wrote {out}")
    return 0


def cmd_finetune(args):
    import minitorch_cnn as mt
    from . import data, transfer

    mt.manual_seed(args.seed)
    model, metadata = load_model(args.checkpoint, args.weights)
    if "normalize_mean" not in metadata:
        raise SystemExit(f"finetune: {args.weights} are not ImageNet weights (1000 classes, 3 channels); fine-tune "
                         "other weights from a checkpoint written by train or pretrain")
    train_set, test_set = _load_dataset(args.dataset, args.data_dir, metadata["image_size"])
    train_set, test_set = _keep_classes(args, train_set, test_set)
    if args.per_class:
        train_set, _ = transfer.split_per_class(train_set, args.per_class, seed=args.seed)
    channels = train_set[0][0].shape[0]
    if channels != metadata["in_channels"]:
        raise SystemExit(f"finetune: {args.checkpoint} expects {metadata['in_channels']}-channel images, "
                         f"--dataset {args.dataset} has {channels}")
    transfer.replace_head(model, len(train_set.classes))
    normalize = transfer.normalization(metadata)
    train_loader = data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True, transform=normalize)
    test_loader = data.DataLoader(test_set, batch_size=256, transform=normalize)
    resume = _resume_path(args, args.out)
    if args.resume is not None and not resume:
        raise SystemExit("finetune --resume: give the checkpoint to continue from (--resume PATH), or the --out "
                         "the stopped run wrote")
    print(f"fine-tuning {metadata['architecture']} from {args.checkpoint} on {args.dataset} "
          f"({len(train_set)} train / {len(test_set)} test images), strategy {args.strategy}"
          + (f", resuming from {resume}" if resume else ""))
    keep_frozen = args.freeze_layers if args.freeze_layers is not None else args.freeze_prefix
    try:
        phases = transfer.finetune(
            model, train_loader, test_loader, strategy=args.strategy, head_epochs=args.head_epochs,
            finetune_epochs=args.finetune_epochs, lr=args.lr, unfreeze_stages=args.unfreeze, factor=args.factor,
            make_optimizer=lambda params, lr: _optimizer(args.optimizer, params, lr, args.momentum, args.weight_decay),
            progress=not args.no_progress, log=print, checkpoint=args.out, resume=resume, keep_frozen=keep_frozen,
            metadata=dict(_run_options(args), classes=[str(c) for c in train_set.classes]))
    except ValueError as exc:
        # keep_frozen is checked before training; a ResumeError gets main()'s "--resume" wording.
        if isinstance(exc, transfer.ResumeError) or not str(exc).startswith("finetune: "):
            raise
        raise SystemExit(str(exc)) from None
    if args.out:
        tuned = dict(metadata, dataset=args.dataset, classes=[str(c) for c in train_set.classes],
                     test_accuracy=phases[-1]["test_accuracy"], finetuned_from=args.weights or args.checkpoint)
        transfer.save_pretrained(model, tuned, args.out)
        print(f"wrote {args.out}")
    return 0


def cmd_layers(args):
    from . import models, transfer

    model = models.create(args.name, num_classes=args.num_classes, **_options(args.option))
    named = transfer.layers(model)
    print(f"{args.name}: {len(named)} layers (modules that own parameters) in named_modules() order; "
          "finetune --freeze-layers K keeps the first K frozen")
    for k, (name, module) in enumerate(named, start=1):
        count = sum(p.numel() for p in module.parameters(recurse=False))
        print(f"{k:5d}  {name:<40s} {type(module).__name__:<14s} {count:>11,d}")
    return 0


def _preprocessing(metadata):
    """How a command turns an image file into the ``(C, H, W)`` input ``load_model``'s model expects:
    ImageNet weights resize the shorter side and crop the centre, as torchvision's do; a checkpoint
    resizes to its training size as its training images were (a folder's photos cropped like them)
    and standardises with its training statistics; bare weights get the file's pixels in [0, 1]."""
    from . import data

    if metadata.get("dataset") == "imagenet":
        preset = data.imagenet.preprocessing(metadata["architecture"])
        return lambda path: preset(data.read_image(path, channels=3))
    channels, size = metadata["in_channels"], metadata.get("image_size")
    if "normalize_mean" not in metadata:
        return lambda path: data.read_image(path, channels=channels, size=size)
    normalize = data.transforms.Normalize(metadata["normalize_mean"], metadata["normalize_std"])
    if str(metadata.get("dataset", "")).startswith(FOLDER_PREFIX):
        photo = _photo_transform(size)
        return lambda path: normalize(photo(data.read_image(path, channels=channels))[None])[0]
    return lambda path: normalize(data.read_image(path, channels=channels, size=size)[None])[0]


def cmd_predict(args):
    import minitorch_cnn as mt
    import minitorch_cnn.functional as F

    model, metadata = load_model(args.model, args.weights, args.num_classes)
    preprocess, names = _preprocessing(metadata), metadata["classes"]
    try:
        batch = np.stack([preprocess(path) for path in args.images])
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"predict: {exc}") from None
    with mt.no_grad():
        probabilities = F.softmax(model(mt.tensor(batch)), dim=1).numpy()
    k = min(args.top, len(names))
    for path, p in zip(args.images, probabilities):
        print(path)
        for rank, c in enumerate(np.argsort(-p, kind="stable")[:k], start=1):
            print(f"  {rank}. {names[c]} ({c}): {p[c]:.4f}")
    return 0


def cmd_transfer_demo(args):
    from . import transfer_experiment

    transfer_experiment.transfer_demo(args.out, quick=args.quick, seed=args.seed)
    return 0


#: What each ``visualize --method`` reads besides the model: an option any other method is given
#: is refused rather than ignored.
VISUALIZE_METHODS = {
    "saliency": ("image", "target"),
    "occlusion": ("image", "target", "patch", "stride"),
    "guided": ("image", "target"),
    "deconvnet": ("image", "layer", "channel"),
    "cam": ("image", "target"),
    "gradcam": ("image", "target", "layer"),
    "top9": ("layer", "channel", "dataset", "data_dir"),
}
#: The options of that table, with their command-line spelling.
_VISUALIZE_OPTIONS = {"image": "--image", "target": "--target", "patch": "--patch", "stride": "--stride",
                      "layer": "--layer", "channel": "--channel", "dataset": "--dataset", "data_dir": "--data-dir"}


def _check_visualize_options(args, layers):
    method, uses = args.method, VISUALIZE_METHODS[args.method]
    unused = [flag for key, flag in _VISUALIZE_OPTIONS.items() if key not in uses and getattr(args, key) is not None]
    if unused:
        raise SystemExit(f"visualize --method {method} does not use {', '.join(unused)}")
    if "image" in uses and args.image is None:
        raise SystemExit(f"visualize --method {method} needs --image FILE")
    if "layer" in uses and args.layer is None:
        raise SystemExit(f"visualize --method {method} needs --layer, one of: {', '.join(layers)}")


def _target(text, classes):
    """``--target``: a class index or one of the model's class names."""
    if text in classes:
        return classes.index(text)
    try:
        index = int(text)
    except ValueError:
        raise SystemExit(f"visualize: --target {text!r} is neither a class index nor a class name "
                         f"({', '.join(classes)})") from None
    if not 0 <= index < len(classes):
        raise SystemExit(f"visualize: --target {index} is out of range: the model has {len(classes)} classes")
    return index


def _strongest_channel(viz, model, images, layer, batch_size=256):
    """The feature map of ``layer`` with the largest activation anywhere in ``images``."""
    peaks = [viz.feature_maps(model, images[start:start + batch_size], layer).max(axis=(0, 2, 3))
             for start in range(0, len(images), batch_size)]
    return int(np.max(peaks, axis=0).argmax())


def _top9_figure(viz, args, model, meta):
    """ZFNet's Fig. 2 for one feature map: the 9 test images that activate it most, cropped."""
    from . import data

    dataset, size = args.dataset or meta.get("dataset"), meta.get("image_size")
    if dataset in (None, "imagenet") or size is None:
        raise SystemExit("visualize --method top9 needs --dataset, the images to search (ImageNet itself is not "
                         "here), and for a model without a checkpoint --image-size")
    _, test_set = _load_dataset(dataset, args.data_dir, size)
    images, _ = test_set.get_batch(slice(None))
    if "normalize_mean" in meta:
        images = data.transforms.Normalize(meta["normalize_mean"], meta["normalize_std"])(images)
    channel = _strongest_channel(viz, model, images, args.layer) if args.channel is None else args.channel
    records = viz.top_activations(model, images, args.layer, channel, k=9)
    return viz.plot_patches(records, title=f"{meta['architecture']} {args.layer} map {channel}: top 9 of the "
                                           f"{len(test_set)} {dataset} test images")


def _image_figure(viz, args, model, meta):
    """The map of ``args.method`` for the image file ``args.image``, next to the image."""
    import minitorch_cnn as mt
    from . import functional as F

    try:
        x = _preprocessing(meta)(args.image)[None]
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"visualize: {exc}") from None
    image = x
    if "normalize_mean" in meta:  # the image as read, for the figure: the standardisation undone
        mean, std = (np.asarray(meta[key], dtype=x.dtype).reshape(1, -1, 1, 1)
                     for key in ("normalize_mean", "normalize_std"))
        image = x * std + mean
    with mt.no_grad():
        probabilities = F.softmax(model(mt.tensor(x)), dim=1).detach().numpy()[0]
    predicted = int(probabilities.argmax())
    print(f"{meta['architecture']} predicts class {meta['classes'][predicted]} (p={probabilities[predicted]:.3f})")
    target = predicted if args.target is None else _target(args.target, meta["classes"])
    name = meta["classes"][target]
    if target != predicted:
        print(f"explaining class {name} (p={probabilities[target]:.3f})")
    method, layer = args.method, args.layer
    if method == "saliency":
        return viz.plot_maps(image, viz.saliency(model, x, target=target), title=f"saliency: class {name}")
    if method == "occlusion":
        patch = args.patch or max(1, image.shape[-1] // 4)
        stride = args.stride or max(1, patch // 2)
        maps = viz.occlusion(model, x, target=target, patch=patch, stride=stride, upsample=True)
        return viz.plot_maps(image, maps, title=f"drop in p({name}), {patch}x{patch} square")
    if method == "guided":
        maps = viz.guided_backprop(model, x, target=target)
        return viz.plot_maps(image, maps, title=f"guided backprop: class {name}")
    if method == "cam":
        return viz.plot_maps(image, viz.cam(model, x, target=target, upsample=True), title=f"CAM: class {name}")
    if method == "gradcam":
        maps = viz.grad_cam(model, x, layer, target=target, upsample=True)
        return viz.plot_maps(image, maps, title=f"Grad-CAM {layer}: class {name}")
    channel = _strongest_channel(viz, model, x, layer) if args.channel is None else args.channel
    return viz.plot_maps(image, viz.deconvnet(model, x, layer, channel), title=f"deconvnet: {layer} map {channel}")


def cmd_visualize(args):
    from . import visualize as viz
    from .serialization import save_figure

    model, meta = load_model(args.checkpoint, args.weights, args.num_classes, args.in_channels)
    _check_visualize_options(args, [name for name, _ in model.named_modules() if name])
    if args.image_size is not None:
        if meta.get("dataset") == "imagenet":
            raise SystemExit("visualize: ImageNet weights take torchvision's preprocessing (shorter side resized, "
                             "centre crop); drop --image-size")
        meta = dict(meta, image_size=args.image_size)
    draw = _top9_figure if args.method == "top9" else _image_figure
    try:
        fig = draw(viz, args, model, meta)
    except (ValueError, KeyError) as exc:
        # The visualize functions name the problem (an unknown layer lists the model's layers).
        raise SystemExit(f"visualize --method {args.method}: {exc.args[0] if exc.args else exc!r}") from None
    save_figure(fig, args.out)
    print(f"wrote {args.out}")
    return 0


def _add_training_options(p, epochs, lr):
    """The dataset and optimiser options that 'train' and 'pretrain' share (defaults differ)."""
    p.add_argument("--dataset", default="digits", type=_dataset_name, help=DATASET_HELP)
    p.add_argument("--data-dir", default=None, help="folder with the dataset files (mnist, fashion_mnist, cifar10)")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=32, help="images per step (per process under mpiexec)")
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--optimizer", default="adam", choices=("sgd", "adam"))
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    p.add_argument("--weight-decay", type=float, default=0.0)


def build_parser():
    parser = argparse.ArgumentParser(prog="minitorch-cnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model from the zoo and write metrics, checkpoint and curves")
    p.add_argument("model", help="a registered model name, e.g. lenet5 (see 'minitorch-cnn models')")
    p.add_argument("--image-size", type=int, default=32, help="side of the digits/synthetic images (default 32)")
    _add_training_options(p, epochs=20, lr=3e-3)
    p.add_argument("--schedule", default="cosine", choices=("cosine", "constant"),
                   help="learning-rate schedule: cosine annealing to 0 over the epochs (default) or constant")
    p.add_argument("--shift", type=int, default=3,
                   help="augment with random shifts of up to this many pixels (default 3; 0 turns it off)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/train", help="output folder (default runs/train)")
    p.add_argument("--resume", nargs="?", const="", default=None, metavar="PATH",
                   help="continue from OUT/checkpoint.npz (or PATH) with the same options; --epochs may change")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a checkpoint written by 'train' on its test set")
    p.add_argument("checkpoint")
    p.add_argument("--dataset", default=None, type=_dataset_name, help=DATASET_HELP + " (default: the one it was trained on)")
    p.add_argument("--data-dir", default=None)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("visualize", help="what a trained model sees: saliency, occlusion, guided backprop, "
                                         "deconvnet, CAM, Grad-CAM or top-9 patches, as a figure")
    p.add_argument("checkpoint", metavar="CHECKPOINT",
                   help="a checkpoint written by train/pretrain/finetune, or a model name with --weights FILE")
    p.add_argument("--weights", default=None, metavar="FILE",
                   help="the weights of model CHECKPOINT: a state dict (mt.save(model.state_dict(), FILE)) or a "
                        "checkpoint")
    p.add_argument("--num-classes", type=int, default=None, help="with --weights: the model's classes "
                                                                 "(default: the model's default)")
    p.add_argument("--in-channels", type=int, default=None, help="with --weights: the model's input channels "
                                                                 "(default: the model's default)")
    p.add_argument("--method", required=True, choices=tuple(VISUALIZE_METHODS))
    p.add_argument("--image", default=None, metavar="FILE", help="the image to explain (every method but top9)")
    p.add_argument("--image-size", type=int, default=None,
                   help="resize images to this side (default: the checkpoint's training size, else the file's own)")
    p.add_argument("--target", default=None, help="the class to explain, an index or a class name "
                                                  "(default: the predicted class)")
    p.add_argument("--layer", default=None, help="a module name as in named_modules(), for deconvnet, gradcam "
                                                 "and top9 (a wrong one lists them)")
    p.add_argument("--channel", type=int, default=None, help="the feature map of --layer for deconvnet and top9 "
                                                             "(default: the most strongly activated)")
    p.add_argument("--patch", type=int, default=None, help="occlusion: side of the grey square (default: a "
                                                           "quarter of the image)")
    p.add_argument("--stride", type=int, default=None, help="occlusion: its step (default: half the patch)")
    p.add_argument("--dataset", default=None, type=_dataset_name,
                   help=f"top9: the test set to search, {DATASET_HELP} (default: the one the checkpoint was "
                        "trained on)")
    p.add_argument("--data-dir", default=None, help="top9: folder with the dataset files (mnist, cifar10...)")
    p.add_argument("--out", default="runs/visualize.png", help="the figure to write (default runs/visualize.png)")
    p.set_defaults(func=cmd_visualize)

    p = sub.add_parser("init-stats", help="the weight-initialisation activation-statistics experiment")
    p.add_argument("--activation", default="tanh", choices=("tanh", "relu"))
    p.add_argument("--init", default="xavier",
                   help="a float std (e.g. 0.01), 'xavier', 'kaiming', 'orthogonal' (Saxe et al. 2013, with the "
                        "activation's gain) or 'lsuv' (Mishkin & Matas 2015, on the input batch)")
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--width", type=int, default=4096)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gradients", action="store_true",
                   help="also back-propagate a random loss: per-layer statistics of dL/da and of dL/dW")
    p.add_argument("--symmetry", action="store_true",
                   help="instead: train an MLP on the digits from constant and from random weights and show "
                        "that constant weights keep every hidden unit identical")
    p.add_argument("--out", default="runs/init_stats.png", help="PNG of per-layer histograms")
    p.set_defaults(func=cmd_init_stats)

    p = sub.add_parser("models", help="list the registered architectures with their references")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("summary", help="per-layer output shapes, parameters, activations and MACs")
    p.add_argument("name")
    p.add_argument("--input", type=_shape, default=(3, 224, 224), help="one image's shape CxHxW (default 3x224x224)")
    p.add_argument("--num-classes", type=int, default=None)
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="model option, e.g. two_gpu_groups=true")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("gradcheck", help="float64 end-to-end gradient check of a model (train and eval mode)")
    p.add_argument("name")
    p.add_argument("--input", type=_shape, default=(3, 32, 32), help="one image's shape CxHxW (default 3x32x32)")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--directions", type=int, default=2)
    p.add_argument("--eps", type=float, default=1e-8, help="finite-difference step (default 1e-8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="model option, e.g. width_mult=0.25")
    p.set_defaults(func=cmd_gradcheck)

    p = sub.add_parser("pretrain", help="train a zoo model and save it as a checkpoint for transfer learning")
    p.add_argument("model", help="a registered model name, e.g. lenet5")
    p.add_argument("--classes", type=_classes, default=None, help="keep only these class indices, e.g. 0,1,2,3,4")
    p.add_argument("--image-size", type=int, default=32, help="side of the images (default 32)")
    _add_training_options(p, epochs=10, lr=2e-3)
    p.add_argument("--shift", type=int, default=0, help="augment with random shifts of up to this many pixels")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="model option, e.g. variant=modern")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None,
                   help="checkpoint path (default zoo/MODEL-DATASET.npz), rewritten after every epoch")
    p.add_argument("--resume", nargs="?", const="", default=None, metavar="PATH",
                   help="continue from the --out checkpoint (or PATH) with the same options; --epochs may change")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("finetune", help="transfer a pretrained checkpoint to a dataset: train the head, then fine-tune")
    p.add_argument("checkpoint", help="a checkpoint written by 'pretrain' (or 'train'), or a model name with --weights")
    p.add_argument("--weights", default=None, metavar="FILE",
                   help="ImageNet weights for the model named by CHECKPOINT (torchvision's .pth, .safetensors, .npz): "
                        "images are preprocessed as those weights expect")
    p.add_argument("--dataset", default="digits", type=_dataset_name, help=DATASET_HELP)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--classes", type=_classes, default=None, help="keep only these class indices, e.g. 5,6,7,8,9")
    p.add_argument("--per-class", type=int, default=None, help="train on this many labelled images per class")
    p.add_argument("--strategy", default="fine-tune-top", choices=("feature-extract", "fine-tune-top", "full"),
                   help="feature-extract: head only; fine-tune-top: then the last --unfreeze base stages too; "
                        "full: then every stage")
    p.add_argument("--unfreeze", type=int, default=1, help="base stages fine-tune-top unfreezes in phase 2 (default 1)")
    depth = p.add_mutually_exclusive_group()
    depth.add_argument("--freeze-layers", type=int, default=None, metavar="K",
                       help="instead of --unfreeze: phase 2 trains every layer but the first K (see 'minitorch-cnn "
                            "layers MODEL')")
    depth.add_argument("--freeze-prefix", action="append", default=None, metavar="NAME",
                       help="instead of --unfreeze: phase 2 trains every layer but those under NAME (e.g. features.0; "
                            "repeatable)")
    p.add_argument("--head-epochs", type=int, default=10, help="phase 1: epochs with the base frozen")
    p.add_argument("--finetune-epochs", type=int, default=10, help="phase 2: epochs at lr x 0.1")
    p.add_argument("--lr", type=float, default=1e-2, help="phase-1 learning rate (default 1e-2)")
    p.add_argument("--factor", type=float, default=3.0,
                   help="phase 2: each earlier stage trains this many times slower (default 3)")
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--optimizer", default="adam", choices=("sgd", "adam"))
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None,
                   help="save the fine-tuned model to this checkpoint, which holds the training state (rewritten "
                        "after every epoch) until the run finishes")
    p.add_argument("--resume", nargs="?", const="", default=None, metavar="PATH",
                   help="continue a stopped run from its --out checkpoint (or PATH) with the same options")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("layers", help="the layers (modules owning parameters) that finetune --freeze-layers counts")
    p.add_argument("name")
    p.add_argument("--num-classes", type=int, default=None)
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="model option, e.g. width_mult=0.25")
    p.set_defaults(func=cmd_layers)

    p = sub.add_parser("predict", help="the top classes of image files (JPEG, PNG, ...) with their probabilities")
    p.add_argument("model", help="a registered model name with --weights FILE, or a checkpoint written by "
                                 "'train', 'pretrain' or 'finetune'")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--weights", default=None,
                   help="weights for MODEL: torchvision's .pth (e.g. resnet18-f37072fd.pth), .safetensors or .npz")
    p.add_argument("--num-classes", type=int, default=None, help="outputs of the weights file (default 1000: ImageNet)")
    p.add_argument("--top", type=int, default=5, help="how many classes to print per image (default 5)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("transfer-demo", help="lecture 11: scratch vs feature extraction vs fine-tuning with few labels")
    p.add_argument("--out", default="runs/transfer", help="output folder (default runs/transfer)")
    p.add_argument("--quick", action="store_true", help="a tiny budget, for tests (seconds, not a minute)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_transfer_demo)

    p = sub.add_parser("info", help="version, backend, and whether CUDA is reachable (and why not)")
    p.set_defaults(func=cmd_info)
    return parser


def _resume_command(argv):
    """The command line that continues an interrupted run: the same one, with ``--resume``."""
    if not any(a == "--resume" or a.startswith("--resume=") for a in argv):
        argv = list(argv) + ["--resume"]
    return shlex.join(["minitorch-cnn"] + list(argv))


def main(argv=None):
    from .distributed import abort_on_error
    from .engine import keep_freed_memory

    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    keep_freed_memory()  # every command here trains or evaluates: keep the step's freed buffers
    with abort_on_error():
        return _run(args, argv)


def _run(args, argv):
    from . import distributed
    from .training import ResumeError, TrainingInterrupted

    try:
        return args.func(args)
    except ResumeError as exc:
        raise SystemExit(f"minitorch-cnn {args.command} --resume: {exc}") from None
    except TrainingInterrupted as exc:
        if distributed.is_main():
            print(f"minitorch-cnn {args.command}: stopped by {signal.Signals(exc.signal_number).name} {exc.where}; "
                  f"wrote {exc.checkpoint}\nto continue, run:\n  {_resume_command(argv)}", file=sys.stderr)
        return 128 + exc.signal_number
    except KeyboardInterrupt:
        print(f"minitorch-cnn {args.command}: stopped at once; checkpoints already written are intact",
              file=sys.stderr)
        return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())

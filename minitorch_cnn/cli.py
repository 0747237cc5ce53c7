"""The ``minitorch-cnn`` command line: train, evaluate, inspect models and run the lecture tools.

Every subcommand has ``--help``. ``minitorch-cnn train lenet5 --dataset digits --out DIR`` is
enough to train LeNet-5 on the digits that scikit-learn ships.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import time

import numpy as np

DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "synthetic")


def _load_dataset(name, data_dir, size):
    """Train and test sets of dataset ``name``, with square images of side ``size``.

    Images of another size are resized bilinearly (LeNet-5 expects 32x32; MNIST's are 28x28).
    """
    from . import data

    train, test = _load_native(name, data_dir, size)
    if train.images.shape[-1] != size or train.images.shape[-2] != size:
        train, test = (data.TensorDataset(data.transforms.resize(d.images, size), d.labels, d.classes)
                       for d in (train, test))
    return train, test


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
    from . import data, distributed, models, optim
    from .training import fit, evaluate, plot_history

    world, rank = distributed.get_world_size(), distributed.get_rank()
    say = print if rank == 0 else lambda *a, **k: None
    mt.manual_seed(args.seed)
    train_set, test_set = _load_dataset(args.dataset, args.data_dir, args.image_size)
    normalize = data.transforms.Normalize.from_images(train_set.images)
    mean, std = normalize.mean.tolist(), normalize.std.tolist()
    in_channels = train_set.images.shape[1]
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
        "image_size": int(train_set.images.shape[-1]),
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
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    print(f"test accuracy {result['accuracy']:.4f} (top-1 error {result['top1_error']:.4f}) "
          f"after {seconds:.1f} s of training")
    print(f"wrote {args.out}/metrics.json, {args.out}/checkpoint.npz and {args.out}/curves.png")
    return 0


def cmd_evaluate(args):
    import minitorch_cnn as mt
    from . import data, models
    from .training import evaluate

    checkpoint = mt.load(args.checkpoint)
    meta = checkpoint.get("metadata", {})
    if "architecture" not in meta:
        raise SystemExit(f"{args.checkpoint} has no architecture in its metadata; was it written by 'train'?")
    model = models.create(meta["architecture"], num_classes=len(meta["classes"]), in_channels=meta["in_channels"])
    model.load_state_dict(checkpoint["model"])
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

    init = args.init
    try:
        init = float(init)
    except ValueError:
        pass
    stats = experiments.activation_statistics([args.width] * (args.layers + 1), args.activation, init,
                                              batch=args.batch, seed=args.seed)
    print(experiments.format_table(stats))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
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
    from .gradcheck import gradcheck_model

    n = sum(p.numel() for p in model.parameters())
    for mode in ("train", "eval"):
        gradcheck_model(model, x, mode=mode, eps=args.eps, directions=args.directions)
        print(f"{args.name} ({mode} mode, input {(args.batch,) + args.input}, {n:,} parameters): gradcheck passed")
    return 0


def _classes(text):
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected class indices like 0,1,2,3,4, got {text!r}") from None


def cmd_pretrain(args):
    import minitorch_cnn as mt
    from . import transfer

    mt.manual_seed(args.seed)
    train_set, test_set = _load_dataset(args.dataset, args.data_dir, args.image_size)
    if args.classes:
        train_set, test_set = (transfer.keep_classes(d, args.classes) for d in (train_set, test_set))
    out = args.out or os.path.join("zoo", f"{args.model}-{args.dataset}.npz")
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
    model, metadata = transfer.load_pretrained(args.checkpoint)
    train_set, test_set = _load_dataset(args.dataset, args.data_dir, metadata["image_size"])
    if args.classes:
        train_set, test_set = (transfer.keep_classes(d, args.classes) for d in (train_set, test_set))
    if args.per_class:
        train_set, _ = transfer.split_per_class(train_set, args.per_class, seed=args.seed)
    if train_set.images.shape[1] != metadata["in_channels"]:
        raise SystemExit(f"finetune: {args.checkpoint} expects {metadata['in_channels']}-channel images, "
                         f"--dataset {args.dataset} has {train_set.images.shape[1]}")
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
    phases = transfer.finetune(
        model, train_loader, test_loader, strategy=args.strategy, head_epochs=args.head_epochs,
        finetune_epochs=args.finetune_epochs, lr=args.lr, unfreeze_stages=args.unfreeze, factor=args.factor,
        make_optimizer=lambda params, lr: _optimizer(args.optimizer, params, lr, args.momentum, args.weight_decay),
        progress=not args.no_progress, log=print, checkpoint=args.out, resume=resume,
        metadata=dict(_run_options(args), classes=[str(c) for c in train_set.classes]))
    if args.out:
        tuned = dict(metadata, dataset=args.dataset, classes=[str(c) for c in train_set.classes],
                     test_accuracy=phases[-1]["test_accuracy"], finetuned_from=args.checkpoint)
        transfer.save_pretrained(model, tuned, args.out)
        print(f"wrote {args.out}")
    return 0


def cmd_transfer_demo(args):
    from . import transfer_experiment

    transfer_experiment.transfer_demo(args.out, quick=args.quick, seed=args.seed)
    return 0


def _add_training_options(p, epochs, lr):
    """The dataset and optimiser options that 'train' and 'pretrain' share (defaults differ)."""
    p.add_argument("--dataset", default="digits", choices=DATASETS)
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
    p.add_argument("--dataset", default=None, choices=DATASETS, help="default: the one it was trained on")
    p.add_argument("--data-dir", default=None)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("init-stats", help="the weight-initialisation activation-statistics experiment")
    p.add_argument("--activation", default="tanh", choices=("tanh", "relu"))
    p.add_argument("--init", default="xavier", help="a float std (e.g. 0.01), 'xavier' or 'kaiming'")
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--width", type=int, default=4096)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
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
    p.add_argument("checkpoint", help="a checkpoint written by 'pretrain' (or 'train')")
    p.add_argument("--dataset", default="digits", choices=DATASETS)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--classes", type=_classes, default=None, help="keep only these class indices, e.g. 5,6,7,8,9")
    p.add_argument("--per-class", type=int, default=None, help="train on this many labelled images per class")
    p.add_argument("--strategy", default="fine-tune-top", choices=("feature-extract", "fine-tune-top", "full"),
                   help="feature-extract: head only; fine-tune-top: then the last --unfreeze base stages too; "
                        "full: then every stage")
    p.add_argument("--unfreeze", type=int, default=1, help="base stages fine-tune-top unfreezes in phase 2 (default 1)")
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

"""Transfer learning: freezing, new heads, differential learning rates, feature extraction, the zoo
checkpoints and the pretrain / finetune commands."""

import functools

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import cli, data, models, nn, optim, transfer
from minitorch_cnn import functional as F
from minitorch_cnn.models import registry

#: Small versions of zoo models, with an input size each accepts, for the head-replacement tests.
SMALL = {
    "lenet5": ({}, 1, 32),
    "vgg11_bn": ({"width_mult": 1 / 32}, 3, 32),
    "resnet18": ({"width": 4}, 3, 32),
    "resnet20": ({"width": 4}, 3, 16),
    "squeezenet1_0": ({"stem_channels": 8, "base_e": 16, "incr_e": 16}, 3, 32),
    "nin": ({"width_mult": 1 / 32}, 3, 67),
    "googlenet": ({"width_mult": 1 / 16}, 3, 79),
    "googlenet_bn": ({"width_mult": 1 / 16}, 3, 15),
    "densenet_bc": ({"depth": 10, "growth_rate": 4}, 3, 16),
    "mobilenet_v2": ({"width_mult": 0.25}, 3, 32),
}


def _small(name, num_classes=10):
    options, channels, _ = SMALL[name]
    return models.create(name, num_classes=num_classes, in_channels=channels, **options)


def _batch(n, channels, size, num_classes):
    rng = np.random.default_rng(0)
    return (mt.tensor(rng.standard_normal((n, channels, size, size)).astype(np.float32)),
            mt.tensor(rng.integers(0, num_classes, n)))


def _train_steps(model, optimizer, x, y, steps=3):
    model.train()
    for _ in range(steps):
        out = model(x)
        loss = F.cross_entropy(out[0] if isinstance(out, tuple) else out, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


# ---------------------------------------------------------------- stages and freezing


def test_lenet5_stages_are_its_three_convolutions_then_the_classifier():
    base, head = transfer.split_stages(models.create("lenet5"))
    assert [name for name, _ in base] == ["features.0", "features.3", "features.6"]
    assert [name for name, _ in head] == ["classifier"]


def test_resnet18_stages_are_torchvisions_top_level_modules_then_fc():
    base, head = transfer.split_stages(_small("resnet18"))
    assert [name for name, _ in base] == ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4"]
    assert [name for name, _ in head] == ["fc"]
    model = _small("resnet18")
    assert transfer.freeze(model, upto="layer2") == ["conv1", "bn1", "layer1", "layer2"]
    assert not any(p.requires_grad for p in model.layer2.parameters())
    assert all(p.requires_grad for p in model.layer3.parameters())


def test_googlenet_and_inception_aux_heads_are_heads_and_the_main_classifier_comes_last():
    _, head = transfer.split_stages(_small("googlenet"))
    assert [name for name, _ in head] == ["aux1", "aux2", "classifier"]
    base, head = transfer.split_stages(_small("googlenet_bn"))
    assert [name for name, _ in head] == ["aux1", "aux2", "fc"]
    assert [name for name, _ in base][:3] == ["conv1", "conv2", "conv3"] and base[-1][0] == "inception5b"
    model = models.create("inception_v3", width_mult=1 / 16)
    base, head = transfer.split_stages(model)
    assert [name for name, _ in head] == ["AuxLogits", "fc"] and base[-1][0] == "Mixed_7c"
    transfer.replace_head(model, 5)
    assert (model.AuxLogits.fc.out_features, model.fc.out_features) == (5, 5)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_frozen_weights_are_bit_identical_after_training(optimizer):
    model = models.create("lenet5")
    frozen = transfer.freeze(model, upto="features.3")
    assert frozen == ["features.0", "features.3"]
    before = model.state_dict()
    params = list(model.parameters())
    opt = optim.SGD(params, lr=0.1, momentum=0.9) if optimizer == "sgd" else optim.Adam(params, lr=0.01)
    _train_steps(model, opt, *_batch(8, 1, 32, 10))
    after = model.state_dict()
    for name in before:
        if name.startswith(("features.0.", "features.3.")):
            np.testing.assert_array_equal(after[name], before[name], err_msg=name)
        else:
            assert not np.array_equal(after[name], before[name]), f"{name} should have trained"
    assert all(p.grad is None for n, p in model.named_parameters() if n.startswith("features.0."))


def test_freeze_defaults_to_the_whole_base_and_accepts_names_and_indices():
    model = models.create("lenet5")
    assert transfer.freeze(model) == ["features.0", "features.3", "features.6"]
    assert [n for n, p in model.named_parameters() if p.requires_grad] == [
        "classifier.1.weight", "classifier.1.bias", "classifier.3.weight", "classifier.3.bias"]
    assert transfer.unfreeze(model, from_="features.4") == ["features.6", "classifier"]
    assert not model.features[3].weight.requires_grad and model.features[6].weight.requires_grad
    transfer.unfreeze(model)
    assert transfer.freeze(model, upto=1) == transfer.freeze(models.create("lenet5"), upto="features.5")
    assert transfer.freeze(models.create("lenet5"), upto="features") == ["features.0", "features.3", "features.6"]
    assert transfer.unfreeze_last(model, 1) == ["features.6", "classifier"]


def test_freeze_refuses_unknown_stages_with_the_valid_names():
    model = models.create("lenet5")
    with pytest.raises(ValueError, match=r"freeze: expected a stage name from \['features.0'.*got 'conv1'"):
        transfer.freeze(model, upto="conv1")
    with pytest.raises(IndexError, match="unfreeze: stage index 7 is out of range for 4 stages"):
        transfer.unfreeze(model, from_=7)


def test_layers_are_the_modules_owning_parameters_in_order():
    assert [name for name, _ in transfer.layers(models.create("lenet5"))] == [
        "features.0", "features.3", "features.6", "classifier.1", "classifier.3"]
    model = _small("resnet20")
    named = transfer.layers(model)
    assert all(next(m.parameters(recurse=False), None) is not None for _, m in named)
    owned = sum(p.numel() for _, m in named for p in m.parameters(recurse=False))
    assert owned == sum(p.numel() for p in model.parameters())
    assert [type(m).__name__ for _, m in named[:3]] == ["Conv2d", "BatchNorm2d", "Conv2d"]


def test_freeze_layers_first_k_at_any_depth():
    model = _small("resnet20")
    named = transfer.layers(model)
    frozen = transfer.freeze_layers(model, 5, bn_eval=True)
    assert frozen == [name for name, _ in named[:5]]
    for k, (name, module) in enumerate(named):
        assert all(p.requires_grad == (k >= 5) for p in module.parameters(recurse=False)), name
        if isinstance(module, nn.BatchNorm2d):
            assert module.freeze_stats == (k < 5), name
    before = {k: np.array(v) for k, v in model.state_dict().items()}
    x, y = _batch(4, 3, 16, 10)
    _train_steps(model, optim.SGD(model.parameters(), lr=0.1), x, y)
    after = model.state_dict()
    for name, module in named:
        changed = any(not np.array_equal(before[f"{name}.{key}"], after[f"{name}.{key}"])
                      for key, _ in module.named_parameters(recurse=False))
        assert changed == (name not in frozen), name


def test_freeze_layers_by_name_prefix():
    model = _small("vgg11_bn")
    names = [name for name, _ in transfer.layers(model)]
    assert "features.1" in names and "features.12" in names  # features.1 must not take features.1x
    assert transfer.freeze_layers(model, "features.1") == ["features.1"]
    assert transfer.freeze_layers(model, ["features.0", "classifier"]) == ["features.0"] + [
        n for n in names if n.startswith("classifier.")]
    with pytest.raises(ValueError, match=r"freeze_layers: no layer of VGG is named by \['feature'\]; its layers are"):
        transfer.freeze_layers(model, "feature")
    with pytest.raises(ValueError, match=r"freeze_layers: expected 0 <= k <= 5 \(the layers of LeNet5\), got 6"):
        transfer.freeze_layers(models.create("lenet5"), 6)


def test_bn_eval_freezes_the_statistics_of_frozen_batch_norms_until_unfrozen():
    model = _small("resnet20")
    transfer.freeze(model, upto="features.2", bn_eval=True)
    frozen_bn, live_bn = model.features[1], model.features[3][0].bn1
    assert frozen_bn.freeze_stats and not live_bn.freeze_stats
    before = model.state_dict()
    _train_steps(model, optim.SGD(list(model.parameters()), lr=0.1), *_batch(4, 3, 16, 10), steps=2)
    after = model.state_dict()
    assert type(frozen_bn) is nn.BatchNorm2d and frozen_bn.training
    for name in ("running_mean", "running_var", "num_batches_tracked", "weight"):
        np.testing.assert_array_equal(after[f"features.1.{name}"], before[f"features.1.{name}"], err_msg=name)
    assert after["features.3.0.bn1.num_batches_tracked"] == 2
    transfer.unfreeze(model)
    assert not frozen_bn.freeze_stats
    _train_steps(model, optim.SGD(list(model.parameters()), lr=0.1), *_batch(4, 3, 16, 10), steps=1)
    assert model.state_dict()["features.1.num_batches_tracked"] == 1
    assert not np.array_equal(model.state_dict()["features.1.running_mean"], before["features.1.running_mean"])


def test_without_bn_eval_frozen_batch_norm_still_tracks_statistics():
    model = _small("resnet20")
    transfer.freeze(model, upto="features.2")
    before = model.state_dict()["features.1.running_mean"]
    _train_steps(model, optim.SGD(list(model.parameters()), lr=0.1), *_batch(4, 3, 16, 10), steps=1)
    assert not np.array_equal(model.state_dict()["features.1.running_mean"], before)
    np.testing.assert_array_equal(model.state_dict()["features.1.weight"], np.ones(4, dtype=np.float32))


# ---------------------------------------------------------------- learning rates


def test_differential_param_groups_divide_the_rate_by_factor_per_stage():
    model = models.create("lenet5")
    groups = transfer.differential_param_groups(model, 0.3, factor=3)
    assert [g["stages"] for g in groups] == [["features.0"], ["features.3"], ["features.6"], ["classifier"]]
    np.testing.assert_allclose([g["lr"] for g in groups], [0.3 / 27, 0.3 / 9, 0.3 / 3, 0.3])
    assert sorted(id(p) for g in groups for p in g["params"]) == sorted(id(p) for p in model.parameters())
    two = transfer.differential_param_groups(model, 0.3, factor=3, stages=2)
    assert [g["stages"] for g in two] == [["features.0"], ["features.3", "features.6"], ["classifier"]]


def test_differential_param_groups_cut_the_base_into_stages_groups():
    model = _small("vgg11_bn")
    groups = transfer.differential_param_groups(model, 1.0, factor=10, stages=2)
    np.testing.assert_allclose([g["lr"] for g in groups], [0.01, 0.1, 1.0])
    assert [len(g["stages"]) for g in groups] == [8, 8, 1]
    assert groups[0]["stages"][0] == "features.0" and groups[1]["stages"][-1] == "features.26"
    with pytest.raises(ValueError, match=r"expected 1 <= stages <= 16"):
        transfer.differential_param_groups(model, 1.0, stages=17)


def test_optimizer_applies_each_groups_learning_rate():
    model = models.create("lenet5")
    groups = transfer.differential_param_groups(model, 0.9, factor=3)
    x, y = _batch(4, 1, 32, 10)
    before = {id(p): p.detach().numpy() for p in model.parameters()}
    F.cross_entropy(model(x), y).backward()
    grads = {id(p): p.grad for p in model.parameters()}
    optimizer = optim.SGD(groups, lr=0.9)
    assert [g["lr"] for g in optimizer.param_groups] == [g["lr"] for g in groups]
    optimizer.step()
    for group in groups:
        for p in group["params"]:
            np.testing.assert_allclose(p.detach().numpy(), before[id(p)] - group["lr"] * np.asarray(grads[id(p)]),
                                       rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- heads


@pytest.mark.parametrize("name", sorted(SMALL))
def test_replace_head_keeps_feature_weights_and_changes_the_output(name):
    model = _small(name)
    before = model.state_dict()
    transfer.replace_head(model, 3)
    after = model.state_dict()
    assert after.keys() == before.keys()
    changed = {k for k in before if after[k].shape != before[k].shape}
    assert changed and all(k.startswith(("classifier", "fc", "aux")) and k.endswith(("weight", "bias")) for k in changed)
    for key in before.keys() - changed:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    _, channels, size = SMALL[name]
    model.eval()
    with mt.no_grad():
        assert model(_batch(2, channels, size, 3)[0]).shape == (2, 3)


@pytest.mark.parametrize("name, layer", [("squeezenet1_0", nn.Conv2d), ("nin", nn.Conv2d), ("lenet5", nn.Linear)])
def test_replace_head_replaces_the_last_linear_or_1x1_conv(name, layer):
    model = transfer.replace_head(_small(name), 4)
    last = [m for m in model.classifier.modules() if isinstance(m, (nn.Linear, nn.Conv2d))][-1]
    assert isinstance(last, layer) and last.weight.shape[0] == 4 and last.weight.requires_grad


def test_replace_head_refuses_a_bad_class_count():
    with pytest.raises(ValueError, match="replace_head: expected a positive number of classes, got 0"):
        transfer.replace_head(models.create("lenet5"), 0)


# ---------------------------------------------------------------- feature extraction


def test_feature_extractor_returns_the_named_stage_outputs_in_order():
    model = models.create("lenet5").eval()
    x, _ = _batch(2, 1, 32, 10)
    with transfer.FeatureExtractor(model, ["features.5", "features.2"]) as extract:
        outputs = extract(x)
        assert list(outputs) == ["features.5", "features.2"]
        assert outputs["features.2"].shape == (2, 6, 14, 14) and outputs["features.5"].shape == (2, 16, 5, 5)
        np.testing.assert_array_equal(outputs["features.2"].detach().numpy(), model.features[:3](x).detach().numpy())
    assert all(not m._forward_hooks for m in model.modules())


def test_feature_extractor_refuses_unknown_layers():
    with pytest.raises(ValueError, match=r"FeatureExtractor: expected layer names from \['features'.*got \['fc'\]"):
        transfer.FeatureExtractor(models.create("lenet5"), ["fc"])


# ---------------------------------------------------------------- datasets


def test_keep_classes_relabels_and_split_per_class_draws_per_class():
    dataset = data.TensorDataset(np.zeros((12, 1, 4, 4)), np.arange(12) % 4, classes="abcd")
    kept = transfer.keep_classes(dataset, [3, 1])
    assert kept.classes == ("d", "b") and sorted(kept.labels.tolist()) == [0, 0, 0, 1, 1, 1]
    labelled, rest = transfer.split_per_class(kept, 2, seed=0)
    assert np.bincount(labelled.labels).tolist() == [2, 2] and len(rest) == 2
    with pytest.raises(ValueError, match="split_per_class: class 0 has 3 images, fewer than 4"):
        transfer.split_per_class(kept, 4)


# ---------------------------------------------------------------- checkpoints and commands


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    path = tmp_path_factory.mktemp("zoo") / "lenet5-digits04.npz"
    assert cli.main(["pretrain", "lenet5", "--dataset", "digits", "--classes", "0,1,2,3,4", "--epochs", "1",
                     "--out", str(path), "--no-progress"]) == 0
    return path


def test_pretrain_checkpoint_round_trips_with_metadata(pretrained):
    saved = mt.load(pretrained)
    meta = saved["metadata"]
    assert meta["architecture"] == "lenet5" and meta["classes"] == ["0", "1", "2", "3", "4"]
    assert meta["in_channels"] == 1 and meta["image_size"] == 32 and len(meta["normalize_mean"]) == 1
    assert 0.5 < meta["test_accuracy"] <= 1
    model = models.create("lenet5", num_classes=5, weights=pretrained)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, saved["model"][key], err_msg=key)
    loaded, loaded_meta = transfer.load_pretrained(pretrained, num_classes=7)
    assert loaded_meta == meta and loaded.classifier[3].out_features == 7
    np.testing.assert_array_equal(loaded.features[0].weight.detach().numpy(), saved["model"]["features.0.weight"])


def test_create_loads_a_bare_state_dict(tmp_path):
    model = models.create("lenet5", num_classes=3)
    mt.save(model.state_dict(), tmp_path / "state.npz")
    loaded = models.create("lenet5", num_classes=3, weights=tmp_path / "state.npz")
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[key], value, err_msg=key)


def test_load_pretrained_rebuilds_the_saved_options(tmp_path):
    model = models.create("lenet5", num_classes=3, variant="modern")
    meta = {"architecture": "lenet5", "options": {"variant": "modern"}, "classes": ["a", "b", "c"], "in_channels": 1}
    transfer.save_pretrained(model, meta, tmp_path / "modern.npz")
    loaded, _ = transfer.load_pretrained(tmp_path / "modern.npz")
    assert isinstance(loaded.features[1], nn.ReLU)
    np.testing.assert_array_equal(loaded.classifier[3].weight.detach().numpy(), model.classifier[3].weight.detach().numpy())


def test_load_pretrained_refuses_a_checkpoint_without_metadata(tmp_path):
    mt.save({"model": models.create("lenet5").state_dict()}, tmp_path / "bare.npz")
    with pytest.raises(ValueError, match="load_pretrained: .* has no architecture, classes, in_channels"):
        transfer.load_pretrained(tmp_path / "bare.npz")


def test_loading_weights_into_another_architecture_is_refused_before_building(pretrained, monkeypatch):
    @functools.wraps(registry._REGISTRY["vgg11"]["fn"])  # same signature, so create() accepts the options
    def build(**options):
        raise AssertionError("the model was built before its checkpoint was checked")

    monkeypatch.setitem(registry._REGISTRY["vgg11"], "fn", build)
    with pytest.raises(ValueError, match=r"holds weights of architecture 'lenet5', not 'vgg11'"):
        models.create("vgg11", width_mult=1 / 32, weights=pretrained)


def test_finetune_reports_both_phases_and_saves(pretrained, tmp_path, capsys):
    out = tmp_path / "tuned.npz"
    assert cli.main(["finetune", str(pretrained), "--dataset", "digits", "--classes", "5,6,7,8,9",
                     "--per-class", "5", "--strategy", "fine-tune-top", "--unfreeze", "1", "--head-epochs", "1",
                     "--finetune-epochs", "1", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "phase 1: trained classifier" in printed
    assert "phase 2: trained features.6, classifier" in printed and "lr 0.001" in printed
    meta = mt.load(out)["metadata"]
    assert meta["classes"] == ["5", "6", "7", "8", "9"] and meta["finetuned_from"] == str(pretrained)


def test_finetune_feature_extract_has_one_phase_and_keeps_the_base(pretrained):
    model, meta = transfer.load_pretrained(pretrained, num_classes=5)
    base = {k: v for k, v in model.state_dict().items() if k.startswith("features")}
    train = transfer.keep_classes(data.digits("test"), [5, 6, 7, 8, 9])
    loader = data.DataLoader(train, batch_size=32, transform=transfer.normalization(meta))
    phases = transfer.finetune(model, loader, loader, strategy="feature-extract", head_epochs=1)
    assert [p["phase"] for p in phases] == [1] and phases[0]["trainable"] == ["classifier"]
    for key, value in base.items():
        np.testing.assert_array_equal(model.state_dict()[key], value, err_msg=key)


def test_finetune_keep_frozen_trains_every_layer_but_the_first_k(pretrained):
    model, meta = transfer.load_pretrained(pretrained, num_classes=5)
    before = {k: np.array(v) for k, v in model.state_dict().items()}
    train = transfer.keep_classes(data.digits("test"), [5, 6, 7, 8, 9])
    loader = data.DataLoader(train, batch_size=64, transform=transfer.normalization(meta))
    lines = []
    phases = transfer.finetune(model, loader, loader, head_epochs=1, finetune_epochs=1, keep_frozen=1, log=lines.append)
    assert phases[1]["trainable"] == ["features.3", "features.6", "classifier"] and "1 of 5 layers frozen" in lines[1]
    after = model.state_dict()
    assert [k for k in before if np.array_equal(before[k], after[k])] == ["features.0.weight", "features.0.bias"]
    with pytest.raises(ValueError, match="finetune: keep_frozen chooses what phase 2 of 'fine-tune-top' trains"):
        transfer.finetune(model, loader, loader, strategy="full", keep_frozen=2)
    with pytest.raises(ValueError, match="finetune: expected 0 <= k <= 5"):
        transfer.finetune(model, loader, loader, keep_frozen=9)


def _finetune_digits(pretrained, checkpoint, resume=None, log=None, seed=0):
    mt.manual_seed(seed)
    model, meta = transfer.load_pretrained(pretrained, num_classes=5)
    train = transfer.keep_classes(data.digits("test"), [5, 6, 7, 8, 9])
    loader = data.DataLoader(train, batch_size=32, shuffle=True, transform=transfer.normalization(meta))
    phases = transfer.finetune(model, loader, loader, head_epochs=1, finetune_epochs=1, checkpoint=checkpoint,
                               resume=resume, log=log, metadata={"task": "digits 5-9"})
    return model, phases


def test_finetune_stopped_between_its_phases_resumes_with_phase_two(pretrained, tmp_path):
    def stop_after_phase_one(line):
        if line.startswith("phase 1"):
            raise KeyboardInterrupt

    stopped = tmp_path / "stopped.npz"
    with pytest.raises(KeyboardInterrupt):
        _finetune_digits(pretrained, stopped, log=stop_after_phase_one)
    saved = mt.load(stopped)["metadata"]
    assert saved["finetune_phase"] == 1 and [p["phase"] for p in saved["finetune_done"]] == [1]
    # Another seed: the head, the random state and the shuffling must all come from the checkpoint.
    lines = []
    resumed, resumed_phases = _finetune_digits(pretrained, stopped, resume=stopped, log=lines.append, seed=1)
    assert [line.split(":")[0] for line in lines] == ["phase 2"]
    once, once_phases = _finetune_digits(pretrained, tmp_path / "once.npz")
    for key, value in once.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value, err_msg=key)
    assert [p["test_accuracy"] for p in resumed_phases] == [p["test_accuracy"] for p in once_phases]
    with pytest.raises(transfer.ResumeError, match=r"written with task='digits 5-9'"):
        transfer.finetune(*_finetune_inputs(pretrained), checkpoint=stopped, resume=stopped, metadata={"task": "x"})


def _finetune_inputs(pretrained):
    model, meta = transfer.load_pretrained(pretrained, num_classes=5)
    loader = data.DataLoader(transfer.keep_classes(data.digits("test"), [5, 6, 7, 8, 9]), batch_size=32,
                             transform=transfer.normalization(meta))
    return model, loader, loader


def test_finetune_refuses_to_resume_from_a_file_without_fine_tuning_state(pretrained):
    with pytest.raises(transfer.ResumeError, match="holds no fine-tuning state"):
        transfer.finetune(*_finetune_inputs(pretrained), resume=pretrained)

"""PyTorch code for CNNs runs here with only the import lines changed.

Each test is our own version of a section of d2l.ai's CNN chapters (conv layers, padding and
strides, channels, pooling, LeNet, AlexNet, VGG, NiN, GoogLeNet, batch norm, ResNet/ResNeXt,
DenseNet), written the way the book's PyTorch code is written, with the small helpers it calls
(a classifier's loss and accuracy, a trainer, ``init_cnn``, ``layer_summary``). Every section is
a function of the three modules it imports, ``torch``, ``nn`` and ``F``: the test runs it on
minitorch_cnn and, when PyTorch is installed, on PyTorch too, and compares what does not depend
on random initialisation (shapes, values computed from fixed inputs). Training is a few steps on
the embedded digits (the book downloads Fashion-MNIST and trains for minutes).
"""

import itertools

import numpy as np
import pytest

import minitorch_cnn
from minitorch_cnn.data import digits

FRAMEWORKS = ["minitorch_cnn", "torch"]


def _modules(name):
    if name == "torch":
        torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    else:
        torch = minitorch_cnn
    return torch, torch.nn, torch.nn.functional


def _both(section):
    """``section(torch, nn, F)`` on minitorch_cnn, and on PyTorch when installed; the two results."""
    ours = section(*_modules("minitorch_cnn"))
    try:
        theirs = section(*_modules("torch"))
    except pytest.skip.Exception:
        theirs = None
    return ours, theirs


def _same(ours, theirs):
    if theirs is None:
        return
    assert type(ours) is type(theirs) or not isinstance(ours, (list, tuple, dict))
    if isinstance(ours, dict):
        assert ours.keys() == theirs.keys()
        for key in ours:
            _same(ours[key], theirs[key])
    elif isinstance(ours, (list, tuple)):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _same(a, b)
    elif isinstance(ours, float):
        assert ours == pytest.approx(theirs, rel=1e-4, abs=1e-5)
    elif isinstance(ours, np.ndarray):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    else:
        assert ours == theirs


# ---------------------------------------------------------------- the book's helpers, our own versions


def init_cnn(nn):
    """Xavier-uniform weights for every conv and linear layer, as the book's ``init_cnn``."""
    def init(module):
        if type(module) in (nn.Linear, nn.Conv2d):
            nn.init.xavier_uniform_(module.weight)
    return init


def layer_summary(torch, net, X_shape):
    """The output shape after each top-level layer, as the book's ``layer_summary`` prints it."""
    X = torch.randn(*X_shape)
    shapes = []
    for layer in net:
        X = layer(X)
        shapes.append((layer.__class__.__name__, tuple(X.shape)))
    return shapes


def classifier_loss(F, Y_hat, Y, averaged=True):
    Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
    return F.cross_entropy(Y_hat, Y.reshape((-1,)), reduction="mean" if averaged else "none")


def classifier_accuracy(torch, Y_hat, Y):
    preds = Y_hat.reshape((-1, Y_hat.shape[-1])).argmax(dim=1).type(Y.dtype)
    return (preds == Y.reshape(-1)).type(torch.float32).mean()


def train_a_few_steps(torch, F, net, steps=6, lr=0.1, size=32, batch_size=32):
    """The book's trainer, shortened: SGD built before the first forward (lazy layers are not yet
    initialised then), a few minibatches of the embedded digits; the first and last loss."""
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    dataset = digits("train", size=size)
    images = torch.tensor(np.asarray(dataset.images[: steps * batch_size], dtype=np.float32))
    labels = torch.tensor(np.asarray(dataset.labels[: steps * batch_size], dtype=np.int64))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=batch_size)
    losses = []
    for X, Y in itertools.islice(loader, steps):
        loss = classifier_loss(F, net(X), Y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    return losses


# ---------------------------------------------------------------- 7.2 convolutions for images


def corr2d(torch, X, K):
    """Two-dimensional cross-correlation, one output at a time."""
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y


def section_conv_layers(torch, nn, F):
    X = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    hand = corr2d(torch, X, K)

    class Conv2D(nn.Module):
        def __init__(self, kernel_size):
            super().__init__()
            self.weight = nn.Parameter(torch.rand(kernel_size))
            self.bias = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return corr2d(torch, x, self.weight) + self.bias

    edges = torch.ones((6, 8))
    edges[:, 2:6] = 0
    detected = corr2d(torch, edges, torch.tensor([[1.0, -1.0]]))
    module_shape = tuple(Conv2D((1, 2))(edges).shape)

    # Learn the edge kernel back from X and Y, with a lazy layer and the book's update.
    conv2d = nn.LazyConv2d(1, kernel_size=(1, 2), bias=False)
    X4, Y4 = edges.reshape((1, 1, 6, 8)), detected.reshape((1, 1, 6, 7))
    losses = []
    for _ in range(10):
        Y_hat = conv2d(X4)
        loss = (Y_hat - Y4) ** 2
        conv2d.zero_grad()
        loss.sum().backward()
        conv2d.weight.data[:] -= 3e-2 * conv2d.weight.grad
        losses.append(float(loss.sum().detach()))
    assert losses[-1] < 0.1 * losses[0], losses
    return {"hand": hand.detach().numpy(), "edges": detected.detach().numpy(), "module": module_shape,
            "learned": tuple(conv2d.weight.reshape((1, 2)).shape)}


def test_conv_layers_section():
    ours, theirs = _both(section_conv_layers)
    np.testing.assert_array_equal(ours["hand"], [[19.0, 25.0], [37.0, 43.0]])
    _same(ours, theirs)


def test_corr2d_trains_its_kernel_through_item_assignment():
    torch, nn, F = _modules("minitorch_cnn")
    X = torch.randn(5, 6)
    K = torch.randn(2, 3, requires_grad=True)
    corr2d(torch, X, K).sum().backward()
    expected = F.conv2d(X.reshape((1, 1, 5, 6)), torch.ones((1, 1, 4, 4)))
    np.testing.assert_allclose(np.asarray(K.grad), expected.detach().numpy().reshape(2, 3), rtol=1e-5)


# ---------------------------------------------------------------- 7.3 padding and stride


def section_padding_and_stride(torch, nn, F):
    def comp_conv2d(conv2d, X):
        X = X.reshape((1, 1) + X.shape)
        Y = conv2d(X)
        return tuple(Y.reshape(Y.shape[2:]).shape)

    X = torch.rand(size=(8, 8))
    return [
        comp_conv2d(nn.LazyConv2d(1, kernel_size=3, padding=1), X),
        comp_conv2d(nn.LazyConv2d(1, kernel_size=(5, 3), padding=(2, 1)), X),
        comp_conv2d(nn.LazyConv2d(1, kernel_size=3, padding=1, stride=2), X),
        comp_conv2d(nn.LazyConv2d(1, kernel_size=(3, 5), padding=(0, 1), stride=(3, 4)), X),
        comp_conv2d(nn.LazyConv2d(1, kernel_size=3, padding="same"), X),
    ]


def test_padding_and_stride_section():
    ours, theirs = _both(section_padding_and_stride)
    assert ours == [(8, 8), (8, 8), (4, 4), (2, 2), (8, 8)]
    _same(ours, theirs)


# ---------------------------------------------------------------- 7.4 multiple input and output channels


def section_channels(torch, nn, F):
    def corr2d_multi_in(X, K):
        return sum(corr2d(torch, x, k) for x, k in zip(X, K))

    def corr2d_multi_in_out(X, K):
        return torch.stack([corr2d_multi_in(X, k) for k in K], 0)

    def corr2d_multi_in_out_1x1(X, K):
        c_i, h, w = X.shape
        c_o = K.shape[0]
        X = X.reshape((c_i, h * w))
        K = K.reshape((c_o, c_i))
        return torch.matmul(K, X).reshape((c_o, h, w))

    X = torch.tensor([[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]],
                      [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]])
    K = torch.tensor([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])
    K3 = torch.stack((K, K + 1, K + 2), 0)
    X2 = torch.normal(0, 1, (3, 3, 3))
    K2 = torch.normal(0, 1, (2, 3, 1, 1))
    Y1, Y2 = corr2d_multi_in_out_1x1(X2, K2), corr2d_multi_in_out(X2, K2)
    assert float(torch.abs(Y1 - Y2).sum()) < 1e-5
    return {"multi_in": corr2d_multi_in(X, K).detach().numpy(), "multi_out": corr2d_multi_in_out(X, K3).detach().numpy(),
            "K3": tuple(K3.shape)}


def test_channels_section():
    ours, theirs = _both(section_channels)
    np.testing.assert_array_equal(ours["multi_in"], [[56.0, 72.0], [104.0, 120.0]])
    _same(ours, theirs)


# ---------------------------------------------------------------- 7.5 pooling


def section_pooling(torch, nn, F):
    def pool2d(X, pool_size, mode="max"):
        p_h, p_w = pool_size
        Y = torch.zeros((X.shape[0] - p_h + 1, X.shape[1] - p_w + 1))
        for i in range(Y.shape[0]):
            for j in range(Y.shape[1]):
                window = X[i:i + p_h, j:j + p_w]
                Y[i, j] = window.max() if mode == "max" else window.mean()
        return Y

    X = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    X4 = torch.arange(16, dtype=torch.float32).reshape((1, 1, 4, 4))
    X8 = torch.cat((X4, X4 + 1), 1)
    return {
        "max": pool2d(X, (2, 2)).detach().numpy(), "avg": pool2d(X, (2, 2), "avg").detach().numpy(),
        "3x3": nn.MaxPool2d(3)(X4).detach().numpy(), "padded": nn.MaxPool2d(3, padding=1, stride=2)(X4).detach().numpy(),
        "rect": nn.MaxPool2d((2, 3), stride=(2, 3), padding=(0, 1))(X4).detach().numpy(),
        "channels": nn.MaxPool2d(3, padding=1, stride=2)(X8).detach().numpy(),
    }


def test_pooling_section():
    ours, theirs = _both(section_pooling)
    np.testing.assert_array_equal(ours["max"], [[4.0, 5.0], [7.0, 8.0]])
    _same(ours, theirs)


# ---------------------------------------------------------------- 7.6 LeNet, 8.1 AlexNet, 8.2 VGG, 8.3 NiN


def lenet(nn):
    return nn.Sequential(
        nn.LazyConv2d(6, kernel_size=5, padding=2), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.LazyConv2d(16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(), nn.LazyLinear(120), nn.Sigmoid(), nn.LazyLinear(84), nn.Sigmoid(), nn.LazyLinear(10))


def vgg_block(nn, num_convs, out_channels):
    layers = []
    for _ in range(num_convs):
        layers.append(nn.LazyConv2d(out_channels, kernel_size=3, padding=1))
        layers.append(nn.ReLU())
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def nin_block(nn, out_channels, kernel_size, strides, padding):
    return nn.Sequential(
        nn.LazyConv2d(out_channels, kernel_size, strides, padding), nn.ReLU(),
        nn.LazyConv2d(out_channels, kernel_size=1), nn.ReLU(),
        nn.LazyConv2d(out_channels, kernel_size=1), nn.ReLU())


def section_classic_networks(torch, nn, F):
    net = lenet(nn)
    shapes = {"lenet": layer_summary(torch, net, (1, 1, 28, 28))}
    net.apply(init_cnn(nn))
    alexnet = nn.Sequential(
        nn.LazyConv2d(16, kernel_size=11, stride=4, padding=1), nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2),
        nn.LazyConv2d(32, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2),
        nn.LazyConv2d(48, kernel_size=3, padding=1), nn.ReLU(), nn.LazyConv2d(48, kernel_size=3, padding=1), nn.ReLU(),
        nn.LazyConv2d(32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2), nn.Flatten(),
        nn.LazyLinear(64), nn.ReLU(), nn.Dropout(p=0.5), nn.LazyLinear(64), nn.ReLU(), nn.Dropout(p=0.5),
        nn.LazyLinear(10))
    shapes["alexnet"] = layer_summary(torch, alexnet, (1, 1, 224, 224))
    vgg = nn.Sequential(*[vgg_block(nn, n, c) for n, c in ((1, 8), (1, 16), (2, 32))], nn.Flatten(),
                        nn.LazyLinear(64), nn.ReLU(), nn.Dropout(0.5), nn.LazyLinear(10))
    shapes["vgg"] = layer_summary(torch, vgg, (1, 1, 32, 32))
    nin = nn.Sequential(
        nin_block(nn, 16, kernel_size=5, strides=1, padding=2), nn.MaxPool2d(3, stride=2),
        nin_block(nn, 32, kernel_size=3, strides=1, padding=1), nn.MaxPool2d(3, stride=2), nn.Dropout(0.5),
        nin_block(nn, 10, kernel_size=3, strides=1, padding=1), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())
    shapes["nin"] = layer_summary(torch, nin, (1, 1, 32, 32))
    return shapes


def test_classic_networks_section():
    ours, theirs = _both(section_classic_networks)
    assert ours["lenet"][-1] == ("Linear", (1, 10)) and ours["nin"][-1] == ("Flatten", (1, 10))
    _same(ours, theirs)


@pytest.mark.parametrize("build", ["lenet", "vgg"])
def test_a_network_of_lazy_layers_trains_with_an_optimiser_built_first(build):
    torch, nn, F = _modules("minitorch_cnn")
    torch.manual_seed(0)
    if build == "lenet":
        net = lenet(nn)
    else:
        net = nn.Sequential(vgg_block(nn, 1, 8), vgg_block(nn, 1, 16), nn.Flatten(), nn.LazyLinear(10))
    # An optimiser over the placeholders, built before the first forward gives them their shapes:
    # the first step must move every parameter.
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    X, Y = next(iter(torch.utils.data.DataLoader(digits("train", size=28), batch_size=32)))
    loss = classifier_loss(F, net(X), Y)
    before = [p.detach().numpy().copy() for p in net.parameters()]
    loss.backward()
    optimizer.step()
    assert all(not np.array_equal(b, p.detach().numpy()) for b, p in zip(before, net.parameters()))
    losses = train_a_few_steps(torch, F, net, steps=12, lr=0.05, size=28)
    assert all(np.isfinite(losses)), losses
    if build == "vgg":  # LeNet's sigmoids learn too slowly to show in twelve steps; ReLUs do not
        assert min(losses[-3:]) < losses[0], losses
    X, Y = next(iter(torch.utils.data.DataLoader(digits("test", size=28), batch_size=64)))
    assert 0.0 <= float(classifier_accuracy(torch, net(X), Y)) <= 1.0


# ---------------------------------------------------------------- 8.4 GoogLeNet, 8.5 batch norm


def section_googlenet_and_batch_norm(torch, nn, F):
    class Inception(nn.Module):
        def __init__(self, c1, c2, c3, c4):
            super().__init__()
            self.b1_1 = nn.LazyConv2d(c1, kernel_size=1)
            self.b2_1 = nn.LazyConv2d(c2[0], kernel_size=1)
            self.b2_2 = nn.LazyConv2d(c2[1], kernel_size=3, padding=1)
            self.b3_1 = nn.LazyConv2d(c3[0], kernel_size=1)
            self.b3_2 = nn.LazyConv2d(c3[1], kernel_size=5, padding=2)
            self.b4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
            self.b4_2 = nn.LazyConv2d(c4, kernel_size=1)

        def forward(self, x):
            b1 = F.relu(self.b1_1(x))
            b2 = F.relu(self.b2_2(F.relu(self.b2_1(x))))
            b3 = F.relu(self.b3_2(F.relu(self.b3_1(x))))
            b4 = F.relu(self.b4_2(self.b4_1(x)))
            return torch.cat((b1, b2, b3, b4), dim=1)

    def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum):
        if not torch.is_grad_enabled():
            X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
        else:
            mean = X.mean(dim=(0, 2, 3), keepdim=True)
            var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
            X_hat = (X - mean) / torch.sqrt(var + eps)
            moving_mean = (1.0 - momentum) * moving_mean + momentum * mean
            moving_var = (1.0 - momentum) * moving_var + momentum * var
        return gamma * X_hat + beta, moving_mean.data, moving_var.data

    class BatchNorm(nn.Module):
        def __init__(self, num_features):
            super().__init__()
            shape = (1, num_features, 1, 1)
            self.gamma = nn.Parameter(torch.ones(shape))
            self.beta = nn.Parameter(torch.zeros(shape))
            self.moving_mean = torch.zeros(shape)
            self.moving_var = torch.ones(shape)

        def forward(self, X):
            Y, self.moving_mean, self.moving_var = batch_norm(
                X, self.gamma, self.beta, self.moving_mean, self.moving_var, eps=1e-5, momentum=0.1)
            return Y

    X = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).reshape((2, 3, 6, 6)) / 100
    inception = Inception(4, (4, 8), (2, 4), 4)
    bn = BatchNorm(3)
    normalised = bn(X)
    normalised.sum().backward()
    with torch.no_grad():
        evaluated = bn(X)  # uses the moving statistics stored as .data after a no_grad call
    trained = bn(X)  # and the next training step still works
    net = nn.Sequential(nn.LazyConv2d(6, kernel_size=5), nn.LazyBatchNorm2d(), nn.Sigmoid(), nn.Flatten(),
                        nn.LazyLinear(10))
    return {"inception": tuple(inception(X).shape), "bn": normalised.detach().numpy(),
            "moving": bn.moving_mean.detach().numpy(), "eval": evaluated.detach().numpy(), "train": trained.detach().numpy(),
            "lazy_bn": layer_summary(torch, net, (2, 1, 12, 12))}


def test_googlenet_and_batch_norm_section():
    ours, theirs = _both(section_googlenet_and_batch_norm)
    assert ours["inception"] == (2, 20, 6, 6)
    _same(ours, theirs)


# ---------------------------------------------------------------- 8.6 ResNet and ResNeXt, 8.7 DenseNet


def section_resnet_and_densenet(torch, nn, F):
    class Residual(nn.Module):
        def __init__(self, num_channels, use_1x1conv=False, strides=1):
            super().__init__()
            self.conv1 = nn.LazyConv2d(num_channels, kernel_size=3, padding=1, stride=strides)
            self.conv2 = nn.LazyConv2d(num_channels, kernel_size=3, padding=1)
            self.conv3 = nn.LazyConv2d(num_channels, kernel_size=1, stride=strides) if use_1x1conv else None
            self.bn1 = nn.LazyBatchNorm2d()
            self.bn2 = nn.LazyBatchNorm2d()

        def forward(self, X):
            Y = F.relu(self.bn1(self.conv1(X)))
            Y = self.bn2(self.conv2(Y))
            if self.conv3:
                X = self.conv3(X)
            Y += X
            return F.relu(Y)

    class ResNeXtBlock(nn.Module):
        def __init__(self, num_channels, groups, bot_mul, use_1x1conv=False, strides=1):
            super().__init__()
            bot_channels = int(round(num_channels * bot_mul))
            self.conv1 = nn.LazyConv2d(bot_channels, kernel_size=1, stride=1)
            self.conv2 = nn.LazyConv2d(bot_channels, kernel_size=3, stride=strides, padding=1,
                                       groups=bot_channels // groups)
            self.conv3 = nn.LazyConv2d(num_channels, kernel_size=1, stride=1)
            self.bn1, self.bn2, self.bn3 = nn.LazyBatchNorm2d(), nn.LazyBatchNorm2d(), nn.LazyBatchNorm2d()
            if use_1x1conv:
                self.conv4 = nn.LazyConv2d(num_channels, kernel_size=1, stride=strides)
                self.bn4 = nn.LazyBatchNorm2d()
            else:
                self.conv4 = None

        def forward(self, X):
            Y = F.relu(self.bn1(self.conv1(X)))
            Y = F.relu(self.bn2(self.conv2(Y)))
            Y = self.bn3(self.conv3(Y))
            if self.conv4:
                X = self.bn4(self.conv4(X))
            return F.relu(Y + X)

    def conv_block(num_channels):
        return nn.Sequential(nn.LazyBatchNorm2d(), nn.ReLU(), nn.LazyConv2d(num_channels, kernel_size=3, padding=1))

    class DenseBlock(nn.Module):
        def __init__(self, num_convs, num_channels):
            super().__init__()
            layer = []
            for _ in range(num_convs):
                layer.append(conv_block(num_channels))
            self.net = nn.Sequential(*layer)

        def forward(self, X):
            for blk in self.net:
                Y = blk(X)
                X = torch.cat((X, Y), dim=1)
            return X

    def transition_block(num_channels):
        return nn.Sequential(nn.LazyBatchNorm2d(), nn.ReLU(), nn.LazyConv2d(num_channels, kernel_size=1),
                             nn.AvgPool2d(kernel_size=2, stride=2))

    X = torch.randn(4, 3, 6, 6)
    dense = DenseBlock(2, 10)(torch.randn(4, 3, 8, 8))
    return {"residual": tuple(Residual(3)(X).shape), "downsample": tuple(Residual(6, True, 2)(X).shape),
            "resnext": tuple(ResNeXtBlock(32, 16, 1)(torch.randn(4, 32, 96, 96)).shape),
            "dense": tuple(dense.shape), "transition": tuple(transition_block(10)(dense).shape)}


def test_resnet_and_densenet_section():
    ours, theirs = _both(section_resnet_and_densenet)
    assert ours == {"residual": (4, 3, 6, 6), "downsample": (4, 6, 3, 3), "resnext": (4, 32, 96, 96),
                    "dense": (4, 23, 8, 8), "transition": (4, 10, 4, 4)}
    _same(ours, theirs)


# ---------------------------------------------------------------- a student's training script, PyTorch idioms


def section_training_script_idioms(torch, nn, F, path):
    """What a student writes after the chapters: a device, explicit channels, torchvision's
    in-place ReLUs, d2l's ``.data.normal_`` initialisation, ``zero_grad(set_to_none=True)``,
    ``torch.save``/``torch.load(weights_only=True)`` of the state dict, then a new frozen-base head."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, kernel_size=3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(4 * 4 * 4, 10)).to(device)
    net[0].weight.data.normal_(0, 0.01)
    net[0].bias.data.fill_(0)
    X, y = torch.randn(6, 1, 8, 8).to(device), torch.randint(0, 10, (6,)).to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(net(X), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    torch.save(net.state_dict(), path)
    clone = nn.Sequential(nn.Conv2d(1, 4, kernel_size=3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 10))
    clone.load_state_dict(torch.load(path, map_location=device, weights_only=True))
    with torch.inference_mode():
        same = bool((clone(X) == net(X)).all())
    clone.requires_grad_(False)
    clone[-1] = nn.Linear(4 * 4 * 4, 3)
    trainable = [name for name, p in clone.named_parameters() if p.requires_grad]
    head = clone(X)
    return {"same": same, "grad": net[0].weight.grad is None, "loss": isinstance(loss.item(), float),
            "bias": float(net[0].bias.detach().abs().max()) > 0, "trainable": trainable, "head": tuple(head.shape),
            "repr": repr(clone)}


def test_training_script_idioms_section(tmp_path):
    ours, theirs = _both(lambda torch, nn, F: section_training_script_idioms(torch, nn, F, str(tmp_path / "net.pt")))
    assert ours["same"] and ours["grad"] and ours["trainable"] == ["4.weight", "4.bias"] and ours["head"] == (6, 3)
    _same(ours, theirs)

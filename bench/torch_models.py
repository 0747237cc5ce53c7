"""The benchmark's models written once more in PyTorch, layer for layer as in minitorch_cnn.models,
and torchvision's models imported where its compiled ops do not load (the tests use it too)."""

from __future__ import annotations

import contextlib


def lenet5(torch):
    """LeNet-5, classic variant: tanh and 2x2 average pooling, full C3 (models/lenet.py)."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2, 2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2, 2),
        nn.Conv2d(16, 120, 5), nn.Tanh(),
        nn.Flatten(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10),
    )


def _cifar_resnet(torch, residual):
    """CIFAR ResNet-20 (He et al. 2015, section 4.2), with or without its option-A shortcuts."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.stride, self.extra = stride, cout - cin

        def forward(self, x):
            out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            if not residual:
                return torch.relu(out)
            shortcut = x[:, :, :: self.stride, :: self.stride]
            if self.extra:
                shortcut = nn.functional.pad(shortcut, (0, 0, 0, 0, 0, self.extra))
            return torch.relu(out + shortcut)

    layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for width, stride in ((16, 1), (32, 2), (64, 2)):
        for b in range(3):
            layers.append(Block(cin, width, stride if b == 0 else 1))
            cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def resnet20(torch):
    """CIFAR ResNet-20 with option-A shortcuts (subsample, then zero channels), as models/resnet.py."""
    return _cifar_resnet(torch, residual=True)


def plain20(torch):
    """Plain-20: ResNet-20's layers with no shortcut (He et al. 2015, Fig. 6 left), as models/resnet.py."""
    return _cifar_resnet(torch, residual=False)


def vgg16_bn_cifar(torch):
    """VGG-16 with batch norm in its CIFAR shape, as bench.train_suite.vgg16_bn_cifar: thirteen
    3x3 conv + BatchNorm2d + ReLU, a 2x2 max pool after each of the five stages, Linear(512, 10)."""
    nn = torch.nn
    layers, cin = [], 3
    for stage in ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)):
        for width in stage:
            layers += [nn.Conv2d(cin, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
            cin = width
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(nn.Sequential(*layers), nn.Flatten(), nn.Linear(512, 10))


def mobilenet_v2(torch):
    """torchvision's MobileNetV2 (Sandler et al. 2018), which models/mobilenet.py follows layer for
    layer: 3,504,872 parameters at 1000 classes in both."""
    return torchvision_models(torch).mobilenet_v2()


@contextlib.contextmanager
def tolerant_fake_registrations(torch):
    """While torchvision is imported, a fake-op registration for an operator that does not exist
    does nothing. The PyPI torchvision wheel is built for the CUDA torch; under the CPU torch its
    compiled ops (``torchvision::nms``, ...) do not load and registering their fake (meta)
    kernels stops the import. The model definitions use none of those ops."""
    register = torch.library.register_fake

    def tolerant(op, func=None, /, **kwargs):
        def attempt(fn):
            try:
                return register(op, fn, **kwargs)
            except RuntimeError as exc:
                if "does not exist" not in str(exc):
                    raise
                return fn

        return attempt if func is None else attempt(func)

    torch.library.register_fake = tolerant
    try:
        yield
    finally:
        torch.library.register_fake = register


def torchvision_models(torch):
    """``torchvision.models``, imported under :func:`tolerant_fake_registrations`."""
    with tolerant_fake_registrations(torch):
        import torchvision.models
    return torchvision.models

"""The architecture zoo, one file per family, behind one registry.

``create(name, num_classes=..., in_channels=..., **options)`` builds a registered model;
``list_models()`` names them all.
"""

from __future__ import annotations

from .registry import create, list_models, register, model_info, HeadReplacedWarning
from . import lenet  # noqa: F401  (registers its models)
from . import alexnet  # noqa: F401
from . import vgg  # noqa: F401
from . import nin  # noqa: F401
from . import googlenet  # noqa: F401
from . import inception  # noqa: F401
from . import resnet  # noqa: F401
from . import senet  # noqa: F401
from . import densenet  # noqa: F401
from . import squeezenet  # noqa: F401
from . import mobilenet  # noqa: F401
from . import efficientnet  # noqa: F401
from . import mobilenetv3  # noqa: F401
from . import xception  # noqa: F401
from . import fixup  # noqa: F401
from . import simpnet  # noqa: F401

"""Network architectures, one file per paper family (docs/architecture.md → models/).

Each family's module also defines and registers its notebooks' parameter schemas
(:mod:`snnkit.config` imports this package to find them).
"""

from snnkit.models.g2g import G2GNet, G2GNetFashionMNISTParams, spike_count_loss
from snnkit.models.multistep import MultiStep, TimeSharedDropout
from snnkit.models.resnet_cifar import ResNetCIFAR, ResNetFeatures, extract_features, load_resnet_weights
from snnkit.models.sew_resnet import SEWResNet, sew_resnet
from snnkit.models.shd import ShdNet, SpsnShdParams
from snnkit.models.stdp_nets import StdpMnistParams, StdpNet
from snnkit.models.stds import StdsCifarNet

__all__ = ["G2GNet", "G2GNetFashionMNISTParams", "spike_count_loss",
           "ResNetCIFAR", "ResNetFeatures", "extract_features", "load_resnet_weights", "StdpNet", "StdpMnistParams",
           "ShdNet", "SpsnShdParams", "MultiStep", "TimeSharedDropout", "SEWResNet", "sew_resnet", "StdsCifarNet"]

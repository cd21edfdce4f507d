"""Network architectures, one file per paper family (docs/architecture.md → models/).

Each family's module also defines and registers its notebooks' parameter schemas
(:mod:`snnkit.config` imports this package to find them).
"""

from snnkit.models.g2g import G2GNet, G2GNetFashionMNISTParams, spike_count_loss

__all__ = ["G2GNet", "G2GNetFashionMNISTParams", "spike_count_loss"]

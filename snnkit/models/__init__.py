"""Network architectures, one file per paper family (DESIGN.md → models/)."""

from snnkit.models.g2g import G2GNet, spike_count_loss

__all__ = ["G2GNet", "spike_count_loss"]

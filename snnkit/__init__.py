"""snnkit — reproducible spiking-neural-network research in one package.

Sub-packages: ``neurons`` (spiking dynamics), ``sparse`` (sparse layers and training), ``stdp``
(spike-wave operators and local learning), ``models``, ``data``, ``train``, ``report``.
"""

from __future__ import annotations

from snnkit.errors import CheckpointError, ConfigError, DataError, SnnkitError

__version__ = "0.1.0"

__all__ = ["__version__", "SnnkitError", "ConfigError", "DataError", "CheckpointError"]

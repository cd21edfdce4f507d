"""Sparse group-to-group layers (G2GNet; Konstantaropoulos, Smirnakis & Papadopouli, arXiv 2508.14140).

:mod:`snnkit.sparse.masks` builds the seeded connectivity masks; :mod:`snnkit.sparse.layers` holds the
masked linear layer that a :class:`snnkit.models.g2g.G2GNet` gets through its ``layer_factory``;
:mod:`snnkit.sparse.hebbian` the co-activity statistics and :mod:`snnkit.sparse.dst` the prune/grow callback of dynamic sparse
training.
Pruning by reparameterisation (STDS: Chen et al., ICML 2022; Grad R: Chen et al., IJCAI 2021) is in
:mod:`snnkit.sparse.reparam`: parametrize modules on any Conv / Linear weight, flat-width schedules, the
sparsity report and the training callbacks.
"""

from snnkit.sparse.dst import GROW_RULES, PRUNE_RULES, REGROW_MODES, DynamicSparseTraining
from snnkit.sparse.hebbian import CoactivityWindow, coactivity, coactivity_sums, cosine_from_sums
from snnkit.sparse.layers import (
    MaskedLinear,
    active_parameter_count,
    clear_masked_state,
    masked_layer_factory,
)
from snnkit.sparse.masks import (
    MASK_KINDS,
    GroupMask,
    build_group_masks,
    build_masks,
    density,
    expected_density,
    group_labels,
    group_mask,
    mask_parameter_count,
)
from snnkit.sparse.reparam import (
    DEFAULT_ALPHA,
    KINDS,
    SCHEDULES,
    FlatWidthSchedule,
    GradRPrior,
    apply_reparam,
    remove_reparam,
    sparsify,
    sparsity_report,
    spine_states,
)

__all__ = [
    "DEFAULT_ALPHA",
    "KINDS",
    "SCHEDULES",
    "FlatWidthSchedule",
    "GradRPrior",
    "apply_reparam",
    "remove_reparam",
    "sparsify",
    "sparsity_report",
    "spine_states",
    "GROW_RULES",
    "MASK_KINDS",
    "CoactivityWindow",
    "DynamicSparseTraining",
    "GroupMask",
    "MaskedLinear",
    "PRUNE_RULES",
    "REGROW_MODES",
    "active_parameter_count",
    "build_group_masks",
    "build_masks",
    "clear_masked_state",
    "coactivity",
    "coactivity_sums",
    "cosine_from_sums",
    "density",
    "expected_density",
    "group_labels",
    "group_mask",
    "mask_parameter_count",
    "masked_layer_factory",
]

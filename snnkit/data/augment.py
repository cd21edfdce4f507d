"""Batched image augmentation: CIFAR's random crop (zero padding) + horizontal flip.

The G2GNet CIFAR runs (papers/g2gnet.md → "Encoding, data, training") use random crop 32 with
padding 4 and a random horizontal flip. Here it runs on a whole batch at once with one gather, and is
deterministic given a ``torch.Generator``; it plugs into the Trainer as ``transform=random_crop_flip``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from snnkit.errors import ConfigError

__all__ = ["random_crop_flip"]


def random_crop_flip(
    images: torch.Tensor, generator: torch.Generator | None = None, *, pad: int = 4, flip_p: float = 0.5
) -> torch.Tensor:
    """Randomly crop each image of ``images`` ``[B, C, H, W]`` from its zero-padded version and flip it.

    Each sample gets an independent offset ``(dy, dx)`` in ``[0, 2·pad]²`` into the ``pad``-padded image
    (so the output keeps the size ``H×W``) and is mirrored left-right with probability ``flip_p``.
    Returns a new tensor; the input is not modified.

    The signature is that of a :class:`~snnkit.train.Trainer` ``transform`` (``transform(inputs,
    generator)``): pass ``transform=random_crop_flip`` (or ``functools.partial(random_crop_flip, pad=2)``)
    and every batch is augmented from ``trainer.batch_generator``, seeded from (seed, step) — so the
    augmentation is part of an exact resume.
    """
    if images.ndim != 4:
        raise ConfigError("images.shape", tuple(images.shape), "a batch [B, C, H, W]")
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise ConfigError("pad", pad, "a non-negative integer")
    if not 0.0 <= flip_p <= 1.0:
        raise ConfigError("flip_p", flip_p, "a probability in [0, 1]")
    b, _, h, w = images.shape
    gen_device = generator.device if generator is not None else torch.device("cpu")
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=gen_device).to(images.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=gen_device).to(images.device)
    flip = (torch.rand(b, generator=generator, device=gen_device) < flip_p).to(images.device)
    padded = F.pad(images, (pad, pad, pad, pad)) if pad else images
    ar_h = torch.arange(h, device=images.device)
    ar_w = torch.arange(w, device=images.device)
    rows = dy[:, None] + ar_h  # [B, H]
    cols = dx[:, None] + torch.where(flip[:, None], (w - 1) - ar_w, ar_w)  # [B, W]
    batch = torch.arange(b, device=images.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # [B, H, W, C]
    return out.permute(0, 3, 1, 2).contiguous()

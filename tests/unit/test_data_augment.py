"""random_crop_flip: batched CIFAR augmentation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from snnkit.data import random_crop_flip
from snnkit.errors import ConfigError


def _reference(images, pad, generator, flip_p=0.5):
    """Per-sample loop with the same random draws (dy, dx, flip) as the batched version."""
    b, _, h, w = images.shape
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    flip = torch.rand(b, generator=generator) < flip_p
    padded = F.pad(images, (pad, pad, pad, pad))
    out = []
    for i in range(b):
        crop = padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
        out.append(crop.flip(-1) if flip[i] else crop)
    return torch.stack(out)


@pytest.mark.parametrize("shape,pad", [((16, 3, 32, 32), 4), ((5, 1, 7, 9), 2), ((3, 2, 4, 4), 0)])
def test_matches_per_sample_reference(shape, pad):
    images = torch.rand(shape)
    got = random_crop_flip(images, pad=pad, generator=torch.Generator().manual_seed(7))
    want = _reference(images, pad, torch.Generator().manual_seed(7))
    assert got.shape == images.shape
    assert torch.equal(got, want)


def test_deterministic_and_input_untouched():
    images = torch.rand(8, 3, 32, 32)
    before = images.clone()
    a = random_crop_flip(images, generator=torch.Generator().manual_seed(0))
    b = random_crop_flip(images, generator=torch.Generator().manual_seed(0))
    c = random_crop_flip(images, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(images, before)


def test_flip_only_and_identity():
    images = torch.rand(4, 3, 6, 6)
    assert torch.equal(random_crop_flip(images, pad=0, flip_p=1.0), images.flip(-1))
    assert torch.equal(random_crop_flip(images, pad=0, flip_p=0.0), images)


def test_crop_shifts_content_with_zero_fill():
    images = torch.ones(64, 1, 8, 8)
    out = random_crop_flip(images, pad=4, generator=torch.Generator().manual_seed(0))
    # Each output is a window of the zero-padded ones-image: an axis-aligned block of ones.
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert (out.sum(dim=(1, 2, 3)) < 64).any()  # some crops reached into the padding


@pytest.mark.parametrize("kwargs", [{"pad": -1}, {"pad": 1.5}, {"flip_p": 2.0}])
def test_bad_arguments(kwargs):
    with pytest.raises(ConfigError):
        random_crop_flip(torch.rand(2, 3, 8, 8), **kwargs)
    with pytest.raises(ConfigError):
        random_crop_flip(torch.rand(3, 8, 8))


def test_usable_as_a_trainer_transform():
    # Trainer calls transform(inputs, generator): the generator is the second positional argument
    images = torch.rand(6, 3, 8, 8)
    got = random_crop_flip(images, torch.Generator().manual_seed(3))
    assert torch.equal(got, random_crop_flip(images, generator=torch.Generator().manual_seed(3), pad=4))
    assert torch.equal(got, _reference(images, 4, torch.Generator().manual_seed(3)))
    with pytest.raises(TypeError):
        random_crop_flip(images, torch.Generator(), 2)  # pad is keyword-only: no silent mix-up

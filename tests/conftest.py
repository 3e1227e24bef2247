"""Shared fixtures: everything seeded, CPU only, tiny shapes."""

from __future__ import annotations

import pytest
import torch

from pe_bench.attention import BACKENDS
from pe_bench.encodings import ENCODINGS

ALL_ENCODINGS = list(ENCODINGS)
ALL_BACKENDS = list(BACKENDS)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def tokens() -> torch.Tensor:
    """A batch of 2 random byte sequences of length 24."""
    return torch.randint(0, 256, (2, 24), generator=torch.Generator().manual_seed(1))

r"""The lecture's example distributions (cell 11): the target mixture and the standard Normal.

.. math:: p = 0.4\,\mathcal N(-1, 0.75^2) + 0.6\,\mathcal N(4, 0.5^2), \qquad q = \mathcal N(0, 1)
"""

from __future__ import annotations

import torch
import torch.distributions as dist

__all__ = ["normal_mixture", "normal", "make_normal_mixture"]


def make_normal_mixture(dtype: torch.dtype | None = None) -> dist.MixtureSameFamily:
    """The lecture's two-component mixture in ``dtype`` (default: torch's default dtype)."""
    return dist.MixtureSameFamily(
        dist.Categorical(torch.tensor([0.4, 0.6], dtype=dtype)),
        dist.Normal(torch.tensor([-1.0, 4.0], dtype=dtype), torch.tensor([0.75, 0.5], dtype=dtype)),
    )


normal_mixture = make_normal_mixture()
normal = dist.Normal(0.0, 1.0)

r"""The lecture's automatic-differentiation example: :math:`\frac{d}{dx}(x^2 + \log x) = 2x + \frac1x`."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["autodiff_example"]


def autodiff_example(x: Any = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``(autograd, analytic)`` derivatives of :math:`f(x) = x^2 + \log x` at ``x > 0``:
    ``Y.backward()`` on :math:`Y = f(X)` beside :math:`2x + 1/x` (4.5 at the lecture's x = 2)."""
    X = torch.as_tensor(x, dtype=x.dtype if isinstance(x, torch.Tensor) else None).detach().clone()
    if not X.is_floating_point():
        X = X.to(torch.get_default_dtype())
    if not bool((X > 0).all()):
        raise ValueError(f"x must be > 0, got {x!r}")
    X.requires_grad_(True)
    Y = X**2 + torch.log(X)
    Y.sum().backward()
    assert X.grad is not None
    return X.grad, (2 * X + 1 / X).detach()

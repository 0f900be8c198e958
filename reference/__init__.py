"""Reference implementation of the lecture on probabilistic programming (lecture 4).

Every function and data object the lecture defines, under the lecture's names and call signatures
(:mod:`reference.contract` lists them), computed in log space, in the dtype of the inputs.
"""

from .autodiff import autodiff_example
from .coin import (
    DKL_QP,
    ELBO_loss,
    T,
    flips,
    likelihood,
    log_evidence,
    log_joint_unconstrained,
    posterior,
    posterior_unconstrained,
    prior,
    prior_unconstrained,
    prior_uncontrained,
)
from .examples import normal, normal_mixture
from .fits import FitResult, fit_gaussian, mass_covering_loss, mode_seeking_loss
from .kl import kl_divergence, kl_divergence_1, kl_divergence_2, kl_divergence_k3, monte_carlo_kl
from .quadrature import (
    gauss_hermite_expectation,
    integrate,
    integrate_gauss_legendre,
    integrate_simpson,
    log_integrate,
)
from .transforms import (
    affine_transform,
    derivative_lp,
    exp_transform,
    lp_transformed,
    sigmoid,
    sigmoid_prime,
    sigmoid_transform,
)

__all__ = [
    "DKL_QP",
    "ELBO_loss",
    "FitResult",
    "T",
    "affine_transform",
    "autodiff_example",
    "derivative_lp",
    "exp_transform",
    "fit_gaussian",
    "flips",
    "gauss_hermite_expectation",
    "integrate",
    "integrate_gauss_legendre",
    "integrate_simpson",
    "kl_divergence",
    "kl_divergence_1",
    "kl_divergence_2",
    "kl_divergence_k3",
    "likelihood",
    "log_evidence",
    "log_integrate",
    "log_joint_unconstrained",
    "lp_transformed",
    "mass_covering_loss",
    "mode_seeking_loss",
    "monte_carlo_kl",
    "normal",
    "normal_mixture",
    "posterior",
    "posterior_unconstrained",
    "prior",
    "prior_unconstrained",
    "prior_uncontrained",
    "sigmoid",
    "sigmoid_prime",
    "sigmoid_transform",
]

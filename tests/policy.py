"""The policy for non-finite inputs (README, "Numerical notes"), as data.

At +-inf every op gives its mathematical limit, and its gradient is the
incoming gradient times the limit of the derivative. A NaN input gives a NaN
output and a NaN gradient in every op.

The limits come from the registry's reference expression in float64, which
the kernels never see: its values at +-1e300 (a magnitude past 1e200 is the
infinite limit) and its derivatives at +-1e12, where every activation here
has reached its asymptote in float64 (a derivative below 1e-18 in magnitude,
softsign's 1 / (1 + |x|)^2 there, is the limit 0). A new pointwise op needs
nothing written here.
"""

import math

import torch

from torch_activations.registry import get

INF = math.inf
_FAR, _ASYMPTOTE, _UNBOUNDED, _VANISHING = 1e300, 1e12, 1e200, 1e-18


def _limit(v):
    if abs(v) > _UNBOUNDED:
        return math.copysign(INF, v)
    return 0.0 if abs(v) < _VANISHING else v


def limits(name, params):
    """(f(+inf), f(-inf), f'(+inf), f'(-inf)) of a pointwise op with `params`."""
    reference = get(name).reference
    far = torch.tensor([_FAR, -_FAR], dtype=torch.float64)
    f_pos, f_neg = (_limit(v) for v in reference(far, *params).tolist())
    x = torch.tensor([_ASYMPTOTE, -_ASYMPTOTE], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(reference(x, *params).sum(), x)
    d_pos, d_neg = (_limit(v) for v in grad.tolist())
    return f_pos, f_neg, d_pos, d_neg

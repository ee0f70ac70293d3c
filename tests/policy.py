"""The policy for non-finite inputs (README, "Numerical notes"), as data.

At +-inf every op gives its mathematical limit, and its gradient is the
incoming gradient times the limit of the derivative. A NaN input gives a NaN
output and a NaN gradient in every op.
"""

import math

from torch_activations.registry import SELU_ALPHA, SELU_SCALE

INF = math.inf


def _times_minus_inf(c):
    """The limit of c * x as x -> -inf."""
    return 0.0 if c == 0 else (-INF if c > 0 else INF)


def _sigmoid_like(beta):
    """Limits of x * sigmoid(beta * x) and of its derivative."""
    if beta > 0:
        return (INF, 0.0, 1.0, 0.0)
    if beta < 0:
        return (0.0, -INF, 0.0, 1.0)
    return (INF, -INF, 0.5, 0.5)


def limits(name, params):
    """(f(+inf), f(-inf), f'(+inf), f'(-inf)) of a pointwise op with `params`."""
    if name == "relu":
        return (INF, 0.0, 1.0, 0.0)
    if name == "leaky_relu":
        (slope,) = params
        return (INF, _times_minus_inf(slope), 1.0, slope)
    if name == "relu6":
        return (6.0, 0.0, 0.0, 0.0)
    if name == "leaky_relu6":
        (slope,) = params
        return (6.0, _times_minus_inf(slope), 0.0, slope)
    if name in ("elu", "celu"):
        (alpha,) = params
        return (INF, -alpha, 1.0, 0.0)
    if name == "selu":
        return (INF, -SELU_ALPHA * SELU_SCALE, SELU_SCALE, 0.0)
    if name == "sigmoid":
        return (1.0, 0.0, 0.0, 0.0)
    if name == "tanh":
        return (1.0, -1.0, 0.0, 0.0)
    if name == "silu":
        return _sigmoid_like(1.0)
    if name == "swish":
        return _sigmoid_like(params[0])
    if name in ("hardswish", "mish", "gelu"):
        return (INF, 0.0, 1.0, 0.0)
    if name == "hardsigmoid":
        return (1.0, 0.0, 0.0, 0.0)
    if name == "softplus":
        beta = params[0]
        return (INF, 0.0, 1.0, 0.0) if beta > 0 else (0.0, -INF, 0.0, 1.0)
    raise KeyError(f"no non-finite policy written down for {name}")

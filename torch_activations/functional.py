"""torch.nn.functional-style activations: the same names, arguments and
defaults as torch.nn.functional, each backed by a public
torch.autograd.Function subclass (``ReLUFunction`` for ``relu``, ...) whose
forward and backward are this package's fused custom ops.
"""

import warnings
from typing import Optional, Union

import torch

from . import _ops
from .registry import ACTIVATIONS

Tensor = torch.Tensor

# ReLUFunction, LeakyReLUFunction, ..., SwishLearnableFunction, SoftmaxFunction, ...
globals().update({_ops.function_name(spec): _ops.FUNCTIONS[spec.name] for spec in ACTIVATIONS})


def _pointwise(name: str, input: Tensor, params: tuple, inplace: bool = False) -> Tensor:
    if not inplace:
        return _ops.FUNCTIONS[name].apply(input, *params)
    if torch.is_grad_enabled() and input.requires_grad:
        return _ops.FUNCTIONS[name].apply(input, *params, True)
    getattr(_ops.ops, f"{name}_")(input, *params)
    return input


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return _pointwise("relu", input, (), inplace)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return _pointwise("leaky_relu", input, (float(negative_slope),), inplace)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return _pointwise("relu6", input, (), inplace)


def leaky_relu6(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """negative_slope * x for x < 0, x for 0 <= x <= 6, 6 for x > 6."""
    return _pointwise("leaky_relu6", input, (float(negative_slope),), inplace)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return _pointwise("elu", input, (float(alpha),), inplace)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    return _pointwise("selu", input, (), inplace)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return _pointwise("celu", input, (float(alpha),), inplace)


def sigmoid(input: Tensor) -> Tensor:
    return _pointwise("sigmoid", input, ())


def tanh(input: Tensor) -> Tensor:
    return _pointwise("tanh", input, ())


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    return _pointwise("silu", input, (), inplace)


def swish(input: Tensor, beta: Union[float, Tensor] = 1.0) -> Tensor:
    """x * sigmoid(beta * x). A tensor beta (one element) is differentiable."""
    if isinstance(beta, Tensor):
        return _ops.FUNCTIONS["swish_learnable"].apply(input, beta)
    return _pointwise("swish", input, (float(beta),))


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    return _pointwise("hardswish", input, (), inplace)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    return _pointwise("hardsigmoid", input, (), inplace)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    return _pointwise("mish", input, (), inplace)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    return _pointwise("gelu", input, (approximate,))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return _pointwise("softplus", input, (float(beta), float(threshold)))


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    return _ops.FUNCTIONS["prelu"].apply(input, weight)


def _softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    # torch.nn.functional._get_softmax_dim: the legacy implicit choice
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. "
        "Change the call to include dim=X as an argument.",
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def _softmax(name: str, input: Tensor, dim: Optional[int], stacklevel: int, dtype) -> Tensor:
    if dim is None:
        dim = _softmax_dim(name, input.dim(), stacklevel + 1)
    if dtype is not None:
        input = input.to(dtype)
    return _ops.FUNCTIONS[name].apply(input, dim)


def softmax(input: Tensor, dim: Optional[int] = None, _stacklevel: int = 3, dtype: Optional[torch.dtype] = None) -> Tensor:
    return _softmax("softmax", input, dim, _stacklevel, dtype)


def log_softmax(input: Tensor, dim: Optional[int] = None, _stacklevel: int = 3, dtype: Optional[torch.dtype] = None) -> Tensor:
    return _softmax("log_softmax", input, dim, _stacklevel, dtype)


from . import _docs  # noqa: E402

_docs.attach(globals())  # every function's docstring, from the registry

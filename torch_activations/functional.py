"""torch.nn.functional-style activations: the same names, arguments and
defaults as torch.nn.functional, calling this package's custom ops directly
(their autograd is C++, so no Python runs beyond these few lines).

Eagerly, a call goes through ``torch_activations._C`` (a thin binding that
enters the dispatcher with no Python argument parsing); while torch.compile
traces, or when a tensor overrides ``__torch_function__``, the very same op
is called as ``torch.ops.torch_activations.<op>``, which those machineries
understand. Each activation also has a public torch.autograd.Function
subclass (``ReLUFunction`` for ``relu``, ...).
"""

import warnings
from typing import Optional, Union

import torch

from . import _ops, _saved
from ._dispatch import op as _op, pointwise as _pointwise
from ._generated_functional import *  # noqa: F401,F403  (every pointwise activation: relu, gelu, ...)
from ._generated_functional import __all__ as _GENERATED
from .registry import ACTIVATIONS, BIASED_BY_NAME

Tensor = torch.Tensor
for _name in _GENERATED:  # they are this module's functions, wherever their source is kept
    globals()[_name].__module__ = __name__

# ReLUFunction, LeakyReLUFunction, ..., SwishLearnableFunction, SoftmaxFunction, ...
globals().update({_ops.function_name(spec): _ops.FUNCTIONS[spec.name] for spec in ACTIVATIONS})


def swish(input: Tensor, beta: Union[float, Tensor] = 1.0, *, saved: str = "auto") -> Tensor:
    """x * sigmoid(beta * x). A tensor beta (one element) is differentiable."""
    if isinstance(beta, Tensor):
        if saved != "auto":
            raise ValueError(f"torch_activations.swish: a tensor beta keeps the input (saved='auto'), got saved={saved!r}")
        input, beta = _promoted(input, beta)
        return _op("swish_learnable", input, beta)(input, beta)
    return _pointwise("swish", input, (float(beta),), False, saved)


def _promoted(a: Tensor, b: Tensor):
    """Two floating-point tensors in their promoted dtype, as the composite's
    arithmetic takes them (a bfloat16 activation and a float32 parameter give
    float32, under CPU autocast too: its add and mul fall through)."""
    if a.dtype != b.dtype and a.is_floating_point() and b.is_floating_point():
        promoted = torch.promote_types(a.dtype, b.dtype)
        return a.to(promoted), b.to(promoted)
    return a, b


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    return _op("prelu", input, weight)(input, weight)


def _split_gated(name: str, input: Tensor, dim: int, params: tuple) -> Tensor:
    return _op(name, input)(input, dim, *params)


def _mul_gated(name: str, gate: Tensor, up: Tensor, params: tuple) -> Tensor:
    gate, up = _promoted(gate, up)
    return _op(name, gate, up)(gate, up, *params)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """torch.nn.functional.glu: the first half of input along dim times the sigmoid of the second."""
    return _split_gated("glu", input, dim, ())


def swiglu(input: Tensor, dim: int = -1) -> Tensor:
    """silu(first half) * second half, the halves of input along dim (of even size)."""
    return _split_gated("swiglu", input, dim, ())


def geglu(input: Tensor, dim: int = -1, approximate: str = "none") -> Tensor:
    """gelu(first half, approximate) * second half, the halves of input along dim (of even size)."""
    return _split_gated("geglu", input, dim, (approximate,))


def reglu(input: Tensor, dim: int = -1) -> Tensor:
    """relu(first half) * second half, the halves of input along dim (of even size)."""
    return _split_gated("reglu", input, dim, ())


def silu_mul(gate: Tensor, up: Tensor) -> Tensor:
    """silu(gate) * up, gate and up of one shape (a Llama MLP's act_fn(gate_proj(x)) * up_proj(x))."""
    return _mul_gated("silu_mul", gate, up, ())


def gelu_mul(gate: Tensor, up: Tensor, approximate: str = "none") -> Tensor:
    """gelu(gate, approximate) * up, gate and up of one shape."""
    return _mul_gated("gelu_mul", gate, up, (approximate,))


def relu_mul(gate: Tensor, up: Tensor) -> Tensor:
    """relu(gate) * up, gate and up of one shape."""
    return _mul_gated("relu_mul", gate, up, ())


def _bias_call(activation: str, params: dict):
    """(op name, parameter values) of bias_activation's call; errors name both."""
    spec = BIASED_BY_NAME.get(activation) if isinstance(activation, str) else None
    if spec is None:
        raise ValueError(f"torch_activations.bias_activation: unknown activation {activation!r}; it takes "
                         f"{', '.join(map(repr, BIASED_BY_NAME))}")
    unknown = set(params) - set(spec.param_names)
    if unknown:
        takes = f"its parameters are {', '.join(spec.param_names)}" if spec.params else "it has no parameters"
        raise TypeError(f"torch_activations.bias_activation: {activation} got an unexpected parameter "
                        f"{', '.join(sorted(unknown))}; {takes}")
    values = tuple(type(default)(params.get(name, default)) for name, default in spec.params)
    return f"bias_{activation}", values


def bias_activation(input: Tensor, bias: Tensor, activation: str, **params) -> Tensor:
    """activation(input + bias) in one pass: a Linear layer's bias fused into
    its activation (call the Linear with bias=False and hand its bias here).

    Args:
        input (Tensor): any shape with at least one dimension; float16, bfloat16, float32 or float64
        bias (Tensor): shape (input.shape[-1],), the input's dtype and device
        activation (str): a pointwise activation's name ('relu', 'gelu', 'silu', ...) or a gated
            one's ('glu', 'swiglu', 'geglu', 'reglu': the bias of the full width, the halves then
            taken along the last dimension)
        **params: the activation's own parameters by name (negative_slope=, approximate=, ...),
            with torch.nn.functional's defaults

    Backward gives the gradients of input and bias (the column sums) from one pass over the
    data, and keeps what the activation alone keeps (its output where that is exact, else the
    input) plus the bias: never input + bias. The sum is rounded to the input's dtype before
    the activation, as in the composite ``act(input + bias)``, so values and the input's
    gradient are the composite's bits (with this library's activation); the bias gradient is
    summed in float32 (float64 for float64) and rounded once.
    """
    return _biased(*_bias_call(activation, params), input, bias)


def _biased(name: str, values: tuple, input: Tensor, bias: Tensor) -> Tensor:
    """Op `name` (checked by _bias_call) on input and bias."""
    input, bias = _promoted(input, bias)
    return _op(name, input, bias)(input, bias, *values)


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
    if dtype is not None:  # as torch's: cast first, then no autocast policy (it would cast again)
        input = input.to(dtype)
        if torch.is_autocast_enabled(input.device.type):
            with torch.autocast(input.device.type, enabled=False):
                return _op(name, input)(input, dim)
    return _op(name, input)(input, dim)


def softmax(input: Tensor, dim: Optional[int] = None, _stacklevel: int = 3, dtype: Optional[torch.dtype] = None) -> Tensor:
    return _softmax("softmax", input, dim, _stacklevel, dtype)


def log_softmax(input: Tensor, dim: Optional[int] = None, _stacklevel: int = 3, dtype: Optional[torch.dtype] = None) -> Tensor:
    return _softmax("log_softmax", input, dim, _stacklevel, dtype)


from . import _docs  # noqa: E402

_docs.attach(globals())  # every function's docstring, from the registry

"""The one table of activations. Modules, functional wrappers, autograd
registration, tests, benchmarks and the README table are all driven from it.

Each entry names the op, its parameters (names and defaults as in
torch.nn.functional), a reference expression in plain PyTorch, the torch twin,
what backward saves, its formula in words (for the docstrings) and, for
pointwise ops, the second derivative used by double backward.
"""

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F

POINTWISE, CHANNELWISE, SOFTMAX = "pointwise", "channelwise", "softmax"

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_KAPPA = 0.044715


class _Parameters:
    """The (name, default) pairs of `params`, apart."""

    @property
    def param_names(self):
        return tuple(p for p, _ in self.params)

    @property
    def defaults(self):
        return tuple(d for _, d in self.params)


@dataclass(frozen=True)
class Activation(_Parameters):
    name: str  # op name in torch.ops.torch_activations and in torch_activations.functional
    module: str  # class name in torch_activations.nn
    kind: str  # POINTWISE, CHANNELWISE or SOFTMAX
    params: tuple = ()  # (name, default) of the op's parameters after the input
    reference: Callable = None  # reference(x, *params) in plain PyTorch
    torch_functional: Optional[Callable] = None  # twin in torch (None: none exists)
    torch_module: Optional[type] = None
    saves: str = "input"  # what backward keeps: "input" or "output"
    saves_otherwise: str = ""  # where it keeps the input instead (the C++ functor's saves() decides)
    # d/d(saved) of the backward factor (grad_x = grad * factor(saved)); pointwise only
    second: Optional[Callable] = None
    # the same in the output, where the op saves its output only for some parameters or dtypes
    second_from_output: Optional[Callable] = None
    # opt-in compact saved state (saved=): "mask" (exact codes) or "uint8"
    # (quantized derivative), with its bits per element; "" where it has none
    coded: str = ""
    code_bits: int = 0
    inplace: bool = False  # functional and module take inplace=
    kinks: tuple = ()  # inputs where the derivative jumps (tested exactly, never differentiated numerically)
    notes: str = ""
    formula: str = ""  # the math in plain text, for the docstrings (torch_activations._docs)


def _zero(saved, *params):
    return torch.zeros_like(saved)


def _prelu_reference(x, weight):
    return torch.where(x > 0, x, broadcast_weight(weight, x) * x)


def broadcast_weight(weight, x):
    """A PReLU weight of 1 or C elements shaped to broadcast over x (C = dim 1)."""
    if weight.numel() == 1:
        return weight.reshape(())
    shape = [1] * x.dim()
    shape[1] = weight.numel()
    return weight.reshape(shape)


def _gelu_reference(x, approximate):
    # The same functions as 0.5 x (1 + tanh(u)) and 0.5 x (1 + erf(x / sqrt 2)),
    # written without 1 + tanh and 1 + erf: those cancel in the negative tail
    # even in float64 (at x = -10 no digit of the erf form is left).
    if approximate == "tanh":
        return x * torch.sigmoid(2 * _SQRT_2_OVER_PI * (x + _KAPPA * x**3))
    return 0.5 * x * torch.erfc(-x / math.sqrt(2.0))


def _gelu_second(x, approximate):
    if approximate == "tanh":
        du = _SQRT_2_OVER_PI * (1 + 3 * _KAPPA * x * x)
        d2u = 6 * _SQRT_2_OVER_PI * _KAPPA * x
        t = torch.tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x**3))
        return (1 - t * t) * (du + 0.5 * x * (d2u - 2 * t * du * du))
    return torch.exp(-0.5 * x * x) * _INV_SQRT_2PI * (2 - x * x)


def _swish_second(x, beta):
    s = torch.sigmoid(beta * x)
    return beta * s * (1 - s) * (2 + beta * x * (1 - 2 * s))


def _mish_second(x):
    s = torch.sigmoid(x)
    t = torch.tanh(F.softplus(x))
    return (1 - t * t) * (2 * s + x * s * (1 - s) - 2 * x * s * s * t)


# The references guard every branch that torch.where discards, so that an
# overflow there (exp(1e4) = inf) cannot turn its zero gradient into NaN.


def _sigmoid_reference(x):
    e = torch.exp(torch.where(x >= 0, -x, x))  # exp(-|x|), with a derivative at 0
    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus_reference(x, beta=1.0, threshold=20.0):
    linear = x * beta > threshold
    return torch.where(linear, x, torch.log1p(torch.exp(torch.where(linear, 0.0, x) * beta)) / beta)


def _softplus_second(x, beta, threshold):
    s = torch.sigmoid(beta * x)
    return torch.where(x * beta > threshold, torch.zeros_like(x), beta * s * (1 - s))


def _elu_second(alpha, scale, input_scale):
    def second(x):
        return torch.where(x <= 0, alpha * scale * input_scale**2 * torch.exp(x * input_scale), torch.zeros_like(x))

    return second


def _elu_second_from_output(input_scale):
    # grad_x = grad * input_scale * (y + alpha * scale) where y <= 0
    def second(y, *params):
        return torch.where(y > 0, torch.zeros_like(y), torch.full_like(y, input_scale(*params)))

    return second


# float16 and bfloat16 round the output too coarsely for ELU's tail derivative, y + alpha
_REDUCED_KEEP_INPUT = "input in float16 and bfloat16"


def _softplus_second_from_output(y, beta, threshold):
    # grad_x = grad * (1 - exp(-beta y)) below the threshold
    by = beta * y
    return torch.where(by > threshold, torch.zeros_like(y), beta * torch.exp(-by))


def _elu_reference(x, alpha, scale=1.0, input_scale=1.0):
    negative = torch.where(x > 0, 0.0, x)
    return torch.where(x > 0, scale * x, alpha * scale * torch.expm1(negative * input_scale))


def _hardtanh_like(x, hi):
    # x clipped to [0, hi], gradient 1 strictly inside, 0 at and beyond the ends
    return torch.where(x <= 0, torch.zeros_like(x), torch.where(x >= hi, torch.full_like(x, hi), x))


ACTIVATIONS = (
    Activation(
        "relu", "ReLU", POINTWISE,
        formula="relu(x) = max(0, x)",
        reference=lambda x: torch.where(x > 0, x, torch.zeros_like(x)),
        torch_functional=F.relu, torch_module=torch.nn.ReLU,
        saves="output", second=_zero, inplace=True, kinks=(0.0,),
        coded="mask", code_bits=1,
    ),
    Activation(
        "leaky_relu", "LeakyReLU", POINTWISE, params=(("negative_slope", 0.01),),
        formula="leaky_relu(x) = x if x > 0, negative_slope * x otherwise",
        reference=lambda x, slope: torch.where(x > 0, x, x * slope),
        torch_functional=F.leaky_relu, torch_module=torch.nn.LeakyReLU,
        saves="output", saves_otherwise="input where negative_slope < 0",
        second=_zero, inplace=True, kinks=(0.0,),
        coded="mask", code_bits=1,
    ),
    Activation(
        "relu6", "ReLU6", POINTWISE,
        formula="relu6(x) = min(max(0, x), 6)",
        reference=lambda x: _hardtanh_like(x, 6.0),
        torch_functional=F.relu6, torch_module=torch.nn.ReLU6,
        saves="output", second=_zero, inplace=True, kinks=(0.0, 6.0),
        coded="mask", code_bits=2,
    ),
    Activation(
        "leaky_relu6", "LeakyReLU6", POINTWISE, params=(("negative_slope", 0.01),),
        formula="leaky_relu6(x) = negative_slope * x if x < 0, x if 0 <= x <= 6, 6 if x > 6; "
        "derivative negative_slope at 0 and 0 at 6, as leaky_relu's and relu6's",
        reference=lambda x, slope: torch.where(x <= 0, x * slope, torch.where(x >= 6, torch.full_like(x, 6.0), x)),
        saves="output", saves_otherwise="input where negative_slope < 0",
        second=_zero, inplace=True, kinks=(0.0, 6.0),
        notes="slope*x below 0, x on [0, 6], 6 above; no framework ships it",
        coded="mask", code_bits=2,
    ),
    Activation(
        "elu", "ELU", POINTWISE, params=(("alpha", 1.0),),
        formula="elu(x) = x if x > 0, alpha * (exp(x) - 1) otherwise",
        reference=lambda x, alpha: _elu_reference(x, alpha),
        torch_functional=F.elu, torch_module=torch.nn.ELU,
        saves="output", saves_otherwise="input where alpha < 0, and " + _REDUCED_KEEP_INPUT,
        second=lambda x, alpha: _elu_second(alpha, 1.0, 1.0)(x),
        second_from_output=_elu_second_from_output(lambda alpha: 1.0), inplace=True, kinks=(0.0,),
    ),
    Activation(
        "selu", "SELU", POINTWISE,
        formula="selu(x) = scale * (x if x > 0, alpha * (exp(x) - 1) otherwise); "
        "alpha = 1.6732632423543772, scale = 1.0507009873554805",
        reference=lambda x: _elu_reference(x, SELU_ALPHA, SELU_SCALE),
        torch_functional=F.selu, torch_module=torch.nn.SELU,
        saves="output", saves_otherwise=_REDUCED_KEEP_INPUT,
        second=_elu_second(SELU_ALPHA, SELU_SCALE, 1.0),
        second_from_output=_elu_second_from_output(lambda: 1.0), inplace=True, kinks=(0.0,),
    ),
    Activation(
        "celu", "CELU", POINTWISE, params=(("alpha", 1.0),),
        formula="celu(x) = max(0, x) + min(0, alpha * (exp(x / alpha) - 1))",
        reference=lambda x, alpha: _elu_reference(x, alpha, 1.0, 1.0 / alpha),
        torch_functional=F.celu, torch_module=torch.nn.CELU,
        saves="output", saves_otherwise=_REDUCED_KEEP_INPUT,
        second=lambda x, alpha: _elu_second(alpha, 1.0, 1.0 / alpha)(x),
        second_from_output=_elu_second_from_output(lambda alpha: 1.0 / alpha), inplace=True,
    ),
    Activation(
        "sigmoid", "Sigmoid", POINTWISE,
        formula="sigmoid(x) = 1 / (1 + exp(-x))",
        reference=_sigmoid_reference,
        torch_functional=torch.sigmoid, torch_module=torch.nn.Sigmoid,
        saves="output", second=lambda y: 1 - 2 * y,
    ),
    Activation(
        "tanh", "Tanh", POINTWISE,
        formula="tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x))",
        reference=lambda x: torch.tanh(x),
        torch_functional=torch.tanh, torch_module=torch.nn.Tanh,
        saves="output", second=lambda y: -2 * y,
    ),
    Activation(
        "silu", "SiLU", POINTWISE,
        formula="silu(x) = x * sigmoid(x)",
        reference=lambda x: x * _sigmoid_reference(x),
        torch_functional=F.silu, torch_module=torch.nn.SiLU,
        second=lambda x: _swish_second(x, 1.0), inplace=True,
        coded="uint8", code_bits=8,
    ),
    Activation(
        "swish", "Swish", POINTWISE, params=(("beta", 1.0),),
        formula="swish(x) = x * sigmoid(beta * x)",
        reference=lambda x, beta: x * _sigmoid_reference(beta * x),
        second=_swish_second,
        notes="x * sigmoid(beta * x); nn.Swish(learnable=True) uses swish_learnable",
        coded="uint8", code_bits=8,
    ),
    Activation(
        "hardswish", "Hardswish", POINTWISE,
        formula="hardswish(x) = 0 if x <= -3, x if x >= 3, x * (x + 3) / 6 otherwise",
        reference=lambda x: torch.where(x <= -3, 0.0, torch.where(x < 3, x * (x + 3) / 6, x)),
        torch_functional=F.hardswish, torch_module=torch.nn.Hardswish,
        second=lambda x: torch.where((x > -3) & (x < 3), torch.full_like(x, 1 / 3), torch.zeros_like(x)),
        inplace=True, kinks=(-3.0, 3.0),
        coded="uint8", code_bits=8,
    ),
    Activation(
        "hardsigmoid", "Hardsigmoid", POINTWISE,
        formula="hardsigmoid(x) = 0 if x <= -3, 1 if x >= 3, x / 6 + 1 / 2 otherwise",
        reference=lambda x: torch.where(x <= -3, torch.zeros_like(x), torch.where(x >= 3, torch.ones_like(x), x / 6 + 0.5)),
        torch_functional=F.hardsigmoid, torch_module=torch.nn.Hardsigmoid,
        second=_zero, inplace=True, kinks=(-3.0, 3.0),
        coded="mask", code_bits=2,
    ),
    Activation(
        "mish", "Mish", POINTWISE,
        formula="mish(x) = x * tanh(softplus(x)) = x * tanh(log(1 + exp(x)))",
        reference=lambda x: x * torch.tanh(_softplus_reference(x)),
        torch_functional=F.mish, torch_module=torch.nn.Mish,
        second=_mish_second, inplace=True,
        coded="uint8", code_bits=8,
    ),
    Activation(
        "gelu", "GELU", POINTWISE, params=(("approximate", "none"),),
        formula="gelu(x) = x * Phi(x) = x / 2 * (1 + erf(x / sqrt(2))); "
        "approximate='tanh': x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))",
        reference=_gelu_reference,
        torch_functional=F.gelu, torch_module=torch.nn.GELU,
        second=_gelu_second,
        coded="uint8", code_bits=8,
    ),
    Activation(
        "softplus", "Softplus", POINTWISE, params=(("beta", 1.0), ("threshold", 20.0)),
        formula="softplus(x) = log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold",
        reference=_softplus_reference,
        torch_functional=F.softplus, torch_module=torch.nn.Softplus,
        saves="output", saves_otherwise="input where exp(-threshold) exceeds the dtype's rounding: "
        "float64 at the default threshold, float32 below threshold 16.6",
        second=_softplus_second, second_from_output=_softplus_second_from_output,
    ),
    Activation(
        "prelu", "PReLU", CHANNELWISE,
        formula="prelu(x) = x if x > 0, weight[c] * x otherwise, c the channel (dim 1) of x; "
        "a one-element weight applies to every channel",
        reference=_prelu_reference,
        torch_functional=F.prelu, torch_module=torch.nn.PReLU, kinks=(0.0,),
        notes="weight of 1 or C elements (C = dim 1); weight gradient from a fused reduction",
    ),
    Activation(
        "swish_learnable", "Swish", CHANNELWISE,
        formula="swish(x) = x * sigmoid(beta * x), beta a learnable one-element tensor",
        reference=lambda x, beta: x * _sigmoid_reference(beta.reshape(()) * x),
        notes="Swish(learnable=True): beta is a parameter; its gradient from a fused reduction",
    ),
    Activation(
        "softmax", "Softmax", SOFTMAX, params=(("dim", None),),
        formula="softmax(x)_i = exp(x_i) / sum_j exp(x_j), along dim",
        reference=lambda x, dim: torch.exp(x - x.amax(dim, keepdim=True))
        / torch.exp(x - x.amax(dim, keepdim=True)).sum(dim, keepdim=True),
        torch_functional=F.softmax, torch_module=torch.nn.Softmax, saves="output",
    ),
    Activation(
        "log_softmax", "LogSoftmax", SOFTMAX, params=(("dim", None),),
        formula="log_softmax(x)_i = x_i - log(sum_j exp(x_j)), along dim",
        reference=lambda x, dim: (x - x.amax(dim, keepdim=True))
        - torch.log(torch.exp(x - x.amax(dim, keepdim=True)).sum(dim, keepdim=True)),
        torch_functional=F.log_softmax, torch_module=torch.nn.LogSoftmax, saves="output",
    ),
)

BY_NAME = {a.name: a for a in ACTIVATIONS}


def get(name: str) -> Activation:
    return BY_NAME[name]


# ------------------------------------------------------------------ gated

@dataclass(frozen=True)
class GatedActivation(_Parameters):
    """act(a) * b. Split forms (`split`) take a and b as the halves of one
    input along dim: the first half is a, except for glu (torch's: the
    sigmoid of the second half gates the first). *_mul forms take a (gate)
    and b (up) as two tensors of one shape."""

    name: str  # op name in torch.ops.torch_activations and torch_activations.functional
    module: Optional[str]  # class name in torch_activations.nn (split forms)
    act: str  # the pointwise activation applied to a, by registry name
    split: bool
    act_second: bool = False  # glu: a is the second half
    params: tuple = ()  # (name, default) after dim (split) or after gate, up (*_mul)
    torch_functional: Optional[Callable] = None
    torch_module: Optional[type] = None
    formula: str = ""

    def halves(self, x, dim):
        """(a, b) of a split form's input."""
        first, second = x.chunk(2, dim)
        return (second, first) if self.act_second else (first, second)

    def joined(self, a, b, dim):
        """The split form's input (or its gradient) from its halves a and b."""
        return torch.cat((b, a) if self.act_second else (a, b), dim)

    def reference(self, a, b, *params):
        """act(a) * b in plain PyTorch, from the activation's reference expression."""
        return BY_NAME[self.act].reference(a, *params) * b


GATED_ACTIVATIONS = (
    GatedActivation("glu", "GLU", "sigmoid", split=True, act_second=True, torch_functional=F.glu,
                    torch_module=torch.nn.GLU, formula="glu(x) = x1 * sigmoid(x2), x1 and x2 the halves of x along dim"),
    GatedActivation("swiglu", "SwiGLU", "silu", split=True, formula="swiglu(x) = silu(x1) * x2"),
    GatedActivation("geglu", "GeGLU", "gelu", split=True, params=(("approximate", "none"),),
                    formula="geglu(x) = gelu(x1) * x2"),
    GatedActivation("reglu", "ReGLU", "relu", split=True, formula="reglu(x) = relu(x1) * x2"),
    GatedActivation("silu_mul", None, "silu", split=False, formula="silu_mul(gate, up) = silu(gate) * up"),
    GatedActivation("gelu_mul", None, "gelu", split=False, params=(("approximate", "none"),),
                    formula="gelu_mul(gate, up) = gelu(gate) * up"),
    GatedActivation("relu_mul", None, "relu", split=False, formula="relu_mul(gate, up) = relu(gate) * up"),
)
GATED_BY_NAME = {g.name: g for g in GATED_ACTIVATIONS}

# ------------------------------------------------------------------- bias

# What torch_activations.functional.bias_activation takes: every pointwise
# activation, and the split gated ones (the bias then of the full width,
# added before the halves are taken along the last dimension).
BIASED = tuple(a for a in ACTIVATIONS if a.kind == POINTWISE) + tuple(g for g in GATED_ACTIVATIONS if g.split)
BIASED_BY_NAME = {spec.name: spec for spec in BIASED}

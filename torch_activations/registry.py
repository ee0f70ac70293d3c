"""The one table of activations, in two halves that cannot drift apart.

What an op is (its name, family, parameters and their defaults, its code
bits, the ops it registers) is written once, in C++ (csrc/op_table.h's
for_each_op, where the kernels are registered), and read here from
``_C.op_table()`` and the schemas. This file adds only what exists in Python
alone: the reference expression in plain PyTorch, the torch twin, what
backward keeps in words, the second derivative used by double backward, and
the docs. Modules, functional wrappers, tests, benchmarks and the README
table are driven from the result.
"""

import math
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F

from ._library import _C

POINTWISE, CHANNELWISE, SOFTMAX, GATED = "pointwise", "channelwise", "softmax", "gated"

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_KAPPA = 0.044715


# ------------------------------------------------------------ the C++ half

TABLE = {entry["name"]: entry for entry in _C.op_table()}  # for_each_op, in its order


def _schema_params(name, skip):
    """(name, default) of op `name`'s schema arguments after the first `skip`
    (no default in the schema: None, torch's own for softmax's dim)."""
    arguments = getattr(torch.ops.torch_activations, name).default._schema.arguments[skip:]
    return tuple((a.name, a.default_value) for a in arguments)


def _from_table(row, kind, skip, **more):
    """Fill a row's C++-described fields from the table (frozen dataclass)."""
    entry = TABLE.get(row.name)
    if entry is None or entry["kind"] != kind:
        raise ImportError(f"torch_activations.registry: {row.name!r} has a registry row but no {kind} entry in "
                          "csrc/op_table.h's for_each_op")
    values = dict(kind=kind, params=_schema_params(row.name, skip), ops=tuple(entry["ops"]))
    values.update({k: entry[v] if isinstance(v, str) else v(entry) for k, v in more.items()})
    for key, value in values.items():
        object.__setattr__(row, key, value)


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
    # written here (what exists in Python alone)
    name: str  # op name in torch.ops.torch_activations and in torch_activations.functional
    module: str  # class name in torch_activations.nn
    reference: Callable = None  # reference(x, *params) in plain PyTorch
    torch_functional: Optional[Callable] = None  # twin in torch (None: none exists)
    torch_module: Optional[type] = None
    # what a user writes where torch has no twin (the benchmarks' and accuracy
    # sweep's baseline): composite(x, *params) from torch's ops
    composite: Optional[Callable] = None
    saves_otherwise: str = ""  # where it keeps the input instead (the C++ functor's saves() decides)
    # d/d(saved) of the backward factor (grad_x = grad * factor(saved)); pointwise only
    second: Optional[Callable] = None
    # the same in the output, where the op saves its output only for some parameters or dtypes
    second_from_output: Optional[Callable] = None
    inplace: bool = False  # functional and module take inplace= (as the twin's signature)
    kinks: tuple = ()  # inputs where the derivative jumps (tested exactly, never differentiated numerically)
    # float32 accuracy budget in ulps (forward, backward), by parameter values
    # besides the defaults' (scripts/accuracy.py, tests/test_numerics.py)
    ulps: tuple = (4.0, 2.0)
    ulps_with: tuple = ()  # ((params, (forward, backward)), ...) for other parameter sets
    notes: str = ""
    formula: str = ""  # the math in plain text, for the docstrings (torch_activations._docs)
    # read from the C++ table (csrc/op_table.h), never written in a row
    kind: str = field(default="", init=False)  # POINTWISE, CHANNELWISE or SOFTMAX
    params: tuple = field(default=(), init=False)  # (name, default) of the op's parameters after the input
    ops: tuple = field(default=(), init=False)  # every registered op of the family (backward, coded, bias...)
    saves: str = field(default="", init=False)  # what backward keeps at the defaults, float32: "input" or "output"
    # opt-in compact saved state (saved=): "mask" (exact codes) or "uint8"
    # (quantized derivative), with its bits per element; "" where it has none
    coded: str = field(default="", init=False)
    code_bits: int = field(default=0, init=False)
    per_channel: bool = field(default=False, init=False)  # channelwise: a weight per channel (dim 1)

    def __post_init__(self):
        entry = TABLE.get(self.name, {})
        kind = entry.get("kind")
        if kind == POINTWISE:
            bits = entry["code_bits"]
            _from_table(self, POINTWISE, 1, code_bits="code_bits",
                        coded=lambda e: "" if not bits else "uint8" if bits == 8 else "mask")
            defaults = tuple(d for _, d in self.params)
            saves_output = getattr(_C, f"{self.name}_saves_output")(torch.float32, True, *defaults)
            object.__setattr__(self, "saves", "output" if saves_output else "input")
        elif kind == CHANNELWISE:
            _from_table(self, CHANNELWISE, 2, per_channel="per_channel", saves=lambda e: "input")
        else:
            _from_table(self, SOFTMAX, 1, saves=lambda e: "output")

    def in_torch(self, x, *args):
        """The op in torch's own ops (args as the op takes them after x): the
        twin, or the composite a user writes where torch has none."""
        if self.torch_functional is None:
            return self.composite(x, *args)
        named = dict(zip(self.param_names, args[len(args) - len(self.params):]))  # F.gelu's approximate is keyword-only
        return self.torch_functional(x, *args[: len(args) - len(self.params)], **named)


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
        "relu", "ReLU",
        ulps=(0.5, 0.5),
        formula="relu(x) = max(0, x)",
        reference=lambda x: torch.where(x > 0, x, torch.zeros_like(x)),
        torch_functional=F.relu, torch_module=torch.nn.ReLU,
        second=_zero, inplace=True, kinks=(0.0,),
    ),
    Activation(
        "leaky_relu", "LeakyReLU",
        ulps=(1.0, 0.5),
        formula="leaky_relu(x) = x if x > 0, negative_slope * x otherwise",
        reference=lambda x, slope: torch.where(x > 0, x, x * slope),
        torch_functional=F.leaky_relu, torch_module=torch.nn.LeakyReLU,
        saves_otherwise="input where negative_slope < 0",
        second=_zero, inplace=True, kinks=(0.0,),
    ),
    Activation(
        "relu6", "ReLU6",
        ulps=(0.5, 0.5),
        formula="relu6(x) = min(max(0, x), 6)",
        reference=lambda x: _hardtanh_like(x, 6.0),
        torch_functional=F.relu6, torch_module=torch.nn.ReLU6,
        second=_zero, inplace=True, kinks=(0.0, 6.0),
    ),
    Activation(
        "leaky_relu6", "LeakyReLU6",
        ulps=(1.0, 0.5),
        composite=lambda x, negative_slope=0.01: torch.clamp(F.leaky_relu(x, negative_slope), max=6.0),
        formula="leaky_relu6(x) = negative_slope * x if x < 0, x if 0 <= x <= 6, 6 if x > 6; "
        "derivative negative_slope at 0 and 0 at 6, as leaky_relu's and relu6's",
        reference=lambda x, slope: torch.where(x <= 0, x * slope, torch.where(x >= 6, torch.full_like(x, 6.0), x)),
        saves_otherwise="input where negative_slope < 0",
        second=_zero, inplace=True, kinks=(0.0, 6.0),
        notes="slope*x below 0, x on [0, 6], 6 above; no framework ships it",
    ),
    Activation(
        "elu", "ELU",
        ulps=(1.5, 1.0),
        formula="elu(x) = x if x > 0, alpha * (exp(x) - 1) otherwise",
        reference=lambda x, alpha: _elu_reference(x, alpha),
        torch_functional=F.elu, torch_module=torch.nn.ELU,
        saves_otherwise="input where alpha < 0, and " + _REDUCED_KEEP_INPUT,
        second=lambda x, alpha: _elu_second(alpha, 1.0, 1.0)(x),
        second_from_output=_elu_second_from_output(lambda alpha: 1.0), inplace=True, kinks=(0.0,),
    ),
    Activation(
        "selu", "SELU",
        ulps=(2.5, 1.5),
        formula="selu(x) = scale * (x if x > 0, alpha * (exp(x) - 1) otherwise); "
        "alpha = 1.6732632423543772, scale = 1.0507009873554805",
        reference=lambda x: _elu_reference(x, SELU_ALPHA, SELU_SCALE),
        torch_functional=F.selu, torch_module=torch.nn.SELU,
        saves_otherwise=_REDUCED_KEEP_INPUT,
        second=_elu_second(SELU_ALPHA, SELU_SCALE, 1.0),
        second_from_output=_elu_second_from_output(lambda: 1.0), inplace=True, kinks=(0.0,),
    ),
    Activation(
        "celu", "CELU",
        ulps=(1.5, 1.0),
        formula="celu(x) = max(0, x) + min(0, alpha * (exp(x / alpha) - 1))",
        reference=lambda x, alpha: _elu_reference(x, alpha, 1.0, 1.0 / alpha),
        torch_functional=F.celu, torch_module=torch.nn.CELU,
        saves_otherwise=_REDUCED_KEEP_INPUT,
        second=lambda x, alpha: _elu_second(alpha, 1.0, 1.0 / alpha)(x),
        second_from_output=_elu_second_from_output(lambda alpha: 1.0 / alpha), inplace=True,
    ),
    Activation(
        "sigmoid", "Sigmoid",
        ulps=(3.0, 1.0),
        formula="sigmoid(x) = 1 / (1 + exp(-x))",
        reference=_sigmoid_reference,
        torch_functional=torch.sigmoid, torch_module=torch.nn.Sigmoid,
        second=lambda y: 1 - 2 * y,
    ),
    Activation(
        "tanh", "Tanh",
        ulps=(1.5, 1.0),
        formula="tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x))",
        reference=lambda x: torch.tanh(x),
        torch_functional=torch.tanh, torch_module=torch.nn.Tanh,
        second=lambda y: -2 * y,
    ),
    Activation(
        "silu", "SiLU",
        ulps=(3.0, 2.0),
        formula="silu(x) = x * sigmoid(x)",
        reference=lambda x: x * _sigmoid_reference(x),
        torch_functional=F.silu, torch_module=torch.nn.SiLU,
        second=lambda x: _swish_second(x, 1.0), inplace=True,
    ),
    Activation(
        "swish", "Swish",
        ulps=(3.0, 2.0), ulps_with=(((1.5,), (3.0, 2.0)),),
        composite=lambda x, beta=1.0: x * torch.sigmoid(beta * x),
        formula="swish(x) = x * sigmoid(beta * x)",
        reference=lambda x, beta: x * _sigmoid_reference(beta * x),
        second=_swish_second,
        notes="x * sigmoid(beta * x); nn.Swish(learnable=True) uses swish_learnable",
    ),
    Activation(
        "hardswish", "Hardswish",
        ulps=(2.0, 1.5),
        formula="hardswish(x) = 0 if x <= -3, x if x >= 3, x * (x + 3) / 6 otherwise",
        reference=lambda x: torch.where(x <= -3, 0.0, torch.where(x < 3, x * (x + 3) / 6, x)),
        torch_functional=F.hardswish, torch_module=torch.nn.Hardswish,
        second=lambda x: torch.where((x > -3) & (x < 3), torch.full_like(x, 1 / 3), torch.zeros_like(x)),
        inplace=True, kinks=(-3.0, 3.0),
    ),
    Activation(
        "hardsigmoid", "Hardsigmoid",
        ulps=(1.5, 0.5),
        formula="hardsigmoid(x) = 0 if x <= -3, 1 if x >= 3, x / 6 + 1 / 2 otherwise",
        reference=lambda x: torch.where(x <= -3, torch.zeros_like(x), torch.where(x >= 3, torch.ones_like(x), x / 6 + 0.5)),
        torch_functional=F.hardsigmoid, torch_module=torch.nn.Hardsigmoid,
        second=_zero, inplace=True, kinks=(-3.0, 3.0),
    ),
    Activation(
        "mish", "Mish",
        ulps=(4.5, 2.0),
        formula="mish(x) = x * tanh(softplus(x)) = x * tanh(log(1 + exp(x)))",
        reference=lambda x: x * torch.tanh(_softplus_reference(x)),
        torch_functional=F.mish, torch_module=torch.nn.Mish,
        second=_mish_second, inplace=True,
    ),
    Activation(
        "gelu", "GELU",
        ulps=(8.0, 1.5), ulps_with=((("tanh",), (250.0, 2.0)),),
        formula="gelu(x) = x * Phi(x) = x / 2 * (1 + erf(x / sqrt(2))); "
        "approximate='tanh': x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))",
        reference=_gelu_reference,
        torch_functional=F.gelu, torch_module=torch.nn.GELU,
        second=_gelu_second,
    ),
    Activation(
        "softplus", "Softplus",
        ulps=(2.5, 1.0),
        formula="softplus(x) = log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold",
        reference=_softplus_reference,
        torch_functional=F.softplus, torch_module=torch.nn.Softplus,
        saves_otherwise="input where exp(-threshold) exceeds the dtype's rounding: "
        "float64 at the default threshold, float32 below threshold 16.6",
        second=_softplus_second, second_from_output=_softplus_second_from_output,
    ),
    Activation(
        "softsign", "Softsign",
        ulps=(2.0, 2.0),
        formula="softsign(x) = x / (1 + |x|)",
        reference=lambda x: x / (1 + x.abs()),
        torch_functional=F.softsign, torch_module=torch.nn.Softsign,
        second=lambda x: -2 * torch.sign(x) / (1 + x.abs()) ** 3,
    ),
    Activation(
        "prelu", "PReLU",
        ulps=(0.5, 0.5),
        formula="prelu(x) = x if x > 0, weight[c] * x otherwise, c the channel (dim 1) of x; "
        "a one-element weight applies to every channel",
        reference=_prelu_reference,
        torch_functional=F.prelu, torch_module=torch.nn.PReLU, kinks=(0.0,),
        notes="weight of 1 or C elements (C = dim 1); weight gradient from a fused reduction",
    ),
    Activation(
        "swish_learnable", "Swish",
        ulps=(3.0, 2.0),
        composite=lambda x, beta=1.0: x * torch.sigmoid(beta * x),
        formula="swish(x) = x * sigmoid(beta * x), beta a learnable one-element tensor",
        reference=lambda x, beta: x * _sigmoid_reference(beta.reshape(()) * x),
        notes="Swish(learnable=True): beta is a parameter; its gradient from a fused reduction",
    ),
    Activation(
        "softmax", "Softmax",
        ulps=(6.5, 8.0),
        formula="softmax(x)_i = exp(x_i) / sum_j exp(x_j), along dim",
        reference=lambda x, dim: torch.exp(x - x.amax(dim, keepdim=True))
        / torch.exp(x - x.amax(dim, keepdim=True)).sum(dim, keepdim=True),
        torch_functional=F.softmax, torch_module=torch.nn.Softmax,
    ),
    Activation(
        "log_softmax", "LogSoftmax",
        ulps=(3.0, 13.0),
        formula="log_softmax(x)_i = x_i - log(sum_j exp(x_j)), along dim",
        reference=lambda x, dim: (x - x.amax(dim, keepdim=True))
        - torch.log(torch.exp(x - x.amax(dim, keepdim=True)).sum(dim, keepdim=True)),
        torch_functional=F.log_softmax, torch_module=torch.nn.LogSoftmax,
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
    torch_functional: Optional[Callable] = None
    torch_module: Optional[type] = None
    formula: str = ""
    # read from the C++ table (csrc/op_table.h), never written in a row
    kind: str = field(default="", init=False)  # GATED
    act: str = field(default="", init=False)  # the pointwise activation applied to a, by registry name
    split: bool = field(default=False, init=False)
    act_second: bool = field(default=False, init=False)  # glu: a is the second half
    params: tuple = field(default=(), init=False)  # (name, default) after dim (split) or after gate, up (*_mul)
    ops: tuple = field(default=(), init=False)

    def __post_init__(self):
        _from_table(self, GATED, 2, act="act", split="split", act_second="act_second")

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

    def in_torch(self, *args):
        """The op in torch's own ops (args as the op takes them): the twin, or
        act(a) * b with the activation's twin or composite."""
        if self.split:
            x, dim, *params = args
            a, b = self.halves(x, dim)
        else:
            a, b, *params = args
        return BY_NAME[self.act].in_torch(a, *params) * b


GATED_ACTIVATIONS = (
    GatedActivation("glu", "GLU", torch_functional=F.glu, torch_module=torch.nn.GLU,
                    formula="glu(x) = x1 * sigmoid(x2), x1 and x2 the halves of x along dim"),
    GatedActivation("swiglu", "SwiGLU", formula="swiglu(x) = silu(x1) * x2"),
    GatedActivation("geglu", "GeGLU", formula="geglu(x) = gelu(x1) * x2"),
    GatedActivation("reglu", "ReGLU", formula="reglu(x) = relu(x1) * x2"),
    GatedActivation("silu_mul", None, formula="silu_mul(gate, up) = silu(gate) * up"),
    GatedActivation("gelu_mul", None, formula="gelu_mul(gate, up) = gelu(gate) * up"),
    GatedActivation("relu_mul", None, formula="relu_mul(gate, up) = relu(gate) * up"),
)

_UNLISTED = [name for name in TABLE if name not in {row.name for row in ACTIVATIONS + GATED_ACTIVATIONS}]
if _UNLISTED:
    raise ImportError(f"torch_activations.registry: no registry row for {', '.join(_UNLISTED)} "
                      "(csrc/op_table.h lists them): add one with its reference expression")

# ------------------------------------------------------------------- bias

# What torch_activations.functional.bias_activation takes: every pointwise
# activation, and the split gated ones (the bias then of the full width,
# added before the halves are taken along the last dimension).
BIASED = tuple(a for a in ACTIVATIONS if a.kind == POINTWISE) + tuple(g for g in GATED_ACTIVATIONS if g.split)
BIASED_BY_NAME = {spec.name: spec for spec in BIASED}

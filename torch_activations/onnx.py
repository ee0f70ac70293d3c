"""ONNX export of every op, with no argument to torch.onnx.export.

Both of torch's exporters learn the ops once torch.onnx is imported (the
registration waits for that import, so ``import torch_activations`` never
pays for it):

- ``torch.onnx.export(..., dynamo=True)`` decomposes each op into the plain
  torch ops of its twin (``decompositions()``, from the registry: the torch
  twin, or the composite a user writes where torch has none; added to the
  exporter's own table of decompositions, not to torch._decomp's, which
  Inductor reads too), which the
  exporter translates to standard ONNX operators (Relu, LeakyRelu, PRelu,
  Clip, Elu, Selu, Celu, Sigmoid, Tanh, HardSwish, HardSigmoid, Mish, Gelu or
  its erf / tanh form below opset 20, Softplus, Softmax, LogSoftmax).
- ``torch.onnx.export(..., dynamo=False)`` (the TorchScript exporter) gets a
  symbolic function per op (``register_symbolics()``), built from one ONNX
  expression per pointwise activation; the gated, bias and coded families
  compose them.

The saved= modes are training-only: their ops export as the plain op (the
codes are never an output). ``register()`` does both registrations at once,
for code that imports torch.onnx before this package.
"""

import math

import torch

from .registry import BY_NAME, GATED_ACTIVATIONS, TABLE

ops = torch.ops.torch_activations
_GATED = {g.name: g for g in GATED_ACTIVATIONS}
_TORCHSCRIPT_OPSET = 13  # Softmax and LogSoftmax over a single axis


# --------------------------------------------------------- dynamo=True: decompositions

def _family_math(entry):
    """{op name: decomposition} of one table entry's forward ops."""
    name = entry["name"]
    if entry["kind"] == "pointwise":
        f = BY_NAME[name].in_torch

        def inplace(x, *params):
            x.copy_(f(x, *params))

        table = {name: f, f"{name}_": inplace, entry["bias"]: lambda x, bias, *p: f(x + bias, *p)}
        if entry["code_bits"]:
            def coded(x, *params):
                return f(x, *params), torch.zeros((x.numel() * entry["code_bits"] + 7) // 8, dtype=torch.uint8,
                                                  device=x.device)
            table[f"{name}_coded"] = coded
        return table
    if entry["kind"] == "gated":
        gated = _GATED[name]
        table = {name: gated.in_torch}
        if gated.split:
            table[entry["bias"]] = lambda x, bias, *p: gated.in_torch(x + bias, -1, *p)
        return table
    return {name: BY_NAME[name].in_torch}  # channelwise and softmax kinds


def decompositions():
    """{op overload: its decomposition into torch's own ops} for every forward op."""
    table = {}
    for entry in TABLE.values():
        for name, fn in _family_math(entry).items():
            table[getattr(ops, name).default] = fn
    return table


def register_decompositions():
    """Let the dynamo exporter decompose the ops: its table of decompositions
    (one per export, for every op that has no ONNX translation of its own)
    gains ours. Only the exporter's: torch._decomp's global table is read by
    Inductor too, which must keep the ops opaque."""
    from torch.onnx._internal.exporter import _decomp

    tabled = _decomp.create_onnx_friendly_decomposition_table
    if getattr(tabled, "_torch_activations", False):
        return

    def with_ours(onnx_registered_ops):
        table = tabled(onnx_registered_ops)
        for op, fn in decompositions().items():
            if op not in onnx_registered_ops:
                table.setdefault(op, fn)
        return table

    with_ours._torch_activations = True
    _decomp.create_onnx_friendly_decomposition_table = with_ours


# ------------------------------------------------ dynamo=False: symbolic functions

_DTYPES = {"Float": torch.float32, "Double": torch.float64, "Half": torch.float16, "BFloat16": torch.bfloat16}


def _like(g, x, value):
    """A scalar constant in x's dtype (CastLike where the trace lost it, opset 15 on)."""
    known = _DTYPES.get(getattr(x.type(), "scalarType", lambda: None)())
    if known is None and g.opset >= 15:
        return g.op("CastLike", g.op("Constant", value_t=torch.tensor(value, dtype=torch.float32)), x)
    return g.op("Constant", value_t=torch.tensor(value, dtype=known or torch.float32))


def _gelu(g, x, approximate):
    if g.opset >= 20:
        return g.op("Gelu", x, approximate_s=approximate)
    half = g.op("Mul", x, _like(g, x, 0.5))
    if approximate == "tanh":
        inner = g.op("Mul", g.op("Add", x, g.op("Mul", _like(g, x, 0.044715), g.op("Mul", x, g.op("Mul", x, x)))),
                     _like(g, x, math.sqrt(2 / math.pi)))
        return g.op("Mul", half, g.op("Add", _like(g, x, 1.0), g.op("Tanh", inner)))
    erf = g.op("Erf", g.op("Mul", x, _like(g, x, 1 / math.sqrt(2))))
    return g.op("Mul", half, g.op("Add", _like(g, x, 1.0), erf))


def _softplus(g, x, beta, threshold):
    scaled = g.op("Mul", x, _like(g, x, beta))
    soft = g.op("Div", g.op("Softplus", scaled), _like(g, x, beta))
    return g.op("Where", g.op("Greater", scaled, _like(g, x, threshold)), x, soft)


def _mish(g, x):
    if g.opset >= 18:
        return g.op("Mish", x)
    return g.op("Mul", x, g.op("Tanh", g.op("Softplus", x)))


def _clip(g, x, lo, hi):
    return g.op("Clip", x, _like(g, x, lo), _like(g, x, hi))


# One ONNX expression per pointwise activation: (g, x, *params) -> value.
SYMBOLICS = {
    "relu": lambda g, x: g.op("Relu", x),
    "leaky_relu": lambda g, x, slope: g.op("LeakyRelu", x, alpha_f=slope),
    "relu6": lambda g, x: _clip(g, x, 0.0, 6.0),
    "leaky_relu6": lambda g, x, slope: g.op("Min", g.op("LeakyRelu", x, alpha_f=slope), _like(g, x, 6.0)),
    "elu": lambda g, x, alpha: g.op("Elu", x, alpha_f=alpha),
    "selu": lambda g, x: g.op("Selu", x),
    "celu": lambda g, x, alpha: g.op("Celu", x, alpha_f=alpha),
    "sigmoid": lambda g, x: g.op("Sigmoid", x),
    "tanh": lambda g, x: g.op("Tanh", x),
    "silu": lambda g, x: g.op("Mul", x, g.op("Sigmoid", x)),
    "swish": lambda g, x, beta: g.op("Mul", x, g.op("Sigmoid", g.op("Mul", x, _like(g, x, beta)))),
    "hardswish": lambda g, x: g.op("HardSwish", x),
    "hardsigmoid": lambda g, x: g.op("HardSigmoid", x, alpha_f=1 / 6, beta_f=0.5),
    "mish": _mish,
    "gelu": _gelu,
    "softplus": _softplus,
    "softsign": lambda g, x: g.op("Softsign", x),
}


def _params(spec, values):
    """The constant parameter values of a TorchScript call, as Python values."""
    from torch.onnx import symbolic_helper

    kinds = ["s" if isinstance(d, str) else "f" for d in spec.defaults]
    return [symbolic_helper._maybe_get_const(v, k) for v, k in zip(values, kinds)]


def _channel_weight(g, x, weight):
    """A PReLU weight of C elements shaped (C, 1, ...) to broadcast over x from dim 1."""
    from torch.onnx import symbolic_helper

    rank = symbolic_helper._get_tensor_rank(x)
    if rank is not None and rank > 2:
        return g.op("Unsqueeze", weight, g.op("Constant", value_t=torch.arange(1, rank - 1)))
    return weight


def _split_halves(g, x, dim):
    """The two equal halves of x along dim."""
    if g.opset >= 18:
        return g.op("Split", x, axis_i=dim, num_outputs_i=2, outputs=2)
    return g.op("Split", x, axis_i=dim, outputs=2)


def _family_symbolics(entry):
    """{op name: symbolic(g, *args)} of one table entry's forward ops."""
    from torch.onnx import symbolic_helper

    name = entry["name"]
    if entry["kind"] == "pointwise":
        spec, act = BY_NAME[name], SYMBOLICS[name]

        def plain(g, x, *values):
            return act(g, x, *_params(spec, values))

        def coded(g, x, *values):
            return plain(g, x, *values), g.op("Constant", value_t=torch.zeros(0, dtype=torch.uint8))

        table = {name: plain, entry["bias"]: lambda g, x, bias, *values: plain(g, g.op("Add", x, bias), *values)}
        if entry["code_bits"]:
            table[f"{name}_coded"] = coded
        return table
    if entry["kind"] == "channelwise":
        if name == "prelu":
            return {name: lambda g, x, w: g.op("PRelu", x, _channel_weight(g, x, w))}
        return {name: lambda g, x, beta: g.op("Mul", x, g.op("Sigmoid", g.op("Mul", x, beta)))}
    if entry["kind"] == "gated":
        gated = _GATED[name]
        act, act_spec = SYMBOLICS[gated.act], BY_NAME[gated.act]

        def halves(g, x, dim):
            rank = symbolic_helper._get_tensor_rank(x)
            a, b = _split_halves(g, x, dim % rank if rank is not None else dim)
            return (b, a) if gated.act_second else (a, b)

        if gated.split:
            def split(g, x, dim, *values):
                a, b = halves(g, x, symbolic_helper._maybe_get_const(dim, "i"))
                return g.op("Mul", act(g, a, *_params(act_spec, values)), b)

            return {name: split, entry["bias"]: lambda g, x, bias, *values: split(g, g.op("Add", x, bias), -1, *values)}
        return {name: lambda g, gate, up, *values: g.op("Mul", act(g, gate, *_params(act_spec, values)), up)}
    onnx_op = "LogSoftmax" if name == "log_softmax" else "Softmax"
    return {name: lambda g, x, dim: g.op(onnx_op, x, axis_i=symbolic_helper._maybe_get_const(dim, "i"))}


def register_symbolics():
    """Symbolic functions of every forward op for the TorchScript exporter."""
    for entry in TABLE.values():
        for name, fn in _family_symbolics(entry).items():
            torch.onnx.register_custom_op_symbolic(f"torch_activations::{name}", fn, _TORCHSCRIPT_OPSET)


def register():
    register_decompositions()
    register_symbolics()

"""saved=: what backward keeps for a pointwise activation, chosen per call
(torch_activations.functional) and per module (torch_activations.nn).

- "auto" (default): exact, the least memory that stays exact: the output
  where the derivative follows from it, else the input (the C++ autograd).
- "input": the input; where "auto" keeps the output, backward recomputes it
  from the input first (one more forward pass in backward).
- "output": the output; only where the derivative follows from it exactly
  (else a ValueError), which is what "auto" does there.
- "mask" (exact, piecewise-linear ops): a code per element, packed: 1 bit
  for relu and leaky_relu, 2 bits for relu6, leaky_relu6 and hardsigmoid.
- "uint8" (approximate, gelu, silu, swish, mish, hardswish): the derivative
  rounded to a multiple of 1/126 in one byte, so each gradient element is off
  by at most |grad| / 252 (0, 1/2 and 1 are exact).

The coded modes run torch.ops.torch_activations.<op>_coded (output and
codes) and <op>_coded_backward (gradient from the codes), whose autograd is
C++; the second-order formula is registered here. A call that records no
graph (no grad mode, or an input that does not require grad) runs as "auto":
nothing is saved either way.
"""

import torch

from . import _ops
from ._dispatch import eager
from ._library import _C
from .registry import BY_NAME, POINTWISE

ops = torch.ops.torch_activations

MODES = ("auto", "input", "output", "mask", "uint8")
UINT8_GRADIENT_ERROR = 1 / 252  # bound on |grad_x - exact| / |grad| with saved="uint8"


def modes(spec):
    """The saved= modes an op accepts ("output" only where it is exact for
    some parameters: the call checks its own)."""
    if spec.kind != POINTWISE:
        return ("auto",)
    return ("auto", "input") + (("output",) if spec.saves == "output" else ()) + ((spec.coded,) if spec.coded else ())


def scripted_saved(saved: str) -> None:
    """A scripted module's check of its saved= mode (TorchScript runs "auto" only)."""
    if saved != "auto":
        raise RuntimeError("torch_activations: a scripted module runs saved='auto' only, got saved='" + saved
                           + "' (eager, torch.compile and torch.export run every mode)")


def saved_repr(base: str, saved: str) -> str:
    """A module's extra_repr with its saved= mode, where not "auto"."""
    if saved == "auto":
        return base
    return f"{base}, saved={saved!r}" if base else f"saved={saved!r}"


def check(name, saved):
    """`saved` itself, if op `name` accepts it; else a ValueError naming both."""
    spec = BY_NAME[name]
    if saved in modes(spec):
        return saved
    if not isinstance(saved, str) or saved not in MODES:
        raise ValueError(f"torch_activations.{name}: saved must be one of {', '.join(map(repr, MODES))}, got {saved!r}")
    takers = ", ".join(s.name for s in BY_NAME.values() if s.coded == saved)
    why = {
        "output": "its derivative cannot be computed from its output",
        "mask": f"it is not piecewise linear (mask is for {takers})",
        "uint8": f"uint8 is for {takers}",
    }.get(saved, "it has no such mode")
    raise ValueError(f"torch_activations.{name}: saved={saved!r} is not available: {why}; "
                     f"it takes {', '.join(map(repr, modes(spec)))}")


class _InputSaved(torch.autograd.Function):
    """An op that would keep its output, keeping its input instead: backward
    recomputes the output (differentiably, so double backward works)."""

    @staticmethod
    def forward(x, name, params):
        return getattr(ops, name)(x, *params)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, ctx.name, ctx.params = inputs
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        y = getattr(ops, ctx.name)(x, *ctx.params)
        return getattr(ops, f"{ctx.name}_backward")(grad, y, *ctx.params), None, None


def call(name, x, params, inplace, saved):
    """The activation `name` on x with saved= `saved` (validated here)."""
    if saved == _CODED_MODE.get(name) and not inplace and torch.is_grad_enabled() and x.requires_grad \
            and eager(x):
        return _CODED_BINDING[name](x, *params)[0]  # the common case, first: its per-call cost is the op's
    spec = BY_NAME[name]
    check(name, saved)
    plain = getattr(ops, f"{name}_" if inplace else name)
    if saved == "output":
        if not _ops.saves_output(spec, x, *params):
            raise ValueError(f"torch_activations.{name}: saved='output' is not exact for parameters {params} "
                             f"and a {x.dtype} input of this layout; backward needs the input here")
        saved = "auto"  # what auto keeps here
    elif saved == "input" and not _ops.saves_output(spec, x, *params):
        saved = "auto"
    if saved == "auto" or not (torch.is_grad_enabled() and x.requires_grad):
        out = plain(x, *params)
        return x if inplace else out
    if saved == "input":
        out = _InputSaved.apply(x.clone() if inplace else x, name, tuple(params))  # the input outlives the write
    else:
        out = (_CODED_BINDING[name] if eager(x) else getattr(ops, f"{name}_coded"))(x, *params)[0]
    if inplace:  # computed aside, then written: autograd's own in-place checks and version counter
        return x.copy_(out)
    return out


def _register_coded(spec):
    """The second-order formula of <op>_coded_backward (its autograd is C++,
    csrc/autograd.h): grad_x = grad * f'(x) from codes is linear in grad, and
    a piecewise-linear op's second derivative is 0. (uint8 refuses a graph of
    its backward before it gets here.)"""
    coded_backward = getattr(ops, f"{spec.name}_coded_backward")

    def second_order(saved, grads, *params):
        (_grad, codes), (grad_grad_x,) = saved, grads
        if grad_grad_x is None:
            return None, None
        return coded_backward(grad_grad_x, codes, *params), None

    _C._register_second_order(f"{spec.name}_coded_backward", second_order)


_CODED_MODE = {spec.name: spec.coded for spec in BY_NAME.values() if spec.coded}
_CODED_BINDING = {name: getattr(_C, f"{name}_coded") for name in _CODED_MODE}
for _name in _CODED_MODE:
    _register_coded(BY_NAME[_name])

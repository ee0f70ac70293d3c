"""The gated MLP of a transformer block, down(act(gate(x)) * up(x)), fused.

torch.nn's composition keeps four intermediate-sized tensors for backward:
the gate (the activation's backward), act(gate) and up (the product's),
and the product (down's input). ``GatedMLP`` runs the gate and up
projections with torch's own GEMMs, then act(gate) * up and down as one
autograd node that keeps gate and up alone: the product, one pointwise pass
away, is computed again in backward for down's weight gradient
(``recompute=True``, the default; ``False`` keeps it). The projections are
the very modules of the model it replaces, under their own names, so the
Parameters, ``state_dict`` keys and a checkpoint are the same either way.

``from_module`` knows the MLP classes of Hugging Face (Llama, Mistral,
Qwen2, Qwen3, Gemma, Gemma 2 and 3, Phi-3, T5's gated form) and timm
(``GluMlp``, ``SwiGLU``) by module and name, reading each one's forward as
written there; ``torch_activations.convert(model, fuse=True)`` uses it. A
class it does not know is never guessed at.
"""

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

ops = torch.ops.torch_activations

# The gated ops per activation: (two-tensor op, split op with the activated
# half first, split op with it second), None where the library has none.
_GATINGS = {
    "silu": ("silu_mul", "swiglu", None),
    "gelu": ("gelu_mul", "geglu", None),
    "relu": ("relu_mul", "reglu", None),
    "sigmoid": (None, None, "glu"),
}


@dataclass(frozen=True)
class Gating:
    """How act(gate) * up is computed from the projections' outputs: one
    merged output split in halves (`half`: the activated one, 0 or 1), or
    two outputs. `params`: the activation's (GELU's approximate)."""

    activation: str
    params: Tuple = ()
    merged: bool = False
    half: int = 0

    def _ops(self):
        return _GATINGS.get(self.activation, (None, None, None))

    def op_name(self) -> Optional[str]:
        mul, first, second = self._ops()
        if not self.merged:
            return mul
        return first if self.half == 0 else second

    def split_op(self) -> bool:
        """A merged output gated by one split op (else its halves go to the two-tensor op)."""
        mul, first, second = self._ops()
        return self.merged and (first if self.half == 0 else second) is not None

    def supported(self) -> bool:
        return self.split_op() or self._ops()[0] is not None

    def inputs(self, projected: Tuple[Tensor, ...]) -> Tuple[Tensor, ...]:
        """The tensors the gated op takes (and backward keeps)."""
        if not self.merged or self.split_op():
            return projected
        a, b = projected[0].chunk(2, dim=-1)
        return (a, b) if self.half == 0 else (b, a)

    def forward(self, *inputs: Tensor) -> Tensor:
        if self.split_op():
            return getattr(ops, self.op_name())(inputs[0], -1, *self.params)
        return getattr(ops, _GATINGS[self.activation][0])(*inputs, *self.params)

    def backward(self, grad: Tensor, *inputs: Tensor) -> Tuple[Tensor, ...]:
        if self.split_op():
            return (getattr(ops, self.op_name() + "_backward")(grad, inputs[0], -1, *self.params),)
        return tuple(getattr(ops, _GATINGS[self.activation][0] + "_backward")(grad, *inputs, *self.params))


class _GatedDown(torch.autograd.Function):
    """down(act(gate) * up) keeping gate and up (and, without recompute, the product)."""

    @staticmethod
    def forward(ctx, gating: Gating, recompute: bool, weight: Tensor, bias: Optional[Tensor], *inputs: Tensor):
        hidden = gating.forward(*inputs)
        ctx.gating, ctx.recompute, ctx.has_bias = gating, recompute, bias is not None
        ctx.save_for_backward(weight, *inputs, *(() if recompute else (hidden,)))
        return F.linear(hidden, weight, bias)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        weight, *rest = ctx.saved_tensors
        inputs = tuple(rest if ctx.recompute else rest[:-1])
        needs = ctx.needs_input_grad
        grad_weight = grad_bias = None
        grad_rows = grad_out.reshape(-1, grad_out.shape[-1])
        if needs[2]:
            hidden = ctx.gating.forward(*inputs) if ctx.recompute else rest[-1]
            grad_weight = grad_rows.t().mm(hidden.reshape(-1, hidden.shape[-1]))
        if ctx.has_bias and needs[3]:
            grad_bias = grad_rows.sum(0)
        grads = (None,) * len(inputs)
        if any(needs[4:]):
            grads = ctx.gating.backward(grad_out.matmul(weight), *inputs)
        return (None, None, grad_weight, grad_bias, *grads)


class GatedMLP(torch.nn.Module):
    """down(dropout(act(gate(x)) * up(x))), one autograd node past the
    projections: backward keeps x, the projections' outputs and the weights,
    not the product (``recompute=True``) nor act(gate).

    Built anew: ``GatedMLP(hidden, intermediate, activation="silu")`` holds
    ``gate_proj``, ``up_proj`` and ``down_proj`` (Hugging Face Llama's names).
    Or from a model's own MLP with ``GatedMLP.from_module(mlp)`` (see
    ``torch_activations.convert(model, fuse=True)``), keeping its modules
    under their names.

    activation: "silu", "gelu" (with ``approximate``), "relu", or "sigmoid"
    (GLU; a merged projection whose second half is the gate).
    """

    def __init__(self, hidden_size: int = 0, intermediate_size: int = 0, activation: str = "silu", *,
                 approximate: str = "none", bias: bool = False, recompute: bool = True,
                 modules: Optional[Dict[str, torch.nn.Module]] = None, roles: Optional[Dict[str, str]] = None,
                 gating: Optional[Gating] = None, cast_to_down: bool = False):
        super().__init__()
        if modules is None:
            modules = {"gate_proj": torch.nn.Linear(hidden_size, intermediate_size, bias=bias),
                       "up_proj": torch.nn.Linear(hidden_size, intermediate_size, bias=bias),
                       "down_proj": torch.nn.Linear(intermediate_size, hidden_size, bias=bias)}
            roles = {"gate": "gate_proj", "up": "up_proj", "down": "down_proj"}
            params = (approximate,) if activation == "gelu" else ()
            gating = Gating(activation, params)
        if not gating.supported():
            raise ValueError(f"torch_activations.GatedMLP: no fused gated op for activation {gating.activation!r} "
                             f"({'merged' if gating.merged else 'two projections'})")
        for name, module in modules.items():
            self.add_module(name, module)
        self.roles, self.gating, self.recompute, self.cast_to_down = dict(roles), gating, recompute, cast_to_down

    def _part(self, role: str):
        name = self.roles.get(role)
        return None if name is None else getattr(self, name)

    def forward(self, x: Tensor) -> Tensor:
        if "gate_up" in self.roles:
            projected = (self._part("gate_up")(x),)
        else:
            projected = (self._part("gate")(x), self._part("up")(x))
        inputs = self.gating.inputs(projected)
        down, dropout = self._part("down"), self._part("dropout")
        # fused where nothing stands between: no active dropout, no autocast, no
        # dtype cast, and a plain down projection (no hooks, not wrapped by FSDP)
        fused = not (dropout is not None and dropout.training and dropout.p > 0) \
            and not torch.is_autocast_enabled(x.device.type) \
            and type(down) is torch.nn.Linear and not (down._forward_pre_hooks or down._forward_hooks) \
            and not (self.cast_to_down and inputs[0].dtype != down.weight.dtype)
        if fused:
            out = _GatedDown.apply(self.gating, self.recompute, down.weight, down.bias, *inputs)
        else:  # the composition, as the model writes it (dropout between, autocast, a dtype cast)
            hidden = _gated(self.gating, inputs)
            if dropout is not None:
                hidden = dropout(hidden)
            if self.cast_to_down and hidden.dtype != down.weight.dtype:
                hidden = hidden.to(down.weight.dtype)
            out = down(hidden)
        after = self._part("after")
        return out if after is None else after(out)

    def extra_repr(self) -> str:
        g = self.gating
        form = f"merged, gate half {g.half}" if g.merged else "gate and up"
        params = f", {g.params[0]!r}" if g.params else ""
        return f"activation={g.activation!r}{params} ({form}), recompute={self.recompute}"

    @classmethod
    def from_module(cls, module: torch.nn.Module, recompute: bool = True) -> "GatedMLP":
        """The fused form of a known MLP class (raises ValueError for another)."""
        plan = plan_for(module)
        if isinstance(plan, str):
            raise ValueError(f"torch_activations.GatedMLP.from_module: {type(module).__qualname__}: {plan}")
        roles, gating, cast_to_down = plan
        modules = {name: getattr(module, name) for name in roles.values()}
        new = cls(modules=modules, roles=roles, gating=gating, recompute=recompute, cast_to_down=cast_to_down)
        new.train(module.training)
        for hooks in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_forward_hooks_with_kwargs",
                      "_forward_pre_hooks_with_kwargs"):
            if hasattr(module, hooks):
                getattr(new, hooks).update(getattr(module, hooks))
        return new


def _gated(gating: Gating, inputs) -> Tensor:
    """act(gate) * up through the library's op with its autograd (the unfused path)."""
    if gating.split_op():
        return getattr(torch.ops.torch_activations, gating.op_name())(inputs[0], -1, *gating.params)
    return getattr(torch.ops.torch_activations, _GATINGS[gating.activation][0])(*inputs, *gating.params)


# ------------------------------------------------------------ known classes

_HF = "transformers.models."
# Llama's forward, down_proj(act_fn(gate_proj(x)) * up_proj(x)), in each of these
_LLAMA_LIKE = {f"{_HF}{m}.modeling_{m}": c for m, c in [
    ("llama", "LlamaMLP"), ("mistral", "MistralMLP"), ("qwen2", "Qwen2MLP"), ("qwen3", "Qwen3MLP"),
    ("gemma", "GemmaMLP"), ("gemma2", "Gemma2MLP"), ("gemma3", "Gemma3MLP")]}


def _activation_of(module) -> Optional[Gating]:
    """The gated activation a module computes, where the library has its op."""
    from . import nn as ta_nn
    from .convert import _plan

    plan = _plan(module)
    if plan is not None and plan[0] is not None:
        module = plan[1](module)  # this library's twin (torch.nn, Hugging Face or timm class)
    if type(module) is ta_nn.SiLU:
        return Gating("silu")
    if type(module) is ta_nn.GELU:
        return Gating("gelu", (module.approximate,))
    if type(module) is ta_nn.ReLU:
        return Gating("relu")
    if type(module) is ta_nn.Sigmoid:
        return Gating("sigmoid")
    return None


def _plain_linears(module, names) -> Optional[str]:
    """Why the projections cannot be read as plain Linear layers, or None."""
    for name in names:
        part = getattr(module, name, None)
        if type(part) is not torch.nn.Linear:
            return f"its {name} is a {type(part).__qualname__}, not a torch.nn.Linear"
        if part._forward_hooks or part._forward_pre_hooks or getattr(part, "_backward_hooks", None):
            return f"its {name} has hooks of its own"
    return None


def plan_for(module):
    """(roles, gating, cast_to_down) for a known MLP class, or why it is kept
    (a string), or None for a class that is no known MLP."""
    cls = type(module)
    where, name = cls.__module__, cls.__name__
    if _LLAMA_LIKE.get(where) == name:
        roles = {"gate": "gate_proj", "up": "up_proj", "down": "down_proj"}
        act, cast = "act_fn", False
    elif where == f"{_HF}phi3.modeling_phi3" and name == "Phi3MLP":
        roles = {"gate_up": "gate_up_proj", "down": "down_proj"}  # gate, up = gate_up.chunk(2, -1)
        act, cast = "activation_fn", False
    elif where == f"{_HF}t5.modeling_t5" and name == "T5DenseGatedActDense":
        roles = {"gate": "wi_0", "up": "wi_1", "down": "wo", "dropout": "dropout"}
        act, cast = "act", True  # T5 casts the product to wo's dtype
    elif where == "timm.layers.mlp" and name in ("GluMlp", "SwiGLU"):
        if type(getattr(module, "norm", None)) is not torch.nn.Identity:
            return "a norm between the gate and the down projection"
        if name == "GluMlp":
            if getattr(module, "chunk_dim", -1) != -1:
                return "1x1 convolutions (use_conv=True)"
            roles = {"gate_up": "fc1", "down": "fc2"}
        else:
            roles = {"gate": "fc1_g", "up": "fc1_x", "down": "fc2"}
        roles.update(dropout="drop1", norm="norm", after="drop2")
        act, cast = "act", False
    else:
        return None
    why = _plain_linears(module, [roles[r] for r in ("gate", "up", "gate_up", "down") if r in roles])
    if why:
        return why
    gating = _activation_of(getattr(module, act))
    if gating is None:
        return f"its activation {type(getattr(module, act)).__qualname__} has no fused gated op here"
    if "gate_up" in roles:
        half = 1 if name == "GluMlp" and module.gate_last else 0
        gating = Gating(gating.activation, gating.params, merged=True, half=half)
    if not gating.supported():
        return f"no fused gated op for {gating.activation} on {'one merged' if gating.merged else 'two'} projection(s)"
    return roles, gating, cast

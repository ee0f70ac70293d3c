"""What is benchmarked: one row per registry op (plus gelu_tanh), the input
shape each kind gets, and the three competitors (ours, torch eager,
torch.compile of the same torch expression)."""

from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F

import torch_activations as ta
from torch_activations.registry import ACTIVATIONS, CHANNELWISE, POINTWISE, SOFTMAX, Activation

from _timing import Competitor

# Non-default parameters where the default would make the op another op
# (swish with beta=1 is silu) or where torch's default is deprecated (softmax dim).
BENCH_PARAMS = {
    "swish": {"beta": 1.5},
    "softmax": {"dim": -1},
    "log_softmax": {"dim": -1},
}
# Extra rows for parameter values that select a different kernel.
EXTRA_ROWS = {"gelu": (("gelu_tanh", {"approximate": "tanh"}),)}
LEARNABLE_BETA = 1.5
PRELU_WEIGHT = 0.25


# What a user writes where torch has no fused op of its own (the registry's composites).
COMPOSITES = {s.name: s.composite for s in ACTIVATIONS if s.composite is not None}
# Our entry points whose functional name differs from the op name.
OUR_ENTRY_POINTS = {"swish_learnable": ta.functional.swish}

CHANNELS, PLANE = 64, 64 * 64  # channelwise input: (n // PLANE, CHANNELS, 64), weight per channel
SOFTMAX_ROW = 1024
SWEEP_ROWS = (128, 1024, 8192, 32768)


@dataclass(frozen=True)
class OpRow:
    label: str
    spec: Activation
    kwargs: Tuple[Tuple[str, object], ...] = ()  # the op's parameters, passed by name
    row_length: Optional[int] = None  # softmax kinds: elements per row
    row_sweep: bool = False  # part of the softmax row-length sweep

    @property
    def params(self) -> Dict[str, object]:
        return dict(self.kwargs)

    @property
    def is_composite(self) -> bool:
        return self.spec.torch_functional is None


def _row(spec, label=None, params=None, row_length=None, row_sweep=False):
    params = params if params is not None else BENCH_PARAMS.get(spec.name, dict(spec.params))
    if spec.kind == SOFTMAX and row_length is None:
        row_length = SOFTMAX_ROW
    return OpRow(label or spec.name, spec, tuple(params.items()), row_length, row_sweep)


def op_rows(names=None):
    """The main rows, in registry order; `names` filters by row label or op name."""
    rows = []
    for spec in ACTIVATIONS:
        rows.append(_row(spec))
        rows += [_row(spec, label, params) for label, params in EXTRA_ROWS.get(spec.name, ())]
    return [r for r in rows if names is None or r.label in names or r.spec.name in names]


def twin_rows(names=None):
    """The main rows whose op has a torch twin (no composites)."""
    return [r for r in op_rows(names) if not r.is_composite]


def row_length_rows(names=None):
    """Softmax kinds at each row length of the sweep."""
    return [
        _row(spec, f"{spec.name}[row={length}]", row_length=length, row_sweep=True)
        for spec in ACTIVATIONS
        if spec.kind == SOFTMAX and (names is None or spec.name in names)
        for length in SWEEP_ROWS
    ]


def known_names():
    return {r.label for r in op_rows()} | {s.name for s in ACTIVATIONS}


def check_coverage():
    """Every op needs a torch twin or a composite, else it has no baseline."""
    missing = [s.name for s in ACTIVATIONS if s.torch_functional is None and s.name not in COMPOSITES]
    if missing:
        raise SystemExit(f"no torch baseline for {missing}: add a composite to COMPOSITES")


def input_shape(row: OpRow, n: int):
    if row.spec.kind == POINTWISE:
        return (n,)
    if row.spec.kind == CHANNELWISE:
        return (max(1, n // PLANE), CHANNELS, PLANE // CHANNELS)
    return (max(1, n // row.row_length), row.row_length)


def torch_function(row: OpRow) -> Callable:
    return row.spec.torch_functional or COMPOSITES[row.spec.name]


def our_function(row: OpRow) -> Callable:
    return OUR_ENTRY_POINTS.get(row.spec.name) or getattr(ta.functional, row.spec.name)


@dataclass
class CaseInputs:
    x: torch.Tensor
    weights: Tuple[torch.Tensor, ...]  # prelu's weight, swish_learnable's beta
    grad: Optional[torch.Tensor]  # the upstream gradient, fwdbwd only
    leaves: Tuple[torch.Tensor, ...] = field(default=())

    @property
    def numel(self):
        return self.x.numel()


def _weights(row, dtype, device):
    if row.spec.name == "prelu":
        return (PRELU_WEIGHT + 0.1 * torch.randn(CHANNELS, device=device)).to(dtype),
    if row.spec.name == "swish_learnable":
        return torch.full((1,), LEARNABLE_BETA, dtype=dtype, device=device),
    if row.spec.kind == CHANNELWISE:
        raise SystemExit(f"no benchmark weight for channelwise op {row.spec.name}")
    return ()


def make_inputs(row: OpRow, dtype, n: int, device: str, backward: bool, seed: int) -> CaseInputs:
    """Normal * 3 inputs (both signs, beyond the kinks of relu6 and hardswish)."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    x = (3 * torch.randn(input_shape(row, n), device=device)).to(dtype)
    weights = _weights(row, dtype, device)
    grad = torch.randn(x.shape, device=device).to(dtype) if backward else None
    torch.random.set_rng_state(generator_state)
    leaves = (x, *weights) if backward else ()
    for leaf in leaves:
        leaf.requires_grad_(True)
    return CaseInputs(x, weights, grad, leaves)


def competitor(fn: Callable, row: OpRow, inputs: CaseInputs) -> Competitor:
    """A timed call: forward under no_grad, or forward then backward(grad)
    with the gradients cleared (set to None) untimed after each call."""
    kwargs = row.params
    if inputs.grad is None:
        def forward():
            with torch.no_grad():
                fn(inputs.x, *inputs.weights, **kwargs)
        return Competitor(forward)

    def forward_backward():
        fn(inputs.x, *inputs.weights, **kwargs).backward(inputs.grad)

    def clear_grads():
        for leaf in inputs.leaves:
            leaf.grad = None

    return Competitor(forward_backward, clear_grads)


def overhead_competitor(fn: Callable, row: OpRow, dtype, device: str, grad: bool) -> Competitor:
    """Forward of a one-element tensor: the per-call cost, with the input
    requiring grad (the graph is recorded) or not."""
    x = torch.randn(1, device=device).to(dtype).requires_grad_(grad)
    weights = tuple(w.reshape(-1)[:1].clone().requires_grad_(grad) for w in _weights(row, dtype, device))
    kwargs = row.params

    def forward():
        fn(x, *weights, **kwargs)

    return Competitor(forward)


def agreement(row: OpRow, inputs: CaseInputs, ours: Callable, reference: Callable) -> float:
    """Largest |ours - torch| relative to max(1, |torch|): a fast kernel that is wrong is no result."""
    with torch.no_grad():
        a = ours(inputs.x, *inputs.weights, **row.params).float()
        b = reference(inputs.x, *inputs.weights, **row.params).float()
    return ((a - b).abs() / b.abs().clamp(min=1.0)).max().item()


class CompiledFunctions:
    """One torch.compile(dynamic=True) object per (row, mode): sizes share a
    graph, and fwd and fwdbwd differ in grad mode, which would recompile."""

    def __init__(self):
        torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 1024)
        self._functions = {}

    def get(self, row: OpRow, mode: str) -> Callable:
        key = (row.label, mode)
        if key not in self._functions:
            self._functions[key] = torch.compile(torch_function(row), dynamic=True)
        return self._functions[key]

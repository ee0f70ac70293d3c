"""Shared pieces of the test suite: devices, parameter cases, input makers."""

import torch

import torch_activations as ta
from torch_activations.registry import ACTIVATIONS, CHANNELWISE, POINTWISE, SOFTMAX

# CUDA cases exist only where a GPU does: nothing is skipped and counted.
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

POINTWISE_SPECS = [s for s in ACTIVATIONS if s.kind == POINTWISE]
CHANNELWISE_SPECS = [s for s in ACTIVATIONS if s.kind == CHANNELWISE]
SOFTMAX_SPECS = [s for s in ACTIVATIONS if s.kind == SOFTMAX]
INPLACE_SPECS = [s for s in POINTWISE_SPECS if s.inplace]

# Parameter sets per op: torch's defaults first, then a non-default set.
EXTRA_PARAMS = {
    "leaky_relu": [(0.2,), (-0.5,)],
    "leaky_relu6": [(0.3,)],
    "elu": [(0.7,), (-0.5,)],
    "celu": [(1.5,)],
    "swish": [(1.7,), (-0.4,)],
    "gelu": [("tanh",)],
    "softplus": [(2.0, 5.0), (0.5, 1.0)],
}


def param_cases(spec):
    return [spec.defaults] + EXTRA_PARAMS.get(spec.name, [])


def pointwise_cases():
    """(spec, params) pairs with readable ids."""
    cases, ids = [], []
    for spec in POINTWISE_SPECS:
        for params in param_cases(spec):
            cases.append((spec, params))
            ids.append(spec.name + ("" if params == spec.defaults else "-" + "-".join(map(str, params))))
    return cases, ids


def call(spec, x, params, **kwargs):
    return getattr(ta.functional, spec.name)(x, *params, **kwargs)


def layout_twin(spec):
    """A torch function whose output layout rule the op must follow."""
    if spec.torch_functional is not None:
        return spec.torch_functional
    return torch.nn.functional.silu


def bits(t):
    """A tensor's raw bits, as integers of its element size (NaN payloads and
    signed zeros told apart)."""
    return t.view({1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


def make_input(shape, dtype=torch.float64, device="cpu", kinks=(), nonfinite=False, scale=3.0, seed=None):
    """Random values of both signs with edge values planted at random places:
    0, large magnitudes, the op's kinks and, if asked, NaN and +-Inf."""
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    x = torch.randn(shape, dtype=torch.float64, generator=gen) * scale
    edges = [0.0, -0.0, 1e4, -1e4, 30.0, -30.0, 1e-3, -1e-3, *kinks]
    if nonfinite:
        edges += [float("nan"), float("inf"), float("-inf")]
    flat = x.view(-1)
    if flat.numel() >= len(edges) * 2:
        where = torch.randperm(flat.numel(), generator=gen)[: len(edges)]
        flat[where] = torch.tensor(edges, dtype=torch.float64)
    return x.to(dtype=dtype, device=device)


def away_from_kinks(x, kinks, margin=1e-2):
    """Moves values within `margin` of a kink away from it (for finite differences)."""
    for k in kinks:
        near = (x - k).abs() < margin
        x = torch.where(near, x + 2 * margin, x)
    return x


TOLERANCES = {  # (rtol, atol) against a float64 reference
    torch.float64: (1e-7, 1e-7),
    torch.float32: (2e-5, 2e-5),
    torch.float16: (4e-3, 4e-3),
    torch.bfloat16: (3e-2, 3e-2),
}

"""Autocast: every op follows its torch twin's autocast policy (ATen's
autocast_mode.cpp), in dtype and values: on the CPU run here, on CUDA
checked in the dispatcher's registrations (and run by tools/gpu_check.sh
where a GPU exists)."""

import pytest
import torch

import torch_activations as ta
from torch_activations.registry import ACTIVATIONS, BIASED, CHANNELWISE, GATED_ACTIVATIONS, POINTWISE, SOFTMAX

from helpers import TOLERANCES, make_input, param_cases

LOW = torch.bfloat16


def _ours_and_torch(spec, params):
    """(ours, torch's) as callables of one float tensor, for every table row."""
    if spec.kind == POINTWISE:
        return (lambda x: getattr(ta.functional, spec.name)(x, *params), lambda x: spec.in_torch(x, *params))
    if spec.kind == SOFTMAX:
        return (lambda x: getattr(ta.functional, spec.name)(x, -1), lambda x: spec.in_torch(x, -1))
    weight = torch.rand(4) * 0.5 if spec.name == "prelu" else torch.tensor([1.3])  # float32, as nn's parameters
    op = ta.functional.prelu if spec.name == "prelu" else (lambda x, w: ta.functional.swish(x, w))
    return (lambda x: op(x, weight), lambda x: spec.in_torch(x, weight))


def _cases():
    cases, ids = [], []
    for spec in ACTIVATIONS:
        for params in (param_cases(spec) if spec.kind == POINTWISE else [()]):
            cases.append((spec, params))
            ids.append(spec.name + "".join(f"-{p}" for p in params if params != spec.defaults))
    return cases, ids


CASES, IDS = _cases()


def _inputs(seed):
    """A float32 input, and a bfloat16 one as a linear layer under autocast makes it."""
    x = make_input((6, 4), dtype=torch.float32, seed=seed)
    with torch.autocast("cpu", dtype=LOW):
        made = torch.nn.functional.linear(x, torch.eye(4))
    assert made.dtype == LOW
    return [x, made]


def _check(ours, theirs, rounded_as=None):
    """Same dtype, values within the tolerance of `rounded_as` (default: that dtype)."""
    assert ours.dtype == theirs.dtype
    rtol, atol = TOLERANCES[rounded_as or ours.dtype]
    torch.testing.assert_close(ours, theirs, rtol=rtol, atol=atol, equal_nan=True)


@pytest.mark.parametrize("spec, params", CASES, ids=IDS)
def test_cpu_autocast_dtype_and_values(spec, params):
    ours, theirs = _ours_and_torch(spec, params)
    for i, x in enumerate(_inputs(seed=len(IDS) + len(spec.name))):
        a = x.detach().clone().requires_grad_()
        b = x.detach().clone().requires_grad_()
        with torch.autocast("cpu", dtype=LOW):
            y_ours, y_torch = ours(a), theirs(b)
        _check(y_ours, y_torch)
        g = torch.randn_like(y_torch)
        (ga,), (gb,) = torch.autograd.grad(y_ours, a, g), torch.autograd.grad(y_torch, b, g)
        _check(ga, gb)


@pytest.mark.parametrize("gated", GATED_ACTIVATIONS, ids=lambda g: g.name)
def test_cpu_autocast_gated(gated):
    x = _inputs(seed=7)[1].reshape(3, 8)
    with torch.autocast("cpu", dtype=LOW):
        if gated.split:
            ours, theirs = getattr(ta.functional, gated.name)(x, -1), gated.in_torch(x, -1)
        else:
            up = torch.randn(3, 8)  # float32 meets bfloat16: both promote, as torch's * does
            ours, theirs = getattr(ta.functional, gated.name)(x, up), gated.in_torch(x, up)
    # the composite rounds act(gate) to bfloat16 before the float32 product; ours promotes first
    _check(ours, theirs, rounded_as=LOW)


@pytest.mark.parametrize("spec", BIASED, ids=lambda s: s.name)
def test_bias_with_float32_bias(spec):
    """A bfloat16 input and a float32 bias (an nn parameter) promote as input + bias
    does, with autocast on or off."""
    x = _inputs(seed=3)[1]
    bias = torch.randn(4)
    composite = (lambda v: spec.in_torch(v, -1)) if spec.kind == "gated" else spec.in_torch
    for enabled in (False, True):
        with torch.autocast("cpu", dtype=LOW, enabled=enabled):
            ours = ta.functional.bias_activation(x, bias, spec.name)
            theirs = composite(x + bias)
        _check(ours, theirs)


def test_prelu_mixed_dtypes_raise_as_torch():
    """torch's prelu promotes no types (out of autocast), and names the problem."""
    x, weight = torch.randn(3, 4, dtype=LOW), torch.rand(4)
    with pytest.raises(RuntimeError, match="Type promoting not supported"):
        torch.nn.functional.prelu(x, weight)
    with pytest.raises(RuntimeError, match="torch_activations.prelu: input has dtype BFloat16 but weight has dtype Float"):
        ta.functional.prelu(x, weight)


@pytest.mark.parametrize("name", ["swish_learnable", "silu_mul"])
def test_mixed_dtypes_promote_as_the_composite(name):
    x = torch.randn(3, 4, dtype=LOW)
    other = torch.tensor([1.3]) if name == "swish_learnable" else torch.randn(3, 4)
    ours = ta.functional.swish(x, other) if name == "swish_learnable" else ta.functional.silu_mul(x, other)
    theirs = (x * torch.sigmoid(other * x)) if name == "swish_learnable" else torch.nn.functional.silu(x) * other
    _check(ours, theirs, rounded_as=LOW)


def test_softmax_dtype_argument_under_autocast():
    x = _inputs(seed=5)[1]
    with torch.autocast("cpu", dtype=LOW):
        for fn, twin in ((ta.functional.softmax, torch.softmax), (ta.functional.log_softmax, torch.log_softmax)):
            _check(fn(x, -1, dtype=torch.float64), twin(x, -1, dtype=torch.float64))


# --- the dispatcher's registrations: ours at each Autocast key where ATen has its twin's

TWINS_IN_ATEN = {  # our op: ATen's op of the same math
    "relu": "aten::relu", "leaky_relu": "aten::leaky_relu", "relu6": "aten::relu6", "elu": "aten::elu",
    "selu": "aten::selu", "celu": "aten::celu", "sigmoid": "aten::sigmoid", "tanh": "aten::tanh",
    "silu": "aten::silu", "hardswish": "aten::hardswish", "hardsigmoid": "aten::hardsigmoid", "mish": "aten::mish",
    "gelu": "aten::gelu", "softplus": "aten::softplus", "softmax": "aten::softmax.int",
    "log_softmax": "aten::log_softmax.int", "prelu": "aten::prelu", "glu": "aten::glu",
}


def _has_kernel(op, key):
    return torch._C._dispatch_has_kernel_for_dispatch_key(op, key)


@pytest.mark.parametrize("key", ["AutocastCUDA", "AutocastCPU"])
def test_autocast_registrations_match_aten(key):
    assert _has_kernel("aten::softplus", "AutocastCUDA"), "the check reads ATen's registrations"
    wrong = [ours for ours, aten in TWINS_IN_ATEN.items()
             if _has_kernel(f"torch_activations::{ours}", key) != _has_kernel(aten, key)]
    assert not wrong, f"{key}: autocast registration differs from ATen's twin for {wrong}"
    # the bias form of softplus ends in softplus: the composite runs it in float32 on CUDA
    assert _has_kernel("torch_activations::bias_softplus", key) == _has_kernel("aten::softplus", key)
    # backward ops run in the dtype forward gave them
    assert not any(_has_kernel(f"torch_activations::{name}_backward", key) for name in TWINS_IN_ATEN)


if torch.cuda.is_available():  # defined only where it runs (tools/gpu_check.sh on a GPU machine)

    @pytest.mark.parametrize("spec, params", CASES, ids=IDS)
    def test_cuda_autocast_dtype_and_values(spec, params):
        ours, theirs = _ours_and_torch(spec, params)
        x = make_input((6, 4), dtype=torch.float16, device="cuda", seed=1)
        with torch.autocast("cuda", dtype=torch.float16):
            if spec.kind == "channelwise":
                weight = torch.rand(4 if spec.name == "prelu" else 1, device="cuda")
                op = ta.functional.prelu if spec.name == "prelu" else ta.functional.swish
                y_ours, y_torch = op(x, weight), spec.in_torch(x, weight)
            else:
                y_ours, y_torch = ours(x), theirs(x)
        _check(y_ours, y_torch, rounded_as=torch.float16)

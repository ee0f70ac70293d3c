"""What backward keeps: the output wherever the derivative follows from it
exactly, so that in Linear -> act -> Linear the activation adds no saved
bytes of its own (the second Linear keeps the output anyway)."""

import pytest
import torch

import torch_activations as ta
from torch_activations._ops import saves_output
from torch_activations.registry import get

from helpers import TOLERANCES, make_input

# (op, params, dtype) -> extra saved bytes per element of the activation,
# written out here rather than derived from the library's own rule.
OUTPUT_SAVING = ["relu", "leaky_relu", "relu6", "leaky_relu6", "elu", "selu", "celu", "sigmoid", "tanh",
                 "softplus", "softmax", "log_softmax"]
INPUT_SAVING = ["silu", "swish", "hardswish", "hardsigmoid", "mish", "gelu"]
CASES = (
    [(name, None, torch.float32, 0) for name in OUTPUT_SAVING]
    + [(name, None, torch.float32, 4) for name in INPUT_SAVING]
    + [(name, None, torch.float64, 0) for name in OUTPUT_SAVING if name != "softplus"]
    + [
        ("leaky_relu", (-0.5,), torch.float32, 4),  # y > 0 on both sides
        ("leaky_relu", (0.0,), torch.float32, 0),
        ("leaky_relu6", (-0.5,), torch.float32, 4),
        ("elu", (-0.5,), torch.float32, 4),
        ("elu", (0.0,), torch.float32, 0),
        ("celu", (-1.5,), torch.float32, 0),  # y <= 0 iff x <= 0 for either sign of alpha
        ("softplus", (1.0, 20.0), torch.float64, 8),  # 1 - sigmoid(20) is above float64's roundoff
        ("softplus", (1.0, 10.0), torch.float32, 4),
        ("softplus", (2.0, 17.0), torch.float32, 0),
        ("softplus", (1.0, 20.0), torch.bfloat16, 0),
        ("elu", None, torch.bfloat16, 2),  # the output's rounding would show in the tail
        ("selu", None, torch.float16, 2),
        ("celu", None, torch.bfloat16, 2),
        ("leaky_relu", None, torch.bfloat16, 0),
        ("leaky_relu6", None, torch.float16, 0),
        ("tanh", None, torch.bfloat16, 0),
    ]
)


def _apply(spec, x, params, inplace=False):
    kwargs = {"inplace": True} if inplace else {}
    if spec.name in ("softmax", "log_softmax"):
        return getattr(ta.functional, spec.name)(x, -1)
    return getattr(ta.functional, spec.name)(x, *params, **kwargs)


def _saved_storages(fn):
    storages = {}

    def pack(tensor):
        storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, storages


def extra_saved_bytes(spec, params, dtype, inplace=False, rows=64):
    """Bytes the activation saves that the Linear after it does not already keep."""
    torch.manual_seed(0)
    first, second = torch.nn.Linear(16, 32).to(dtype), torch.nn.Linear(32, 8).to(dtype)
    x = torch.randn(rows, 16, dtype=dtype)
    hidden = first(x)
    a, by_act = _saved_storages(lambda: _apply(spec, hidden, params, inplace))
    _, by_linear = _saved_storages(lambda: second(a))
    return sum(n for ptr, n in by_act.items() if ptr not in by_linear), hidden.numel()


def _id(case):
    name, params, dtype, _ = case
    return f"{name}-{params}-{str(dtype).split('.')[-1]}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_linear_act_linear_saved_bytes(case):
    name, params, dtype, per_element = case
    spec = get(name)
    params = spec.defaults if params is None else params
    extra, numel = extra_saved_bytes(spec, params, dtype)
    assert extra == per_element * numel, (name, params, dtype, extra / numel)


@pytest.mark.parametrize("name", [n for n in OUTPUT_SAVING if get(n).inplace])
def test_inplace_saves_the_output_without_a_copy(name):
    spec = get(name)
    extra, _ = extra_saved_bytes(spec, spec.defaults, torch.float32, inplace=True)
    assert extra == 0


# Ops whose saved tensor changed with the parameters or the dtype: gradients
# equal torch's (the same math, from the other tensor) on edge values too.
GRADIENT_CASES = [
    ("leaky_relu", (0.01,)), ("leaky_relu", (0.0,)), ("leaky_relu", (-0.5,)),
    ("elu", (1.0,)), ("elu", (0.3,)), ("elu", (-0.5,)), ("selu", ()), ("celu", (1.0,)), ("celu", (-1.5,)),
    ("softplus", (1.0, 20.0)), ("softplus", (2.0, 17.0)), ("softplus", (-1.5, 20.0)), ("softplus", (1.0, 1.0)),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("name,params", GRADIENT_CASES, ids=[f"{n}-{p}" for n, p in GRADIENT_CASES])
def test_gradients_equal_torch(name, params, dtype):
    spec = get(name)
    x = make_input((7, 300), dtype, nonfinite=True, kinks=spec.kinks)
    grad = torch.randn(x.shape, dtype=dtype)
    results = []
    for fn in (lambda v: _apply(spec, v, params), lambda v: spec.torch_functional(v, *params)):
        xr = x.clone().requires_grad_()
        y = fn(xr)
        y.backward(grad)
        results.append((y, xr.grad))
    (y_ours, g_ours), (y_torch, g_torch) = results
    # a NaN input's gradient, and 0 * inf in torch, follow the README's policy (NaN; the limit)
    keep = ~x.isnan() & ~y_torch.isnan()
    y_ours, g_ours, y_torch, g_torch = (t[keep] for t in (y_ours, g_ours, y_torch, g_torch))
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(y_ours, y_torch, rtol=rtol, atol=atol, equal_nan=True)
    torch.testing.assert_close(g_ours, g_torch, rtol=rtol, atol=atol, equal_nan=True)


@pytest.mark.parametrize("name,params", GRADIENT_CASES, ids=[f"{n}-{p}" for n, p in GRADIENT_CASES])
def test_double_backward_from_either_tensor(name, params):
    spec = get(name)
    x = make_input((5, 6), torch.float64, kinks=spec.kinks, seed=3)
    x = torch.where((x.abs() < 1e-2) | (x.abs() > 50), x.sign() * 0.7 + 0.1, x).requires_grad_()
    fn = lambda v: _apply(spec, v, params)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_the_rule_the_library_reports():
    x32, x64, xbf = torch.ones(2), torch.ones(2, dtype=torch.float64), torch.ones(2, dtype=torch.bfloat16)
    assert saves_output(get("elu"), x32, 1.0) and not saves_output(get("elu"), xbf, 1.0)
    assert not saves_output(get("elu"), x32, -1.0)
    assert saves_output(get("softplus"), x32, 1.0, 20.0) and not saves_output(get("softplus"), x64, 1.0, 20.0)
    # leaky_relu's gradient takes the input's layout (as torch's): a non-dense input is kept
    assert saves_output(get("leaky_relu"), x32, 0.01)
    assert not saves_output(get("leaky_relu"), torch.ones(4, 4)[:, ::2], 0.01)


def test_leaky_relu6_derivative_at_its_kinks():
    """slope at 0 (as leaky_relu's) and 0 at 6 (as relu6's), from either tensor."""
    x = torch.tensor([0.0, -0.0, 6.0, 5.999, 1e-45, -1e-45, 7.0], requires_grad=True)
    ta.functional.leaky_relu6(x, 0.25).backward(torch.ones(7))
    assert x.grad.tolist() == [0.25, 0.25, 0.0, 1.0, 1.0, 0.25, 0.0]

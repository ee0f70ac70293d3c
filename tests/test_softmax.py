"""Softmax and LogSoftmax over any dim, against float64 references and torch."""

import pytest
import torch
import torch.nn.functional as F

import torch_activations as ta
from helpers import DEVICES, SOFTMAX_SPECS, TOLERANCES

pytestmark = pytest.mark.parametrize("device", DEVICES)
SPEC_IDS = [s.name for s in SOFTMAX_SPECS]

SHAPES_AND_DIMS = [
    ((7, 128), -1), ((5, 1000), 1), ((3, 4099), -1), ((16, 1), 1), ((4, 33, 6), 1),
    ((4, 33, 6), 0), ((2, 3, 5, 7), 2), ((9,), 0), ((), 0), ((0, 5), 1), ((6, 32768 + 3), 1),
]


def _input(shape, dtype, device):
    x = torch.randn(shape, dtype=torch.float64) * 4
    return x.to(dtype=dtype, device=device)


def _value_and_grad(fn, x, dim, grad):
    x = x.detach().requires_grad_()
    y = fn(x, dim)
    (g,) = torch.autograd.grad(y, x, grad)
    return y.detach(), g


@pytest.mark.parametrize("spec", SOFTMAX_SPECS, ids=SPEC_IDS)
@pytest.mark.parametrize("shape,dim", SHAPES_AND_DIMS, ids=str)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16], ids=str)
def test_matches_reference(spec, shape, dim, dtype, device):
    x = _input(shape, dtype, device)
    grad = torch.randn(shape, dtype=torch.float64).to(dtype=dtype, device=device)
    fn = getattr(ta.functional, spec.name)
    y, g = _value_and_grad(fn, x, dim, grad)
    y_ref, g_ref = _value_and_grad(spec.reference, x.double(), dim, grad.double())
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(y.double(), y_ref, rtol=rtol, atol=atol)
    torch.testing.assert_close(g.double(), g_ref, rtol=rtol, atol=atol * 4)
    assert y.is_contiguous() and y.dtype == dtype


@pytest.mark.parametrize("spec", SOFTMAX_SPECS, ids=SPEC_IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_extremes_match_torch(spec, dtype, device):
    """Stable at +-1e4; rows of all -inf, with NaN or with +inf as in torch."""
    x = _input((6, 40), dtype, device)
    x[0] *= 2500  # magnitudes up to about 1e4
    x[1, 3] = 1e4
    x[2] = float("-inf")
    x[3, 7] = float("nan")
    x[4, 5] = float("inf")
    x[5, :20] = float("-inf")
    for dim in (1, 0):
        ours = getattr(ta.functional, spec.name)(x, dim)
        theirs = spec.torch_functional(x, dim)
        torch.testing.assert_close(ours, theirs, equal_nan=True)


@pytest.mark.parametrize("spec", SOFTMAX_SPECS, ids=SPEC_IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_minus_inf_matches_torch(spec, dtype, device):
    """-inf first, last, between finite values and everywhere, along rows
    and along columns (where each thread of a kernel may start on a -inf)."""
    inf = float("inf")
    x = torch.tensor(
        [[1.0, -inf, 2.0, 0.5], [-inf, 3.0, -inf, 1.0], [-inf] * 4, [-inf, -inf, -inf, 7.0], [2.0, 1.0, 0.0, -inf]],
        dtype=dtype, device=device,
    )
    fn = getattr(ta.functional, spec.name)
    for dim in (1, 0):
        torch.testing.assert_close(fn(x, dim), spec.torch_functional(x, dim), equal_nan=True)
    row = torch.tensor([1.0, -inf, 2.0], dtype=dtype, device=device)
    expected = torch.tensor([0.2689414213699951, 0.0, 0.7310585786300049], dtype=torch.float64)
    expected = expected.log() if spec.name == "log_softmax" else expected
    torch.testing.assert_close(fn(row, 0).double(), expected.to(device))


@pytest.mark.parametrize("spec", SOFTMAX_SPECS, ids=SPEC_IDS)
def test_gradcheck_gradgradcheck_opcheck(spec, device):
    fn = getattr(ta.functional, spec.name)
    ops = torch.ops.torch_activations
    for shape, dim in [((4, 9), 1), ((3, 5, 4), 1), ((6,), 0)]:
        x = torch.randn(shape, dtype=torch.float64, device=device, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: fn(t, dim), (x,))
        assert torch.autograd.gradgradcheck(lambda t: fn(t, dim), (x,))
        torch.library.opcheck(getattr(ops, spec.name).default, (x, dim))
        y = getattr(ops, spec.name)(x.detach(), dim)
        grad = torch.randn_like(y).requires_grad_()
        torch.library.opcheck(getattr(ops, f"{spec.name}_backward").default, (grad, y.requires_grad_(), dim))


@pytest.mark.parametrize("spec", SOFTMAX_SPECS, ids=SPEC_IDS)
def test_api_matches_torch(spec, device):
    fn, twin = getattr(ta.functional, spec.name), spec.torch_functional
    x = _input((3, 4, 5), torch.float32, device)
    # the legacy implicit dim, with torch's warning
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        ours = fn(x)
    with pytest.warns(UserWarning):
        theirs = twin(x)
    torch.testing.assert_close(ours, theirs)
    # dtype= casts first
    torch.testing.assert_close(fn(x.half(), 1, dtype=torch.float32), twin(x.half(), 1, dtype=torch.float32))
    # non-contiguous input
    xt = x.transpose(0, 2)
    torch.testing.assert_close(fn(xt, 1), twin(xt, 1))
    # the module
    module = getattr(ta.nn, spec.module)(dim=-1)
    assert repr(module) == repr(spec.torch_module(dim=-1))
    torch.testing.assert_close(module(x), spec.torch_module(dim=-1)(x))


@pytest.mark.parametrize("spec", SOFTMAX_SPECS, ids=SPEC_IDS)
def test_rejects_bad_input(spec, device):
    fn = getattr(ta.functional, spec.name)
    x = torch.randn(3, 4, device=device)
    with pytest.raises(IndexError, match=f"torch_activations.{spec.name}: dim 2 is out of range"):
        fn(x, 2)
    with pytest.raises(IndexError, match=f"torch_activations.{spec.name}: dim -3 is out of range"):
        fn(x, -3)
    with pytest.raises(RuntimeError, match=f"torch_activations.{spec.name}: expected a floating-point input"):
        fn(x.long(), 1)

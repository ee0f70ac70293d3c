"""Pointwise activations: values and gradients against float64 reference
expressions, the non-finite policy, every dtype, gradcheck, gradgradcheck,
layouts and in-place semantics."""

import pytest
import torch

import torch_activations as ta

from torch_activations._ops import saves_output
from torch_activations.registry import get

from helpers import (
    DEVICES, INPLACE_SPECS, POINTWISE_SPECS, TOLERANCES, away_from_kinks, bits, call, layout_twin,
    make_input, param_cases, pointwise_cases,
)
from policy import limits

CASES, CASE_IDS = pointwise_cases()
pytestmark = pytest.mark.parametrize("device", DEVICES)


def reference_value_and_grad(spec, x, params, grad):
    xr = x.detach().to(torch.float64).requires_grad_()
    yr = spec.reference(xr, *params)
    (gr,) = torch.autograd.grad(yr, xr, grad.to(torch.float64))
    return yr.detach(), gr


def value_and_grad(spec, x, params, grad):
    x = x.detach().requires_grad_()
    y = call(spec, x, params)
    (g,) = torch.autograd.grad(y, x, grad)
    return y.detach(), g


@pytest.mark.parametrize("spec,params", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16], ids=str)
def test_matches_reference(spec, params, dtype, device):
    """Output and input gradient against the plain PyTorch expression in float64,
    on random values with 0, large magnitudes and the op's kinks planted."""
    x = make_input((129, 67), dtype, device, kinks=spec.kinks)
    grad = torch.randn(x.shape, dtype=torch.float64).to(dtype=dtype, device=device)
    y, g = value_and_grad(spec, x, params, grad)
    y_ref, g_ref = reference_value_and_grad(spec, x, params, grad)
    assert y.dtype == dtype and g.dtype == dtype
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(y.double(), y_ref, rtol=rtol, atol=atol)
    # backward reads the saved tensor in the input dtype; allow for its rounding
    torch.testing.assert_close(g.double(), g_ref, rtol=rtol, atol=atol * max(1.0, g_ref.abs().max().item() ** 0.5))


@pytest.mark.parametrize("spec,params", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16], ids=str)
def test_nonfinite_policy(spec, params, dtype, device):
    """+-Inf give the op's limit and the limit of its derivative, NaN gives a
    NaN value and a NaN gradient (tests/policy.py), at every position of a
    SIMD vector and of a tail; the finite values around them match torch (or
    the reference where torch has no such op)."""
    inf, nan = float("inf"), float("nan")
    edges = torch.tensor([inf, -inf, nan] * 23, dtype=dtype, device=device)  # 69: every lane, and a tail
    x = torch.cat([edges, make_input((64, 33), dtype, device, kinks=spec.kinks, nonfinite=True).view(-1)])
    grad = (torch.rand(x.shape, dtype=torch.float64) + 0.5).to(dtype=dtype, device=device)
    y, g = value_and_grad(spec, x, params, grad)

    f_pos, f_neg, d_pos, d_neg = limits(spec.name, params)
    rtol, atol = TOLERANCES[dtype]
    for where, value, slope in ((x == inf, f_pos, d_pos), (x == -inf, f_neg, d_neg)):
        expected = torch.full_like(y[where], value)
        torch.testing.assert_close(y[where], expected, rtol=rtol, atol=atol)
        torch.testing.assert_close(g[where], (grad[where].double() * slope).to(dtype), rtol=rtol, atol=atol)
    nans = x.isnan()
    assert y[nans].isnan().all(), "a NaN input must give a NaN value"
    assert g[nans].isnan().all(), "a NaN input must give a NaN gradient"

    finite = x.isfinite()
    xt = x[finite].detach().requires_grad_()
    if spec.torch_functional is not None:
        yt = spec.torch_functional(xt, **dict(zip(spec.param_names, params)))
        # torch's float64 hardsigmoid gradient uses a float32 1/6, hence rtol 1e-5
        rtol, atol = (1e-5, 1e-6) if dtype == torch.float64 else (rtol, atol)
    else:
        yt = spec.reference(xt.double(), *params)
    (gt,) = torch.autograd.grad(yt, xt, grad[finite].to(yt.dtype) if yt.dtype != dtype else grad[finite])
    torch.testing.assert_close(y[finite].double(), yt.detach().double(), rtol=rtol, atol=atol)
    torch.testing.assert_close(g[finite].double(), gt.double(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("spec,params", CASES, ids=CASE_IDS)
def test_gradcheck_and_gradgradcheck(spec, params, device):
    x = away_from_kinks(torch.randn(6, 7, dtype=torch.float64) * 3, spec.kinks).to(device).requires_grad_()
    fn = lambda t: call(spec, t, params)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.parametrize("spec,params", CASES, ids=CASE_IDS)
def test_opcheck(spec, params, device):
    ops = torch.ops.torch_activations
    x = make_input((5, 9), torch.float32, device, kinks=spec.kinks)
    xg = x.clone().requires_grad_()
    torch.library.opcheck(getattr(ops, spec.name).default, (xg, *params))
    torch.library.opcheck(getattr(ops, f"{spec.name}_").default, (x.clone(), *params))
    saved = getattr(ops, spec.name)(x, *params) if saves_output(spec, x, *params) else x
    grad = torch.randn_like(x).requires_grad_()
    torch.library.opcheck(getattr(ops, f"{spec.name}_backward").default, (grad, saved.clone().requires_grad_(), *params))


def _layouts(device):
    base = make_input((6, 10, 5, 4), torch.float32, device)
    return {
        "contiguous": base,
        "transposed": base.transpose(1, 3),
        "sliced": base[:, ::2, 1:, :3],
        "channels_last": base.contiguous(memory_format=torch.channels_last),
        "expanded": base[:1, :1].expand(3, 4, 5, 4),
        "misaligned": base.reshape(-1)[1:1 + 7 * 33].view(7, 33),
        "zero_dim": base[0, 0, 0, 0],
        "empty": base[:0],
    }


@pytest.mark.parametrize("spec", POINTWISE_SPECS, ids=lambda s: s.name)
@pytest.mark.parametrize("layout", list(_layouts("cpu")))
def test_layouts_match_torch(spec, layout, device):
    """Same values and the same output strides as torch for every layout; the
    gradient too, with a gradient in yet another layout."""
    x = _layouts(device)[layout].detach().requires_grad_()
    params = spec.defaults
    y = call(spec, x, params)
    twin = layout_twin(spec)
    y_twin = twin(x.detach())
    assert y.shape == x.shape and y.stride() == y_twin.stride(), (y.stride(), y_twin.stride())
    torch.testing.assert_close(y, spec.reference(x.detach().double(), *params).float(), rtol=2e-5, atol=2e-5)
    grad = torch.randn(y.shape[::-1], device=device).permute(*reversed(range(y.dim()))) if y.dim() else torch.randn((), device=device)
    (g,) = torch.autograd.grad(y, x, grad)
    _, g_ref = reference_value_and_grad(spec, x, params, grad)
    torch.testing.assert_close(g, g_ref.float(), rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("spec", INPLACE_SPECS, ids=lambda s: s.name)
def test_inplace(spec, device):
    params = param_cases(spec)[-1]
    x = make_input((33, 17), torch.float32, device, kinks=spec.kinks)
    expected = spec.reference(x.double(), *params).float()

    # without autograd: the very tensor is overwritten and returned
    xc = x.clone()
    out = call(spec, xc, params, inplace=True)
    assert out is xc
    torch.testing.assert_close(xc, expected, rtol=2e-5, atol=2e-5)

    # a strided view writes through to its base, nowhere else
    base = x.clone()
    view = base[:, ::2]
    call(spec, view, params, inplace=True)
    torch.testing.assert_close(base[:, ::2], expected[:, ::2], rtol=2e-5, atol=2e-5)
    torch.testing.assert_close(base[:, 1::2], x[:, 1::2])

    # with autograd, on a non-leaf: gradient as out of place
    leaf = x.clone().requires_grad_()
    grad = torch.randn_like(x)
    y = call(spec, leaf * 1.0, params, inplace=True)
    (g,) = torch.autograd.grad(y, leaf, grad)
    _, g_ref = reference_value_and_grad(spec, x, params, grad)
    torch.testing.assert_close(g, g_ref.float(), rtol=2e-5, atol=2e-5)

    # a leaf that requires grad cannot be overwritten, as in torch
    with pytest.raises(RuntimeError, match="leaf Variable"):
        call(spec, x.clone().requires_grad_(), params, inplace=True)
    # nor can a tensor whose elements share memory
    with pytest.raises(RuntimeError, match="single memory location"):
        call(spec, x[:1].expand(4, 17), params, inplace=True)


@pytest.mark.parametrize("spec", POINTWISE_SPECS, ids=lambda s: s.name)
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool, torch.complex64], ids=str)
def test_rejects_non_float(spec, dtype, device):
    x = torch.ones(4, 4, device=device).to(dtype)
    with pytest.raises(RuntimeError, match=f"torch_activations.{spec.name}: expected a floating-point input"):
        call(spec, x, spec.defaults)
    with pytest.raises(RuntimeError, match=f"torch_activations.{spec.name}: expected a floating-point input"):
        getattr(torch.ops.torch_activations, spec.name)(x, *spec.defaults)


def test_rejects_bad_parameters(device):
    import torch_activations.functional as taf

    x = torch.randn(3, device=device)
    with pytest.raises(RuntimeError, match="torch_activations.gelu: approximate must be 'none' or 'tanh'"):
        taf.gelu(x, approximate="exact")
    with pytest.raises(RuntimeError, match="torch_activations.celu: alpha cannot be 0"):
        taf.celu(x, alpha=0.0)
    with pytest.raises(RuntimeError, match="torch_activations.relu: grad has shape"):
        torch.ops.torch_activations.relu_backward(torch.randn(4, device=device), x)
    with pytest.raises(RuntimeError, match="torch_activations.relu: grad has dtype"):
        torch.ops.torch_activations.relu_backward(x.double(), x)


@pytest.mark.parametrize("n", [1, 7, 8, 15, 16, 17, 31, 33, 1000, 32768 + 5, 3 * 32768 + 1])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16], ids=str)
def test_vector_and_tail_paths(n, dtype, device):
    """Sizes around the SIMD width and the parallel grain, from offset 0 and 1."""
    base = make_input((n + 1,), dtype, device)
    for x in (base[:n], base[1:]):
        for spec in map(get, ("silu", "gelu", "softplus")):
            grad = torch.randn(x.shape, device=device).to(dtype)
            y, g = value_and_grad(spec, x, spec.defaults, grad)
            y_ref, g_ref = reference_value_and_grad(spec, x, spec.defaults, grad)
            rtol, atol = TOLERANCES[dtype]
            torch.testing.assert_close(y.double(), y_ref, rtol=rtol, atol=atol)
            torch.testing.assert_close(g.double(), g_ref, rtol=rtol, atol=atol * 4)


@pytest.mark.parametrize("name", ["relu", "relu6"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32], ids=str)
def test_picked_values_keep_their_bits(name, dtype, device):
    """relu and relu6 pick a value (x, g, 0 or 6), so their kernels store it
    without rounding: output and gradient are exactly the picked value's bits,
    at every lane, from offset 0 and 1, with a tail. (Zeros are compared
    unsigned: relu6's clamp may give either sign at -0.)"""
    spec = get(name)
    base = make_input((3 * 1031 + 1,), dtype, device, nonfinite=True)
    for x in (base[:-1], base[1:]):
        grad = torch.randn(x.shape, device=device).to(dtype)
        y, g = value_and_grad(spec, x, (), grad)
        if name == "relu":
            y_expected, passes = torch.where(x < 0, 0.0, x).to(dtype), x > 0
        else:
            y_expected, passes = torch.where(x < 0, 0.0, torch.where(x > 6, 6.0, x)).to(dtype), (x > 0) & (x < 6)
        g_expected = torch.where(passes, grad, torch.zeros_like(grad))
        number = ~x.isnan()
        for got, expected in ((y, y_expected), (g, g_expected)):
            assert torch.equal(bits(got[number] + 0), bits(expected[number] + 0)), "bits differ from the picked values"
            assert got[~number].isnan().all()


STREAMING_BYTES = 16 << 20  # the CPU launcher writes outputs this large past the caches (over resident pages)


def test_large_outputs_over_pages_resident_or_not(device):
    """Streaming stores go only to pages the process holds: an output into
    fresh memory, into memory written before, and into memory written in
    part (each range choosing on its own), from a start one element in, give
    the same bits, plain and with a bias."""
    if device != "cpu" or ta.CUDA_EMULATION:
        pytest.skip("which pages are resident is the CPU kernels' question")
    ops = torch.ops.torch_activations
    n = 2 * STREAMING_BYTES // 4 + 37  # float32 elements: past glibc's largest heap block, a fresh mapping
    x = make_input((n,), torch.float32).float()
    fresh = ops.silu(x)  # an output the op allocates, never touched before
    written = x.clone()
    ops.silu_(written)
    part = torch.empty(n + 1)[1:]
    part[: n // 3] = x[: n // 3]  # the rest of its pages never touched: read as zeros, or left from before
    expected = ops.silu(part.clone())
    ops.silu_(part)
    # memory left from before may hold NaN: compared bit for bit
    assert torch.equal(bits(written), bits(fresh)) and torch.equal(bits(part), bits(expected))
    cols = 1000
    rows = n // cols
    xb = x[: rows * cols].view(rows, cols)
    bias = make_input((cols,), torch.float32).float()
    assert torch.equal(bits(ta.functional.bias_activation(xb, bias, "silu")), bits(ops.silu(xb + bias)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_large_outputs(dtype, device):
    """Outputs big enough for streaming stores, from aligned and misaligned
    starts (an in-place update of a view one element in), forward and backward."""
    n = STREAMING_BYTES // dtype.itemsize + 37
    base = make_input((n + 1,), dtype, device)
    spec = get("silu")
    grad = torch.randn(n, device=device).to(dtype)
    x = base[1:]
    y, g = value_and_grad(spec, x, (), grad)
    y_ref, g_ref = reference_value_and_grad(spec, x, (), grad)
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(y.double(), y_ref, rtol=rtol, atol=atol)
    torch.testing.assert_close(g.double(), g_ref, rtol=rtol, atol=atol * 4)
    inplace = base.clone()
    torch.ops.torch_activations.silu_(inplace[1:])
    assert torch.equal(inplace[1:], y) and torch.equal(inplace[0], base[0])

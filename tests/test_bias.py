"""bias_activation: act(input + bias) in one pass, for every pointwise
activation and the split gated ones, against the library's own unfused ops
(bitwise in every dtype, non-finite values included) and the plain-torch
composite in float64 (values, both gradients, second derivatives)."""

import pytest
import torch
import torch.nn.functional as F

import torch_activations as ta
from torch_activations.registry import BIASED, GATED_ACTIVATIONS

from helpers import EXTRA_PARAMS, TOLERANCES, away_from_kinks, make_input
from test_saved import _saved_storages

ops = torch.ops.torch_activations
GATED = [s for s in BIASED if s in GATED_ACTIVATIONS]
POINTWISE = [s for s in BIASED if s not in GATED_ACTIVATIONS]


def _cases():
    cases = []
    for spec in BIASED:
        extra = [("tanh",)] if spec in GATED and spec.params else EXTRA_PARAMS.get(spec.name, [])
        for params in [spec.defaults] + extra:
            cases.append((spec, dict(zip(spec.param_names, params))))
    return cases


CASES = _cases()
IDS = [s.name + "".join(f"-{v}" for v in p.values()) for s, p in CASES]


def _unfused(spec, params):
    """The library's own op on input + bias (the sum rounded to the input's type)."""
    fn = getattr(ta.functional, spec.name)
    if spec in GATED:
        return lambda x, b: fn(x + b, -1, *params.values())
    return lambda x, b: fn(x + b, *params.values())


def _reference(spec, params, x, b, grad):
    """The plain-torch composite from the registry's reference expression, in
    float64 on x + b as the composite rounds it: value and both gradients."""
    z = (x + b).double().requires_grad_()
    y = spec.reference(*spec.halves(z, -1), *params.values()) if spec in GATED else spec.reference(z, *params.values())
    y.backward(grad.double())
    return y.detach(), z.grad, z.grad.reshape(-1, z.shape[-1]).sum(0)


def _run(fn, x, b, grad):
    x, b = x.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    y = fn(x, b)
    y.backward(grad)
    return y.detach(), x.grad, b.grad


def _inputs(spec, dtype, shape=(7, 5, 24), nonfinite=False):
    x = make_input(shape, dtype, kinks=getattr(spec, "kinks", ()), nonfinite=nonfinite)
    b = make_input(shape[-1:], dtype, scale=1.0)
    out_shape = shape[:-1] + (shape[-1] // 2,) if spec in GATED else shape
    return x, b, make_input(out_shape, dtype, scale=1.0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("spec,params", CASES, ids=IDS)
def test_equals_the_unfused_ops_bitwise(spec, params, dtype):
    """The fused sum is rounded as the unfused one is, so values and input
    gradients are the same bits, NaN and +-inf included; the bias gradient is
    the column sum of the input gradient."""
    x, b, grad = _inputs(spec, dtype, nonfinite=True)
    fused = lambda x, b: ta.functional.bias_activation(x, b, spec.name, **params)  # noqa: E731
    y, gx, gb = _run(fused, x, b, grad)
    yr, gxr, _ = _run(_unfused(spec, params), x, b, grad)
    assert torch.equal(y.isnan(), yr.isnan()) and torch.equal(y.nan_to_num(), yr.nan_to_num())
    assert torch.equal(gx.isnan(), gxr.isnan()) and torch.equal(gx.nan_to_num(), gxr.nan_to_num())
    expected = gxr.double().reshape(-1, x.shape[-1]).sum(0)
    scale = gxr.double().abs().reshape(-1, x.shape[-1]).sum(0)
    # a term that overflows only when gx is rounded can make the rounded sum
    # NaN (inf - inf) where the unrounded one is not: compare NaN where no
    # term is infinite; a NaN term must give a NaN sum anywhere
    has_inf = gxr.isinf().reshape(-1, x.shape[-1]).any(0)
    has_nan = gxr.isnan().reshape(-1, x.shape[-1]).any(0)
    assert torch.equal(gb.isnan()[~has_inf], expected.isnan()[~has_inf])
    assert gb.isnan()[has_nan].all()
    finite = ~expected.isnan() & expected.isfinite() & (expected.abs() <= torch.finfo(dtype).max)
    # summed before rounding, then rounded once to the bias's dtype (terms that
    # underflow there still count)
    rtol = max(1e-5, torch.finfo(dtype).eps)
    assert ((gb.double() - expected).abs() <= rtol * scale + torch.finfo(dtype).tiny)[finite].all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("spec,params", CASES, ids=IDS)
def test_close_to_the_float64_composite(spec, params, dtype):
    x, b, grad = _inputs(spec, dtype, shape=(9, 40))
    fused = lambda x, b: ta.functional.bias_activation(x, b, spec.name, **params)  # noqa: E731
    y, gx, gb = _run(fused, x, b, grad)
    yr, gxr, gbr = _reference(spec, params, x, b, grad)
    rtol, atol = TOLERANCES[dtype]
    z = (x + b).double().abs() + 1
    # a product's rounding is relative to its factors (gated), the sum's to its terms (bias)
    if spec in GATED:
        scale = z[..., : x.shape[-1] // 2] * z[..., x.shape[-1] // 2:]
        gscale = torch.cat((scale, scale), -1) * grad.double().abs().repeat(1, 2)
    else:
        scale, gscale = z, grad.double().abs() * z
    bounds = [rtol * ref.abs() + atol * s for ref, s in ((yr, scale), (gxr, gscale))]
    largest = torch.finfo(dtype).max  # float16 overflows on the planted 1e4 products
    for ours, ref, bound in zip((y, gx), (yr, gxr), bounds):
        fits = ref.abs() <= largest
        assert ((ours.double() - ref).abs() <= bound)[fits].all(), (ours.double() - ref).abs()[fits].max()
        assert (ours.double().abs() >= largest)[~fits].all()
    # a column sum is off by its elements' errors, and its own rounding
    fits = (gxr.abs() <= largest).all(0) & (gbr.abs() <= largest)
    assert ((gb.double() - gbr).abs() <= bounds[1].sum(0) + rtol * gxr.abs().sum(0))[fits].all()


@pytest.mark.parametrize("spec,params", CASES, ids=IDS)
def test_gradcheck_and_gradgradcheck(spec, params):
    b = torch.randn(8, dtype=torch.float64)
    z = away_from_kinks(torch.randn(3, 8, dtype=torch.float64) * 3, getattr(spec, "kinks", ()) + (0.0,))
    if spec.name == "softplus":  # the threshold is a kink of the second derivative
        z = away_from_kinks(z, (params["threshold"] / params["beta"],))
    x = (z - b).requires_grad_()
    b.requires_grad_()
    fn = lambda x, b: ta.functional.bias_activation(x, b, spec.name, **params)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


@pytest.mark.parametrize("spec", BIASED, ids=lambda s: s.name)
def test_opcheck(spec):
    x, b = torch.randn(5, 12, requires_grad=True), torch.randn(12, requires_grad=True)
    torch.library.opcheck(getattr(ops, f"bias_{spec.name}"), (x, b, *spec.defaults))
    grad = torch.randn(5, 6 if spec in GATED else 12)
    torch.library.opcheck(getattr(ops, f"bias_{spec.name}_backward"), (grad, x.detach(), b.detach(), *spec.defaults))


@pytest.mark.parametrize("name,params", [("gelu", {"approximate": "tanh"}), ("swiglu", {}), ("relu", {})])
def test_compiles_fullgraph(name, params):
    torch._dynamo.reset()
    call = lambda x, b: ta.functional.bias_activation(x, b, name, **params) * 2  # noqa: E731
    compiled = torch.compile(call, fullgraph=True, backend="aot_eager", dynamic=True)
    results = []
    for rows in (6, 9):
        x, b = torch.randn(rows, 16), torch.randn(16)
        for f in (call, compiled):
            xr, br = x.clone().requires_grad_(), b.clone().requires_grad_()
            f(xr, br).sum().backward()
            results.append((xr.grad, br.grad))
        torch.testing.assert_close(results[-1], results[-2], rtol=0, atol=0)


def test_layouts():
    x = torch.randn(10, 6).t()  # non-contiguous
    b = torch.randn(20)[::2]  # strided bias
    for name in ("gelu", "relu", "swiglu"):
        y = ta.functional.bias_activation(x, b, name)
        ref = ta.functional.bias_activation(x.contiguous(), b.contiguous(), name)
        assert torch.equal(y, ref)
    x4 = torch.randn(2, 3, 4, 6).to(memory_format=torch.channels_last).requires_grad_()
    b4 = torch.randn(6, requires_grad=True)
    y = ta.functional.bias_activation(x4, b4, "silu")
    assert y.is_contiguous(memory_format=torch.channels_last)  # as x4 + b4 and silu give it
    torch.testing.assert_close(y, F.silu(x4 + b4))
    y.backward(torch.ones_like(y))
    expected = torch.autograd.grad(F.silu(x4 + b4).sum(), x4)[0]
    torch.testing.assert_close(x4.grad, expected)
    assert x4.grad.stride() == expected.stride()
    assert ta.functional.bias_activation(torch.randn(0, 4), torch.randn(4), "gelu").shape == (0, 4)
    xe, be = torch.randn(0, 4, requires_grad=True), torch.randn(4, requires_grad=True)
    ta.functional.bias_activation(xe, be, "gelu").sum().backward()
    assert torch.equal(be.grad, torch.zeros(4))


def test_bad_input():
    x, b = torch.randn(3, 4), torch.randn(4)
    with pytest.raises(RuntimeError, match=r"torch_activations.bias_gelu: expected a bias of shape \(4,\)"):
        ta.functional.bias_activation(x, torch.randn(3), "gelu")
    # mixed dtypes promote, as the composite's input + bias does
    y = ta.functional.bias_activation(x, b.double(), "relu")
    assert y.dtype == torch.float64 and torch.equal(y, torch.relu(x + b.double()))
    y = ta.functional.bias_activation(x.bfloat16(), b, "gelu")
    assert y.dtype == torch.float32 and torch.equal(y, ta.functional.gelu(x.bfloat16() + b))
    with pytest.raises(RuntimeError, match="torch_activations.bias_silu: a 0-dim input"):
        ta.functional.bias_activation(torch.randn(()), torch.randn(1), "silu")
    with pytest.raises(RuntimeError, match="torch_activations.bias_swiglu: halving dimension must be even"):
        ta.functional.bias_activation(torch.randn(3, 5), torch.randn(5), "swiglu")
    with pytest.raises(RuntimeError, match="torch_activations.bias_elu: expected a floating-point input"):
        ta.functional.bias_activation(torch.ones(3, 4, dtype=torch.int64), torch.ones(4, dtype=torch.int64), "elu")
    with pytest.raises(ValueError, match="bias_activation: unknown activation 'prelu'"):
        ta.functional.bias_activation(x, b, "prelu")
    with pytest.raises(TypeError, match="gelu got an unexpected parameter alpha; its parameters are approximate"):
        ta.functional.bias_activation(x, b, "gelu", alpha=1.0)
    with pytest.raises(RuntimeError, match="approximate must be 'none' or 'tanh', got 'fast'"):
        ta.functional.bias_activation(x, b, "gelu", approximate="fast")


def test_module_trains_as_linear_then_activation():
    """Linear(bias=False) + BiasActivation, its bias copied from a Linear's:
    the same losses as Linear + F.gelu over a few SGD steps."""
    def losses(fused):
        torch.manual_seed(0)
        first, second = torch.nn.Linear(16, 32), torch.nn.Linear(32, 4)
        x, target = torch.randn(64, 16), torch.randn(64, 4)
        if fused:
            act = ta.nn.BiasActivation(32, "gelu", approximate="tanh")
            with torch.no_grad():
                act.bias.copy_(first.bias)
            bare = torch.nn.Linear(16, 32, bias=False)
            bare.weight = first.weight
            model = torch.nn.Sequential(bare, act, second)
        else:
            model = torch.nn.Sequential(first, torch.nn.GELU(approximate="tanh"), second)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        out = []
        for _ in range(5):
            opt.zero_grad()
            loss = F.mse_loss(model(x), target)
            loss.backward()
            opt.step()
            out.append(loss.item())
        return out

    ours, composite = losses(True), losses(False)
    assert ours == pytest.approx(composite, rel=1e-5) and ours[-1] < ours[0]
    m = ta.nn.BiasActivation(8, "leaky_relu", negative_slope=0.2, dtype=torch.float64)
    assert repr(m) == "BiasActivation(8, activation='leaky_relu', negative_slope=0.2)"
    assert list(m.state_dict()) == ["bias"] and m.bias.dtype == torch.float64 and not m.bias.any()
    g = ta.nn.BiasActivation(8, "swiglu")
    assert g(torch.randn(3, 8)).shape == (3, 4)
    with pytest.raises(TypeError, match="relu got an unexpected parameter approximate; it has no parameters"):
        ta.nn.BiasActivation(8, "relu", approximate="tanh")


def _extra_saved_bytes(fn, keep):
    """Bytes saved for backward beyond what the model keeps anyway (the
    parameters and the tensors in `keep`)."""
    _, storages = _saved_storages(fn)
    kept = {t.untyped_storage().data_ptr() for t in keep}
    return sum(n for ptr, n in storages.items() if ptr not in kept)


@pytest.mark.parametrize("name", ["gelu", "relu", "sigmoid", "swiglu"])
def test_saved_bytes_no_more_than_the_composite(name):
    h = torch.randn(64, 256, requires_grad=True) * 1
    b = torch.randn(256, requires_grad=True)
    ours = _extra_saved_bytes(lambda: ta.functional.bias_activation(h, b, name), [b])
    composite = {"gelu": F.gelu, "relu": F.relu, "sigmoid": torch.sigmoid,
                 "swiglu": lambda z: F.silu(z[:, :128]) * z[:, 128:]}[name]
    theirs = _extra_saved_bytes(lambda: composite(h + b), [b])
    assert ours <= theirs

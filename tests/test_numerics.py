"""Numerics at the edges: the non-finite policy of softmax and the channel-wise
ops, inputs so large that a careless formula overflows, and accuracy in ulps
against float64 over a dense sweep (scripts/accuracy.py), ours and torch's."""

import importlib.util
import math
import pathlib

import pytest
import torch

import torch_activations as ta
from helpers import DEVICES, POINTWISE_SPECS, TOLERANCES, call, param_cases
from policy import limits
from torch_activations.registry import CHANNELWISE, POINTWISE, get

INF, NAN = math.inf, math.nan
DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]


def _load_accuracy():
    path = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "accuracy.py"
    spec = importlib.util.spec_from_file_location("_accuracy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


accuracy = _load_accuracy()


def _value_and_grads(fn, inputs, grad):
    inputs = [t.detach().requires_grad_() for t in inputs]
    y = fn(*inputs)
    grads = torch.autograd.grad(y, inputs, grad)
    return (y.detach(), *grads)


# ------------------------------------------------------------ non-finite policy


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("weight", [0.25, 0.0, -0.5])
def test_prelu_nonfinite_policy(weight, dtype, device):
    """One element per channel, so each weight gradient is one element's term."""
    x = torch.tensor([[INF, -INF, NAN, 2.0, -3.0] * 7], dtype=dtype, device=device)
    w = torch.full((x.shape[1],), weight, dtype=dtype, device=device)
    grad = torch.full_like(x, 0.75)
    y, gx, gw = _value_and_grads(ta.functional.prelu, (x, w), grad)
    pos, neg, nan = x == INF, x == -INF, x.isnan()
    assert (y[pos] == INF).all() and (gx[pos] == 0.75).all() and (gw[pos[0]] == 0).all()
    expected_neg = 0.0 if weight == 0 else (-INF if weight > 0 else INF)
    assert (y[neg] == expected_neg).all()
    torch.testing.assert_close(gx[neg], torch.full_like(gx[neg], 0.75 * weight))
    assert (gw[neg[0]] == -INF).all()  # d(w x)/dw = x
    assert y[nan].isnan().all() and gx[nan].isnan().all() and gw[nan[0]].isnan().all()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("beta", [1.5, -0.7, 0.0])
def test_swish_learnable_nonfinite_policy(beta, dtype, device):
    f_pos, f_neg, d_pos, d_neg = limits("swish", (beta,))
    x = torch.tensor([INF, -INF] * 20, dtype=dtype, device=device)
    b = torch.tensor([beta], dtype=dtype, device=device)
    y, gx, gb = _value_and_grads(ta.functional.swish, (x, b), torch.ones_like(x))
    assert (y[::2] == f_pos).all() and (y[1::2] == f_neg).all()
    assert (gx[::2] == d_pos).all() and (gx[1::2] == d_neg).all()
    # d/dbeta = x^2 sigmoid'(beta x): 0 at +-inf for beta != 0, inf for beta = 0
    assert gb.item() == (INF if beta == 0 else 0.0)
    x = torch.tensor([1.0, NAN, -2.0] * 9, dtype=dtype, device=device)
    y, gx, gb = _value_and_grads(ta.functional.swish, (x, b), torch.ones_like(x))
    nan = x.isnan()
    assert y[nan].isnan().all() and gx[nan].isnan().all() and gb.isnan().all()
    assert y[~nan].isfinite().all() and gx[~nan].isfinite().all()


def _softmax_expectation(rows, dim_name, log):
    """Softmax of each row, per the policy: -inf elements weigh 0 (log: -inf);
    a row with a NaN, with a +inf or with no finite element is NaN throughout."""
    out = []
    for row in rows:
        r = torch.tensor(row, dtype=torch.float64)
        if r.isnan().any() or (r == INF).any() or not r.isfinite().any():
            out.append(torch.full_like(r, NAN))
        else:
            out.append(torch.log_softmax(r, 0) if log else torch.softmax(r, 0))
    return torch.stack(out)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [1, 0], ids=["rows", "columns"])
def test_softmax_nonfinite_policy(name, dim, dtype, device):
    rows = [
        [1.0, -INF, 2.0, 0.5],
        [1.0, NAN, 2.0, 0.5],
        [1.0, INF, 2.0, 0.5],
        [-INF, -INF, -INF, -INF],
        [3.0, -INF, -INF, -1.0],
    ]
    log = name == "log_softmax"
    expected = _softmax_expectation(rows, dim, log)
    x = torch.tensor(rows, dtype=dtype, device=device)
    grad = torch.rand(x.shape, dtype=torch.float64).to(dtype=dtype, device=device)
    if dim == 0:  # the column kernels: each softmax line is a column
        x, grad, expected = x.t().contiguous(), grad.t().contiguous(), expected.t()
    fn = getattr(ta.functional, name)
    y, g = _value_and_grads(lambda t: fn(t, dim), (x,), grad)
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(y.double(), expected, rtol=rtol, atol=atol, equal_nan=True)
    # gradients: NaN exactly where the value is NaN; where -inf weighs 0, softmax
    # passes 0 and log_softmax the incoming gradient
    nan = expected.isnan()
    assert g[nan.to(device)].isnan().all() and g[~nan.to(device)].isfinite().all()
    finite_rows = ~nan.all(dim=dim)
    ref = getattr(torch, name)
    xr = x.double().detach().requires_grad_()
    yr = ref(xr, dim)
    (gr,) = torch.autograd.grad(yr, xr, grad.double())
    keep = ~nan.to(device)
    torch.testing.assert_close(g.double()[keep], gr[keep], rtol=rtol, atol=atol * 4)
    assert finite_rows.any()


# ------------------------------------------------------------ large finite inputs


def _magnitudes(dtype):
    big = [1.0, 30.0, 1e4, 1e10, 1e19, 2e19, 1e30, 1e38, 3e38, 1e100, 1e300]
    top = torch.finfo(dtype).max
    values = sorted({v for v in big if v < top} | {top})
    return [s * v for v in values for s in (1.0, -1.0)]


def _large_cases():
    cases, ids = [], []
    for spec in POINTWISE_SPECS:
        for params in param_cases(spec):
            cases.append((spec, params))
            ids.append(spec.name + ("" if params == spec.defaults else "-" + "-".join(map(str, params))))
    return cases, ids


LARGE_CASES, LARGE_IDS = _large_cases()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("spec,params", LARGE_CASES, ids=LARGE_IDS)
def test_large_finite_inputs(spec, params, dtype, device):
    """Up to the largest finite value of each dtype: no intermediate overflows
    where the true value does not; values and gradients match the float64
    reference wherever it is finite (and are inf only where it is)."""
    x = torch.tensor(_magnitudes(dtype), dtype=dtype, device=device)
    grad = torch.ones_like(x)
    y, g = _value_and_grads(lambda t: call(spec, t, params), (x,), grad)
    y_ref, g_ref = _value_and_grads(lambda t: spec.reference(t, *params), (x.double(),), grad.double())
    top = torch.finfo(dtype).max
    for ours, ref in ((y, y_ref), (g, g_ref)):
        known = ref.isfinite()  # the reference's own overflows (x**3 at 1e300) say nothing
        expected = ref[known]
        overflow = expected.abs() > top
        assert ours[known].isfinite().eq(~overflow).all(), (x[known], ours[known], expected)
        rtol, atol = TOLERANCES[dtype]
        torch.testing.assert_close(ours[known][~overflow].double(), expected[~overflow], rtol=rtol, atol=atol)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_channelwise_large_finite_inputs(dtype, device):
    x = torch.tensor(_magnitudes(dtype), dtype=dtype, device=device)
    grad = torch.ones_like(x)
    for fn, spec, w in ((ta.functional.prelu, get("prelu"), 0.25), (ta.functional.swish, get("swish_learnable"), 1.5)):
        weight = torch.tensor([w], dtype=dtype, device=device)
        y, gx, gw = _value_and_grads(fn, (x, weight), grad)
        yr, gxr, gwr = _value_and_grads(spec.reference, (x.double(), weight.double()), grad.double())
        rtol, atol = TOLERANCES[dtype]
        torch.testing.assert_close(y.double(), yr, rtol=rtol, atol=atol)
        torch.testing.assert_close(gx.double(), gxr, rtol=rtol, atol=atol)
        if spec.name == "swish_learnable":  # every term but x = +-1 vanishes
            assert gw.isfinite().all()
            torch.testing.assert_close(gw.double(), gwr, rtol=rtol, atol=atol)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64], ids=str)
@pytest.mark.parametrize("beta", [2.0, -2.0])
def test_swish_gradient_where_beta_x_overflows(beta, dtype, device):
    big = 1e308 if dtype == torch.float64 else 3e38
    x = torch.tensor([big, -big] * 9, dtype=dtype, device=device)
    for fn in (lambda t: ta.functional.swish(t, beta),
               lambda t: ta.functional.swish(t, torch.tensor([beta], dtype=dtype, device=device))):
        y, g = _value_and_grads(fn, (x,), torch.ones_like(x))
        expected = [1.0, 0.0] if beta > 0 else [0.0, 1.0]
        assert g.tolist() == expected * 9
        assert y[0 if beta > 0 else 1].item() == x[0 if beta > 0 else 1].item() and y.isfinite().all()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_swish_learnable_beta_gradient_where_x_squared_overflows(dtype, device):
    x = torch.tensor([2e19, -2e19, 1e30, -1e30, 3e38, -3e38, 1.0, -0.5], dtype=dtype, device=device)
    b = torch.tensor([1.5], dtype=dtype, device=device)
    grad = torch.ones_like(x)
    y, gx, gb = _value_and_grads(ta.functional.swish, (x, b), grad)
    yr, gxr, gbr = _value_and_grads(get("swish_learnable").reference, (x.double(), b.double()), grad.double())
    assert gb.isfinite().all() and gx.isfinite().all()
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(gb.double(), gbr, rtol=rtol, atol=atol)
    torch.testing.assert_close(gx.double(), gxr, rtol=rtol, atol=atol)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("dim", [1, 0], ids=["rows", "columns"])
def test_log_softmax_large_offsets(dim, dtype, device):
    """(x - max) - log(sum): log(sum) is not rounded away next to a large max."""
    top = torch.finfo(dtype).max
    rows = []
    for c in (1e4, -1e4, 1e30, -1e30, 3e38):
        if abs(c) < top:
            rows += [[c, c, c, c], [c, c, c - abs(c) * 2**-6, c]]
    x = torch.tensor(rows, dtype=dtype, device=device)
    grad = torch.rand(x.shape, dtype=torch.float64).to(dtype=dtype, device=device)
    if dim == 0:
        x, grad = x.t().contiguous(), grad.t().contiguous()
    y, g = _value_and_grads(lambda t: ta.functional.log_softmax(t, dim), (x,), grad)
    yr, gr = _value_and_grads(lambda t: torch.log_softmax(t, dim), (x.double(),), grad.double())
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(y.double(), yr, rtol=rtol, atol=atol)
    torch.testing.assert_close(g.double(), gr, rtol=rtol, atol=atol * 4)
    # the figures: log_softmax([[1e4, 1e4]], 1) = -log 2, with 1e30 too
    for c in (1e4, 1e30):
        if abs(c) < top:
            pair = torch.tensor([[c, c]], dtype=dtype, device=device)
            torch.testing.assert_close(ta.functional.log_softmax(pair, 1).double(),
                                       torch.full((1, 2), -math.log(2.0), dtype=torch.float64), rtol=rtol, atol=atol)


# ------------------------------------------------------------ accuracy in ulps

# A coarser sweep than the script's (2^18 points on the grid): our maxima may not
# exceed scripts/accuracy.py's BUDGETS in any CPU build, and float32 forward must
# stay within 1 ulp of torch's own maximum on the same sweep.
SWEEP_POINTS = 2**18


@pytest.fixture(scope="module")
def float32_rows():
    return {label: r for label, _, r in accuracy.table([torch.float32], points=SWEEP_POINTS)}


# The ulp budgets are claims about the CPU builds' SIMD math. Under the CUDA
# emulation the CUDA kernels' scalar math comes from the host's libm, which is
# neither the CPU builds' math nor the GPU's, so its ulps say nothing either way.
@pytest.mark.skipif(ta.CUDA_EMULATION, reason="ulp budgets are stated for the CPU builds, not the emulated CUDA math")
@pytest.mark.parametrize("label", [c.label for c in accuracy.cases()])
def test_float32_accuracy(label, float32_rows):
    r = float32_rows[label]
    ours, theirs = r["ours"], r["torch"]
    assert ours["fwd"] <= theirs["fwd"] + 1, f"forward {ours['fwd']:.2f} ulps (at {ours['fwd_at']}), torch {theirs['fwd']:.2f}"
    fwd_budget, bwd_budget = accuracy.BUDGETS[label]
    assert ours["fwd"] <= fwd_budget, f"forward {ours['fwd']:.2f} ulps at {ours['fwd_at']}"
    assert ours["bwd"] <= bwd_budget, f"backward {ours['bwd']:.2f} ulps at {ours['bwd_at']}"


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_16bit_accuracy(dtype):
    """Every value of the type in the sweep's range: the result of a float
    computation rounded once, so within one ulp of the type."""
    for label, _, r in accuracy.table([dtype]):
        ours = r["ours"]
        assert ours["fwd"] <= 1.0, f"{label} forward {ours['fwd']:.2f} ulps at {ours['fwd_at']}"
        assert ours["bwd"] <= accuracy.BUDGETS_16BIT.get(label, 1.0), f"{label} backward {ours['bwd']:.2f} ulps at {ours['bwd_at']}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("which", ["forward", "backward"])
def test_gelu_negative_tail(which, dtype):
    """1e-3 relative down to x = -10, where 1 + erf(x / sqrt 2) keeps no digit
    (bfloat16 and float16 are within an ulp of their type: test_16bit_accuracy)."""
    x = torch.linspace(-10, -3, 20001, dtype=torch.float64).to(dtype).unique()
    y, g = _value_and_grads(ta.functional.gelu, (x,), torch.ones_like(x))
    yr, gr = _value_and_grads(lambda t: get("gelu").reference(t, "none"), (x.double(),), torch.ones_like(x).double())
    ours, ref = (y, yr) if which == "forward" else (g, gr)
    relative = ((ours.double() - ref) / ref).abs().max().item()
    assert relative <= 1e-3, relative


def test_tanh_gradient_is_exact_for_the_saved_output():
    """The gradient is 1 - y^2 for the saved float y, exactly rounded; y is
    within one ulp of tanh(x). What is left (up to 2x the true derivative near
    |x| = 9, 0 beyond 9.01) is the rounding of y itself."""
    x = torch.linspace(5, 10, 100001).unique()
    y, g = _value_and_grads(ta.functional.tanh, (x,), torch.ones_like(x))
    assert accuracy.ulps(y, torch.tanh(x.double()), torch.float32).max() <= 1.0
    exact_for_y = (1 - y.double() ** 2).float()
    assert torch.equal(g, exact_for_y)

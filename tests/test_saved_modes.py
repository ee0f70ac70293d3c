"""saved= modes: "input" and "output" (exact), "mask" (exact few-bit codes)
and "uint8" (the derivative in one byte, error at most |grad| / 252), per
call and per module, against the default ("auto")."""

import math

import pytest
import torch

import torch_activations as ta
from torch_activations import _saved
from torch_activations._ops import saves_output
from torch_activations.registry import POINTWISE, get

from helpers import POINTWISE_SPECS, TOLERANCES, away_from_kinks, make_input, param_cases
from test_saved import _saved_storages

ops = torch.ops.torch_activations

# bits per element of each op's codes, from the op table (csrc/op_table.h)
CODE_BITS = {s.name: s.code_bits for s in POINTWISE_SPECS if s.code_bits}
MASK = [n for n, b in CODE_BITS.items() if b < 8]
UINT8 = [n for n, b in CODE_BITS.items() if b == 8]


def _cases(names=None, modes=None):
    cases, ids = [], []
    for spec in POINTWISE_SPECS:
        if names is not None and spec.name not in names:
            continue
        for params in param_cases(spec):
            for mode in _saved.modes(spec):
                if mode != "auto" and (modes is None or mode in modes):
                    cases.append((spec, params, mode))
                    ids.append(f"{spec.name}-{'-'.join(map(str, params))}-{mode}")
    return {"argvalues": cases, "ids": ids}


def _run(spec, x, params, grad, **kwargs):
    xr = x.clone().requires_grad_()
    y = getattr(ta.functional, spec.name)(xr * 1, *params, **kwargs)  # a non-leaf, so in place works too
    y.backward(grad)
    return y.detach(), xr.grad


def test_every_op_with_codes_has_its_coded_ops():
    for spec in POINTWISE_SPECS:
        has = hasattr(ops, f"{spec.name}_coded")
        assert has == (spec.name in CODE_BITS) == bool(spec.coded), spec.name
        assert hasattr(ops, f"{spec.name}_coded_backward") == has
        if has:  # 8 bits: a quantized derivative; fewer: exact region codes
            assert spec.coded == ("uint8" if CODE_BITS[spec.name] == 8 else "mask")
            assert CODE_BITS[spec.name] in (1, 2, 8)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("spec,params,mode", **_cases(modes=("input", "output", "mask")))
def test_exact_modes_equal_auto(spec, params, mode, dtype):
    x = make_input((37, 29), dtype, nonfinite=True, kinks=spec.kinks)  # 1073 elements: a partial byte
    grad = make_input(x.shape, dtype, scale=1.0)
    if mode == "output" and not saves_output(spec, x, *params):
        with pytest.raises(ValueError, match=f"torch_activations.{spec.name}: saved='output'"):
            _run(spec, x, params, grad, saved=mode)
        return
    y_auto, g_auto = _run(spec, x, params, grad)
    y, g = _run(spec, x, params, grad, saved=mode)
    torch.testing.assert_close(y, y_auto, rtol=0, atol=0, equal_nan=True)
    if mode == "mask" and spec.name in ("relu", "leaky_relu"):
        # one bit has no code for NaN: the gradient passes as in torch's twin (relu: grad; leaky_relu: slope * grad)
        nan = x.isnan()
        expected = grad[nan] * (1.0 if spec.name == "relu" else params[0])
        torch.testing.assert_close(g[nan], expected, rtol=0, atol=0, equal_nan=True)
        g, g_auto = g[~nan], g_auto[~nan]
    torch.testing.assert_close(g, g_auto, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("spec,params,mode", **_cases(modes=("uint8",)))
def test_uint8_gradient_within_the_documented_bound(spec, params, mode, dtype):
    x = make_input((37, 29), dtype, nonfinite=True, kinks=spec.kinks)
    grad = make_input(x.shape, dtype, scale=1.0, nonfinite=False)
    y_auto, g_auto = _run(spec, x, params, grad)
    y, g = _run(spec, x, params, grad, saved=mode)
    torch.testing.assert_close(y, y_auto, rtol=0, atol=0, equal_nan=True)
    assert torch.equal(g.isnan(), g_auto.isnan())
    finite = ~g_auto.isnan()
    error = (g - g_auto)[finite].double().abs()
    bound = grad[finite].double().abs() * _saved.UINT8_GRADIENT_ERROR
    if dtype in (torch.float16, torch.bfloat16):  # plus both results' rounding to 16 bits
        bound = bound + g_auto[finite].double().abs() * 2**-7 + 1e-30
    else:
        bound = bound * (1 + 1e-5) + g_auto[finite].double().abs() * 1e-6
    assert (error <= bound).all(), (error - bound).max()
    assert error.max() > 0  # quantized, not the exact derivative


@pytest.mark.parametrize("name", list(CODE_BITS) + ["elu", "sigmoid", "tanh", "softplus"])
@pytest.mark.parametrize("mode", ["input", "output", "mask", "uint8"])
def test_linear_act_linear_saved_bytes(name, mode):
    """Bytes the activation keeps beyond what the Linear after it keeps: the documented figure per mode."""
    spec = get(name)
    if mode not in _saved.modes(spec):
        return
    torch.manual_seed(0)
    first, second = torch.nn.Linear(16, 37), torch.nn.Linear(37, 8)
    hidden = first(torch.randn(61, 16))  # 2257 elements, not a multiple of 8
    a, by_act = _saved_storages(lambda: getattr(ta.functional, name)(hidden, saved=mode))
    _, by_linear = _saved_storages(lambda: second(a))
    extra = sum(n for ptr, n in by_act.items() if ptr not in by_linear)
    n = hidden.numel()
    expected = {"input": 4 * n, "output": 0, "mask": math.ceil(n * CODE_BITS.get(name, 0) / 8), "uint8": n}[mode]
    assert extra == expected, (name, mode, extra / n)


GRADCHECK_CASES = [(name, "mask") for name in MASK] + [
    (name, "input") for name in ("relu", "elu", "sigmoid", "tanh", "softplus", "leaky_relu6", "gelu")]


@pytest.mark.parametrize("name,mode", GRADCHECK_CASES, ids=[f"{n}-{m}" for n, m in GRADCHECK_CASES])
def test_gradcheck_and_gradgradcheck(name, mode):
    """Both exact modes are twice differentiable (mask: a second derivative of 0)."""
    x = away_from_kinks(torch.randn(6, 7, dtype=torch.float64) * 4, get(name).kinks).requires_grad_()
    fn = lambda v: getattr(ta.functional, name)(v, saved=mode)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.parametrize("name", UINT8)
def test_uint8_double_backward_is_refused_clearly(name):
    x = torch.randn(20, requires_grad=True)
    y = getattr(ta.functional, name)(x, saved="uint8")
    with pytest.raises(RuntimeError, match=f"torch_activations.{name}: saved='uint8'.*double backward"):
        torch.autograd.grad(y.sum(), x, create_graph=True)
    (g,) = torch.autograd.grad(getattr(ta.functional, name)(x, saved="uint8").sum(), x)  # first order runs


@pytest.mark.parametrize("name", list(CODE_BITS))
def test_opcheck_coded_ops(name):
    spec = get(name)
    params = spec.defaults
    x = make_input((5, 13), torch.float32, kinks=spec.kinks).requires_grad_()
    torch.library.opcheck(getattr(ops, f"{name}_coded"), (x, *params))
    _, codes = getattr(ops, f"{name}_coded")(x.detach(), *params)
    grad = torch.randn(5, 13, requires_grad=True)
    utils = ("test_schema", "test_autograd_registration", "test_faketensor")
    if CODE_BITS[name] < 8:  # differentiable (uint8 refuses a second derivative, tested above)
        utils += ("test_aot_dispatch_dynamic",)
    torch.library.opcheck(getattr(ops, f"{name}_coded_backward"), (grad, codes, *params), test_utils=utils)


@pytest.mark.parametrize("name,mode", [("relu", "mask"), ("relu6", "mask"), ("gelu", "uint8"), ("silu", "uint8"),
                                       ("elu", "input")])
def test_compiles_fullgraph(name, mode):
    torch._dynamo.reset()
    fn = lambda v: getattr(ta.functional, name)(v, saved=mode) * 2  # noqa: E731
    compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
    x = torch.randn(8, 33)
    grad = torch.randn(8, 33)
    results = []
    for f in (fn, compiled):
        xr = x.clone().requires_grad_()
        f(xr).backward(grad)
        results.append(xr.grad)
    torch.testing.assert_close(results[1], results[0], rtol=0, atol=0)


@pytest.mark.parametrize("name,mode", [("relu", "mask"), ("hardsigmoid", "mask"), ("hardswish", "uint8"),
                                       ("relu", "input"), ("elu", "output")])
def test_inplace(name, mode):
    x = make_input((9, 11), torch.float32, kinks=get(name).kinks)
    grad = torch.randn(9, 11)
    results = []
    for saved in ("auto", mode):
        leaf = x.clone().requires_grad_()
        h = leaf * 1
        version = h._version
        out = getattr(ta.functional, name)(h, inplace=True, saved=saved)
        assert out is h and h._version > version
        out.backward(grad)
        results.append((out.detach(), leaf.grad))
    torch.testing.assert_close(results[1][0], results[0][0], rtol=0, atol=0)
    atol = 0 if mode != "uint8" else 1 / 252 * grad.abs().max().item()
    torch.testing.assert_close(results[1][1], results[0][1], rtol=0, atol=atol)
    with pytest.raises(RuntimeError, match="leaf"):
        getattr(ta.functional, name)(x.clone().requires_grad_(), inplace=True, saved=mode)


@pytest.mark.parametrize("name,mode", [("relu6", "mask"), ("gelu", "uint8")])
def test_layouts_follow_auto(name, mode):
    for x in (torch.randn(2, 3, 5, 7).to(memory_format=torch.channels_last), torch.randn(7, 9).t(),
              torch.randn(6, 10)[:, ::3], torch.randn(()), torch.randn(0, 4)):
        grad = torch.randn_like(x)
        outs = []
        for saved in ("auto", mode):
            xr = x.clone().requires_grad_() if x.is_contiguous() else x.detach().requires_grad_()
            y = getattr(ta.functional, name)(xr, saved=saved)
            y.backward(grad)
            outs.append((y, xr.grad))
            xr.grad = None
        (y0, g0), (y1, g1) = outs
        assert y1.stride() == y0.stride() and g1.stride() == g0.stride()
        torch.testing.assert_close(y1, y0, rtol=0, atol=0)
        torch.testing.assert_close(g1, g0, rtol=0, atol=1 / 252 * 4 if mode == "uint8" else 0)


def test_bad_modes_are_named():
    x = torch.randn(4, requires_grad=True)
    with pytest.raises(ValueError, match="torch_activations.relu: saved must be one of"):
        ta.functional.relu(x, saved="bits")
    with pytest.raises(ValueError, match="torch_activations.gelu: saved='mask' is not available"):
        ta.functional.gelu(x, saved="mask")
    with pytest.raises(ValueError, match="torch_activations.relu: saved='uint8' is not available"):
        ta.functional.relu(x, saved="uint8")
    with pytest.raises(ValueError, match="torch_activations.silu: saved='output' is not available"):
        ta.functional.silu(x, saved="output")
    with pytest.raises(ValueError, match="torch_activations.elu: saved='output' is not exact"):
        ta.functional.elu(x, -0.5, saved="output")
    with pytest.raises(ValueError, match="torch_activations.swish: a tensor beta"):
        ta.functional.swish(x, torch.ones(1), saved="uint8")
    with pytest.raises(ValueError, match="torch_activations.gelu: saved='mask'"):
        ta.nn.GELU(saved="mask")


def test_coded_backward_checks_its_codes():
    _, codes = ops.relu_coded(torch.randn(16))
    with pytest.raises(RuntimeError, match="torch_activations.relu_coded_backward: 2 bytes of codes do not match"):
        ops.relu_coded_backward(torch.randn(17), codes)
    with pytest.raises(RuntimeError, match="torch_activations.relu_coded_backward: expected the codes"):
        ops.relu_coded_backward(torch.randn(16), codes.float())


def test_no_graph_no_codes():
    """Without a graph to record, the modes run as auto (nothing is saved either way)."""
    x = torch.randn(10)
    with torch.no_grad():
        y = ta.functional.gelu(x.requires_grad_(), saved="uint8")
    assert y.grad_fn is None
    torch.testing.assert_close(ta.functional.gelu(x.detach(), saved="uint8"), ta.functional.gelu(x.detach()))


def test_modules_take_saved():
    m = ta.nn.ReLU(True, saved="mask")
    assert m.inplace and m.saved == "mask" and "saved='mask'" in repr(m) and "inplace=True" in repr(m)
    assert ta.nn.GELU(approximate="tanh", saved="uint8").saved == "uint8"
    assert repr(ta.nn.GELU()) == repr(torch.nn.GELU())
    assert ta.nn.LeakyReLU6(0.1, saved="mask").saved == "mask"
    assert "saved='uint8'" in repr(ta.nn.Swish(1.5, saved="uint8"))
    with pytest.raises(ValueError, match="learnable beta"):
        ta.nn.Swish(learnable=True, saved="uint8")
    assert "saved" in ta.nn.ELU.__init__.__signature__.parameters
    x = torch.randn(64, 33)
    for cls, mode in ((ta.nn.Hardswish, "uint8"), (ta.nn.ReLU6, "mask"), (ta.nn.Sigmoid, "input")):
        results = []
        for m in (cls(), cls(saved=mode)):
            xr = x.clone().requires_grad_()
            m(xr).sum().backward()
            results.append(xr.grad)
        torch.testing.assert_close(results[1], results[0], rtol=0, atol=1 / 252)


def test_scripted_modules_run_auto_and_refuse_the_rest():
    scripted = torch.jit.script(ta.nn.ReLU())
    x = torch.randn(5)
    torch.testing.assert_close(scripted(x), torch.relu(x))
    refused = torch.jit.script(ta.nn.ReLU(saved="mask"))
    with pytest.raises(Exception, match="saved='auto' only"):
        refused(x)


def test_convert_sets_saved_where_the_op_takes_it():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 8), torch.nn.ReLU(),
                                torch.nn.Linear(8, 8), torch.nn.ELU())
    converted = ta.convert(model, saved="uint8")
    assert [getattr(m, "saved", None) for m in converted] == [None, "uint8", None, "auto", None, "auto"]
    converted = ta.convert(model, saved="mask")
    assert [getattr(m, "saved", None) for m in converted] == [None, "auto", None, "mask", None, "auto"]
    with pytest.raises(ValueError, match="torch_activations.convert: saved must be one of"):
        ta.convert(model, saved="bits")


@pytest.mark.parametrize("mode", ["uint8", "mask"])
def test_training_on_digits_matches_exact_backward(mode):
    """A small MLP trained on scikit-learn's digits reaches the accuracy of exact backward."""
    from sklearn.datasets import load_digits  # a test dependency (scripts/setup_env.sh)

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16
    y = torch.tensor(digits.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    train, test = order[:1400], order[1400:]
    act = "gelu" if mode == "uint8" else "relu"

    def accuracy(saved):
        torch.manual_seed(1)
        model = torch.nn.Sequential(torch.nn.Linear(64, 128), getattr(ta.nn, {"gelu": "GELU", "relu": "ReLU"}[act])(saved=saved),
                                    torch.nn.Linear(128, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
        batches = torch.Generator().manual_seed(2)
        for _ in range(15):
            for idx in train[torch.randperm(len(train), generator=batches)].split(64):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
                opt.step()
        with torch.no_grad():
            return (model(x[test]).argmax(1) == y[test]).float().mean().item()

    exact, compact = accuracy("auto"), accuracy(mode)
    assert exact > 0.93
    assert abs(compact - exact) <= 0.02, (exact, compact)

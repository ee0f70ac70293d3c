"""Gated activations: glu (torch's F.glu), swiglu, geglu, reglu (halves along
dim) and silu_mul, gelu_mul, relu_mul (two tensors), against the composites
a user writes, in values, gradients and second derivatives."""

import pytest
import torch
import torch.nn.functional as F

import torch_activations as ta
from torch_activations.registry import GATED_ACTIVATIONS

from helpers import TOLERANCES, make_input
from test_saved import _saved_storages

ops = torch.ops.torch_activations
SPLIT = [g for g in GATED_ACTIVATIONS if g.split]
MUL = [g for g in GATED_ACTIVATIONS if not g.split]


def _param_cases(gated):
    return [gated.defaults] + ([("tanh",)] if gated.params else [])


def _composite(gated, params):
    """The plain-torch expression, written out here rather than taken from the library."""
    act = {"sigmoid": torch.sigmoid, "silu": F.silu, "relu": F.relu,
           "gelu": lambda a: F.gelu(a, approximate=params[0])}[gated.act]
    return lambda a, b: act(a) * b


def _split_composite(gated, params, dim):
    def fn(x):
        first, second = x.chunk(2, dim)
        a, b = (second, first) if gated.act_second else (first, second)
        return _composite(gated, params)(a, b)
    return fn


def _assert_close(ours, ref, dtype, scale=None):
    """Within the suite's tolerance relative to each element, the absolute part
    scaled by `scale` (|grad| times the other operand: a product's float
    rounding is relative to its factors, not to the result)."""
    rtol, atol = TOLERANCES[dtype]
    ours, ref = ours.double(), ref.double()
    bound = rtol * ref.abs() + atol * 10 * (1 if scale is None else 1 + scale.double())
    assert torch.equal(ours.isnan(), ref.isnan())
    assert ((ours - ref).abs() <= bound)[~ref.isnan()].all(), ((ours - ref).abs() - bound).max()


def _finite_grads(fn, inputs, grad):
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    y = fn(*leaves)
    y.backward(grad)
    return y.detach(), [t.grad for t in leaves]


SPLIT_CASES = [(g, p, d) for g in SPLIT for p in _param_cases(g) for d in (-1, 0, 1)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
@pytest.mark.parametrize("gated,params,dim", SPLIT_CASES, ids=[f"{g.name}-{p}-dim{d}" for g, p, d in SPLIT_CASES])
def test_split_forms_equal_the_composite(gated, params, dim, dtype):
    x = make_input((6, 10, 34), dtype, nonfinite=False)
    fn = getattr(ta.functional, gated.name)
    y, (gx,) = _finite_grads(lambda v: fn(v, dim, *params), [x], grad := make_input(
        _split_composite(gated, params, dim)(x).shape, dtype, scale=1.0))
    yr, (gxr,) = _finite_grads(_split_composite(gated, params, dim), [x.double()], grad.double())  # in float64
    a, b = gated.halves(x.double(), dim)
    scale_a, scale_b = grad.double().abs() * (b.abs() + 1), grad.double().abs() * (a.abs() + 1)
    _assert_close(y, yr, dtype, a.abs() * b.abs())
    _assert_close(gx, gxr, dtype, torch.cat((scale_b, scale_a) if gated.act_second else (scale_a, scale_b), dim))


MUL_CASES = [(g, p) for g in MUL for p in _param_cases(g)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
@pytest.mark.parametrize("gated,params", MUL_CASES, ids=[f"{g.name}-{p}" for g, p in MUL_CASES])
def test_mul_forms_equal_the_composite(gated, params, dtype):
    gate, up = make_input((37, 29), dtype), make_input((37, 29), dtype, scale=1.0)
    grad = make_input((37, 29), dtype, scale=1.0)
    fn = getattr(ta.functional, gated.name)
    y, grads = _finite_grads(lambda a, b: fn(a, b, *params), [gate, up], grad)
    yr, grads_r = _finite_grads(_composite(gated, params), [gate.double(), up.double()], grad.double())
    g = grad.double().abs()
    _assert_close(y, yr, dtype, gate.double().abs() * up.double().abs())
    _assert_close(grads[0], grads_r[0], dtype, g * (up.double().abs() + 1))
    _assert_close(grads[1], grads_r[1], dtype, g * (gate.double().abs() + 1))


def test_glu_equals_torch_on_its_own_samples():
    """The inputs of torch's own glu tests (sample_inputs_glu in
    torch.testing._internal.common_methods_invocations): every even
    dimension of these shapes, values in [-2, 2]."""
    features_options = [[2], [2, 4], [8, 8], [3, 6, 8], [1, 4, 6, 7]]
    batch_options = [[], [0], [8], [2, 3]]
    count = 0
    for features in features_options:
        for batch in batch_options:
            shape = batch + features
            for dim in range(len(shape)):
                if shape[dim] % 2:
                    continue
                x = (torch.rand(shape, dtype=torch.float64) * 4 - 2).requires_grad_()
                ours, theirs = ta.functional.glu(x, dim), F.glu(x, dim)
                torch.testing.assert_close(ours, theirs)
                grad = torch.randn_like(theirs)
                torch.testing.assert_close(torch.autograd.grad(ours, x, grad)[0], torch.autograd.grad(theirs, x, grad)[0])
                count += 1
    assert count > 20


@pytest.mark.parametrize("gated", GATED_ACTIVATIONS, ids=lambda g: g.name)
def test_gradcheck_and_gradgradcheck(gated):
    fn = getattr(ta.functional, gated.name)
    if gated.split:
        x = (torch.randn(3, 8, dtype=torch.float64) * 2 + 0.05).requires_grad_()
        inputs, call = (x,), lambda v: fn(v, -1, *gated.defaults)
    else:
        inputs = tuple((torch.randn(4, 5, dtype=torch.float64) * 2 + 0.05).requires_grad_() for _ in range(2))
        call = lambda a, b: fn(a, b, *gated.defaults)  # noqa: E731
    assert torch.autograd.gradcheck(call, inputs)
    assert torch.autograd.gradgradcheck(call, inputs)


@pytest.mark.parametrize("gated", GATED_ACTIVATIONS, ids=lambda g: g.name)
def test_opcheck(gated):
    if gated.split:
        x = torch.randn(5, 12, requires_grad=True)
        torch.library.opcheck(getattr(ops, gated.name), (x, -1, *gated.defaults))
        grad = torch.randn(5, 6)
        torch.library.opcheck(getattr(ops, f"{gated.name}_backward"), (grad, x.detach(), -1, *gated.defaults))
    else:
        a, b = torch.randn(5, 7, requires_grad=True), torch.randn(5, 7, requires_grad=True)
        torch.library.opcheck(getattr(ops, gated.name), (a, b, *gated.defaults))
        torch.library.opcheck(getattr(ops, f"{gated.name}_backward"),
                              (torch.randn(5, 7), a.detach(), b.detach(), *gated.defaults))


@pytest.mark.parametrize("name", ["swiglu", "silu_mul", "glu"])
def test_compiles_fullgraph(name):
    torch._dynamo.reset()
    fn = getattr(ta.functional, name)
    call = (lambda x: fn(x, -1) * 2) if name != "silu_mul" else (lambda x: fn(*x.chunk(2, -1)) * 2)
    compiled = torch.compile(call, fullgraph=True, backend="aot_eager")
    x = torch.randn(6, 16)
    results = []
    for f in (call, compiled):
        xr = x.clone().requires_grad_()
        f(xr).sum().backward()
        results.append(xr.grad)
    torch.testing.assert_close(results[1], results[0], rtol=0, atol=0)


def test_layouts_and_bad_input():
    x = torch.randn(8, 6).t()  # non-contiguous
    torch.testing.assert_close(ta.functional.swiglu(x, 0), F.silu(x[:3]) * x[3:])
    a = torch.randn(4, 5).t()
    torch.testing.assert_close(ta.functional.silu_mul(a, a), F.silu(a) * a)
    with pytest.raises(RuntimeError, match="torch_activations.swiglu: halving dimension must be even"):
        ta.functional.swiglu(torch.randn(3, 5))
    with pytest.raises(RuntimeError, match="torch_activations.glu: a 0-dim input"):
        ta.functional.glu(torch.randn(()))
    with pytest.raises(RuntimeError, match="torch_activations.silu_mul: gate has shape"):
        ta.functional.silu_mul(torch.randn(3, 4), torch.randn(4, 3))
    with pytest.raises(RuntimeError, match="approximate must be 'none' or 'tanh', got 'fast'"):
        ta.functional.geglu(torch.randn(3, 4), -1, "fast")
    with pytest.raises(RuntimeError, match="torch_activations.reglu: expected a floating-point input"):
        ta.functional.reglu(torch.ones(3, 4, dtype=torch.int64))


def test_nonfinite_inputs_give_nan_where_the_composite_does():
    x = torch.tensor([[float("nan"), 1.0, 2.0, float("nan")]])
    y = ta.functional.swiglu(x)
    assert y[0, 0].isnan() and y[0, 1].isnan()


def test_modules():
    m, twin = ta.nn.GLU(dim=1), torch.nn.GLU(dim=1)
    assert isinstance(m, torch.nn.GLU) and repr(m) == repr(twin)
    x = torch.randn(3, 8, 2)
    torch.testing.assert_close(m(x), twin(x))
    torch.testing.assert_close(ta.nn.SwiGLU()(x.transpose(1, 2)), F.silu(x.transpose(1, 2)[..., :4]) * x.transpose(1, 2)[..., 4:])
    assert repr(ta.nn.GeGLU(approximate="tanh")) == "GeGLU(dim=-1, approximate='tanh')"
    torch.testing.assert_close(torch.jit.script(ta.nn.ReGLU(1))(x), F.relu(x[:, :4]) * x[:, 4:])


def _saved_bytes(fn):
    return sum(_saved_storages(fn)[1].values())


def test_saved_bytes_no_more_than_the_composite():
    x = torch.randn(64, 256, requires_grad=True)
    h = x * 1
    ours = _saved_bytes(lambda: ta.functional.swiglu(h))
    composite = _saved_bytes(lambda: F.silu(h[:, :128]) * h[:, 128:])
    assert ours <= composite
    gate, up = (torch.randn(64, 128, requires_grad=True) * 1 for _ in range(2))
    assert _saved_bytes(lambda: ta.functional.silu_mul(gate, up)) <= _saved_bytes(lambda: F.silu(gate) * up)


def test_llama_mlp_trains_as_the_composite():
    """gate, up and down projections; a few SGD steps give the same losses."""
    def losses(act):
        torch.manual_seed(0)
        gate, up, down = torch.nn.Linear(32, 64), torch.nn.Linear(32, 64), torch.nn.Linear(64, 32)
        params = [*gate.parameters(), *up.parameters(), *down.parameters()]
        opt = torch.optim.SGD(params, lr=0.05)
        x, target = torch.randn(128, 32), torch.randn(128, 32)
        out = []
        for _ in range(5):
            opt.zero_grad()
            loss = F.mse_loss(down(act(gate(x), up(x))), target)
            loss.backward()
            opt.step()
            out.append(loss.item())
        return out

    ours, composite = losses(ta.functional.silu_mul), losses(lambda a, b: F.silu(a) * b)
    assert ours == pytest.approx(composite, rel=1e-5)
    assert ours[-1] < ours[0]


@pytest.mark.parametrize("gated", GATED_ACTIVATIONS, ids=lambda g: g.name)
def test_docstrings(gated):
    import inspect

    from torch_activations import _docs

    owners = [(getattr(ta.functional, gated.name), inspect.signature(getattr(ta.functional, gated.name)))]
    if gated.module:
        cls = getattr(ta.nn, gated.module)
        owners.append((cls, inspect.signature(cls.__init__)))
    for owner, signature in owners:
        text = owner.__doc__
        assert gated.formula in text and "Backward saves: the input" in text and _docs.NONFINITE_POLICY in text
        for name, parameter in signature.parameters.items():
            if name != "self" and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                assert f"    {name} (" in text, (gated.name, name)


def test_large_gradients_over_resident_pages():
    """The backward of a gated op writes two gradients, past the caches where
    their pages are resident. With large blocks kept in the heap, the second
    call's gradients land on the first's freed (resident) pages; their bits
    equal those of the same rows computed a few at a time (no streaming), for
    both forms and with a bias, from a row width that leaves rows misaligned."""
    if ta.CUDA_EMULATION:
        pytest.skip("which pages are resident is the CPU kernels' question")
    import ctypes

    libc, mmap_threshold = ctypes.CDLL(None), -3  # M_MMAP_THRESHOLD
    rows, width = 1100, 8192 + 6  # float32 gradients of 18 MiB each and more
    x = make_input((rows, width), torch.float32).float()
    grad = torch.randn(rows, width // 2)
    bias = torch.randn(width)
    gate, up = x[:, : width // 2].contiguous(), x[:, width // 2:].contiguous()
    cases = {
        "silu_mul": (lambda r: ops.silu_mul_backward(grad[r], gate[r], up[r])),
        "swiglu": (lambda r: (ops.swiglu_backward(grad[r], x[r], -1),)),
        "bias_swiglu": (lambda r: ops.bias_swiglu_backward(grad[r], x[r], bias)[:1]),
    }
    libc.mallopt(mmap_threshold, 1 << 30)
    try:
        for name, backward in cases.items():
            backward(slice(None))  # its gradients freed at once, their pages left resident
            whole = backward(slice(None))
            pieces = [backward(slice(r, r + 64)) for r in range(0, rows, 64)]
            for i, got in enumerate(whole):
                expected = torch.cat([p[i] for p in pieces])
                assert torch.equal(got.view(torch.int32), expected.view(torch.int32)), name
    finally:
        libc.mallopt(mmap_threshold, 128 << 10)  # glibc's default

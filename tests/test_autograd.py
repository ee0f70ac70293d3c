"""The call path: C++ autograd with torch's in-place semantics, torch.func
transforms, TorchScript, checks shared by real and fake kernels, gradient
layouts as torch's, and mixed devices."""

import pytest
import torch
import torch.nn.functional as F

import torch_activations as ta
import torch_activations.functional as taf
from helpers import INPLACE_SPECS, POINTWISE_SPECS, call, make_input, param_cases
from torch_activations._ops import function_name
from torch_activations.registry import ACTIVATIONS, CHANNELWISE, POINTWISE, SOFTMAX

ops = torch.ops.torch_activations
TWINNED = [s for s in POINTWISE_SPECS if s.torch_functional is not None]


def _kwargs(spec, params):
    return dict(zip(spec.param_names, params))


# ---------------------------------------------------------------- in place


@pytest.mark.parametrize("spec", INPLACE_SPECS, ids=lambda s: s.name)
@pytest.mark.parametrize("entry", ["functional", "op"])
def test_inplace_on_a_saved_tensor_is_detected(spec, entry):
    """The issue's repro: mul saved x, then x is overwritten in place."""
    w = torch.ones(4, requires_grad=True)
    x = torch.tensor([-1.0, 2.0, -3.0, 4.0])
    y = (w * x).sum()
    version = x._version
    if entry == "functional":
        call(spec, x, param_cases(spec)[-1], inplace=True)
    else:
        getattr(ops, f"{spec.name}_")(x, *spec.defaults)
    assert x._version > version
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


@pytest.mark.parametrize("spec", INPLACE_SPECS, ids=lambda s: s.name)
def test_inplace_on_a_leaf_raises_before_writing(spec):
    x = torch.randn(5, requires_grad=True)
    before = x.detach().clone()
    for run in (lambda: call(spec, x, spec.defaults, inplace=True), lambda: getattr(ops, f"{spec.name}_")(x, *spec.defaults)):
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
            run()
        assert torch.equal(x.detach(), before) and x._version == 0
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        call(spec, x[1:], spec.defaults, inplace=True)
    with torch.no_grad():  # as torch allows
        call(spec, x, spec.defaults, inplace=True)


@pytest.mark.parametrize("spec", [s for s in INPLACE_SPECS if s.torch_functional is not None], ids=lambda s: s.name)
def test_inplace_gradients_equal_torch(spec):
    """Non-leaf and view-of-non-leaf in-place calls: grad_fn rebased, gradients as torch's.
    (torch's in-place backward refuses negative slopes and alphas, which ours takes.)"""
    params = [p for p in param_cases(spec) if all(v > 0 for v in p)][-1]
    x = make_input((6, 7), torch.float64, kinks=spec.kinks, seed=3)
    grad = torch.randn(6, 7, dtype=torch.float64)

    def run(fn):
        leaf = x.clone().requires_grad_()
        h = leaf * 2.0
        out = fn(h, params)
        assert out is h
        view_base = leaf * 3.0
        fn(view_base[:, 1::2], params)  # through a view: the base's history is rebased
        (g,) = torch.autograd.grad((h * grad).sum() + (view_base * grad).sum(), leaf)
        return h.detach(), view_base.detach(), g

    ours = run(lambda t, p: call(spec, t, p, inplace=True))
    theirs = run(lambda t, p: spec.torch_functional(t, **_kwargs(spec, p), inplace=True))
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b)


def test_inplace_on_a_saved_output_is_detected():
    """Our own saved output overwritten afterwards: backward raises, as torch's."""
    x = torch.randn(5, requires_grad=True)
    y = taf.sigmoid(x * 1.0)
    y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# ------------------------------------------------------------- C++ autograd


@pytest.mark.parametrize("spec", ACTIVATIONS, ids=lambda s: s.name)
def test_autograd_is_native(spec):
    """torch.ops.torch_activations.<op> is differentiable through a C++ node."""
    x = torch.randn(3, 4, requires_grad=True)
    if spec.kind == POINTWISE:
        y = getattr(ops, spec.name)(x, *spec.defaults)
    elif spec.kind == SOFTMAX:
        y = getattr(ops, spec.name)(x, 1)
    else:
        y = getattr(ops, spec.name)(x, torch.rand(1, requires_grad=True))
    assert y.grad_fn.name() == f"torch_activations::{spec.name}Backward"
    assert type(y.grad_fn).__name__ != "BackwardCFunction"  # not a Python autograd.Function
    y.sum().backward()
    assert x.grad is not None


def test_saved_tensors_are_released_after_backward():
    x = torch.randn(8, requires_grad=True)
    y = taf.gelu(x)
    y.sum().backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.sum().backward()


@pytest.mark.parametrize("spec", TWINNED, ids=lambda s: s.name)
def test_forward_mode_ad_matches_torch(spec):
    x = make_input((5, 6), torch.float64, kinks=spec.kinks, seed=1)
    x = torch.where(x.abs() > 1e3, x.sign() * 3, x)
    t = torch.randn_like(x)
    params = param_cases(spec)[-1]
    _, ours = torch.func.jvp(lambda v: call(spec, v, params), (x,), (t,))
    _, theirs = torch.func.jvp(lambda v: spec.torch_functional(v, **_kwargs(spec, params)), (x,), (t,))
    torch.testing.assert_close(ours, theirs)


def test_forward_mode_ad_unsupported_raises():
    x, t = torch.randn(3, 4), torch.randn(3, 4)
    with pytest.raises(RuntimeError, match="torch_activations.prelu: forward-mode AD"):
        torch.func.jvp(lambda v: taf.prelu(v, torch.rand(4)), (x,), (t,))


# ---------------------------------------------------------------- torch.func


def _func_cases():
    for spec in ACTIVATIONS:
        if spec.kind == POINTWISE and spec.torch_functional is not None:
            params = param_cases(spec)[-1]
            yield spec.name, (lambda s, p: lambda v: call(s, v, p))(spec, params), (
                lambda s, p: lambda v: s.torch_functional(v, **_kwargs(s, p)))(spec, params)
        elif spec.kind == SOFTMAX:
            for dim in (0, -1):
                yield f"{spec.name}-{dim}", (lambda s, d: lambda v: getattr(taf, s.name)(v, d))(spec, dim), (
                    lambda s, d: lambda v: s.torch_functional(v, d))(spec, dim)
    w = torch.rand(1, dtype=torch.float64)
    yield "prelu", lambda v: taf.prelu(v, w), lambda v: F.prelu(v, w)


FUNC_CASES = list(_func_cases())


@pytest.mark.parametrize("name,ours,theirs", FUNC_CASES, ids=[c[0] for c in FUNC_CASES])
def test_vmap_grad_jacrev_match_torch(name, ours, theirs):
    x = torch.randn(3, 5, dtype=torch.float64) * 3
    # vmap over a batch, at dim 0 and dim 1
    for in_dims in (0, 1):
        torch.testing.assert_close(torch.func.vmap(ours, in_dims=in_dims)(x), torch.func.vmap(theirs, in_dims=in_dims)(x))
    # grad and jacrev (a vmap over the backward op)
    torch.testing.assert_close(torch.func.grad(lambda v: ours(v).sum())(x), torch.func.grad(lambda v: theirs(v).sum())(x))
    torch.testing.assert_close(torch.func.jacrev(ours)(x), torch.func.jacrev(theirs)(x))
    # per-example gradients: vmap of grad
    per_ours = torch.func.vmap(torch.func.grad(lambda v: (ours(v) * v).sum()))(x)
    per_theirs = torch.func.vmap(torch.func.grad(lambda v: (theirs(v) * v).sum()))(x)
    torch.testing.assert_close(per_ours, per_theirs)


def test_vmap_of_per_channel_prelu_matches_torch():
    """Examples of shape (2, 5, 4): 5 channels at their dim 1, the batch in front."""
    x, w = torch.randn(3, 2, 5, 4, dtype=torch.float64), torch.rand(5, dtype=torch.float64)
    batched = (torch.func.vmap, lambda f: torch.func.vmap(torch.func.grad(lambda v: f(v).sum())))
    for fn in batched:
        torch.testing.assert_close(fn(lambda v: taf.prelu(v, w))(x), fn(lambda v: F.prelu(v, w))(x))
    torch.testing.assert_close(torch.func.jacrev(taf.prelu, argnums=(0, 1))(x[0], w), torch.func.jacrev(F.prelu, argnums=(0, 1))(x[0], w))
    # per-example weight gradients stay per example
    gw = torch.func.vmap(torch.func.grad(lambda v, u: taf.prelu(v, u).sum(), argnums=1), in_dims=(0, None))(x, w)
    gw_ref = torch.func.vmap(torch.func.grad(lambda v, u: F.prelu(v, u).sum(), argnums=1), in_dims=(0, None))(x, w)
    torch.testing.assert_close(gw, gw_ref)


@pytest.mark.parametrize("spec", ACTIVATIONS, ids=lambda s: s.name)
def test_autograd_function_classes_support_transforms(spec):
    cls = getattr(taf, function_name(spec))
    x = torch.randn(4, 3, dtype=torch.float64)
    if spec.kind == POINTWISE:
        fn, ref = (lambda v: cls.apply(v, *spec.defaults)), (lambda v: spec.reference(v, *spec.defaults))
    elif spec.kind == SOFTMAX:
        fn, ref = (lambda v: cls.apply(v, -1)), (lambda v: spec.reference(v, -1))
    else:
        w = torch.rand(1, dtype=torch.float64)
        fn, ref = (lambda v: cls.apply(v, w)), (lambda v: spec.reference(v, w))
    torch.testing.assert_close(torch.func.vmap(fn)(x), torch.func.vmap(ref)(x))
    torch.testing.assert_close(torch.func.grad(lambda v: fn(v).sum())(x), torch.func.grad(lambda v: ref(v).sum())(x))
    torch.testing.assert_close(torch.func.jacrev(fn)(x), torch.func.jacrev(ref)(x))


# -------------------------------------------------------------- TorchScript


def _modules():
    for spec in ACTIVATIONS:
        if spec.name == "swish_learnable":
            yield "Swish-learnable", ta.nn.Swish(0.7, learnable=True)
        elif spec.name == "prelu":
            yield "PReLU", ta.nn.PReLU(4)
        elif spec.kind == SOFTMAX:
            yield spec.module, getattr(ta.nn, spec.module)(dim=1)
            yield spec.module + "-implicit", getattr(ta.nn, spec.module)()
        else:
            cls = getattr(ta.nn, spec.module)
            yield spec.module, cls()
            if spec.inplace:
                yield spec.module + "-inplace", cls(inplace=True)


MODULES = list(_modules())


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.filterwarnings("ignore:Implicit dimension choice")
@pytest.mark.parametrize("name,module", MODULES, ids=[m[0] for m in MODULES])
def test_every_module_scripts_and_traces(name, module):
    x = torch.randn(3, 4, 5)
    scripted = torch.jit.script(module)
    assert "torch_activations" in scripted.code
    traced = torch.jit.trace(module, x.clone(), check_trace=False)
    assert "torch_activations" in str(traced.graph)
    expected = module(x.clone())
    for compiled in (scripted, traced):
        torch.testing.assert_close(compiled(x.clone()), expected)
    # scripted gradients, through the C++ autograd
    xg = torch.randn(3, 4, 5, requires_grad=True)
    (g_scripted,) = torch.autograd.grad(scripted(xg * 1.0).sum(), xg)
    (g_eager,) = torch.autograd.grad(module(xg * 1.0).sum(), xg)
    torch.testing.assert_close(g_scripted, g_eager)


# ------------------------------------------- one set of checks, real and fake


def _bad_calls(device):
    x = torch.randn(4, 5, device=device)
    return {
        "integer input": (lambda: ops.relu(x.long()), RuntimeError, "torch_activations.relu: expected a floating-point input"),
        "bad approximate": (lambda: ops.gelu(x, "bad"), RuntimeError, "approximate must be 'none' or 'tanh'"),
        "celu alpha 0": (lambda: ops.celu(x, 0.0), RuntimeError, "alpha cannot be 0"),
        "grad shape": (lambda: ops.relu_backward(x[:2], x), RuntimeError, "torch_activations.relu: grad has shape"),
        "grad dtype": (lambda: ops.silu_backward(x.double(), x), RuntimeError, "torch_activations.silu: grad has dtype"),
        "backward params": (lambda: ops.gelu_backward(x, x, "bad"), RuntimeError, "approximate must be 'none' or 'tanh'"),
        "prelu weight size": (lambda: ops.prelu(x, torch.ones(3, device=device)), RuntimeError, "mismatch of parameter numbers"),
        "prelu weight 2-D": (lambda: ops.prelu(x, torch.ones(1, 5, device=device)), RuntimeError, "scalar or 1-D tensor"),
        "prelu weight dtype": (lambda: ops.prelu(x, torch.ones(5, device=device, dtype=torch.float64)), RuntimeError, "weight has dtype"),
        "prelu backward shape": (lambda: ops.prelu_backward(x[:1], x, torch.ones(5, device=device)), RuntimeError, "grad has shape"),
        "swish beta size": (lambda: ops.swish_learnable(x, torch.ones(5, device=device)), RuntimeError, "single-element parameter"),
        "softmax dim": (lambda: ops.softmax(x, 2), IndexError, "torch_activations.softmax: dim 2 is out of range"),
        "log_softmax backward dim": (lambda: ops.log_softmax_backward(x, x, -3), IndexError, "dim -3 is out of range"),
        "softmax backward shape": (lambda: ops.softmax_backward(x[:1], x, 1), RuntimeError, "grad has shape"),
        "inplace overlap": (lambda: ops.relu_(x[:1].expand(3, 5)), RuntimeError, "single memory location"),
    }


BAD_CALLS = list(_bad_calls("cpu"))


@pytest.mark.parametrize("case", BAD_CALLS)
def test_real_and_fake_kernels_reject_alike(case):
    real, error, message = _bad_calls("cpu")[case]
    with pytest.raises(error, match=message):
        real()
    meta, _, _ = _bad_calls("meta")[case]
    if case == "inplace overlap":  # a property of memory, which fake tensors have not
        meta()
        return
    with pytest.raises(error, match=message):
        meta()
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        fake, _, _ = _bad_calls("cpu")[case]
        with pytest.raises(error, match=message):
            fake()


def test_compile_rejects_at_trace_time():
    torch._dynamo.reset()
    fn = torch.compile(lambda t: taf.prelu(t, torch.ones(3)), fullgraph=True, backend="aot_eager")
    with pytest.raises(Exception, match="mismatch of parameter numbers"):
        fn(torch.randn(4, 5))


def test_mixed_devices_raise():
    cpu = torch.full((4,), 5.0)
    with pytest.raises(RuntimeError, match="torch_activations.prelu: input is on cpu but weight is on meta"):
        ops.prelu(cpu, torch.ones(1, device="meta"))
    with pytest.raises(RuntimeError, match="torch_activations.prelu: input is on meta but weight is on cpu"):
        ops.prelu(cpu.to("meta"), torch.ones(1))
    with pytest.raises(RuntimeError, match="torch_activations.relu: grad is on meta but saved tensor is on cpu"):
        ops.relu_backward(torch.ones(4, device="meta"), cpu)
    with pytest.raises(RuntimeError, match="torch_activations.softmax: grad is on cpu but output is on meta"):
        ops.softmax_backward(cpu, torch.ones(4, device="meta"), 0)
    with pytest.raises(RuntimeError, match="torch_activations.prelu: grad is on meta"):
        ops.prelu_backward(torch.ones(4, device="meta"), cpu, torch.ones(1))


# ---------------------------------------------------------- gradient layouts


def _layouts():
    base = torch.randn(4, 6, 5, 3, dtype=torch.float64)
    return {
        "contiguous": base,
        "channels_last": base.contiguous(memory_format=torch.channels_last),
        "transposed": base.transpose(1, 3),
        "sliced": base[:, ::2],
        "transposed-sliced": base.transpose(0, 2)[:, :, ::2],
        "expanded": base[:1].expand(4, 6, 5, 3),
        "size-one": base[:, :1],
    }


def _like(t, layout):
    """A tensor of t's shape in the given layout."""
    src = torch.randn(t.shape, dtype=t.dtype)
    if layout == "contiguous":
        return src
    if layout == "channels_last":
        return src.contiguous(memory_format=torch.channels_last)
    if layout == "reversed":
        return torch.randn(t.shape[::-1], dtype=t.dtype).permute(*reversed(range(t.dim())))
    if layout == "expanded":
        return torch.randn((1,) + t.shape[1:], dtype=t.dtype).expand(t.shape)
    return torch.randn(t.shape[:-1] + (2 * t.shape[-1],), dtype=t.dtype)[..., ::2]  # strided


LAYOUTS = list(_layouts())
GRAD_LAYOUTS = ["contiguous", "channels_last", "reversed", "expanded", "strided"]


@pytest.mark.parametrize("spec", TWINNED, ids=lambda s: s.name)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_output_and_gradient_strides_equal_torch(spec, layout):
    x_base = _layouts()[layout]
    for grad_layout in GRAD_LAYOUTS:
        grad = _like(x_base, grad_layout)
        results = []
        for fn in (lambda v: call(spec, v, spec.defaults), lambda v: spec.torch_functional(v, **_kwargs(spec, spec.defaults))):
            x = x_base.detach().requires_grad_()
            y = fn(x)
            (g,) = torch.autograd.grad(y, x, grad)
            results.append((y.stride(), g.stride(), g))
        (y_ours, g_ours, gv), (y_torch, g_torch, gt) = results
        assert y_ours == y_torch, (layout, y_ours, y_torch)
        assert g_ours == g_torch, (layout, grad_layout, g_ours, g_torch)
        torch.testing.assert_close(gv, gt)


def test_channels_last_model_gradients_are_torchs_bitwise():
    """A channels_last conv net with ReLU6 (exact math): parameter gradients bitwise torch.nn's."""
    torch.manual_seed(0)

    def net(act):
        return torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), act(),
            torch.nn.Conv2d(8, 8, 3, padding=1, groups=8), act(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
            torch.nn.Linear(8, 4),
        ).to(memory_format=torch.channels_last)

    theirs = net(torch.nn.ReLU6)
    ours = net(ta.nn.ReLU6)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(4, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    for model in (ours, theirs):
        model(x).square().sum().backward()
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        assert torch.equal(p.grad, q.grad), name

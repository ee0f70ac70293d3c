"""The three faces of every op (custom op, autograd.Function + functional,
nn.Module), torch.compile without graph breaks, and the CPU builds per
instruction set."""

import inspect
import os
import subprocess
import sys

import pytest
import torch

import torch_activations as ta
import torch_activations.functional as taf
from helpers import DEVICES, POINTWISE_SPECS, make_input
from torch_activations.registry import ACTIVATIONS, CHANNELWISE, POINTWISE, SOFTMAX


def _module_and_twin(spec):
    """Our module and torch's (or, with no twin, a composite of torch ops)."""
    if spec.name == "swish_learnable":
        return ta.nn.Swish(0.8, learnable=True), None
    if spec.name == "prelu":
        return ta.nn.PReLU(4), torch.nn.PReLU(4)
    if spec.kind == SOFTMAX:
        return getattr(ta.nn, spec.module)(dim=1), spec.torch_module(dim=1)
    if spec.torch_module is None:
        return getattr(ta.nn, spec.module)(), None
    return getattr(ta.nn, spec.module)(), spec.torch_module()


@pytest.mark.parametrize("spec", ACTIVATIONS, ids=lambda s: s.name)
def test_schema_matches_registry(spec):
    """The C++ schema's parameter names are the registry's (and torch's)."""
    schema = getattr(torch.ops.torch_activations, spec.name).default._schema
    names = [a.name for a in schema.arguments]
    if spec.kind == POINTWISE:
        assert names == ["x", *spec.param_names]
    elif spec.kind == SOFTMAX:
        assert names == ["x", "dim"]
    else:
        assert names == ["x", "weight"]


@pytest.mark.parametrize("spec", [s for s in POINTWISE_SPECS if s.torch_functional is not None], ids=lambda s: s.name)
def test_functional_signature_matches_torch(spec):
    ours = inspect.signature(getattr(taf, spec.name))
    # torch's parameters, then this package's keyword-only saved=
    *twin_parameters, saved = ours.parameters.values()
    assert (saved.name, saved.default, saved.kind) == ("saved", "auto", inspect.Parameter.KEYWORD_ONLY)
    ours = ours.replace(parameters=twin_parameters)
    if spec.torch_functional in (torch.sigmoid, torch.tanh):  # builtins without a signature
        assert list(ours.parameters) == ["input"]
        return
    try:
        theirs = inspect.signature(spec.torch_functional)
    except ValueError:  # a builtin: its documented defaults are the registry's
        assert [(p.name, p.default) for p in ours.parameters.values()] == [("input", inspect.Parameter.empty), *spec.params]
        return
    assert [(p.name, p.default) for p in ours.parameters.values()] == [
        (p.name, p.default) for p in theirs.parameters.values()
    ]


@pytest.mark.parametrize("spec", ACTIVATIONS, ids=lambda s: s.name)
def test_module_is_a_drop_in(spec):
    ours, theirs = _module_and_twin(spec)
    if theirs is not None:
        assert isinstance(ours, type(theirs))
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        ours.load_state_dict(theirs.state_dict())
        x = make_input((3, 4, 5), torch.float32, "cpu")
        torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("spec", ACTIVATIONS, ids=lambda s: s.name)
def test_autograd_function_is_public(spec):
    from torch_activations._ops import function_name

    cls = getattr(taf, function_name(spec))
    assert issubclass(cls, torch.autograd.Function)
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    if spec.kind == POINTWISE:
        y = cls.apply(x, *spec.defaults)
    elif spec.kind == SOFTMAX:
        y = cls.apply(x, 1)
    else:
        y = cls.apply(x, torch.rand(1, dtype=torch.float64, requires_grad=True))
    y.sum().backward()
    assert x.grad is not None and x.grad.isfinite().all()


def test_modules_cover_the_registry():
    for spec in ACTIVATIONS:
        assert hasattr(ta.nn, spec.module), spec.module
        assert hasattr(taf, spec.name if spec.name != "swish_learnable" else "swish")


class _Block(torch.nn.Module):
    def __init__(self, activation):
        super().__init__()
        self.linear = torch.nn.Linear(8, 8)
        self.activation = activation

    def forward(self, x):
        return self.activation(self.linear(x)) * 2


def _make_block(spec):
    if spec.name == "prelu":
        return _Block(ta.nn.PReLU(8))
    ours, _ = _module_and_twin(spec)
    return _Block(ours)


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("spec", ACTIVATIONS, ids=lambda s: s.name)
@pytest.mark.parametrize("device", DEVICES)
def test_compile_fullgraph(spec, dynamic, device):
    """torch.compile(fullgraph=True) traces forward and backward with no graph
    break (fullgraph raises on one) and gives eager's values and gradients."""
    torch._dynamo.reset()
    block = _make_block(spec).to(device)
    compiled = torch.compile(block, fullgraph=True, dynamic=dynamic, backend="aot_eager")
    for rows in (5, 9):  # a second shape exercises the dynamic graph
        x = torch.randn(rows, 8, device=device, requires_grad=True)
        y_eager = block(x)
        (g_eager,) = torch.autograd.grad(y_eager.sum(), x)
        y = compiled(x)
        (g,) = torch.autograd.grad(y.sum(), x)
        torch.testing.assert_close(y, y_eager)
        torch.testing.assert_close(g, g_eager)


@pytest.mark.parametrize("device", DEVICES)
def test_compile_inductor(device):
    """The custom ops also pass through Inductor, the default backend."""
    torch._dynamo.reset()
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), ta.nn.GELU(), torch.nn.Linear(8, 8), ta.nn.Softmax(dim=-1)).to(device)
    compiled = torch.compile(model, fullgraph=True)
    x = torch.randn(4, 8, device=device)
    torch.testing.assert_close(compiled(x), model(x))


ISA_CHECK = r"""
import torch, torch_activations as ta
from torch_activations.registry import ACTIVATIONS, POINTWISE
assert ta.CPU_ISA == {isa!r}, ta.CPU_ISA
for spec in ACTIVATIONS:
    if spec.kind != POINTWISE:
        continue
    for dtype, tol in ((torch.float32, 2e-5), (torch.bfloat16, 3e-2)):
        for n in (1, 15, 16, 17, 100003):
            base = torch.randn(n + 1, dtype=torch.float64) * 4
            base[::97] = 0.0
            x = base[1:].to(dtype).requires_grad_()  # odd offsets and lengths: vector body and tail
            g = torch.randn(n).to(dtype)
            y = getattr(ta.functional, spec.name)(x, *spec.defaults)
            (gx,) = torch.autograd.grad(y, x, g)
            xr = x.detach().double().requires_grad_()
            yr = spec.reference(xr, *spec.defaults)
            (gr,) = torch.autograd.grad(yr, xr, g.double())
            torch.testing.assert_close(y.double(), yr.detach(), rtol=tol, atol=tol)
            torch.testing.assert_close(gx.double(), gr, rtol=tol, atol=tol * 4)
big = torch.randn((16 << 20) // 4 + 9)  # streaming stores, from a misaligned start
torch.testing.assert_close(ta.functional.silu(big[1:]), torch.nn.functional.silu(big[1:]))
x = torch.randn(5, 300, 7)
torch.testing.assert_close(ta.functional.softmax(x, 1), torch.softmax(x, 1))
torch.testing.assert_close(ta.functional.log_softmax(x, 2), torch.log_softmax(x, 2))
w = torch.rand(300)
torch.testing.assert_close(ta.functional.prelu(x, w), torch.nn.functional.prelu(x, w))
print("ok", ta.CPU_ISA)
"""


def _cpu_build_env(isa):
    """The environment of a process that loads the CPU build `isa` (never the
    emulated CUDA kernels)."""
    env = dict(os.environ, TORCH_ACTIVATIONS_CPU_ISA=isa)
    env.pop("TORCH_ACTIVATIONS_CUDA_EMULATION", None)
    return env


@pytest.mark.skipif(ta.CUDA_EMULATION, reason="tests the CPU builds, which the emulated CUDA run does not load")
@pytest.mark.parametrize("isa", ta.SUPPORTED_CPU_ISAS)
def test_each_cpu_build(isa):
    """Every CPU build this machine can run, chosen with TORCH_ACTIVATIONS_CPU_ISA."""
    env = _cpu_build_env(isa)
    run = subprocess.run([sys.executable, "-c", ISA_CHECK.format(isa=isa)], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == f"ok {isa}"


def test_cpu_isa_choice_is_validated():
    env = _cpu_build_env("sse9")
    run = subprocess.run([sys.executable, "-c", "import torch_activations"], env=env, capture_output=True, text=True)
    assert run.returncode != 0 and "TORCH_ACTIVATIONS_CPU_ISA='sse9' is not one of" in run.stderr
    if "avx512" not in ta.SUPPORTED_CPU_ISAS:
        env["TORCH_ACTIVATIONS_CPU_ISA"] = "avx512"
        run = subprocess.run([sys.executable, "-c", "import torch_activations"], env=env, capture_output=True, text=True)
        assert run.returncode != 0 and "cannot run here" in run.stderr


if torch.cuda.is_available():  # defined only where two devices exist

    def test_mismatched_devices_raise():
        _check_mismatched_devices()


def _check_mismatched_devices():
    x = torch.randn(2, 3, device="cuda")
    with pytest.raises(RuntimeError, match="torch_activations.prelu: input is on cuda"):
        taf.prelu(x, torch.rand(3))
    with pytest.raises(RuntimeError, match="torch_activations.relu: grad is on"):
        torch.ops.torch_activations.relu_backward(torch.randn(2, 3), x)

"""PReLU and the learnable-beta Swish: a parameter per channel (or one in all)
whose gradient comes from a fused reduction."""

import pytest
import torch
import torch.nn.functional as F

import torch_activations as ta
from helpers import DEVICES, TOLERANCES, make_input
from torch_activations.registry import get

pytestmark = pytest.mark.parametrize("device", DEVICES)
PRELU = get("prelu")
SWISH = get("swish_learnable")

SHAPES = {  # input shape, weight elements
    "4d-per-channel": ((4, 6, 5, 7), 6),
    "4d-shared": ((4, 6, 5, 7), 1),
    "2d-per-channel": ((33, 9), 9),
    "3d-per-channel": ((3, 5, 11), 5),
    "1d": ((17,), 1),
    "0d": ((), 1),
    "many-channels": ((2, 5000, 3), 5000),
}


def _value_and_grads(fn, x, w, grad):
    x, w = x.detach().requires_grad_(), w.detach().requires_grad_()
    y = fn(x, w)
    gx, gw = torch.autograd.grad(y, (x, w), grad)
    return y.detach(), gx, gw


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16], ids=str)
def test_prelu_matches_reference(shape, dtype, device):
    x_shape, channels = SHAPES[shape]
    x = make_input(x_shape, dtype, device, kinks=(0.0,))
    w = (torch.rand(channels, dtype=torch.float64) - 0.3).to(dtype=dtype, device=device)
    grad = torch.randn(x_shape, dtype=torch.float64).to(dtype=dtype, device=device)
    y, gx, gw = _value_and_grads(ta.functional.prelu, x, w, grad)
    y_ref, gx_ref, gw_ref = _value_and_grads(PRELU.reference, x.double(), w.double(), grad.double())
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(y.double(), y_ref, rtol=rtol, atol=atol)
    torch.testing.assert_close(gx.double(), gx_ref, rtol=rtol, atol=atol)
    # a sum over many elements: error grows with the count, as for torch
    count = max(1, x.numel() // channels)
    torch.testing.assert_close(gw.double(), gw_ref, rtol=rtol * 10, atol=atol * count**0.5 * 100)


@pytest.mark.parametrize("layout", ["channels_last", "transposed", "sliced"])
def test_prelu_layouts_match_torch(layout, device):
    base = make_input((3, 8, 6, 5), torch.float32, device)
    x = {
        "channels_last": base.contiguous(memory_format=torch.channels_last),
        "transposed": base.transpose(2, 3),
        "sliced": base[:, :, ::2],
    }[layout].requires_grad_()
    w = torch.rand(8, device=device, requires_grad=True)
    grad = torch.randn_like(x)
    y, gx, gw = _value_and_grads(ta.functional.prelu, x, w, grad)
    yt, gxt, gwt = _value_and_grads(F.prelu, x, w, grad)
    assert y.stride() == yt.stride()
    torch.testing.assert_close(y, yt)
    torch.testing.assert_close(gx, gxt)
    torch.testing.assert_close(gw, gwt, rtol=1e-4, atol=1e-4)


def test_prelu_nonfinite_matches_torch(device):
    x = make_input((5, 4, 9), torch.float32, device, kinks=(0.0,), nonfinite=True)
    w = torch.rand(4, device=device)
    y = ta.functional.prelu(x, w)
    torch.testing.assert_close(y, F.prelu(x, w), equal_nan=True)


@pytest.mark.parametrize("shape", ["4d-per-channel", "4d-shared", "1d", "0d"])
def test_prelu_gradcheck_and_gradgradcheck(shape, device):
    x_shape, channels = SHAPES[shape]
    x = torch.randn(x_shape, dtype=torch.float64, device=device)
    x = torch.where(x.abs() < 1e-2, x + 0.1, x).requires_grad_()
    w = torch.rand(channels, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(ta.functional.prelu, (x, w))
    assert torch.autograd.gradgradcheck(ta.functional.prelu, (x, w))


def test_prelu_opcheck(device):
    ops = torch.ops.torch_activations
    x = make_input((3, 4, 5), torch.float32, device).requires_grad_()
    w = torch.rand(4, device=device, requires_grad=True)
    torch.library.opcheck(ops.prelu.default, (x, w))
    torch.library.opcheck(ops.prelu_backward.default, (torch.randn_like(x).requires_grad_(), x, w))


def test_prelu_rejects_bad_weights(device):
    x = torch.randn(2, 3, 4, device=device)
    with pytest.raises(RuntimeError, match="torch_activations.prelu: mismatch of parameter numbers and input channel size"):
        ta.functional.prelu(x, torch.rand(4, device=device))
    with pytest.raises(RuntimeError, match="torch_activations.prelu: expected the weight to be a scalar or 1-D"):
        ta.functional.prelu(x, torch.rand(3, 1, device=device))
    with pytest.raises(RuntimeError, match="torch_activations.prelu: a zero-dim input"):
        ta.functional.prelu(torch.tensor(1.0, device=device), torch.rand(3, device=device))
    with pytest.raises(RuntimeError, match="torch_activations.prelu: input has dtype"):
        ta.functional.prelu(x, torch.rand(3, device=device, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="torch_activations.prelu: expected a floating-point weight"):
        ta.functional.prelu(x, torch.ones(3, device=device, dtype=torch.int64))
    with pytest.raises(RuntimeError, match="torch_activations.prelu: expected a floating-point input"):
        ta.functional.prelu(x.long(), torch.rand(3, device=device))


def test_prelu_module_loads_torch_checkpoint(device):
    theirs = torch.nn.PReLU(6, init=0.1).to(device)
    with torch.no_grad():
        theirs.weight.uniform_(-1, 1)
    ours = ta.nn.PReLU(6).to(device)
    ours.load_state_dict(theirs.state_dict())
    assert list(ours.state_dict()) == ["weight"]
    assert repr(ours) == repr(theirs)
    x = make_input((2, 6, 3, 3), torch.float32, device)
    torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("beta", [1.0, 0.6, -1.3])
def test_swish_learnable_matches_reference(beta, dtype, device):
    x = make_input((37, 29), dtype, device)
    b = torch.full((1,), beta, dtype=dtype, device=device)
    grad = torch.randn(x.shape, dtype=torch.float64).to(dtype=dtype, device=device)
    y, gx, gb = _value_and_grads(ta.functional.swish, x, b, grad)
    y_ref, gx_ref, gb_ref = _value_and_grads(SWISH.reference, x.double(), b.double(), grad.double())
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(y.double(), y_ref, rtol=rtol, atol=atol)
    torch.testing.assert_close(gx.double(), gx_ref, rtol=rtol, atol=atol)
    torch.testing.assert_close(gb.double(), gb_ref, rtol=rtol * 10, atol=atol * x.numel() ** 0.5 * 10)
    # with a float beta (the same value, as stored in dtype) the pointwise op agrees
    torch.testing.assert_close(ta.functional.swish(x, b.item()), y)


def test_swish_learnable_gradcheck_and_gradgradcheck(device):
    x = torch.randn(5, 7, dtype=torch.float64, device=device, requires_grad=True)
    b = torch.tensor([0.8], dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(ta.functional.swish, (x, b))
    assert torch.autograd.gradgradcheck(ta.functional.swish, (x, b))
    torch.library.opcheck(torch.ops.torch_activations.swish_learnable.default, (x, b))
    torch.library.opcheck(torch.ops.torch_activations.swish_learnable_backward.default, (torch.randn_like(x), x, b))


def test_swish_module_learns_beta(device):
    m = ta.nn.Swish(beta=1.5, learnable=True).to(device)
    assert [n for n, _ in m.named_parameters()] == ["beta"]
    x = make_input((8, 16), torch.float32, device)
    m(x).square().sum().backward()
    assert m.beta.grad is not None and m.beta.grad.isfinite().all() and m.beta.grad.abs().item() > 0
    with pytest.raises(RuntimeError, match="torch_activations.swish_learnable: expected a single-element parameter"):
        ta.functional.swish(x, torch.ones(3, device=device))
    fixed = ta.nn.Swish(beta=1.5)
    assert list(fixed.parameters()) == [] and repr(fixed) == "Swish(beta=1.5)"

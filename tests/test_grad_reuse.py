"""A pointwise op's backward, and softmax's and log_softmax's, write the
input's gradient over the incoming one where nothing else can see it (csrc/autograd.h,
gradient_is_autograds_alone): the same bits as a fresh buffer, and never
where the write could be seen (a user's gradient, a hook's, a retained one, a
kept graph, double backward, a gradient two consumers share)."""

import numpy as np
import pytest
import torch
from torch.profiler import ProfilerActivity, profile

import torch_activations as ta
from helpers import DEVICES, bits, make_input, pointwise_cases

ops = torch.ops.torch_activations
CASES, CASE_IDS = pointwise_cases()


def allocations(nbytes, run):
    """How many buffers of `nbytes` bytes run() allocates (the profiler holds
    no tensor, so it changes nothing it counts; a dispatch mode or a hook would)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    return sum(1 for e in prof.events() if e.cpu_memory_usage == nbytes)


def assert_same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape and a.stride() == b.stride()
    assert torch.equal(bits(a), bits(b))


def leaf(dtype=torch.float32, device="cpu", shape=(37, 29), memory_format=torch.contiguous_format):
    x = make_input(shape, dtype, device, nonfinite=True)
    return x.contiguous(memory_format=memory_format).requires_grad_()


def backward_of(spec, params, x, weight, **backward_kwargs):
    """x's gradient through (op(x) * weight).sum(), and how many buffers of
    x's size backward allocated."""
    x = x.detach().requires_grad_()
    y = getattr(ta.functional, spec.name)(x, *params)
    loss = (y * weight).sum()
    count = allocations(x.numel() * x.element_size(), lambda: loss.backward(**backward_kwargs))
    return x.grad, count


def assert_reused_with_same_bits(spec, params, x, weight):
    """Backward allocates fewer buffers than with the graph kept (which gets a
    fresh one), and gives the same bits."""
    kept, kept_count = backward_of(spec, params, x, weight, retain_graph=True)
    reused, reused_count = backward_of(spec, params, x, weight)
    assert reused_count < kept_count
    assert_same_bits(reused, kept)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("spec,params", CASES, ids=CASE_IDS)
def test_reused_where_alone_with_the_same_bits(spec, params, dtype):
    x = leaf(dtype)
    weight = make_input(x.shape, dtype)
    assert_reused_with_same_bits(spec, params, x, weight)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "gelu", "tanh"])
def test_reused_in_channels_last_with_the_same_bits(name):
    spec = ta.registry.get(name)
    x = leaf(shape=(3, 8, 5, 7), memory_format=torch.channels_last)
    weight = make_input(x.shape, torch.float32).contiguous(memory_format=torch.channels_last)
    assert_reused_with_same_bits(spec, spec.defaults, x, weight)


def _fresh(name="gelu", shape=(41, 23)):
    spec = ta.registry.get(name)
    x = leaf(shape=shape)
    return spec, x, getattr(ta.functional, name)(x, *spec.defaults)


def _expected(spec, x, grad):
    """x's gradient from grad, with a fresh buffer."""
    with torch.no_grad():
        saved = getattr(ops, spec.name)(x, *spec.defaults) if ta._ops.saves_output(spec, x, *spec.defaults) else x
        return getattr(ops, f"{spec.name}_backward")(grad, saved.detach(), *spec.defaults)


@pytest.mark.parametrize("name", ["relu", "gelu"])
def test_not_reused_for_the_users_gradient(name):
    spec, x, y = _fresh(name)
    grad = make_input(y.shape, torch.float32)
    before = grad.clone()
    y.backward(grad)
    assert_same_bits(grad, before)
    assert_same_bits(x.grad, _expected(spec, x, before))


def test_not_reused_for_a_retained_gradient():
    spec, x, y = _fresh()
    y.retain_grad()
    weight = make_input(y.shape, torch.float32)
    (y * weight).sum().backward()
    assert_same_bits(y.grad, weight * 1)
    assert_same_bits(x.grad, _expected(spec, x, weight * 1))
    assert y.grad.data_ptr() != x.grad.data_ptr()


def test_not_reused_for_a_gradient_a_tensor_hook_keeps():
    spec, x, y = _fresh()
    seen = []
    y.register_hook(seen.append)
    weight = make_input(y.shape, torch.float32)
    (y * weight).sum().backward()
    assert_same_bits(seen[0], weight * 1)
    assert_same_bits(x.grad, _expected(spec, x, weight * 1))


def test_not_reused_for_a_gradient_a_node_hook_sees():
    spec, x, y = _fresh()
    seen = []
    y.grad_fn.register_hook(lambda grad_inputs, grad_outputs: seen.append(grad_outputs[0]))
    weight = make_input(y.shape, torch.float32)
    (y * weight).sum().backward()
    assert_same_bits(seen[0], weight * 1)
    assert_same_bits(x.grad, _expected(spec, x, weight * 1))


def test_not_reused_for_memory_a_hook_hands_in_from_numpy():
    spec, x, y = _fresh()
    array = np.random.default_rng(0).standard_normal(tuple(y.shape)).astype(np.float32)
    before = array.copy()
    y.register_hook(lambda grad: torch.from_numpy(array))
    (y * 2).sum().backward()
    assert np.array_equal(array, before)
    assert_same_bits(x.grad, _expected(spec, x, torch.from_numpy(before)))


def test_not_reused_while_the_graph_is_kept():
    spec, x, y = _fresh()
    weight = make_input(y.shape, torch.float32)
    loss = (y * weight).sum()
    loss.backward(retain_graph=True)
    first = x.grad.clone()
    x.grad = None
    loss.backward()  # this one frees the graph, and may reuse
    assert_same_bits(x.grad, first)


def test_not_reused_in_double_backward():
    spec, x, y = _fresh()
    weight = make_input(y.shape, torch.float32)
    (grad_x,) = torch.autograd.grad((y * weight).sum(), x, create_graph=True)
    assert grad_x.requires_grad
    (reference,) = torch.autograd.grad((getattr(torch.nn.functional, "gelu")(x) * weight).sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(grad_x.sum(), x)
    (second_reference,) = torch.autograd.grad(reference.sum(), x)
    finite = second_reference.isfinite()
    torch.testing.assert_close(second[finite], second_reference[finite], rtol=1e-4, atol=1e-5)


def test_a_gradient_two_consumers_share_is_written_by_neither_while_shared():
    x = leaf()
    h = x * 1.5
    weight = make_input(x.shape, torch.float32)
    loss = ((ta.functional.relu(h) + ta.functional.gelu(h)) * weight).sum()  # add hands both one tensor
    loss.backward()  # whichever node runs first sees the tensor shared; the second has it alone
    with torch.no_grad():
        g = weight * 1
        expected = (_expected(ta.registry.get("relu"), h, g) + _expected(ta.registry.get("gelu"), h, g)) * 1.5
    assert_same_bits(x.grad, expected)


def test_not_reused_when_the_layout_differs():
    spec = ta.registry.get("gelu")
    x = leaf(shape=(16, 24))
    weight = make_input((24, 16), torch.float32).t()  # the incoming gradient comes transposed
    (ta.functional.gelu(x) * weight).sum().backward()
    assert torch.equal(bits(x.grad.contiguous()), bits(_expected(spec, x, (weight * 1).contiguous())))


# ------------------------------------------------------- the op <name>_backward_


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("spec,params", CASES, ids=CASE_IDS)
def test_inplace_backward_op_equals_the_backward_op(spec, params, device):
    x = make_input((7, 13), torch.float32, device, nonfinite=True)
    saved = getattr(ops, spec.name)(x, *params) if ta._ops.saves_output(spec, x, *params) else x
    grad = make_input(x.shape, torch.float32, device)
    expected = getattr(ops, f"{spec.name}_backward")(grad, saved, *params)
    version = grad._version
    getattr(ops, f"{spec.name}_backward_")(grad, saved, *params)
    assert_same_bits(grad, expected)
    assert grad._version > version
    strided = make_input((7, 26), torch.float32, device)[:, ::2]  # not dense: computed aside, then written
    expected = getattr(ops, f"{spec.name}_backward")(strided, saved, *params)
    getattr(ops, f"{spec.name}_backward_")(strided, saved, *params)
    torch.testing.assert_close(strided, expected, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("spec,params", CASES, ids=CASE_IDS)
def test_inplace_backward_opcheck(spec, params):
    x = make_input((5, 9), torch.float32, kinks=spec.kinks)
    saved = getattr(ops, spec.name)(x, *params) if ta._ops.saves_output(spec, x, *params) else x
    torch.library.opcheck(getattr(ops, f"{spec.name}_backward_").default, (torch.randn_like(x), saved, *params))


def test_inplace_backward_op_refuses_a_graph_and_bad_input():
    x = make_input((4, 5), torch.float32)
    with pytest.raises(RuntimeError, match="gelu_backward_: writes the gradient over grad"):
        ops.gelu_backward_(torch.randn(4, 5, requires_grad=True), x)
    with pytest.raises(RuntimeError, match="gelu.*shape"):
        ops.gelu_backward_(torch.randn(5, 4), x)
    with pytest.raises(RuntimeError, match="gelu.*dtype"):
        ops.gelu_backward_(torch.randn(4, 5, dtype=torch.float64), x)
    with pytest.raises(RuntimeError, match="single memory location"):
        ops.gelu_backward_(torch.randn(1, 5).expand(4, 5), x)


# ------------------------------------------------------------ softmax, log_softmax


def softmax_backward_of(name, x, dim, weight, **backward_kwargs):
    x = x.detach().requires_grad_()
    loss = (getattr(ta.functional, name)(x, dim) * weight).sum()
    count = allocations(x.numel() * x.element_size(), lambda: loss.backward(**backward_kwargs))
    return x.grad, count


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("dim", [-1, 1])  # along rows; along lines `inner` elements apart
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_reused_where_alone_with_the_same_bits(name, dim, dtype):
    x = leaf(dtype, shape=(6, 37, 29))
    weight = make_input(x.shape, dtype)
    kept, kept_count = softmax_backward_of(name, x, dim, weight, retain_graph=True)
    reused, reused_count = softmax_backward_of(name, x, dim, weight)
    assert reused_count < kept_count
    assert_same_bits(reused, kept)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_not_reused_for_the_users_gradient(name):
    x = leaf(shape=(5, 31))
    y = getattr(ta.functional, name)(x, -1)
    grad = make_input(y.shape, torch.float32)
    before = grad.clone()
    y.backward(grad)
    assert_same_bits(grad, before)
    assert_same_bits(x.grad, getattr(ops, f"{name}_backward")(before, y.detach(), -1))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_not_reused_for_a_retained_gradient_or_a_kept_graph(name):
    x = leaf(shape=(5, 31))
    y = getattr(ta.functional, name)(x, -1)
    y.retain_grad()
    weight = make_input(y.shape, torch.float32)
    loss = (y * weight).sum()
    loss.backward(retain_graph=True)
    assert_same_bits(y.grad, weight * 1)
    first = x.grad.clone()
    assert_same_bits(first, getattr(ops, f"{name}_backward")(weight * 1, y.detach(), -1))
    x.grad = None
    loss.backward()
    assert_same_bits(x.grad, first)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_not_reused_in_double_backward(name):
    x = make_input((5, 31), torch.float64).requires_grad_()
    weight = make_input(x.shape, torch.float64)
    (grad_x,) = torch.autograd.grad((getattr(ta.functional, name)(x, -1) * weight).sum(), x, create_graph=True)
    (reference,) = torch.autograd.grad((getattr(torch, name)(x, -1) * weight).sum(), x, create_graph=True)
    assert grad_x.requires_grad
    torch.testing.assert_close(grad_x, reference)
    (second,) = torch.autograd.grad((grad_x * weight).sum(), x)
    (second_reference,) = torch.autograd.grad((reference * weight).sum(), x)
    torch.testing.assert_close(second, second_reference)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dim", [-1, 0])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_inplace_backward_op_equals_the_backward_op(name, dim, device):
    out = getattr(ops, name)(make_input((7, 13), torch.float32, device, nonfinite=True), dim)
    grad = make_input(out.shape, torch.float32, device)
    expected = getattr(ops, f"{name}_backward")(grad, out, dim)
    version = grad._version
    getattr(ops, f"{name}_backward_")(grad, out, dim)
    assert_same_bits(grad, expected)
    assert grad._version > version
    strided = make_input((7, 26), torch.float32, device)[:, ::2]  # not contiguous: computed aside, then written
    expected = getattr(ops, f"{name}_backward")(strided, out, dim)
    getattr(ops, f"{name}_backward_")(strided, out, dim)
    torch.testing.assert_close(strided, expected, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_inplace_backward_opcheck(name):
    out = getattr(ops, name)(make_input((5, 9), torch.float32), 1)
    torch.library.opcheck(getattr(ops, f"{name}_backward_").default, (torch.randn_like(out), out, 1))


def test_softmax_inplace_backward_op_refuses_a_graph_and_bad_input():
    out = ops.softmax(make_input((4, 5), torch.float32), 1)
    with pytest.raises(RuntimeError, match="softmax_backward_: writes the gradient over grad"):
        ops.softmax_backward_(torch.randn(4, 5, requires_grad=True), out, 1)
    with pytest.raises(RuntimeError, match="softmax.*shape"):
        ops.softmax_backward_(torch.randn(5, 4), out, 1)
    with pytest.raises(RuntimeError, match="softmax.*dtype"):
        ops.softmax_backward_(torch.randn(4, 5, dtype=torch.float64), out, 1)
    with pytest.raises(RuntimeError, match="single memory location"):
        ops.softmax_backward_(torch.randn(1, 5).expand(4, 5), out, 1)
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        ops.softmax_backward_(torch.randn(4, 5), out, 2)

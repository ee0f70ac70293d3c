"""The same bits at every thread count: each op's values and gradients
(weight and bias gradients included) at 1, 2 and 3 threads, on shapes whose
splits fall mid-vector and mid-row, NaN and infinities mixed in."""

import pytest
import torch

import torch_activations as ta
from torch_activations.registry import ACTIVATIONS, BIASED, GATED_ACTIVATIONS, POINTWISE, SOFTMAX

from helpers import bits, make_input, param_cases

THREADS = (1, 2, 3)
DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
ROWS, WIDTH = 67, 3001  # ~2^17.6 elements: split by every thread count, mid-vector and mid-row


def _bits(t):
    """A tensor's bits, NaN payloads folded (comparison by value, NaN == NaN)."""
    t = t.detach()
    return torch.where(t.isnan(), torch.zeros_like(t), t), t.isnan()


def _same_bits(a, b):
    (va, na), (vb, nb) = _bits(a), _bits(b)
    return torch.equal(na, nb) and torch.equal(bits(va), bits(vb))


def _run_at(threads, fn, tensors, seed):
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        leaves = [t.detach().clone().requires_grad_() for t in tensors]
        y = fn(*leaves)
        g = make_input(y.shape, dtype=y.dtype, seed=seed, scale=1.0)
        return [y.detach(), *torch.autograd.grad(y, leaves, g)]
    finally:
        torch.set_num_threads(old)


def _check(fn, tensors, seed=0):
    first = _run_at(THREADS[0], fn, tensors, seed)
    for threads in THREADS[1:]:
        other = _run_at(threads, fn, tensors, seed)
        which = ["output"] + [f"gradient {i}" for i in range(len(tensors))]
        differ = [w for w, a, b in zip(which, first, other) if not _same_bits(a, b)]
        assert not differ, f"{differ} differ between {THREADS[0]} and {threads} threads"


def _x(dtype, shape=(ROWS, WIDTH), seed=1, nonfinite=True, **kwargs):
    return make_input(shape, dtype=dtype, seed=seed, nonfinite=nonfinite, **kwargs)


POINTWISE_CASES = [(s, p) for s in ACTIVATIONS if s.kind == POINTWISE for p in param_cases(s)]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("spec, params", POINTWISE_CASES, ids=lambda c: getattr(c, "name", str(c)))
def test_pointwise(spec, params, dtype):
    fn = getattr(ta.functional, spec.name)
    _check(lambda x: fn(x, *params), [_x(dtype)])
    if spec.coded:
        _check(lambda x: fn(x, *params, saved=spec.coded), [_x(dtype)])


LAYOUTS = {
    "rows": lambda x: x,
    "channels_last": lambda x: x.contiguous(memory_format=torch.channels_last),
    "transposed": lambda x: x.transpose(1, 3),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dim", [1, -1])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("spec", [s for s in ACTIVATIONS if s.kind == SOFTMAX], ids=lambda s: s.name)
def test_softmax(spec, dtype, dim, layout):
    fn = getattr(ta.functional, spec.name)
    x = LAYOUTS[layout](_x(dtype, shape=(2, 16, 61, 47), nonfinite=False) * 3)
    _check(lambda v: fn(v, dim), [x])
    wide = _x(dtype, shape=(5, 40003), nonfinite=False)  # one row split across threads, if any op did
    _check(lambda v: fn(v, -1), [wide])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(ROWS, WIDTH), (9, 37, 23, 31), (WIDTH * ROWS,)], ids=str)
def test_prelu(shape, dtype):
    channels = shape[1] if len(shape) > 1 else 1
    weight = torch.rand(channels, generator=torch.Generator().manual_seed(2)).to(dtype)
    _check(ta.functional.prelu, [_x(dtype, shape=shape), weight])
    _check(ta.functional.prelu, [_x(dtype, shape=shape), weight[:1].clone()])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_swish_learnable(dtype):
    _check(ta.functional.swish, [_x(dtype), torch.tensor([1.3], dtype=dtype)])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("gated", GATED_ACTIVATIONS, ids=lambda g: g.name)
def test_gated(gated, dtype):
    fn = getattr(ta.functional, gated.name)
    if gated.split:
        _check(lambda x: fn(x, -1), [_x(dtype, shape=(ROWS, 2 * WIDTH))])
        _check(lambda x: fn(x, 0), [_x(dtype, shape=(2 * ROWS, WIDTH))])
    else:
        _check(fn, [_x(dtype), _x(dtype, seed=3)])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("spec", BIASED, ids=lambda s: s.name)
def test_bias(spec, dtype):
    width = 2 * WIDTH if spec.kind == "gated" else WIDTH
    bias = make_input((width,), dtype=dtype, seed=4, scale=1.0)
    _check(lambda x, b: ta.functional.bias_activation(x, b, spec.name), [_x(dtype, shape=(ROWS, width)), bias])

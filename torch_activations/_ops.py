"""Fake kernels and autograd for every custom op, and the public
torch.autograd.Function subclass behind each activation, all from the registry.

Autograd is registered on the ops themselves, so torch.ops.torch_activations.*
are differentiable; the backward ops are differentiable too (double backward),
with second-order terms written in plain PyTorch.
"""

import torch

from . import _library  # noqa: F401  (loads the schemas and kernels)
from .registry import ACTIVATIONS, CHANNELWISE, POINTWISE, SOFTMAX, broadcast_weight

ops = torch.ops.torch_activations
_FLOAT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def check_float(name, t, what="input"):
    """The dtype check of the C++ kernels, for fake tensors and Python callers."""
    if t.dtype not in _FLOAT_DTYPES:
        raise RuntimeError(
            f"torch_activations.{name}: expected a floating-point {what} "
            f"(float32, float64, float16 or bfloat16), got {t.dtype}"
        )


def _qualname(name):
    return f"torch_activations::{name}"


# ------------------------------------------------------------------ pointwise


def _register_pointwise(spec):
    name, n_params = spec.name, len(spec.params)
    forward, backward = getattr(ops, name), getattr(ops, f"{name}_backward")

    @torch.library.register_fake(_qualname(name))
    def _(x, *params):
        check_float(name, x)
        return torch.empty_like(x)

    @torch.library.register_fake(_qualname(f"{name}_"))
    def _(x, *params):
        check_float(name, x)

    @torch.library.register_fake(_qualname(f"{name}_backward"))
    def _(grad, saved, *params):
        check_float(name, grad, "grad")
        return torch.empty_like(saved)

    def setup_forward(ctx, inputs, output):
        x, *params = inputs
        ctx.params = params
        ctx.save_for_backward(output if spec.saves == "output" else x)

    def forward_grad(ctx, grad):
        (saved,) = ctx.saved_tensors
        return (backward(grad, saved, *ctx.params),) + (None,) * n_params

    torch.library.register_autograd(_qualname(name), forward_grad, setup_context=setup_forward)

    def setup_backward(ctx, inputs, output):
        grad, saved, *params = inputs
        ctx.params = params
        ctx.save_for_backward(grad, saved)

    def backward_grad(ctx, grad_grad_x):
        grad, saved = ctx.saved_tensors
        grad_grad = saved_grad = None
        if ctx.needs_input_grad[0]:
            grad_grad = backward(grad_grad_x, saved, *ctx.params)
        if ctx.needs_input_grad[1]:
            saved_grad = grad_grad_x * grad * spec.second(saved, *ctx.params)
        return (grad_grad, saved_grad) + (None,) * n_params

    torch.library.register_autograd(_qualname(f"{name}_backward"), backward_grad, setup_context=setup_backward)


def _split_inplace(spec, args):
    """(params, inplace) from Function.apply's positional arguments."""
    n = len(spec.params)
    params = tuple(args[:n]) + spec.defaults[len(args[:n]):]
    inplace = bool(args[n]) if len(args) > n else False
    return params, inplace


def _pointwise_function(spec):
    forward_op = getattr(ops, spec.name)
    inplace_op = getattr(ops, f"{spec.name}_")
    backward_op = getattr(ops, f"{spec.name}_backward")

    def forward(ctx, input, *args):
        params, inplace = _split_inplace(spec, args)
        ctx.params, ctx.n_args = params, len(args)
        if not inplace:
            out = forward_op(input, *params)
            ctx.save_for_backward(out if spec.saves == "output" else input)
            return out
        # In place: what backward needs must survive the overwrite.
        saved = input.clone() if spec.saves == "input" and ctx.needs_input_grad[0] else None
        inplace_op(input, *params)
        ctx.mark_dirty(input)
        ctx.save_for_backward(input if spec.saves == "output" else saved)
        return input

    def backward(ctx, grad):
        (saved,) = ctx.saved_tensors
        return (backward_op(grad, saved, *ctx.params),) + (None,) * ctx.n_args

    return _make_function(spec, forward, backward, f"input, {', '.join(spec.param_names + ('inplace',))}")


# ---------------------------------------------------------------- channelwise


def _reduce_to_weight(t, weight):
    """Sum a tensor shaped like the input down to the weight's shape."""
    if weight.numel() == 1 or t.dim() < 2:
        return t.sum().reshape(weight.shape)
    dims = [d for d in range(t.dim()) if d != 1]
    return t.sum(dims).reshape(weight.shape)


def _prelu_second(grad, x, weight, gg_x, gg_w):
    w = broadcast_weight(weight, x)
    gg_wb = broadcast_weight(gg_w, x)
    positive = x > 0
    zero = torch.zeros_like(x)
    d_grad = torch.where(positive, gg_x, w * gg_x) + torch.where(positive, zero, gg_wb * x)
    d_x = torch.where(positive, zero, gg_wb * grad)
    d_w = _reduce_to_weight(torch.where(positive, zero, gg_x * grad), weight)
    return d_grad, d_x, d_w


def _swish_learnable_second(grad, x, beta, gg_x, gg_beta):
    b = beta.reshape(())
    s = torch.sigmoid(b * x)
    d = s * (1 - s)
    dfdx = s + b * x * d  # grad_x = grad * dfdx
    dfdb = x * x * d  # grad_beta = sum(grad * dfdb)
    mixed = x * d * (2 + b * x * (1 - 2 * s))  # d(dfdx)/db == d(dfdb)/dx
    d_grad = gg_x * dfdx + gg_beta.reshape(()) * dfdb
    d_x = gg_x * grad * b * d * (2 + b * x * (1 - 2 * s)) + gg_beta.reshape(()) * grad * mixed
    d_b = (gg_x * grad * mixed + gg_beta.reshape(()) * grad * x**3 * d * (1 - 2 * s)).sum().reshape(beta.shape)
    return d_grad, d_x, d_b


_CHANNELWISE_SECOND = {"prelu": _prelu_second, "swish_learnable": _swish_learnable_second}


def _register_channelwise(spec):
    name = spec.name
    backward = getattr(ops, f"{name}_backward")
    second = _CHANNELWISE_SECOND[name]

    @torch.library.register_fake(_qualname(name))
    def _(x, weight):
        check_float(name, x)
        check_float(name, weight, "weight")
        return torch.empty_like(x)

    @torch.library.register_fake(_qualname(f"{name}_backward"))
    def _(grad, x, weight):
        check_float(name, grad, "grad")
        return torch.empty_like(x), torch.empty_like(weight)

    def setup_forward(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    def forward_grad(ctx, grad):
        x, weight = ctx.saved_tensors
        return backward(grad, x, weight)

    torch.library.register_autograd(_qualname(name), forward_grad, setup_context=setup_forward)

    def setup_backward(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    def backward_grad(ctx, gg_x, gg_w):
        grad, x, weight = ctx.saved_tensors
        gg_x = torch.zeros_like(x) if gg_x is None else gg_x
        gg_w = torch.zeros_like(weight) if gg_w is None else gg_w
        return second(grad, x, weight, gg_x, gg_w)

    torch.library.register_autograd(_qualname(f"{name}_backward"), backward_grad, setup_context=setup_backward)


def _channelwise_function(spec):
    forward_op = getattr(ops, spec.name)
    backward_op = getattr(ops, f"{spec.name}_backward")

    def forward(ctx, input, weight):
        ctx.save_for_backward(input, weight)
        return forward_op(input, weight)

    def backward(ctx, grad):
        input, weight = ctx.saved_tensors
        return backward_op(grad, input, weight)

    return _make_function(spec, forward, backward, "input, weight")


# -------------------------------------------------------------------- softmax


def _register_softmax(spec):
    name = spec.name
    log = name == "log_softmax"
    backward = getattr(ops, f"{name}_backward")

    @torch.library.register_fake(_qualname(name))
    def _(x, dim):
        check_float(name, x)
        return torch.empty_like(x, memory_format=torch.contiguous_format)

    @torch.library.register_fake(_qualname(f"{name}_backward"))
    def _(grad, out, dim):
        check_float(name, grad, "grad")
        return torch.empty_like(out, memory_format=torch.contiguous_format)

    def setup_forward(ctx, inputs, output):
        ctx.dim = inputs[1]
        ctx.save_for_backward(output)

    def forward_grad(ctx, grad):
        (out,) = ctx.saved_tensors
        return backward(grad, out, ctx.dim), None

    torch.library.register_autograd(_qualname(name), forward_grad, setup_context=setup_forward)

    def setup_backward(ctx, inputs, output):
        ctx.dim = inputs[2]
        ctx.save_for_backward(inputs[0], inputs[1])

    def backward_grad(ctx, gg):
        grad, out = ctx.saved_tensors
        dim = ctx.dim
        if log:  # grad_x = g - exp(y) * sum(g)
            e = torch.exp(out)
            d_grad = gg - (gg * e).sum(dim, keepdim=True)
            d_out = -gg * e * grad.sum(dim, keepdim=True)
        else:  # grad_x = y * (g - sum(g * y))
            d_grad = backward(gg, out, dim)
            d_out = gg * (grad - (grad * out).sum(dim, keepdim=True)) - grad * (gg * out).sum(dim, keepdim=True)
        return d_grad, d_out, None

    torch.library.register_autograd(_qualname(f"{name}_backward"), backward_grad, setup_context=setup_backward)


def _softmax_function(spec):
    forward_op = getattr(ops, spec.name)
    backward_op = getattr(ops, f"{spec.name}_backward")

    def forward(ctx, input, dim):
        out = forward_op(input, dim)
        ctx.dim = dim
        ctx.save_for_backward(out)
        return out

    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return backward_op(grad, out, ctx.dim), None

    return _make_function(spec, forward, backward, "input, dim")


# ---------------------------------------------------------------------------


def function_name(spec):
    return f"{spec.module}LearnableFunction" if spec.name == "swish_learnable" else f"{spec.module}Function"


def _make_function(spec, forward, backward, signature):
    doc = (
        f"torch.autograd.Function for {spec.name}: `{function_name(spec)}.apply({signature})`.\n\n"
        f"Forward runs torch.ops.torch_activations.{spec.name}, backward "
        f"torch.ops.torch_activations.{spec.name}_backward (itself differentiable)."
    )
    return type(
        function_name(spec),
        (torch.autograd.Function,),
        {"forward": staticmethod(forward), "backward": staticmethod(backward), "__doc__": doc,
         "__module__": "torch_activations.functional"},
    )


_REGISTER = {POINTWISE: _register_pointwise, CHANNELWISE: _register_channelwise, SOFTMAX: _register_softmax}
_FUNCTION = {POINTWISE: _pointwise_function, CHANNELWISE: _channelwise_function, SOFTMAX: _softmax_function}

FUNCTIONS = {}
for _spec in ACTIVATIONS:
    _REGISTER[_spec.kind](_spec)
    FUNCTIONS[_spec.name] = _FUNCTION[_spec.kind](_spec)

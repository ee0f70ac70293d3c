"""The Python half of the ops: what is off the hot path.

The forward ops' autograd, their fake (Meta) kernels and every argument check
are C++ (csrc/autograd.h, csrc/op_table.h). Here, from the registry:

- the second-order formulas of the backward ops (double backward, jacrev of
  a gradient), which their C++ autograd nodes call;
- vmap rules, so torch.func.vmap, jacrev and friends batch the fused kernels;
- the public torch.autograd.Function subclass behind each activation.
"""

import torch

from ._library import _C
from ._lazy import when_imported
from .registry import (ACTIVATIONS, BIASED, BY_NAME, CHANNELWISE, GATED_ACTIVATIONS, POINTWISE, SOFTMAX,
                       broadcast_weight)

ops = torch.ops.torch_activations


def _qualname(name):
    return f"torch_activations::{name}"


def _batch_first(x, bdim, batch_size):
    """x with its vmap batch dimension first (added by expansion if it has none)."""
    if bdim is None:
        return x.expand(batch_size, *x.shape)
    return x.movedim(bdim, 0)


def _same_batch(info, tensors, in_dims):
    """Tensors that share one batch dimension: theirs, when they already agree."""
    if len(set(in_dims)) == 1:
        return tensors, in_dims[0]
    return [_batch_first(t, d, info.batch_size) for t, d in zip(tensors, in_dims)], 0


# ------------------------------------------------------------------ pointwise


def saves_output(spec, x, *params):
    """Whether backward of `spec` called on x keeps the output (else x): the
    C++ rule (csrc/op_table.h, saves_output), which depends on the parameters,
    the dtype and (for leaky_relu) whether x is dense."""
    if spec.kind == POINTWISE:
        return _pointwise_saves_output(spec.name, x.dtype, _is_dense(x), tuple(params))
    return spec.saves == "output"


def _is_dense(x):
    """Tensor.is_non_overlapping_and_dense(), in Python strides (which tracing reads)."""
    if x.numel() == 0:
        return True
    expected = 1
    for size, stride in sorted(((n, s) for n, s in zip(x.shape, x.stride()) if n != 1), key=lambda d: d[1]):
        if stride != expected:
            return False
        expected *= size
    return True


def _pointwise_saves_output(name, dtype, dense, params):
    return getattr(_C, f"{name}_saves_output")(dtype, dense, *params)


# While tracing, the rule is evaluated once and is a constant of the graph. The
# mark is set once the compiler itself is imported (never by this package: it
# costs a second of import time to a user who never compiles).
when_imported("torch._dynamo", lambda: torch.compiler.assume_constant_result(_pointwise_saves_output))


def _pointwise_second(spec, backward, grad, saved, gg, params):
    """Of grad_x = grad * f'(saved), given gg, the incoming gradient of grad_x:
    the derivatives in grad (the backward op itself) and in saved."""
    second = spec.second
    if spec.second_from_output is not None and saves_output(spec, saved, *params):
        second = spec.second_from_output
    return backward(gg, saved, *params), gg * grad * second(saved, *params)


def _register_pointwise(spec):
    name = spec.name
    backward = getattr(ops, f"{name}_backward")

    def second_order(saved, grads, *params):
        (grad, saved), (grad_grad_x,) = saved, grads
        if grad_grad_x is None:
            return None, None
        return _pointwise_second(spec, backward, grad, saved, grad_grad_x, params)

    _C._register_second_order(f"{name}_backward", second_order)

    forward = getattr(ops, name)

    @torch.library.register_vmap(_qualname(name))
    def _(info, in_dims, x, *params):
        return forward(x, *params), in_dims[0]

    @torch.library.register_vmap(_qualname(f"{name}_backward"))
    def _(info, in_dims, grad, saved, *params):
        (grad, saved), bdim = _same_batch(info, (grad, saved), in_dims[:2])
        return backward(grad, saved, *params), bdim


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


def _channel_weight(weight, x):
    """A batch of weights (batch first) shaped to broadcast over a batch of inputs."""
    shape = [weight.shape[0]] + [1] * (x.dim() - 1)
    if weight[0].numel() > 1:
        shape[2] = weight[0].numel()
    return weight.reshape(shape)


def _sum_per_channel(t, weight):
    """Per-example sums of a batch shaped like the input, down to a batch of weights."""
    if weight[0].numel() == 1:
        return t.reshape(t.shape[0], -1).sum(1).reshape(weight.shape)
    return t.sum([d for d in range(1, t.dim()) if d != 2]).reshape(weight.shape)


# Under vmap, channel-wise ops run as plain torch expressions over the batch:
# the weight's channels move with the batch dimension, and its gradient is a
# reduction that must stay per example.
_CHANNELWISE_BATCHED = {
    "prelu": (
        lambda x, w: torch.where(x > 0, x, w * x),
        lambda g, x, w: (torch.where(x > 0, g, w * g), torch.where(x > 0, torch.zeros_like(x), g * x)),
    ),
    "swish_learnable": (
        lambda x, b: x * torch.sigmoid(b * x),
        lambda g, x, b: (
            g * torch.sigmoid(b * x) * (1 + b * x * (1 - torch.sigmoid(b * x))),
            g * x * x * torch.sigmoid(b * x) * (1 - torch.sigmoid(b * x)),
        ),
    ),
}


def _register_channelwise(spec):
    second = _CHANNELWISE_SECOND[spec.name]
    forward_expr, backward_expr = _CHANNELWISE_BATCHED[spec.name]

    @torch.library.register_vmap(_qualname(spec.name))
    def _(info, in_dims, x, weight):
        x, weight = (_batch_first(t, d, info.batch_size) for t, d in zip((x, weight), in_dims))
        getattr(ops, spec.name)(x[0].to("meta"), weight[0].to("meta"))  # the op's own checks, per example
        return forward_expr(x, _channel_weight(weight, x)), 0

    @torch.library.register_vmap(_qualname(f"{spec.name}_backward"))
    def _(info, in_dims, grad, x, weight):
        grad, x, weight = (_batch_first(t, d, info.batch_size) for t, d in zip((grad, x, weight), in_dims))
        grad_x, grad_w = backward_expr(grad, x, _channel_weight(weight, x))
        return (grad_x, _sum_per_channel(grad_w, weight)), (0, 0)

    def second_order(saved, grads, *params):
        (grad, x, weight), (gg_x, gg_w) = saved, grads
        gg_x = torch.zeros_like(x) if gg_x is None else gg_x
        gg_w = torch.zeros_like(weight) if gg_w is None else gg_w
        return second(grad, x, weight, gg_x, gg_w)

    _C._register_second_order(f"{spec.name}_backward", second_order)


# -------------------------------------------------------------------- softmax


def _batched_dim(op, x, dim):
    """The softmax dim of a per-example tensor, in the batch-first tensor x."""
    ndim = max(x.dim() - 1, 1)
    if not -ndim <= dim < ndim:  # the op's own error, from its Meta kernel
        op(torch.empty(x.shape[1:], dtype=x.dtype, device="meta"), dim)
    return (dim % ndim) + 1


def _register_softmax(spec):
    name = spec.name
    log = name == "log_softmax"
    forward = getattr(ops, name)
    backward = getattr(ops, f"{name}_backward")

    def second_order(saved, grads, dim):
        (grad, out), (gg,) = saved, grads
        if gg is None:
            return None, None
        if log:  # grad_x = g - exp(y) * sum(g)
            e = torch.exp(out)
            d_grad = gg - (gg * e).sum(dim, keepdim=True)
            d_out = -gg * e * grad.sum(dim, keepdim=True)
        else:  # grad_x = y * (g - sum(g * y))
            d_grad = backward(gg, out, dim)
            d_out = gg * (grad - (grad * out).sum(dim, keepdim=True)) - grad * (gg * out).sum(dim, keepdim=True)
        return d_grad, d_out

    _C._register_second_order(f"{name}_backward", second_order)

    def batched(op, tensors, dim):
        """op over batch-first tensors; a batch of 0-dim examples is a batch of rows of one."""
        if tensors[0].dim() == 1:
            _batched_dim(op, tensors[0], dim)  # the range check
            return op(*(t.unsqueeze(1) for t in tensors), 1).squeeze(1)
        return op(*tensors, _batched_dim(op, tensors[0], dim))

    @torch.library.register_vmap(_qualname(name))
    def _(info, in_dims, x, dim):
        return batched(forward, [x.movedim(in_dims[0], 0)], dim), 0

    @torch.library.register_vmap(_qualname(f"{name}_backward"))
    def _(info, in_dims, grad, out, dim):
        tensors = [_batch_first(t, d, info.batch_size) for t, d in zip((grad, out), in_dims[:2])]
        return batched(backward, tensors, dim), 0


# -------------------------------------------------------------------- gated


def _act_derivatives(gated, a, params):
    """act(a), act'(a) and act''(a) from the activation's reference expression."""
    with torch.enable_grad():
        leaf = a.detach().requires_grad_()
        fa = BY_NAME[gated.act].reference(leaf, *params)
        (d1,) = torch.autograd.grad(fa.sum(), leaf, create_graph=True)
        d2 = torch.autograd.grad(d1.sum(), leaf, allow_unused=True)[0] if d1.requires_grad else None
    d2 = torch.zeros_like(a) if d2 is None else d2  # piecewise linear
    return fa.detach(), d1.detach(), d2


def _gated_second(gated, grad, a, b, gg_a, gg_b, params):
    """Of (grad_a, grad_b) = (grad * b * act'(a), grad * act(a)): the derivatives
    in grad, a and b, given the incoming gradients of grad_a and grad_b."""
    fa, d1, d2 = _act_derivatives(gated, a, params)
    gg_a = torch.zeros_like(a) if gg_a is None else gg_a
    gg_b = torch.zeros_like(a) if gg_b is None else gg_b
    d_grad = gg_a * b * d1 + gg_b * fa
    d_a = grad * (gg_a * b * d2 + gg_b * d1)
    d_b = gg_a * grad * d1
    return d_grad, d_a, d_b


def _register_gated(gated):
    if gated.split:
        def second_order(saved, grads, dim, *params):
            (grad, x), (gg_x,) = saved, grads
            if gg_x is None:
                return None, None
            a, b = gated.halves(x, dim)
            gg_a, gg_b = gated.halves(gg_x, dim)
            d_grad, d_a, d_b = _gated_second(gated, grad, a, b, gg_a, gg_b, params)
            return d_grad, gated.joined(d_a, d_b, dim)
    else:
        def second_order(saved, grads, *params):
            (grad, gate, up), (gg_gate, gg_up) = saved, grads
            if gg_gate is None and gg_up is None:
                return None, None, None
            return _gated_second(gated, grad, gate, up, gg_gate, gg_up, params)

    _C._register_second_order(f"{gated.name}_backward", second_order)


for _gated in GATED_ACTIVATIONS:
    _register_gated(_gated)


# --------------------------------------------------------------------- bias


def _column_sum(t):
    return t.reshape(-1, t.shape[-1]).sum(0)


def _register_bias(spec):
    """The second-order formula of bias_<op>_backward: (grad, saved, bias) ->
    (grad_x, grad_bias), grad_bias the column sums of grad_x, so an incoming
    gradient of grad_bias reaches every row of grad_x."""
    if spec in GATED_ACTIVATIONS:
        def second(grad, x, bias, gg, *params):
            a, b = spec.halves(x + bias, -1)
            gg_a, gg_b = spec.halves(gg, -1)
            d_grad, d_a, d_b = _gated_second(spec, grad, a, b, gg_a, gg_b, params)
            d_z = spec.joined(d_a, d_b, -1)
            return d_grad, d_z, _column_sum(d_z)
    else:
        backward = getattr(ops, f"{spec.name}_backward")

        def second(grad, saved, bias, gg, *params):
            from_output = _pointwise_saves_output(spec.name, saved.dtype, True, tuple(params))
            z = saved if from_output else saved + bias
            d_grad, d_z = _pointwise_second(spec, backward, grad, z, gg, params)
            # kept from the output, backward reads no bias: it acts through the output
            return d_grad, d_z, None if from_output else _column_sum(d_z)

    def second_order(saved, grads, *params):
        (grad, saved_t, bias), (gg_x, gg_bias) = saved, grads
        if gg_x is None and gg_bias is None:
            return None, None, None
        gg = gg_bias.expand_as(saved_t) if gg_x is None else gg_x if gg_bias is None else gg_x + gg_bias
        return second(grad, saved_t, bias, gg, *params)

    _C._register_second_order(f"bias_{spec.name}_backward", second_order)


for _biased in BIASED:
    _register_bias(_biased)


# ---------------------------------------------------------------------------


def function_name(spec):
    return f"{spec.module}LearnableFunction" if spec.name == "swish_learnable" else f"{spec.module}Function"


def _saved_tensors(spec, inputs, output, params):
    """What backward keeps: what the C++ autograd node keeps (csrc/autograd.h)."""
    if spec.kind == CHANNELWISE:
        return inputs  # input and weight
    if spec.kind == SOFTMAX:
        return (output,)
    return (output if saves_output(spec, inputs[0], *params) else inputs[0],)


def _function(spec):
    """The public torch.autograd.Function of `spec`: forward is the op, backward
    its backward op (itself differentiable), over what the op's own C++
    autograd would save."""
    forward_op = getattr(ops, spec.name)
    backward_op = getattr(ops, f"{spec.name}_backward")
    n_tensors = 2 if spec.kind == CHANNELWISE else 1  # the arguments that get a gradient
    defaults = spec.defaults if spec.kind == POINTWISE else ()

    def forward(*args):
        return forward_op(*args, *defaults[len(args) - n_tensors:])

    def setup_context(ctx, inputs, output):
        tensors, params = inputs[:n_tensors], tuple(inputs[n_tensors:]) + defaults[len(inputs) - n_tensors:]
        ctx.params, ctx.n_params = params, len(inputs) - n_tensors
        ctx.save_for_backward(*_saved_tensors(spec, tensors, output, params))

    def backward(ctx, grad):
        grads = backward_op(grad, *ctx.saved_tensors, *ctx.params)
        return (grads if isinstance(grads, tuple) else (grads,)) + (None,) * ctx.n_params

    signature = ", ".join(("input", "weight")[:n_tensors] + spec.param_names)
    doc = (
        f"torch.autograd.Function for {spec.name}: `{function_name(spec)}.apply({signature})`.\n\n"
        f"Forward runs torch.ops.torch_activations.{spec.name}, backward "
        f"torch.ops.torch_activations.{spec.name}_backward (itself differentiable). "
        "It supports torch.func transforms (vmap through the ops' own vmap rules)."
    )
    return type(
        function_name(spec),
        (torch.autograd.Function,),
        {
            "forward": staticmethod(forward),
            "setup_context": staticmethod(setup_context),
            "backward": staticmethod(backward),
            "generate_vmap_rule": True,
            "__doc__": doc,
            "__module__": "torch_activations.functional",
        },
    )


_REGISTER = {POINTWISE: _register_pointwise, CHANNELWISE: _register_channelwise, SOFTMAX: _register_softmax}

FUNCTIONS = {}
for _spec in ACTIVATIONS:
    _REGISTER[_spec.kind](_spec)
    FUNCTIONS[_spec.name] = _function(_spec)

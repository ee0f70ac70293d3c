"""The one choice every Python entry point makes: the eager fast binding in
``_C`` (no Python argument parsing) or the op itself,
``torch.ops.torch_activations.<name>``, which torch.compile, tracing and
``__torch_function__`` understand. Both run the very same dispatcher op."""

import torch
from torch._C import _has_torch_function_unary, _has_torch_function_variadic

from ._library import _C

ops = torch.ops.torch_activations
_is_compiling = torch.compiler.is_compiling


def eager(input) -> bool:
    """True when the fast binding may run for one tensor argument."""
    return not (_is_compiling() or _has_torch_function_unary(input))


def op(name, *tensors):
    """The callable for op `name` given its tensor arguments."""
    if len(tensors) == 1:
        fast = not (_is_compiling() or _has_torch_function_unary(tensors[0]))
    else:
        fast = not (_is_compiling() or _has_torch_function_variadic(*tensors))
    return getattr(_C, name) if fast else getattr(ops, name)


def pointwise(name, input, params, inplace, saved="auto"):
    """Pointwise op `name` on input (in place if asked) with saved= `saved`.
    The eager test is written out here, not called: this is every pointwise
    call's per-call cost."""
    if saved != "auto":  # opt-in modes
        from . import _saved

        return _saved.call(name, input, params, inplace, saved)
    fast = not (_is_compiling() or _has_torch_function_unary(input))
    if inplace:
        if torch._C._is_tracing() or (not fast and torch.compiler.is_exporting()):
            # an exported graph (ONNX's two exporters, AOTInductor) holds the op and a
            # copy_: the exporters translate no mutating custom op
            return input.copy_(getattr(ops, name)(input, *params))
        (getattr(_C, name + "_") if fast else getattr(ops, name + "_"))(input, *params)
        return input
    return (getattr(_C, name) if fast else getattr(ops, name))(input, *params)

"""nn.Module drop-ins. Each module with a torch.nn twin subclasses it, so the
constructor, attributes, extra_repr, state_dict keys (PReLU's ``weight``) and
isinstance checks are torch's own; only forward changes, to this package's
fused kernels.

Each forward is written out so that torch.jit.script can compile it:
scripted, it calls torch.ops.torch_activations.* directly; eager, it calls
torch_activations.functional, whose fast binding TorchScript cannot see. The
pointwise activations' modules are generated from the registry into
_generated_nn.py (scripts/generate_api.py); the rest are here.
torch.jit.trace, torch.compile and torch.export work on every module.
"""

import inspect
from typing import Optional

import torch
from torch import Tensor

from . import _saved, functional
from ._generated_nn import *  # noqa: F401,F403  (every pointwise activation's module: ReLU, GELU, ...)
from ._saved import saved_repr as _saved_repr, scripted_saved as _scripted_saved
from ._generated_nn import __all__ as _GENERATED
from .gated_mlp import GatedMLP  # noqa: F401  (convert(model, fuse=True)'s module)
from .registry import ACTIVATIONS, POINTWISE

for _name in _GENERATED:  # they are this module's classes, wherever their source is kept
    globals()[_name].__module__ = __name__


def _accept_saved(cls, name):
    """Give a torch.nn twin's subclass the keyword-only constructor argument
    saved= (torch_activations._saved), its repr and its signature."""
    twin_init, twin_repr = cls.__init__, cls.extra_repr

    def __init__(self, *args, saved: str = "auto", **kwargs):
        twin_init(self, *args, **kwargs)
        self.saved = _saved.check(name, saved)

    def extra_repr(self) -> str:
        return _saved_repr(twin_repr(self), self.saved)

    cls._saved_op = name  # the op whose saved= modes the module takes
    signature = inspect.signature(twin_init)
    saved_parameter = inspect.Parameter("saved", inspect.Parameter.KEYWORD_ONLY, default="auto", annotation=str)
    parameters = [p for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD]
    rest = [p for p in signature.parameters.values() if p.kind == p.VAR_KEYWORD]
    __init__.__signature__ = signature.replace(parameters=[*parameters, saved_parameter, *rest])
    cls.__init__, cls.extra_repr = __init__, extra_repr


class PReLU(torch.nn.PReLU):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            return torch.ops.torch_activations.prelu(input, self.weight)
        return functional.prelu(input, self.weight)


def _scripted_softmax_dim(ndim: int, dim: Optional[int]) -> int:
    # torch.nn.functional._get_softmax_dim's legacy choice (TorchScript warns nothing)
    if dim is not None:
        return dim
    return 0 if ndim == 0 or ndim == 1 or ndim == 3 else 1


class Softmax(torch.nn.Softmax):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            return torch.ops.torch_activations.softmax(input, _scripted_softmax_dim(input.dim(), self.dim))
        return functional.softmax(input, self.dim, _stacklevel=5)


class LogSoftmax(torch.nn.LogSoftmax):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            return torch.ops.torch_activations.log_softmax(input, _scripted_softmax_dim(input.dim(), self.dim))
        return functional.log_softmax(input, self.dim, _stacklevel=5)


class Swish(torch.nn.Module):
    """x * sigmoid(beta * x). With learnable=True, beta is a parameter (one
    value) trained with the rest of the model."""

    __constants__ = ["learnable"]
    _saved_op = "swish"

    def __init__(self, beta: float = 1.0, learnable: bool = False, device=None, dtype=None, *,
                 saved: str = "auto") -> None:
        super().__init__()
        self.learnable = learnable
        if learnable and saved != "auto":
            raise ValueError(f"torch_activations.nn.Swish: a learnable beta keeps the input (saved='auto'), got saved={saved!r}")
        self.saved = _saved.check("swish", saved)
        if learnable:
            self.beta = torch.nn.Parameter(torch.full((1,), float(beta), device=device, dtype=dtype))
        else:
            self.beta = float(beta)

    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            # `learnable` is a constant: TorchScript compiles only the branch this instance takes
            if self.learnable:
                return torch.ops.torch_activations.swish_learnable(input, self.beta)
            _scripted_saved(self.saved)
            return torch.ops.torch_activations.swish(input, self.beta)
        return functional.swish(input, self.beta, saved=self.saved)

    def extra_repr(self) -> str:
        if self.learnable:
            return "learnable=True"
        return _saved_repr(f"beta={self.beta}", self.saved)


class GLU(torch.nn.GLU):
    """Drop-in for torch.nn.GLU running torch_activations.functional.glu."""

    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            return torch.ops.torch_activations.glu(input, self.dim)
        return functional.glu(input, self.dim)


class _SplitGated(torch.nn.Module):
    __constants__ = ["dim"]

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class SwiGLU(_SplitGated):
    """silu(first half) * second half, the halves of the input along dim (Llama, Mistral, Qwen)."""

    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            return torch.ops.torch_activations.swiglu(input, self.dim)
        return functional.swiglu(input, self.dim)


class ReGLU(_SplitGated):
    """relu(first half) * second half, the halves of the input along dim."""

    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            return torch.ops.torch_activations.reglu(input, self.dim)
        return functional.reglu(input, self.dim)


class GeGLU(_SplitGated):
    """gelu(first half, approximate) * second half, the halves of the input along dim (Gemma, T5 v1.1)."""

    __constants__ = ["dim", "approximate"]

    def __init__(self, dim: int = -1, approximate: str = "none") -> None:
        super().__init__(dim)
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            return torch.ops.torch_activations.geglu(input, self.dim, self.approximate)
        return functional.geglu(input, self.dim, self.approximate)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, approximate={self.approximate!r}"


class BiasActivation(torch.nn.Module):
    """activation(input + bias) with a learnable bias: torch_activations.functional.bias_activation
    as a module, for a Linear layer built with bias=False before it.

    Args (constructor):
        num_features (int): the size of the input's last dimension (the full width for the gated
            activations glu, swiglu, geglu and reglu, whose output has half of it)
        activation (str): the activation's name, as bias_activation takes it
        device (torch.device), dtype (torch.dtype): of the bias
        **params: the activation's parameters by name (negative_slope=, approximate=, ...)

    The bias starts at zero (a Linear layer's own bias starts uniform in +-1/sqrt(fan_in): copy it
    over to replace one). Its state_dict key is "bias".
    """

    def __init__(self, num_features: int, activation: str, *, device=None, dtype=None, **params) -> None:
        super().__init__()
        self._op, self._values = functional._bias_call(activation, params)  # checked once, not per call
        self.num_features, self.activation = num_features, activation
        self.params = dict(zip(functional.BIASED_BY_NAME[activation].param_names, self._values))
        self.bias = torch.nn.Parameter(torch.zeros(num_features, device=device, dtype=dtype))

    def forward(self, input: Tensor) -> Tensor:
        return functional._biased(self._op, self._values, input, self.bias)

    def extra_repr(self) -> str:
        params = "".join(f", {name}={value!r}" for name, value in self.params.items())
        return f"{self.num_features}, activation={self.activation!r}{params}"


def _describe(cls, spec):
    twin = spec.torch_module
    cls.__doc__ = f"Drop-in for torch.nn.{twin.__name__} running torch_activations.functional.{spec.name}.\n\n{twin.__doc__ or ''}"
    cls.__module__ = __name__


for _spec in ACTIVATIONS:
    if _spec.torch_module is not None and _spec.module in globals():
        _describe(globals()[_spec.module], _spec)
        if _spec.kind == POINTWISE:
            _accept_saved(globals()[_spec.module], _spec.name)

__all__ = [spec.module for spec in ACTIVATIONS if spec.name != "swish_learnable"] + ["GLU", "SwiGLU", "GeGLU", "ReGLU", "BiasActivation", "GatedMLP"]


from . import _docs  # noqa: E402

_docs.attach(globals())  # every module's docstring, from the registry

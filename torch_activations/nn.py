"""nn.Module drop-ins. Each module with a torch.nn twin subclasses it, so the
constructor, attributes, extra_repr, state_dict keys (PReLU's ``weight``) and
isinstance checks are torch's own; only forward changes, to this package's
fused kernels.

Each forward is written out (not generated) so that torch.jit.script can
compile it: scripted, it calls torch.ops.torch_activations.* directly; eager,
it calls torch_activations.functional, whose fast binding TorchScript cannot
see. torch.jit.trace, torch.compile and torch.export work on every module.
"""

import inspect
from typing import Optional

import torch
from torch import Tensor

from . import _saved, functional
from .registry import ACTIVATIONS, POINTWISE


def _scripted_saved(saved: str) -> None:
    if saved != "auto":
        raise RuntimeError("torch_activations: a scripted module runs saved='auto' only, got saved='" + saved
                           + "' (eager, torch.compile and torch.export run every mode)")


def _saved_repr(base: str, saved: str) -> str:
    if saved == "auto":
        return base
    return f"{base}, saved={saved!r}" if base else f"saved={saved!r}"


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


class ReLU(torch.nn.ReLU):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            _scripted_saved(self.saved)
            if self.inplace:
                torch.ops.torch_activations.relu_(input)
                return input
            return torch.ops.torch_activations.relu(input)
        return functional.relu(input, self.inplace, saved=self.saved)


class LeakyReLU(torch.nn.LeakyReLU):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            _scripted_saved(self.saved)
            if self.inplace:
                torch.ops.torch_activations.leaky_relu_(input, self.negative_slope)
                return input
            return torch.ops.torch_activations.leaky_relu(input, self.negative_slope)
        return functional.leaky_relu(input, self.negative_slope, self.inplace, saved=self.saved)


class ReLU6(torch.nn.ReLU6):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            _scripted_saved(self.saved)
            if self.inplace:
                torch.ops.torch_activations.relu6_(input)
                return input
            return torch.ops.torch_activations.relu6(input)
        return functional.relu6(input, self.inplace, saved=self.saved)


class ELU(torch.nn.ELU):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            _scripted_saved(self.saved)
            if self.inplace:
                torch.ops.torch_activations.elu_(input, self.alpha)
                return input
            return torch.ops.torch_activations.elu(input, self.alpha)
        return functional.elu(input, self.alpha, self.inplace, saved=self.saved)


class SELU(torch.nn.SELU):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            _scripted_saved(self.saved)
            if self.inplace:
                torch.ops.torch_activations.selu_(input)
                return input
            return torch.ops.torch_activations.selu(input)
        return functional.selu(input, self.inplace, saved=self.saved)


class CELU(torch.nn.CELU):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            _scripted_saved(self.saved)
            if self.inplace:
                torch.ops.torch_activations.celu_(input, self.alpha)
                return input
            return torch.ops.torch_activations.celu(input, self.alpha)
        return functional.celu(input, self.alpha, self.inplace, saved=self.saved)


class Sigmoid(torch.nn.Sigmoid):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            _scripted_saved(self.saved)
            return torch.ops.torch_activations.sigmoid(input)
        return functional.sigmoid(input, saved=self.saved)


class Tanh(torch.nn.Tanh):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            _scripted_saved(self.saved)
            return torch.ops.torch_activations.tanh(input)
        return functional.tanh(input, saved=self.saved)


class SiLU(torch.nn.SiLU):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            _scripted_saved(self.saved)
            if self.inplace:
                torch.ops.torch_activations.silu_(input)
                return input
            return torch.ops.torch_activations.silu(input)
        return functional.silu(input, self.inplace, saved=self.saved)


class Hardswish(torch.nn.Hardswish):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            _scripted_saved(self.saved)
            if self.inplace:
                torch.ops.torch_activations.hardswish_(input)
                return input
            return torch.ops.torch_activations.hardswish(input)
        return functional.hardswish(input, self.inplace, saved=self.saved)


class Hardsigmoid(torch.nn.Hardsigmoid):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            _scripted_saved(self.saved)
            if self.inplace:
                torch.ops.torch_activations.hardsigmoid_(input)
                return input
            return torch.ops.torch_activations.hardsigmoid(input)
        return functional.hardsigmoid(input, self.inplace, saved=self.saved)


class Mish(torch.nn.Mish):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            _scripted_saved(self.saved)
            if self.inplace:
                torch.ops.torch_activations.mish_(input)
                return input
            return torch.ops.torch_activations.mish(input)
        return functional.mish(input, self.inplace, saved=self.saved)


class GELU(torch.nn.GELU):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            _scripted_saved(self.saved)
            return torch.ops.torch_activations.gelu(input, self.approximate)
        return functional.gelu(input, self.approximate, saved=self.saved)


class Softplus(torch.nn.Softplus):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            _scripted_saved(self.saved)
            return torch.ops.torch_activations.softplus(input, self.beta, self.threshold)
        return functional.softplus(input, self.beta, self.threshold, saved=self.saved)

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


class LeakyReLU6(torch.nn.Module):
    """Leaky ReLU with ReLU6's cap: negative_slope * x below 0, x on [0, 6], 6 above."""

    __constants__ = ["inplace", "negative_slope"]
    _saved_op = "leaky_relu6"

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False, *, saved: str = "auto") -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace
        self.saved = _saved.check("leaky_relu6", saved)

    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            _scripted_saved(self.saved)
            if self.inplace:
                torch.ops.torch_activations.leaky_relu6_(input, self.negative_slope)
                return input
            return torch.ops.torch_activations.leaky_relu6(input, self.negative_slope)
        return functional.leaky_relu6(input, self.negative_slope, self.inplace, saved=self.saved)

    def extra_repr(self) -> str:
        inplace_str = ", inplace=True" if self.inplace else ""
        return _saved_repr(f"negative_slope={self.negative_slope}{inplace_str}", self.saved)


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
    if _spec.torch_module is not None:
        _describe(globals()[_spec.module], _spec)
        if _spec.kind == POINTWISE:
            _accept_saved(globals()[_spec.module], _spec.name)

__all__ = [spec.module for spec in ACTIVATIONS if spec.name != "swish_learnable"] + ["GLU", "SwiGLU", "GeGLU", "ReGLU", "BiasActivation"]


from . import _docs  # noqa: E402

_docs.attach(globals())  # every module's docstring, from the registry

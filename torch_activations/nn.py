"""nn.Module drop-ins. Each module with a torch.nn twin subclasses it, so the
constructor, attributes, extra_repr, state_dict keys (PReLU's ``weight``) and
isinstance checks are torch's own; only forward changes, to this package's
fused kernels.

Each forward is written out (not generated) so that torch.jit.script can
compile it: scripted, it calls torch.ops.torch_activations.* directly; eager,
it calls torch_activations.functional, whose fast binding TorchScript cannot
see. torch.jit.trace, torch.compile and torch.export work on every module.
"""

from typing import Optional

import torch
from torch import Tensor

from . import functional
from .registry import ACTIVATIONS


class ReLU(torch.nn.ReLU):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            if self.inplace:
                torch.ops.torch_activations.relu_(input)
                return input
            return torch.ops.torch_activations.relu(input)
        return functional.relu(input, self.inplace)


class LeakyReLU(torch.nn.LeakyReLU):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            if self.inplace:
                torch.ops.torch_activations.leaky_relu_(input, self.negative_slope)
                return input
            return torch.ops.torch_activations.leaky_relu(input, self.negative_slope)
        return functional.leaky_relu(input, self.negative_slope, self.inplace)


class ReLU6(torch.nn.ReLU6):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            if self.inplace:
                torch.ops.torch_activations.relu6_(input)
                return input
            return torch.ops.torch_activations.relu6(input)
        return functional.relu6(input, self.inplace)


class ELU(torch.nn.ELU):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            if self.inplace:
                torch.ops.torch_activations.elu_(input, self.alpha)
                return input
            return torch.ops.torch_activations.elu(input, self.alpha)
        return functional.elu(input, self.alpha, self.inplace)


class SELU(torch.nn.SELU):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            if self.inplace:
                torch.ops.torch_activations.selu_(input)
                return input
            return torch.ops.torch_activations.selu(input)
        return functional.selu(input, self.inplace)


class CELU(torch.nn.CELU):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            if self.inplace:
                torch.ops.torch_activations.celu_(input, self.alpha)
                return input
            return torch.ops.torch_activations.celu(input, self.alpha)
        return functional.celu(input, self.alpha, self.inplace)


class Sigmoid(torch.nn.Sigmoid):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            return torch.ops.torch_activations.sigmoid(input)
        return functional.sigmoid(input)


class Tanh(torch.nn.Tanh):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            return torch.ops.torch_activations.tanh(input)
        return functional.tanh(input)


class SiLU(torch.nn.SiLU):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            if self.inplace:
                torch.ops.torch_activations.silu_(input)
                return input
            return torch.ops.torch_activations.silu(input)
        return functional.silu(input, self.inplace)


class Hardswish(torch.nn.Hardswish):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            if self.inplace:
                torch.ops.torch_activations.hardswish_(input)
                return input
            return torch.ops.torch_activations.hardswish(input)
        return functional.hardswish(input, self.inplace)


class Hardsigmoid(torch.nn.Hardsigmoid):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            if self.inplace:
                torch.ops.torch_activations.hardsigmoid_(input)
                return input
            return torch.ops.torch_activations.hardsigmoid(input)
        return functional.hardsigmoid(input, self.inplace)


class Mish(torch.nn.Mish):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            if self.inplace:
                torch.ops.torch_activations.mish_(input)
                return input
            return torch.ops.torch_activations.mish(input)
        return functional.mish(input, self.inplace)


class GELU(torch.nn.GELU):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            return torch.ops.torch_activations.gelu(input, self.approximate)
        return functional.gelu(input, self.approximate)


class Softplus(torch.nn.Softplus):
    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            return torch.ops.torch_activations.softplus(input, self.beta, self.threshold)
        return functional.softplus(input, self.beta, self.threshold)

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

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            if self.inplace:
                torch.ops.torch_activations.leaky_relu6_(input, self.negative_slope)
                return input
            return torch.ops.torch_activations.leaky_relu6(input, self.negative_slope)
        return functional.leaky_relu6(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        inplace_str = ", inplace=True" if self.inplace else ""
        return f"negative_slope={self.negative_slope}{inplace_str}"


class Swish(torch.nn.Module):
    """x * sigmoid(beta * x). With learnable=True, beta is a parameter (one
    value) trained with the rest of the model."""

    __constants__ = ["learnable"]

    def __init__(self, beta: float = 1.0, learnable: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        self.learnable = learnable
        if learnable:
            self.beta = torch.nn.Parameter(torch.full((1,), float(beta), device=device, dtype=dtype))
        else:
            self.beta = float(beta)

    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            # `learnable` is a constant: TorchScript compiles only the branch this instance takes
            if self.learnable:
                return torch.ops.torch_activations.swish_learnable(input, self.beta)
            return torch.ops.torch_activations.swish(input, self.beta)
        return functional.swish(input, self.beta)

    def extra_repr(self) -> str:
        if self.learnable:
            return "learnable=True"
        return f"beta={self.beta}"


def _describe(cls, spec):
    twin = spec.torch_module
    cls.__doc__ = f"Drop-in for torch.nn.{twin.__name__} running torch_activations.functional.{spec.name}.\n\n{twin.__doc__ or ''}"
    cls.__module__ = __name__


for _spec in ACTIVATIONS:
    if _spec.torch_module is not None:
        _describe(globals()[_spec.module], _spec)

__all__ = [spec.module for spec in ACTIVATIONS if spec.name != "swish_learnable"]


from . import _docs  # noqa: E402

_docs.attach(globals())  # every module's docstring, from the registry

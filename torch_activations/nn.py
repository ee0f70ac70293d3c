"""nn.Module drop-ins. Each module with a torch.nn twin subclasses it, so the
constructor, attributes, extra_repr, state_dict keys (PReLU's ``weight``) and
isinstance checks are torch's own; only forward changes, to this package's
fused kernels.
"""

import torch
from torch import Tensor

from . import functional
from .registry import ACTIVATIONS, POINTWISE, SOFTMAX


def _forward_attributes(spec):
    """The module attributes passed to the functional form, in order."""
    if spec.kind == POINTWISE:
        return spec.param_names + (("inplace",) if spec.inplace else ())
    if spec.kind == SOFTMAX:
        return ("dim",)
    return ("weight",)


def _drop_in(spec):
    fn = getattr(functional, spec.name)
    attributes = _forward_attributes(spec)

    def forward(self, input: Tensor) -> Tensor:
        return fn(input, *(getattr(self, a) for a in attributes))

    doc = (
        f"Drop-in for torch.nn.{spec.torch_module.__name__} running "
        f"torch_activations.functional.{spec.name}.\n\n{spec.torch_module.__doc__ or ''}"
    )
    return type(spec.module, (spec.torch_module,), {"forward": forward, "__doc__": doc, "__module__": __name__})


_DROP_INS = {spec.module: _drop_in(spec) for spec in ACTIVATIONS if spec.torch_module is not None}

ReLU = _DROP_INS["ReLU"]
LeakyReLU = _DROP_INS["LeakyReLU"]
ReLU6 = _DROP_INS["ReLU6"]
ELU = _DROP_INS["ELU"]
SELU = _DROP_INS["SELU"]
CELU = _DROP_INS["CELU"]
Sigmoid = _DROP_INS["Sigmoid"]
Tanh = _DROP_INS["Tanh"]
SiLU = _DROP_INS["SiLU"]
Hardswish = _DROP_INS["Hardswish"]
Hardsigmoid = _DROP_INS["Hardsigmoid"]
Mish = _DROP_INS["Mish"]
GELU = _DROP_INS["GELU"]
Softplus = _DROP_INS["Softplus"]
PReLU = _DROP_INS["PReLU"]
Softmax = _DROP_INS["Softmax"]
LogSoftmax = _DROP_INS["LogSoftmax"]


class LeakyReLU6(torch.nn.Module):
    """Leaky ReLU with ReLU6's cap: negative_slope * x below 0, x on [0, 6], 6 above."""

    __constants__ = ["inplace", "negative_slope"]

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return functional.leaky_relu6(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        inplace_str = ", inplace=True" if self.inplace else ""
        return f"negative_slope={self.negative_slope}{inplace_str}"


class Swish(torch.nn.Module):
    """x * sigmoid(beta * x). With learnable=True, beta is a parameter (one
    value) trained with the rest of the model."""

    def __init__(self, beta: float = 1.0, learnable: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        self.learnable = learnable
        if learnable:
            self.beta = torch.nn.Parameter(torch.full((1,), float(beta), device=device, dtype=dtype))
        else:
            self.beta = float(beta)

    def forward(self, input: Tensor) -> Tensor:
        return functional.swish(input, self.beta)

    def extra_repr(self) -> str:
        if self.learnable:
            return "learnable=True"
        return f"beta={self.beta}"


__all__ = [spec.module for spec in ACTIVATIONS if spec.name != "swish_learnable"]


from . import _docs  # noqa: E402

_docs.attach(globals())  # every module's docstring, from the registry

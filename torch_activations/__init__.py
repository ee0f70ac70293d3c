"""torch-activations: activation functions as PyTorch custom ops with fused
forward and backward kernels for CPU (SIMD, per instruction set) and CUDA.

    import torch_activations as ta
    y = ta.functional.gelu(x)            # like torch.nn.functional.gelu
    m = ta.nn.GELU()                      # drop-in for torch.nn.GELU
    torch.ops.torch_activations.gelu(x, "none")   # the custom op itself
"""

import torch

from . import _library
from . import _ops  # noqa: F401  (fake kernels and autograd)
from . import _saved  # noqa: F401  (autograd of the saved= modes' ops)
from . import functional, nn, registry
from .convert import convert, find_activations
from ._library import CPU_ISA, CUDA_EMULATION, HAS_CUDA_KERNELS, SUPPORTED_CPU_ISAS
from ._lazy import when_imported as _when_imported


def _register_dtensor_rules():
    from . import _dtensor

    _dtensor.register()


def _register_onnx():
    from . import onnx

    onnx.register()


# Integrations, each once its part of torch is imported (never imported here)
if torch.distributed.is_available():
    _when_imported("torch.distributed.tensor", _register_dtensor_rules)  # sharding rules
_when_imported("torch.onnx", _register_onnx)  # both exporters

__version__ = "0.1.0"
__all__ = ["functional", "nn", "registry", "convert", "find_activations", "CPU_ISA", "CUDA_EMULATION", "SUPPORTED_CPU_ISAS", "HAS_CUDA_KERNELS"]

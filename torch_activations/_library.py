"""Loads the compiled libraries: the op schemas (and CUDA kernels) and the CPU
kernels built for the best instruction set this CPU supports.

TORCH_ACTIVATIONS_CPU_ISA=default|avx2|avx512 picks another CPU build (one the
CPU supports); it is read once, at import.

TORCH_ACTIVATIONS_CUDA_EMULATION=1 (for tests) runs CPU tensors through the
CUDA kernels instead, compiled by the host compiler against a CPU emulation of
CUDA (`python tools/build_cuda_emulation.py` builds that library); CPU_ISA is
then None.
"""

import importlib.machinery
import os

import torch

_HERE = os.path.dirname(os.path.abspath(__file__))

# From the most capable down; each build runs on any CPU that torch's own
# capability check ranks at or above it.
_ISA_ORDER = ("avx512", "avx2", "default")
_TORCH_CAPABILITY_RANK = {"AVX512": 0, "AVX2": 1}


def _library_path(stem):
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(_HERE, stem + suffix)
        if os.path.exists(path):
            return path
    return None


def _supported_isas():
    """The CPU builds this CPU (as torch sees it) can run, best first."""
    capability = torch.backends.cpu.get_cpu_capability()
    rank = _TORCH_CAPABILITY_RANK.get(capability, len(_ISA_ORDER) - 1)
    return [isa for isa in _ISA_ORDER[rank:] if _library_path(f"_cpu_{isa}")]


def _choose_isa():
    supported = _supported_isas()
    requested = os.environ.get("TORCH_ACTIVATIONS_CPU_ISA", "").strip().lower()
    if not requested:
        if not supported:
            raise ImportError("torch_activations: no CPU kernel library was built; reinstall the package")
        return supported[0]
    if requested not in _ISA_ORDER:
        raise ImportError(
            f"torch_activations: TORCH_ACTIVATIONS_CPU_ISA={requested!r} is not one of {', '.join(_ISA_ORDER)}"
        )
    if requested not in supported:
        raise ImportError(
            f"torch_activations: TORCH_ACTIVATIONS_CPU_ISA={requested!r} cannot run here "
            f"(this CPU and build support: {', '.join(supported) or 'none'})"
        )
    return requested


CUDA_EMULATION = os.environ.get("TORCH_ACTIVATIONS_CUDA_EMULATION", "0").strip() not in ("", "0")


def _load_cuda_emulation():
    path = _library_path("_cuda_emulated")
    if path is None:
        raise ImportError(
            "torch_activations: TORCH_ACTIVATIONS_CUDA_EMULATION is set but the emulated CUDA "
            "library is missing; build it with `python tools/build_cuda_emulation.py`"
        )
    torch.ops.load_library(path)


def _load():
    try:
        from . import _C  # the schemas, Meta kernels, autograd, CUDA kernels if built, Python bindings
    except ImportError as error:
        raise ImportError(
            "torch_activations: the compiled library _C is missing or does not load "
            f"({error}); build the package with `pip install --no-build-isolation .`"
        ) from error
    if CUDA_EMULATION:
        _load_cuda_emulation()
        return _C, None
    isa = _choose_isa()
    torch.ops.load_library(_library_path(f"_cpu_{isa}"))
    return _C, isa


_C, CPU_ISA = _load()
SUPPORTED_CPU_ISAS = tuple(_supported_isas())
HAS_CUDA_KERNELS = torch._C._dispatch_has_kernel_for_dispatch_key("torch_activations::relu", "CUDA")

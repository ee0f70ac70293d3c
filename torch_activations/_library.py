"""Loads the compiled libraries: the op schemas (and CUDA kernels) and the CPU
kernels built for the best instruction set this CPU supports.

TORCH_ACTIVATIONS_CPU_ISA=default|avx2|avx512 picks another CPU build (one the
CPU supports); it is read once, at import.

TORCH_ACTIVATIONS_CUDA_EMULATION=1 (for tests) runs CPU tensors through the
CUDA kernels instead, compiled by the host compiler against a CPU emulation of
CUDA (`python tools/build_cuda_emulation.py` builds that library); CPU_ISA is
then None.

The libraries work only with the torch they were compiled against, which the
build records in _build_info.json: another torch is refused with the command
that rebuilds, before a library fails to load with an obscure linker error.
"""

import importlib.machinery
import json
import os
import sys

import torch

_HERE = os.path.dirname(os.path.abspath(__file__))

# From the most capable down; each build runs on any CPU that torch's own
# capability check ranks at or above it.
_ISA_ORDER = ("avx512", "avx2", "default")
_TORCH_CAPABILITY_RANK = {"AVX512": 0, "AVX2": 1}
_BUILD_INFO = os.path.join(_HERE, "_build_info.json")


def _read_build_info():
    try:
        with open(_BUILD_INFO) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _torch_label(version, cuda):
    return f"{version} ({'CUDA ' + cuda if cuda else 'CPU-only'})"


def _rebuild_command(info):
    """The command that rebuilds for the running torch: in place for a source
    checkout, else a reinstall from the source folder the build came from."""
    checkout = os.path.dirname(_HERE)
    if os.path.exists(os.path.join(checkout, "setup.py")):
        return f"cd {checkout} && {sys.executable} setup.py build_ext --inplace"
    source = (info or {}).get("source")
    if not (source and os.path.exists(os.path.join(source, "setup.py"))):
        source = "<torch-activations source folder>"
    return f"{sys.executable} -m pip install --no-build-isolation --no-deps --force-reinstall {source}"


def _check_build(info):
    running = (str(torch.__version__), torch.version.cuda)
    if info is None:
        raise ImportError(
            f"torch_activations: no record of the torch it was built against ({_BUILD_INFO}); "
            f"rebuild it: {_rebuild_command(info)}"
        )
    built = (info.get("torch"), info.get("torch_cuda"))
    if built != running:
        raise ImportError(
            f"torch_activations was built against torch {_torch_label(*built)} but torch "
            f"{_torch_label(*running)} is running; rebuild it for this torch: {_rebuild_command(info)}"
        )


_INFO = _read_build_info()


def _library_path(stem):
    recorded = (_INFO or {}).get("libraries", {}).get(stem)
    if recorded:  # the file this build wrote, never a leftover of another
        path = os.path.join(_HERE, recorded)
        return path if os.path.exists(path) else None
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
    _check_build(_INFO)
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

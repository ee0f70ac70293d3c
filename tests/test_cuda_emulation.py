"""Which kernels run: with TORCH_ACTIVATIONS_CUDA_EMULATION=1 the CPU tensors
of the whole suite go through the CUDA launchers, built against the CPU
emulation of CUDA (tools/test_cuda_emulated.sh); otherwise through the CPU
kernels."""

import os

import torch

import torch_activations as ta
from torch_activations.registry import ACTIVATIONS


def _cpu_kernel_source(op):
    dump = torch._C._dispatch_dump(f"torch_activations::{op}")
    (line,) = [l for l in dump.splitlines() if l.startswith("CPU:")]
    return line


def test_the_requested_backend_runs():
    requested = os.environ.get("TORCH_ACTIVATIONS_CUDA_EMULATION", "0").strip() not in ("", "0")
    assert ta.CUDA_EMULATION == requested
    for spec in ACTIVATIONS:
        source = _cpu_kernel_source(spec.name)
        if requested:
            assert "csrc/cuda/emulation/register.cpp" in source, source
            assert ta.CPU_ISA is None
        else:
            assert "csrc/cuda" not in source, source
            assert ta.CPU_ISA in ta.SUPPORTED_CPU_ISAS

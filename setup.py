"""Build torch-activations.

Libraries built:
  torch_activations/_C            op schemas, plus the CUDA kernels when a CUDA
                                  toolkit and a CUDA-enabled torch are present
  torch_activations/_cpu_<isa>    CPU kernels, once per instruction set
                                  (default, avx2, avx512); the package loads
                                  the best one the CPU supports at import

Environment:
  TORCH_ACTIVATIONS_CPU_ONLY=1    build no CUDA kernels even if CUDA is there
  TORCH_CUDA_ARCH_LIST            GPU architectures; with no GPU visible and no
                                  list given, Ampere and Hopper plus PTX
  CUDA_HOME                       CUDA toolkit; derived from nvcc if unset
"""

import os
import platform
import shutil
import sys
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent.resolve()
HEADERS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "csrc").rglob("*.h"))


def _find_cuda_home():
    """The toolkit root: CUDA_HOME, else the folder holding the real nvcc.

    /usr/local/bin/nvcc may be a wrapper script, which makes torch guess
    CUDA_HOME=/usr/local and fail to link -lcudart, so look for the folder
    that has both bin/nvcc and include/cuda_runtime.h.
    """
    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH")]
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(str(Path(os.path.realpath(nvcc)).parent.parent))
    candidates += ["/usr/local/cuda"]
    for c in candidates:
        if c and (Path(c) / "bin" / "nvcc").exists() and (Path(c) / "include" / "cuda_runtime.h").exists():
            return c
    return None


CPU_ONLY = os.environ.get("TORCH_ACTIVATIONS_CPU_ONLY", "0") not in ("", "0")
cuda_home = None if CPU_ONLY else _find_cuda_home()
if cuda_home:
    os.environ["CUDA_HOME"] = cuda_home  # before torch.utils.cpp_extension reads it

import torch  # noqa: E402
from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension  # noqa: E402

WITH_CUDA = bool(cuda_home) and torch.version.cuda is not None
if WITH_CUDA and not os.environ.get("TORCH_CUDA_ARCH_LIST") and not torch.cuda.is_available():
    os.environ["TORCH_CUDA_ARCH_LIST"] = "8.0;9.0+PTX"

CXX_FLAGS = ["-O3", "-fopenmp"]  # the C++ standard: torch's own default
LINK_FLAGS = ["-fopenmp"]  # at::parallel_for is inline OpenMP; links torch's libgomp
NVCC_FLAGS = ["-O3", "--expt-relaxed-constexpr"]


def _extra_cuda_includes():
    # ATen's CUDA headers include cusparse.h; pip's nvidia wheels carry it
    # when the system toolkit does not.
    includes = []
    for site in map(Path, sys.path):
        inc = site / "nvidia" / "cu13" / "include"
        if (inc / "cusparse.h").exists():
            includes.append(str(inc))
            break
    return includes


def _main_extension():
    sources = ["csrc/ops.cpp"]
    if WITH_CUDA:
        return CUDAExtension(
            "torch_activations._C",
            sources + ["csrc/cuda/kernels.cu"],
            extra_compile_args={"cxx": CXX_FLAGS, "nvcc": NVCC_FLAGS},
            include_dirs=[str(Path(cuda_home) / "include")] + _extra_cuda_includes(),
            depends=HEADERS,
        )
    return CppExtension("torch_activations._C", sources, extra_compile_args=CXX_FLAGS, depends=HEADERS)


# One CPU library per instruction set, as ATen builds its own kernels.
ISA_FLAGS = {
    "default": ["-DCPU_CAPABILITY=DEFAULT", "-DCPU_CAPABILITY_DEFAULT"],
    "avx2": ["-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2", "-mavx2", "-mfma", "-mf16c"],
    "avx512": [
        "-DCPU_CAPABILITY=AVX512", "-DCPU_CAPABILITY_AVX512",
        "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma", "-mf16c",
    ],
}
isas = ISA_FLAGS if platform.machine() in ("x86_64", "AMD64") else {"default": ISA_FLAGS["default"]}
cpu_extensions = [
    CppExtension(
        f"torch_activations._cpu_{isa}",
        [f"csrc/cpu/register_{isa}.cpp"],
        extra_compile_args=CXX_FLAGS + flags,
        extra_link_args=LINK_FLAGS,
        depends=HEADERS,
    )
    for isa, flags in isas.items()
]


class ParallelBuildExtension(BuildExtension):
    """Builds the libraries side by side (they are independent). Without ninja:
    parallel ninja builds would share one build.ninja; `depends` below makes
    a header change rebuild what includes it."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            self.parallel = os.cpu_count() or 1


setup(
    ext_modules=[_main_extension()] + cpu_extensions,
    cmdclass={"build_ext": ParallelBuildExtension.with_options(use_ninja=False)},
)

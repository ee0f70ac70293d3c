"""Build torch-activations.

Libraries built:
  torch_activations/_C            op schemas, plus the CUDA kernels when a CUDA
                                  toolkit and a CUDA-enabled torch are present
  torch_activations/_cpu_<isa>    CPU kernels, once per instruction set
                                  (default, avx2, avx512); the package loads
                                  the best one the CPU supports at import

The libraries link against the torch they are compiled with and work with that
torch only. The build records it (torch_activations/_build_info.json); import
refuses another torch with the command that rebuilds. Build outputs live in
build/torch-<version>.<cuda-kernels|cpu-only>/, so switching torch never
reuses a stale library.

Environment:
  TORCH_ACTIVATIONS_CPU_ONLY=1    build no CUDA kernels even if CUDA is there
  TORCH_CUDA_ARCH_LIST            GPU architectures; with no GPU visible and no
                                  list given, Ampere and Hopper plus PTX
  CUDA_HOME                       CUDA toolkit; derived from nvcc if unset
  MAX_JOBS                        libraries compiled at once (default: one
                                  per CPU core)
ccache (or sccache) is used when it is on PATH; TORCH_NO_COMPILER_WRAPPER=1
turns that off, as it does for torch's own build helpers.
"""

import json
import os
import platform
import shutil
import sys
import sysconfig
import time
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent.resolve()
sys.path.insert(0, str(ROOT))  # build_backend.py, when run as `python setup.py`
from build_backend import installed_torch, torch_label  # noqa: E402

HEADERS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "csrc").rglob("*.h"))
PACKAGE = "torch_activations"
BUILD_INFO = "_build_info.json"
PROGRESS = "[torch-activations]"  # prefix of the progress lines scripts/setup_env.sh shows


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

try:
    import torch
except ImportError:
    sys.exit(
        "torch-activations compiles against the torch it will run with, and torch is not installed "
        f"for {sys.executable}. Install torch first (pip install torch), then build with "
        "`pip install --no-build-isolation .`"
    )
from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension  # noqa: E402

WITH_CUDA = bool(cuda_home) and torch.version.cuda is not None
if WITH_CUDA and not os.environ.get("TORCH_CUDA_ARCH_LIST") and not torch.cuda.is_available():
    os.environ["TORCH_CUDA_ARCH_LIST"] = "8.0;9.0+PTX"

TORCH_VERSION = str(torch.__version__)
BUILD_KEY = f"torch-{TORCH_VERSION}.{'cuda-kernels' if WITH_CUDA else 'cpu-only'}"

# -g0: the interpreter's default flags ask for debug info, which costs a third
# of the compile time (one CPU library: 48 s of CPU against 75 s) and makes the
# objects 25 times larger.
CXX_FLAGS = ["-O3", "-g0", "-fopenmp"]  # the C++ standard: torch's own default
LINK_FLAGS = ["-fopenmp"]  # at::parallel_for is inline OpenMP; links torch's libgomp
NVCC_FLAGS = ["-O3", "--expt-relaxed-constexpr"]

# Python's limited API, per library: the CPU kernel libraries are loaded with
# torch.ops.load_library and never call Python, so one build serves every
# CPython 3 (file suffix .abi3.so). _C is a Python module built with pybind11
# (the eager fast path and the double-backward formulas), which needs the full
# C API, so it is built for one CPython (and so is the wheel).


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
            f"{PACKAGE}._C",
            sources + ["csrc/cuda/kernels.cu"],
            extra_compile_args={"cxx": CXX_FLAGS, "nvcc": NVCC_FLAGS},
            include_dirs=[str(Path(cuda_home) / "include")] + _extra_cuda_includes(),
            depends=HEADERS,
            py_limited_api=False,
        )
    return CppExtension(f"{PACKAGE}._C", sources, extra_compile_args=CXX_FLAGS, depends=HEADERS, py_limited_api=False)


# One CPU library per instruction set, as ATen builds its own kernels.
ISA_FLAGS = {
    "default": ["-DCPU_CAPABILITY=DEFAULT", "-DCPU_CAPABILITY_DEFAULT"],
    "avx2": ["-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2", "-mavx2", "-mfma", "-mf16c"],
    "avx512": [
        "-DCPU_CAPABILITY=AVX512", "-DCPU_CAPABILITY_AVX512",
        "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma", "-mf16c",
    ],
}
# No contraction of a * b + c into one FMA where the source does not ask for
# one (at::vec::fmadd): the compiler contracts each inlined copy of a kernel
# body on its own, so the copy at::parallel_for runs on one thread and the one
# its pool runs, or a loop's body and its tail, could round differently; with
# it off, an element's bits depend on neither the thread count nor the split.
CPU_KERNEL_FLAGS = ["-ffp-contract=off"]
isas = ISA_FLAGS if platform.machine() in ("x86_64", "AMD64") else {"default": ISA_FLAGS["default"]}
cpu_extensions = [
    CppExtension(
        f"{PACKAGE}._cpu_{isa}",
        [f"csrc/cpu/register_{isa}.cpp"],
        extra_compile_args=CXX_FLAGS + CPU_KERNEL_FLAGS + flags,
        extra_link_args=LINK_FLAGS,
        depends=HEADERS,
        py_limited_api=True,
    )
    for isa, flags in isas.items()
]
EXTENSIONS = [_main_extension()] + cpu_extensions


def _progress(message):
    sys.stdout.write(f"{PROGRESS} {message}\n")  # one write: the libraries build in parallel threads
    sys.stdout.flush()


def _jobs():
    if os.environ.get("MAX_JOBS"):
        return max(1, int(os.environ["MAX_JOBS"]))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _children_cpu_seconds():
    try:
        import resource
    except ImportError:  # not on Unix
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _compiler_wrapper():
    if os.environ.get("TORCH_NO_COMPILER_WRAPPER"):
        return None
    return next((w for w in ("ccache", "sccache") if shutil.which(w)), None)


def _check_build_torch():
    """Stop when the torch compiled against is not the torch the package will
    run with: an isolated build environment (pip's default) can hold a torch
    of its own, and the libraries would then fail to load."""
    site_packages = {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}
    if Path(torch.__file__).resolve().parent.parent in site_packages:
        return  # the environment's own torch: nothing to compare (and no second torch import)
    target = installed_torch()
    here = (TORCH_VERSION, torch.version.cuda)
    if target is None or target == here:
        return  # nothing installed there yet (pip installs this torch with the package), or the same torch
    sys.exit(
        f"torch-activations: the build environment's torch is {torch_label(*here)}, but the environment "
        f"being installed into has {torch_label(*target)}; the libraries would not load there. Build against "
        f"the installed torch instead: `{sys.executable} -m pip install --no-build-isolation .`"
    )


class ParallelBuildExtension(BuildExtension):
    """Builds the libraries side by side (they are independent), one line of
    progress per library. Without ninja: parallel ninja builds would share one
    build.ninja; `depends` makes a header change rebuild what includes it."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            self.parallel = _jobs()

    def run(self):
        _check_build_torch()
        self._started, self._done = time.perf_counter(), 0
        compilers_cpu = _children_cpu_seconds()
        _progress(
            f"building {len(self.extensions)} libraries against torch {torch_label(TORCH_VERSION, torch.version.cuda)}, "
            f"{self.parallel} at a time, compiler cache: {_compiler_wrapper() or 'none'}"
            + (f", CUDA architectures {os.environ.get('TORCH_CUDA_ARCH_LIST')}" if WITH_CUDA else ", no CUDA kernels")
        )
        super().run()  # builds in build_lib; with --inplace, then copies into the package
        self._record_build(Path(self.build_lib) / PACKAGE)
        if self.inplace:
            package_dir = Path(self.get_finalized_command("build_py").get_package_dir(PACKAGE))
            self._remove_stale_libraries(package_dir)
            self._record_build(package_dir)
        _progress(f"done in {time.perf_counter() - self._started:.0f} s "
                  f"({_children_cpu_seconds() - compilers_cpu:.0f} s of compiler CPU time)")

    def build_extensions(self):
        # torch wraps compiler_so (and nvcc) with ccache; setuptools >= 72
        # compiles C++ with compiler_so_cxx, which it leaves alone
        wrapper = _compiler_wrapper()
        cxx = getattr(self.compiler, "compiler_so_cxx", None)
        if wrapper and cxx and os.path.basename(cxx[0]) != wrapper:
            self.compiler.set_executable("compiler_so_cxx", [wrapper] + list(cxx))
        super().build_extensions()

    def build_extension(self, ext):
        label = ext.name.split(".")[-1]
        if not (self.force or self._out_of_date(ext)):
            _progress(f"{label}: up to date")
            return
        _progress(f"{label}: compiling {', '.join(ext.sources)}")
        start = time.perf_counter()
        super().build_extension(ext)
        self._done += 1
        _progress(f"{label}: built in {time.perf_counter() - start:.0f} s ({self._done}/{len(self.extensions)})")

    def _out_of_date(self, ext):
        try:
            from setuptools.modified import newer_group
        except ImportError:  # setuptools < 69
            from distutils.dep_util import newer_group
        return newer_group(list(ext.sources) + list(ext.depends), self.get_ext_fullpath(ext.name), "newer")

    def _library_files(self):
        return {ext.name.split(".")[-1]: os.path.basename(self.get_ext_filename(ext.name)) for ext in self.extensions}

    def _remove_stale_libraries(self, package_dir):
        """Libraries of an earlier build under another file name (another
        Python ABI tag) that the loader could pick up instead."""
        current = set(self._library_files().values())
        for stem in self._library_files():
            for path in package_dir.glob(f"{stem}.*so"):
                if path.name not in current:
                    path.unlink()

    def _record_build(self, package_dir):
        """What import checks the running torch against."""
        info = {
            "torch": TORCH_VERSION,
            "torch_cuda": torch.version.cuda,
            "cuda_kernels": WITH_CUDA,
            "cuda_arch_list": os.environ.get("TORCH_CUDA_ARCH_LIST") if WITH_CUDA else None,
            "cpu_isas": list(isas),
            "libraries": self._library_files(),
            "source": str(ROOT),
        }
        package_dir.mkdir(parents=True, exist_ok=True)
        (package_dir / BUILD_INFO).write_text(json.dumps(info, indent=1) + "\n")


setup(
    ext_modules=EXTENSIONS,
    cmdclass={"build_ext": ParallelBuildExtension.with_options(use_ninja=False)},
    install_requires=[f"torch=={TORCH_VERSION.split('+')[0]}"],  # the libraries load with this torch only
    options={
        "build": {"build_base": str(Path("build") / BUILD_KEY)},
    },
)

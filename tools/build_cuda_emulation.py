"""Builds the CUDA kernels (csrc/cuda/kernels.cu) with the host compiler
against the CPU emulation of CUDA (csrc/cuda/emulation/), for tests only;
the normal build (setup.py) never does this.

    python tools/build_cuda_emulation.py library
        torch_activations/_cuda_emulated<suffix>.so: the CUDA launchers
        registered for CPU tensors, loaded instead of the CPU kernels when
        TORCH_ACTIVATIONS_CUDA_EMULATION=1
    python tools/build_cuda_emulation.py kernel-tests [--sanitize] [--kernels FILE] [--out PATH]
        the kernel-level test program (tests/cuda_emulation/) linked against
        kernels.cu, or against the copy FILE (a mutant); --sanitize builds it
        with AddressSanitizer and UndefinedBehaviorSanitizer

Objects are cached under build/cuda_emulation/ by source, flags and
dependency times, so a mutant rebuilds only its kernels.
"""

import argparse
import hashlib
import os
import pathlib
import subprocess
import sys
import sysconfig

import torch
from torch.utils import cpp_extension

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "cuda_emulation"
EMULATION = ROOT / "csrc" / "cuda" / "emulation"
TESTS = ROOT / "tests" / "cuda_emulation"
CXX = os.environ.get("CXX", "g++")

# The emulation's stand-ins for the CUDA headers come first on the path.
INCLUDES = [EMULATION, ROOT / "csrc" / "cuda", TESTS] + [pathlib.Path(p) for p in cpp_extension.include_paths()]
DEFINES = [f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}", "-DTORCH_API_INCLUDE_EXTENSION_H"]
COMMON = ["-std=c++20", "-fPIC", "-g0", "-Wno-unknown-pragmas"]
# Optimised enough for the suite's sizes, cheap enough to compile.
OPTIMIZE = ["-O1"]
SANITIZE = ["-O1", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
# Kernels of the mutation check: UBSan's alignment check reports packed
# loads on misaligned pointers, which x86 would otherwise execute silently.
MUTANT = ["-O1", "-fsanitize=alignment", "-fno-sanitize-recover=alignment"]
TORCH_LIBS = [f"-L{p}" for p in cpp_extension.library_paths()] + ["-lc10", "-ltorch_cpu", "-ltorch"]


def _deps_stamp(source, flags):
    """A key for an object: its source path, the flags, and the times of the
    files it may include (the project's headers)."""
    h = hashlib.sha256()
    h.update(str(source).encode())
    h.update(" ".join(flags).encode())
    for path in sorted(ROOT.glob("csrc/**/*")) + sorted(TESTS.glob("*")) + [pathlib.Path(source)]:
        if path.is_file():
            h.update(f"{path}:{path.stat().st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def compile_object(source, flags, defines=()):
    flags = list(flags) + list(defines)
    obj = BUILD / "obj" / f"{pathlib.Path(source).stem}-{_deps_stamp(source, flags)}.o"
    if obj.exists():
        return obj
    obj.parent.mkdir(parents=True, exist_ok=True)
    cmd = [CXX, *COMMON, *flags, *DEFINES, *[f"-I{p}" for p in INCLUDES], "-c", str(source), "-o", f"{obj}.tmp"]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.stderr.write(run.stderr[-20000:])
        raise SystemExit(f"compiling {source} failed")
    os.replace(f"{obj}.tmp", obj)
    return obj


def build_library():
    obj = compile_object(EMULATION / "register.cpp", OPTIMIZE)
    out = ROOT / "torch_activations" / ("_cuda_emulated" + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run([CXX, "-shared", str(obj), *TORCH_LIBS, "-o", str(out)], check=True)
    print(out.relative_to(ROOT))


def build_kernel_tests(sanitize, kernels, out):
    flags = SANITIZE if sanitize else OPTIMIZE
    kernel_flags = SANITIZE if sanitize else MUTANT
    source = pathlib.Path(kernels).resolve() if kernels else ROOT / "csrc" / "cuda" / "kernels.cu"
    objs = [
        compile_object(TESTS / "kernel_tests.cpp", flags),
        compile_object(TESTS / "emulator_tests.cpp", flags),
        compile_object(TESTS / "kernels_under_test.cpp", kernel_flags, [f'-DKERNELS_SOURCE="{source}"']),
    ]
    out = pathlib.Path(out) if out else BUILD / ("kernel_tests-sanitized" if sanitize else "kernel_tests")
    out.parent.mkdir(parents=True, exist_ok=True)
    link = [CXX, *flags, *map(str, objs), *TORCH_LIBS, *kernel_flags]
    link += [f"-Wl,-rpath,{p}" for p in cpp_extension.library_paths()]
    subprocess.run([*link, "-o", str(out)], check=True)
    print(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=["library", "kernel-tests"])
    parser.add_argument("--sanitize", action="store_true")
    parser.add_argument("--kernels", help="a copy of kernels.cu to build instead (kernel-tests)")
    parser.add_argument("--out", help="where the kernel-test program goes")
    args = parser.parse_args()
    if args.target == "library":
        build_library()
    else:
        build_kernel_tests(args.sanitize, args.kernels, args.out)


if __name__ == "__main__":
    main()

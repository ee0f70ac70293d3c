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
# The kernel tests outside the sanitizer build (the mutation check's):
# UBSan's alignment check reports packed loads on misaligned pointers, which
# x86 would otherwise execute silently.
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


def _compile(source, flags, out, language=()):
    cmd = [CXX, *COMMON, *flags, *DEFINES, *[f"-I{p}" for p in INCLUDES], *language, "-c", str(source)]
    run = subprocess.run([*cmd, "-o", f"{out}.tmp"], capture_output=True, text=True)
    if run.returncode != 0:
        sys.stderr.write(run.stderr[-20000:])
        raise SystemExit(f"compiling {source} failed")
    os.replace(f"{out}.tmp", out)


# The torch headers every kernel-test object includes, precompiled once per
# set of flags: parsing them is half of compiling a mutant.
PRECOMPILED = """#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>
"""


def precompiled_header(flags):
    """The path to pass to -include for a precompiled header built with `flags`."""
    key = hashlib.sha256((" ".join(flags) + PRECOMPILED + torch.__version__).encode()).hexdigest()[:16]
    header = BUILD / f"pch-{key}" / "torch_headers.h"
    if not (header.parent / "torch_headers.h.gch").exists():
        header.parent.mkdir(parents=True, exist_ok=True)
        header.write_text(PRECOMPILED)
        _compile(header, flags, header.parent / "torch_headers.h.gch", ["-x", "c++-header"])
    return header


def compile_object(source, flags, defines=(), pch=None):
    flags = list(flags) + list(defines)
    obj = BUILD / "obj" / f"{pathlib.Path(source).stem}-{_deps_stamp(source, flags)}.o"
    if obj.exists():
        return obj
    obj.parent.mkdir(parents=True, exist_ok=True)
    _compile(source, flags + (["-Winvalid-pch", "-include", str(pch)] if pch else []), obj)
    return obj


def build_library():
    obj = compile_object(EMULATION / "register.cpp", OPTIMIZE)
    out = ROOT / "torch_activations" / ("_cuda_emulated" + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run([CXX, "-shared", str(obj), *TORCH_LIBS, "-o", str(out)], check=True)
    print(out.relative_to(ROOT))


def test_objects(sanitize, pch=None):
    """The kernel-test program's own objects (the tests, not the kernels)."""
    flags = SANITIZE if sanitize else MUTANT
    return [
        compile_object(TESTS / "kernel_tests.cpp", flags, pch=pch),
        compile_object(TESTS / "emulator_tests.cpp", flags),
    ]


def kernels_object(sanitize, kernels=None, pch=None):
    source = pathlib.Path(kernels).resolve() if kernels else ROOT / "csrc" / "cuda" / "kernels.cu"
    flags = SANITIZE if sanitize else MUTANT
    return compile_object(TESTS / "kernels_under_test.cpp", flags, [f'-DKERNELS_SOURCE="{source}"'], pch)


def link_kernel_tests(objs, sanitize, out):
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    flags = SANITIZE if sanitize else MUTANT
    rpath = [f"-Wl,-rpath,{p}" for p in cpp_extension.library_paths()]
    subprocess.run([CXX, *flags, *map(str, objs), *TORCH_LIBS, *rpath, "-o", str(out)], check=True)
    return out


def build_kernel_tests(sanitize, kernels, out):
    out = out or BUILD / ("kernel_tests-sanitized" if sanitize else "kernel_tests")
    objs = test_objects(sanitize) + [kernels_object(sanitize, kernels)]
    print(link_kernel_tests(objs, sanitize, out))


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

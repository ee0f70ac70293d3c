#!/usr/bin/env bash
# Sets up everything the tests and benchmarks need, from nothing: a virtual
# environment with torch, and the extension built in place (incrementally on
# later runs). Safe to run again; it rebuilds from clean when the torch
# version or the CPU-only choice changes.
#
#   VENV=.venv                      where the environment lives
#   TORCH_VERSION=2.14.1            2.14.1 is a CUDA build, 2.13.0 a CPU-only one
#   TORCH_ACTIVATIONS_CPU_ONLY=1    build no CUDA kernels even with a CUDA toolkit
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
TORCH_VERSION=${TORCH_VERSION:-2.14.1}
CPU_ONLY=${TORCH_ACTIVATIONS_CPU_ONLY:-0}

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
py="$VENV/bin/python"
"$py" -m pip install -q --disable-pip-version-check --upgrade pip "setuptools>=64" wheel
"$py" -m pip install -q --disable-pip-version-check "torch==$TORCH_VERSION" pytest numpy matplotlib

stamp="torch=$TORCH_VERSION cpu_only=$CPU_ONLY python=$("$py" -c 'import sys; print(sys.version.split()[0])')"
if [ "$(cat build/.stamp 2>/dev/null)" != "$stamp" ]; then
  rm -rf build torch_activations/*.so
fi
TORCH_ACTIVATIONS_CPU_ONLY=$CPU_ONLY "$py" setup.py -q build_ext --inplace > "${BUILD_LOG:-/dev/null}" 2>&1 || {
  echo "build failed; rerun with BUILD_LOG=build.log to see why" >&2
  TORCH_ACTIVATIONS_CPU_ONLY=$CPU_ONLY "$py" setup.py -q build_ext --inplace 2>&1 | grep -E "error|Error" | head -40 >&2
  exit 1
}
mkdir -p build && echo "$stamp" > build/.stamp
# the source tree on the environment's path (an in-place editable install)
echo "$PWD" > "$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/torch_activations_dev.pth"
"$py" -c "import torch, torch_activations as ta; print(f'torch {torch.__version__}; torch_activations built, CPU kernels: {ta.CPU_ISA}, CUDA kernels: {ta.HAS_CUDA_KERNELS}')"

#!/usr/bin/env bash
# Sets up everything the tests and benchmarks need, from nothing: a virtual
# environment with torch, and the extension built in place (incrementally on
# later runs). Safe to run again: setup.py keeps one build folder per torch
# version and CUDA choice, so switching either never reuses a stale library.
#
#   VENV=.venv                      where the environment lives
#   TORCH_VERSION=2.14.1            2.14.1 is a CUDA build, 2.13.0 a CPU-only one
#   TORCH_ACTIVATIONS_CPU_ONLY=1    build no CUDA kernels even with a CUDA toolkit
#   MAX_JOBS=N                      libraries compiled at once (default: one per core)
#   BUILD_LOG=build.log             the compiler's full output (default build/build.log)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
TORCH_VERSION=${TORCH_VERSION:-2.14.1}
CPU_ONLY=${TORCH_ACTIVATIONS_CPU_ONLY:-0}
LOG=${BUILD_LOG:-build/build.log}
say() { echo "[setup_env] $*"; }

start=$(date +%s)
[ -x "$VENV/bin/python" ] || { say "creating $VENV"; python3 -m venv "$VENV"; }
py="$VENV/bin/python"
# torchvision is built against one torch release (and timm needs it): the one
# that matches. The package index's torchvision 0.28.0 (torch 2.13) is a CUDA
# build, which cannot load beside the CPU-only torch 2.13.0 (and, installed,
# breaks the import of transformers' models), so that environment has neither
# torchvision nor timm: their tests run in the torch 2.14.1 one.
case "$TORCH_VERSION" in
  2.14.*) VISION=("torchvision==0.29.1" "timm==1.0.31") ;;
  2.13.*) VISION=() ;;
  *) echo "no torchvision known for torch $TORCH_VERSION" >&2; exit 1 ;;
esac
say "installing torch $TORCH_VERSION, pytest, numpy, matplotlib and the test dependencies (transformers, scikit-learn, onnx, onnxscript, onnxruntime${VISION:+, ${VISION[*]}}) into $VENV"
"$py" -m pip install -q --disable-pip-version-check --upgrade pip "setuptools>=64" wheel
"$py" -m pip install -q --disable-pip-version-check "torch==$TORCH_VERSION" ${VISION[@]+"${VISION[@]}"} pytest numpy matplotlib \
  "transformers==5.23.0" scikit-learn "onnx==1.23.2" "onnxscript==0.7.2" "onnxruntime==1.32.0"

# The progress lines (one per library) go to the terminal, everything to $LOG.
mkdir -p "$(dirname "$LOG")"
say "building (compiler output in $LOG)"
set +e
TORCH_ACTIVATIONS_CPU_ONLY=$CPU_ONLY "$py" -u setup.py build_ext --inplace 2>&1 | tee "$LOG" | grep --line-buffered '^\[torch-activations\]'
status=${PIPESTATUS[0]}
set -e
if [ $status -ne 0 ]; then
  echo "build failed (exit $status); the errors, from $LOG:" >&2
  grep -E "error|Error" "$LOG" | head -40 >&2
  exit 1
fi
# the source tree on the environment's path (an in-place editable install)
echo "$PWD" > "$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/torch_activations_dev.pth"
"$py" -c "import torch, torch_activations as ta; print(f'torch {torch.__version__}; torch_activations built, CPU kernels: {ta.CPU_ISA}, CUDA kernels: {ta.HAS_CUDA_KERNELS}')"
say "ready in $(( $(date +%s) - start )) s"

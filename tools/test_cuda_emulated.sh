#!/usr/bin/env bash
# The CUDA kernels, run on the CPU: builds csrc/cuda/kernels.cu against the
# CPU emulation of CUDA (tools/build_cuda_emulation.py) and runs
#   suite       the whole test suite through the CUDA launchers
#               (TORCH_ACTIVATIONS_CUDA_EMULATION=1), under the round-robin and
#               the greedy schedule
#   sanitizers  the kernel-level tests (tests/cuda_emulation/) built with
#               AddressSanitizer and UndefinedBehaviorSanitizer
# exiting non-zero on any failure. Needs the extension built in place first
# (scripts/setup_env.sh), for the op schemas.
#   bash tools/test_cuda_emulated.sh [suite] [sanitizers]    (default: both)
#   PYTHON=...    the environment's python (default .venv/bin/python)
set -uo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(suite sanitizers)
rc=0
for step in "${steps[@]}"; do
  case $step in
    suite)
      "$py" tools/build_cuda_emulation.py library || exit 1
      for schedule in round-robin greedy; do
        echo "== the test suite through the emulated CUDA kernels, $schedule schedule =="
        TORCH_ACTIVATIONS_CUDA_EMULATION=1 TORCH_ACTIVATIONS_CUDA_EMULATION_SCHEDULE=$schedule \
          "$py" -m pytest tests -q -p no:cacheprovider || rc=1
      done
      ;;
    sanitizers)
      echo "== kernel-level tests under AddressSanitizer and UndefinedBehaviorSanitizer =="
      "$py" tools/build_cuda_emulation.py kernel-tests --sanitize || exit 1
      export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1
      build/cuda_emulation/kernel_tests-sanitized round-robin greedy || rc=1
      # the swapcontext fallback too (slow under ASan: the emulator's own tests)
      TORCH_ACTIVATIONS_CUDA_EMULATION_SWITCH=ucontext \
        build/cuda_emulation/kernel_tests-sanitized --only=emulator round-robin greedy || rc=1
      ;;
    *) echo "unknown step '$step' (suite, sanitizers)" >&2; exit 2 ;;
  esac
done
exit $rc

#!/usr/bin/env bash
# Build against the machine's torch and run the test suite on its GPU, then
# (if asked) the benchmarks. Logs go to $OUT (or ./gpu_out).
#   bash tools/gpu_check.sh [tests] [bench]
set -uo pipefail
out=${OUT:-gpu_out}; mkdir -p "$out"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/gpu.txt"
start=$(date +%s)
python3 setup.py build_ext --inplace > "$out/build.log" 2>&1 || { tail -50 "$out/build.log"; exit 1; }
echo "build: $(( $(date +%s) - start )) s"
python3 -c "import torch_activations as ta; print('cpu isa', ta.CPU_ISA, 'cuda kernels', ta.HAS_CUDA_KERNELS)"
rc=0
for step in "$@"; do
  case $step in
    tests) python3 -m pytest tests -q -p no:cacheprovider --maxfail=30 2>&1 | tee "$out/tests.log" | tail -40; rc=$(( rc | ${PIPESTATUS[0]} )) ;;
    bench) python3 benchmarks/run.py --device cuda --out "$out" 2>&1 | tee "$out/bench.log" | tail -80; rc=$(( rc | ${PIPESTATUS[0]} )) ;;
  esac
done
exit $rc

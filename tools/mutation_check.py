"""Mutation check of the CUDA kernels' tests: seeds realistic bugs, one at a
time, into a copy of csrc/cuda/kernels.cu, builds each copy against the CPU
emulation with the kernel-level tests (tests/cuda_emulation/), and fails
unless the unmutated kernels pass and every mutant fails them.

    python tools/mutation_check.py [--jobs N] [--only NAME...]

Each mutation names the exact text it replaces; when kernels.cu no longer
contains that text, the check fails and says which mutation to update.
"""

import argparse
import concurrent.futures
import os
import pathlib
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import build_cuda_emulation as build  # noqa: E402

SOURCE = build.ROOT / "csrc" / "cuda" / "kernels.cu"
MUTANTS = build.BUILD / "mutants"
TIMEOUT_S = 600

# name: (what the bug is, original text, mutated text)
MUTATIONS = {
    "tail-bound-off-by-one": (
        "the packed kernel's scalar tail runs one element too far",
        "threadIdx.x < n - n_packs * kVec",
        "threadIdx.x <= n - n_packs * kVec",
    ),
    "tail-to-wrong-block": (
        "the scalar tail is handed to block 1, which small grids lack",
        "if (kVec > 1 && blockIdx.x == 0 &&",
        "if (kVec > 1 && blockIdx.x == 1 &&",
    ),
    "packed-loads-on-misaligned-input": (
        "only the output's alignment decides the packed kernel",
        "const bool vectorize = aligned16(out) && (aligned16(in) && ...);",
        "const bool vectorize = aligned16(out);",
    ),
    "no-barrier-before-reusing-shared": (
        "block_reduce overwrites `shared` while other warps may still read the previous row",
        "  __syncthreads();  // `shared` may still be read from the previous row\n",
        "",
    ),
    "no-barrier-after-zeroing-shared": (
        "channel-wise backward accumulates into shared sums other threads are still zeroing",
        "block_sum[c] = Acc(0);\n    __syncthreads();\n",
        "block_sum[c] = Acc(0);\n",
    ),
    "prelu-forward-channel-ignores-stride": (
        "PReLU forward takes the channel as i % channels (right only when channels are innermost)",
        "const int64_t c = (i / stride) % channels;\n    y[i] =",
        "const int64_t c = i % channels;\n    y[i] =",
    ),
    "prelu-backward-channel-ignores-stride": (
        "channel-wise backward takes the channel as i % channels",
        "const int64_t c = (i / stride) % channels;\n    const Acc gv",
        "const int64_t c = i % channels;\n    const Acc gv",
    ),
    "softmax-minus-inf-adds-nan": (
        "the running sum adds exp(-inf - -inf) = NaN for a thread whose elements start with -inf",
        "} else if (v != -std::numeric_limits<Acc>::infinity()) {",
        "} else {",
    ),
    "bias-pack-from-the-wrong-column": (
        "the packed bias forward reads the bias pack of the element's row, not its column",
        "reinterpret_cast<const P*>(bias)[(p * kVec) % cols / kVec]",
        "reinterpret_cast<const P*>(bias)[(p * kVec) / cols % (cols / kVec)]",
    ),
    "bias-sum-chunks-overlap": (
        "a chunk of the column sums runs one row into the next chunk (a row counted twice)",
        "return std::min(rows, first() + rows_per_chunk); }",
        "return std::min(rows, first() + rows_per_chunk + 1); }",
    ),
    "gated-bias-halves-swapped": (
        "the gated forward adds the bias's halves to the wrong operands",
        "bp ? bp + s.act_offset : nullptr,\n                                      bp ? bp + s.mul_offset : nullptr",
        "bp ? bp + s.mul_offset : nullptr,\n                                      bp ? bp + s.act_offset : nullptr",
    ),
    "warp-reduce-skips-a-step": (
        "the first butterfly of block_reduce stops one step short",
        "for (int m = 16; m > 0; m /= 2) v = combine(v, shfl(v, m, true), 0);",
        "for (int m = 16; m > 1; m /= 2) v = combine(v, shfl(v, m, true), 0);",
    ),
}


def write_mutant(name, text):
    _, original, mutated = MUTATIONS[name]
    count = text.count(original)
    if count != 1:
        raise SystemExit(f"mutation {name}: its original text occurs {count} times in {SOURCE}; update it")
    path = MUTANTS / f"{name}.cu"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace(original, mutated))
    return path


def build_and_run(name, source, pch, test_objs, full):
    """Builds the kernel tests against `source`; returns (name, passed, seconds, log tail)."""
    start = time.monotonic()
    obj = build.kernels_object(False, source, pch)
    program = build.link_kernel_tests(test_objs.result() + [obj], False, MUTANTS / f"kernel_tests-{name}")
    args = [str(program)] if full else [str(program), "--stop-at-first-failure"]
    env = dict(os.environ, UBSAN_OPTIONS="print_stacktrace=0")
    try:
        run = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
        passed, log = run.returncode == 0, (run.stdout + run.stderr)
    except subprocess.TimeoutExpired as e:
        passed, log = False, f"timed out after {TIMEOUT_S} s\n{e.stdout or ''}"
    lines = log.strip().splitlines()
    summary = [l for l in lines if "runtime error" in l or "failures" in l or "timed out" in l or "ERROR" in l]
    return name, passed, time.monotonic() - start, (summary or lines)[-1:]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", nargs="*", choices=sorted(MUTATIONS), help="these mutations only")
    args = parser.parse_args()
    text = SOURCE.read_text()
    names = args.only or list(MUTATIONS)
    sources = {name: write_mutant(name, text) for name in names}

    start = time.monotonic()
    failed = False
    pch = build.precompiled_header(build.MUTANT)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, args.jobs)) as pool:
        # compiled beside the first kernels; every job links against them
        test_objs = pool.submit(build.test_objects, False, pch)
        # the unmutated kernels first in line: they must pass every schedule
        jobs = [pool.submit(build_and_run, "unmutated", SOURCE, pch, test_objs, True)]
        jobs += [pool.submit(build_and_run, name, sources[name], pch, test_objs, False) for name in names]
        for job in jobs:
            name, passed, seconds, tail = job.result()
            if name == "unmutated":
                verdict = "passes" if passed else "FAILS (the tests must pass on the real kernels)"
                failed |= not passed
            else:
                verdict = "caught" if not passed else "SURVIVED"
                failed |= passed
            print(f"{name:38s} {verdict:8s} {seconds:5.1f} s  {tail[-1][:110] if tail else ''}", flush=True)
            if name != "unmutated" and not passed:
                print(f"{'':38s} ({MUTATIONS[name][0]})", flush=True)
    print(f"mutation check: {len(names)} mutants, {time.monotonic() - start:.0f} s, {'FAILED' if failed else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

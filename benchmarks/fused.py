"""The fused ops with no torch twin, against the composite a user writes in
plain torch: gated activations (swiglu, geglu, silu_mul) and bias +
activation (bias_activation), forward+backward.

    python benchmarks/fused.py --out bench_out [--quick]

Each case runs ours, the composite in eager mode and the composite under
torch.compile (dynamic shapes, one graph per case and dtype), interleaved
round by round; a figure is the median over rounds of composite time / ours
(above 1: ours is faster), with the quartiles of those ratios. Saved bytes:
the distinct storages autograd keeps during forward, beyond the parameters
(the bias). Sizes count the elements of the input (of gate and up together for
silu_mul). CPU, float32 and bfloat16, 2^20..2^24, under the tuned allocation
(glibc's mmap and trim thresholds at 4 GiB: freed blocks stay in the heap)
and torch's thread count at 2.

Targets (CPU): >= 1.5x the eager composite, >= 1.0x the compiled one, saved
bytes no more than the composite's. Stated for a GPU, for when one runs them:
>= 90% of the measured copy bandwidth at 2^24 and above.

Writes fused.json and fused.md to --out; exit status 1 if a target failed.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

import torch
import torch.nn.functional as F

try:
    import torch_activations as ta
except ImportError:  # a checkout built in place but not installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import torch_activations as ta

import _timing

THREADS = 2
WIDTH = 4096  # the input's last dimension (a gated op's output has half)
TARGET_EAGER, TARGET_COMPILED = 1.5, 1.0
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
TUNED_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(4 << 30), "MALLOC_TRIM_THRESHOLD_": str(4 << 30)}


def _halves(x):
    return x.chunk(2, -1)


# name: (ours, composite, inputs: "x", "x+bias" or "gate,up")
CASES = {
    "swiglu": (lambda x: ta.functional.swiglu(x), lambda x: F.silu(_halves(x)[0]) * _halves(x)[1], "x"),
    "geglu": (lambda x: ta.functional.geglu(x), lambda x: F.gelu(_halves(x)[0]) * _halves(x)[1], "x"),
    "silu_mul": (ta.functional.silu_mul, lambda gate, up: F.silu(gate) * up, "gate,up"),
    "bias_gelu": (lambda x, b: ta.functional.bias_activation(x, b, "gelu"), lambda x, b: F.gelu(x + b), "x+bias"),
    "bias_relu": (lambda x, b: ta.functional.bias_activation(x, b, "relu"), lambda x, b: F.relu(x + b), "x+bias"),
    "bias_silu": (lambda x, b: ta.functional.bias_activation(x, b, "silu"), lambda x, b: F.silu(x + b), "x+bias"),
    "bias_swiglu": (lambda x, b: ta.functional.bias_activation(x, b, "swiglu"),
                    lambda x, b: F.silu(_halves(x + b)[0]) * _halves(x + b)[1], "x+bias"),
}


def make_inputs(kind, n, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    rows = max(1, n // WIDTH)
    if kind == "gate,up":
        leaves = [torch.randn(rows, WIDTH // 2, generator=gen).to(dtype) for _ in range(2)]
    else:
        leaves = [torch.randn(rows, WIDTH, generator=gen).to(dtype)]
        if kind == "x+bias":
            leaves.append(torch.randn(WIDTH, generator=gen).to(dtype))
    for leaf in leaves:
        leaf.requires_grad_(True)
    return leaves


def saved_bytes(fn, leaves, parameters):
    kept = {p.untyped_storage().data_ptr() for p in parameters}
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*leaves)
    return sum(n for ptr, n in storages.items() if ptr not in kept)


def competitor(fn, leaves, grad):
    def step():
        fn(*leaves).backward(grad)

    def clear():
        for leaf in leaves:
            leaf.grad = None

    return _timing.Competitor(step, clear)


def measure(name, dtype_name, n, compiled, seconds):
    ours, composite, kind = CASES[name]
    dtype = DTYPES[dtype_name]
    leaves = make_inputs(kind, n, dtype, seed=n)
    with torch.no_grad():
        out = composite(*leaves)
    grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(1)).to(dtype)
    with torch.no_grad():  # a fast wrong answer is no result
        agreement = ((ours(*leaves).float() - out.float()).abs() / out.float().abs().clamp(min=1)).max().item()
    competitors = {"ours": competitor(ours, leaves, grad), "eager": competitor(composite, leaves, grad),
                   "compiled": competitor(compiled, leaves, grad)}
    samples = _timing.measure_interleaved(competitors, _timing.CpuTimer(), seconds)
    parameters = leaves[1:] if kind == "x+bias" else []
    return {
        "op": name, "dtype": dtype_name, "n": n, "ours_s": statistics.median(samples["ours"]),
        "vs_eager": _timing.describe_ratio(samples["eager"], samples["ours"]),
        "vs_compiled": _timing.describe_ratio(samples["compiled"], samples["ours"]),
        "saved_ours": saved_bytes(ours, leaves, parameters), "saved_composite": saved_bytes(composite, leaves, parameters),
        "max_rel_diff": agreement,
    }


def verdict(result):
    return (result["vs_eager"]["median"] >= TARGET_EAGER and result["vs_compiled"]["median"] >= TARGET_COMPILED
            and result["saved_ours"] <= result["saved_composite"])


def run_here(quick):
    torch.set_num_threads(THREADS)
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 256)
    sizes = [2**20, 2**22, 2**24]
    seconds = 0.1 if quick else 0.3
    results = []
    for name, (_, composite, _) in CASES.items():
        for dtype_name in DTYPES:
            compiled = torch.compile(composite, dynamic=True)
            for n in sizes:
                result = measure(name, dtype_name, n, compiled, seconds)
                results.append(result)
                print(f"  {name:12} {dtype_name:9} 2^{n.bit_length() - 1:<3} x{result['vs_eager']['median']:.2f} eager "
                      f"x{result['vs_compiled']['median']:.2f} compiled  {'PASS' if verdict(result) else 'FAIL'}",
                      flush=True)
    return results


def run(quick):
    """In a child process under the tuned allocation."""
    env = dict(os.environ, **TUNED_MALLOC_ENV)
    args = [sys.executable, os.path.abspath(__file__), "--_child"] + (["--quick"] if quick else [])
    child = subprocess.run(args, env=env, stdout=subprocess.PIPE, text=True, check=True)
    lines = child.stdout.splitlines()
    for line in lines[:-1]:
        print(line)
    return json.loads(lines[-1])


def _ratio(r):
    return f"{r['median']:.2f}x [{r['p25']:.2f}, {r['p75']:.2f}]"


def markdown(results, command):
    held = sum(verdict(r) for r in results)
    lines = [
        "## Fused ops against their composites (CPU, forward+backward)", "",
        f"`{command}`: {held} of {len(results)} cases meet every target (>= {TARGET_EAGER}x the eager composite, "
        f">= {TARGET_COMPILED}x the compiled one, saved bytes no more than the composite's). Ratios: composite "
        "time / ours, median [quartiles] over interleaved rounds; tuned allocation, "
        f"{THREADS} threads; input width {WIDTH}.", "",
        "| op | dtype | elements | ours ms | vs eager | vs compiled | saved MiB ours / composite | max rel diff | |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['op']} | {r['dtype']} | 2^{r['n'].bit_length() - 1} | {r['ours_s'] * 1e3:.2f} | {_ratio(r['vs_eager'])} "
            f"| {_ratio(r['vs_compiled'])} | {r['saved_ours'] / 2**20:.1f} / {r['saved_composite'] / 2**20:.1f} "
            f"| {r['max_rel_diff']:.1e} | {'PASS' if verdict(r) else 'FAIL'} |")
    return "\n".join(lines) + "\n"


def write(out, results, command):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "fused.json"), "w") as f:
        json.dump({"command": command, "threads": THREADS, "results": results}, f, indent=1)
    with open(os.path.join(out, "fused.md"), "w") as f:
        f.write(markdown(results, command))
    print(f"wrote {os.path.join(out, 'fused.json')}, {os.path.join(out, 'fused.md')}")
    return 0 if all(verdict(r) for r in results) else 1


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--_child":
        results = run_here("--quick" in argv)
        print(json.dumps(results))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--out", default="bench_out")
    args = parser.parse_args(argv)
    command = "python benchmarks/fused.py" + (" --quick" if args.quick else "") + f" --out {args.out}"
    return write(args.out, run(args.quick), command)


if __name__ == "__main__":
    sys.exit(main())

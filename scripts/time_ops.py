"""Median time of forward, and of forward+backward, of a few ops at one size
against the time of a plain copy of the input (the memory floor), interleaved
so that drift in clock speed or load hits all of them alike.

    python scripts/time_ops.py                       # the ops whose formulas are most costly
    python scripts/time_ops.py --ops gelu,silu --size 23 --rounds 60
    TORCH_ACTIVATIONS_CPU_ISA=avx2 python scripts/time_ops.py

Figures: median milliseconds, and the floor ratio of benchmarks/run.py: the
time over the op's bytes at the copy's speed (forward moves 2 and
forward+backward 5 tensors of the input's size; the copy moves 2). Run with
MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 so that
fresh outputs do not page-fault on every call (the benchmark's "tuned" mode).
"""

import argparse
import statistics
import time

import torch

import torch_activations as ta

OPS = {
    "gelu": lambda x: ta.functional.gelu(x),
    "gelu_tanh": lambda x: ta.functional.gelu(x, approximate="tanh"),
    "silu": ta.functional.silu,
    "swish": lambda x: ta.functional.swish(x, 1.5),
    "sigmoid": ta.functional.sigmoid,
    "tanh": ta.functional.tanh,
    "elu": ta.functional.elu,
    "mish": ta.functional.mish,
    "softplus": ta.functional.softplus,
    "relu": ta.functional.relu,
    "hardswish": ta.functional.hardswish,
    "log_softmax": lambda x: ta.functional.log_softmax(x.view(-1, 1024), -1).view(-1),
    "softmax": lambda x: ta.functional.softmax(x.view(-1, 1024), -1).view(-1),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", default="gelu,gelu_tanh,silu,sigmoid,tanh,elu,mish,softplus")
    parser.add_argument("--size", type=int, default=23, help="log2 of the element count")
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    names = args.ops.split(",")
    x = torch.randn(2**args.size)
    xg = x.clone().requires_grad_()
    grad = torch.randn_like(x)
    out = torch.empty_like(x)

    def fwd(fn):
        return lambda: fn(x)

    def fwdbwd(fn):
        return lambda: torch.autograd.grad(fn(xg), xg, grad)

    calls = {"copy": lambda: out.copy_(x)}
    for name in names:
        calls[f"{name} fwd"] = fwd(OPS[name])
        calls[f"{name} fwd+bwd"] = fwdbwd(OPS[name])
    samples = {k: [] for k in calls}
    keys = list(calls)
    for _ in range(3):
        for k in keys:
            calls[k]()
    for r in range(args.rounds):
        order = keys[r % len(keys):] + keys[:r % len(keys)]
        for k in order:
            start = time.perf_counter()
            calls[k]()
            samples[k].append(time.perf_counter() - start)
    med = {k: statistics.median(v) * 1e3 for k, v in samples.items()}
    print(f"CPU build {ta.CPU_ISA}, 2^{args.size} float32 elements, {torch.get_num_threads()} threads, "
          f"median of {args.rounds} rounds; copy {med['copy']:.3f} ms")
    for k in keys[1:]:
        tensors = 5 if k.endswith("fwd+bwd") else 2
        print(f"  {k:22} {med[k]:8.3f} ms  floor ratio {med[k] / (med['copy'] * tensors / 2):5.2f}")


if __name__ == "__main__":
    main()

"""What a torch.compile'd model gets from this library: one block with an
activation, forward+backward, compiled, torch's against ours.

    python benchmarks/compiled.py [--log2-size 22] [--seconds 3]

The block is gelu(x * s + b) * 0.5 + x (float32, CPU): Inductor fuses
torch's gelu into the surrounding pointwise code; ours stays one opaque op
(its own fused kernel) between Inductor's kernels, and bias_activation folds
the + b in. Figures: median milliseconds per step over interleaved rounds,
with the quartiles of the ratio torch / ours (above 1: ours is faster).
"""

import argparse
import os
import sys

import torch
import torch.nn.functional as F

try:
    import torch_activations as ta
except ImportError:  # a checkout built in place but not installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import torch_activations as ta

import _timing

BLOCKS = {
    "torch": lambda x, s, b: F.gelu(x * s + b) * 0.5 + x,
    "ours": lambda x, s, b: ta.functional.gelu(x * s + b) * 0.5 + x,
    "ours, bias_activation": lambda x, s, b: ta.functional.bias_activation(x * s, b, "gelu") * 0.5 + x,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log2-size", type=int, default=22)
    parser.add_argument("--seconds", type=float, default=3.0, help="time spent per variant")
    args = parser.parse_args()
    torch.manual_seed(0)
    width = 1024
    x = torch.randn(2**args.log2_size // width, width, requires_grad=True)
    s, b = torch.randn(width, requires_grad=True), torch.randn(width, requires_grad=True)
    grad = torch.randn_like(x)
    competitors = {}
    for name, block in BLOCKS.items():
        compiled = torch.compile(block, fullgraph=True)

        def step(compiled=compiled):
            torch.autograd.backward(compiled(x, s, b), grad, inputs=[x, s, b])
            x.grad = s.grad = b.grad = None

        step()  # compile outside the timing
        competitors[name] = _timing.Competitor(step)
    samples = _timing.measure_interleaved(competitors, _timing.CpuTimer(), args.seconds)
    print(f"forward+backward of gelu(x * s + b) * 0.5 + x, 2^{args.log2_size} float32, torch.compile(fullgraph=True), "
          f"CPU, {torch.get_num_threads()} threads")
    for name in BLOCKS:
        median = _timing.describe(samples[name])["median_s"] * 1e3
        line = f"  {name:24s} {median:8.2f} ms"
        if name != "torch":
            r = _timing.describe_ratio(samples["torch"], samples[name])
            line += f"   torch / ours {r['median']:.2f}x (quartiles {r['p25']:.2f}-{r['p75']:.2f})"
        print(line)


if __name__ == "__main__":
    main()

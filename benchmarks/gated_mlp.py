"""A training step of a Hugging Face Llama (from its config, random
weights): torch.nn, convert(), convert(fuse=True) and convert(fuse=True,
recompute=False). Peak memory, bytes saved for backward (the whole step's,
and one MLP's beyond its input and weights), time per step.

    python benchmarks/gated_mlp.py --out bench_out [--quick]

Model: hidden 512, intermediate 1408, 4 layers, 8 heads, sequence 256,
batch 8 (--quick: 2 layers, batch 4); one step is forward, the mean square
of the logits, backward and AdamW. CPU, 2 threads, float32 and bfloat16.
Peak memory: each (dtype, variant) in its own process with glibc's mmap
threshold at 64 KiB (every tensor's pages come and go with it), the rise of
the resident set's peak (VmHWM, reset after two warm-up steps) over a step.
Time: the variants interleaved step by step in one process under the tuned
allocation; median with the quartiles. Writes gated_mlp.json, gated_mlp.md
and gated_mlp.png (with matplotlib) to --out.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch

try:
    import torch_activations as ta
except ImportError:  # a checkout built in place but not installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import torch_activations as ta

from training import MEMORY_ENV, THREADS, TIME_ENV, _status_kib, saved_bytes  # the training section's measures

VARIANTS = ("torch.nn", "converted", "fused", "fused, no recompute")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def shape(quick):
    return dict(layers=2, batch=4) if quick else dict(layers=4, batch=8)


def build(variant, dtype, quick):
    import transformers

    size = shape(quick)
    config = transformers.LlamaConfig(vocab_size=1000, hidden_size=512, intermediate_size=1408,
                                      num_hidden_layers=size["layers"], num_attention_heads=8, num_key_value_heads=8,
                                      max_position_embeddings=256)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).to(DTYPES[dtype]).train()
    if variant != "torch.nn":
        model = ta.convert(model, fuse=variant != "converted", recompute=variant == "fused")
    ids = torch.randint(0, 1000, (size["batch"], 256), generator=torch.Generator().manual_seed(1))
    return model, ids


def make_step(model, ids):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = model(input_ids=ids).logits.float().square().mean()
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def mlp_saved_bytes(model, ids):
    """Bytes one MLP keeps for backward beyond its input and its weights."""
    mlp = model.model.layers[0].mlp
    x = torch.randn(ids.shape[0], ids.shape[1], model.config.hidden_size, dtype=model.dtype, requires_grad=True)
    return saved_bytes(mlp, x)


def measure_memory(variant, dtype, quick):
    torch.set_num_threads(THREADS)
    model, ids = build(variant, dtype, quick)
    step = make_step(model, ids)
    for _ in range(2):
        step()
    saved = saved_bytes(model, ids)
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM from the current resident set
    step()
    peak = _status_kib("VmHWM")
    return {"peak_step_bytes": (peak - before) * 1024, "saved_bytes": saved, "mlp_saved_bytes": mlp_saved_bytes(model, ids)}


def measure_time(dtype, quick, steps):
    torch.set_num_threads(THREADS)
    runs = {v: make_step(*build(v, dtype, quick)) for v in VARIANTS}
    first = {v: run() for v, run in runs.items()}
    samples = {v: [] for v in VARIANTS}
    for i in range(steps):
        for v in (VARIANTS if i % 2 == 0 else VARIANTS[::-1]):
            started = time.perf_counter()
            runs[v]()
            samples[v].append(time.perf_counter() - started)
    out = {}
    for v, times in samples.items():
        q1, median, q3 = statistics.quantiles(times, n=4, method="inclusive")
        ratios = [a / b for a, b in zip(times, samples["torch.nn"])]
        r1, r, r3 = statistics.quantiles(ratios, n=4, method="inclusive")
        out[v] = {"median_s": median, "p25_s": q1, "p75_s": q3, "time_ratio": r, "time_ratio_p25": r1,
                  "time_ratio_p75": r3, "first_loss": first[v]}
    return out


def _child(*args):
    kind = args[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(MEMORY_ENV if kind == "memory" else TIME_ENV)
    command = [sys.executable, os.path.abspath(__file__), "--_child", *map(str, args)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"gated MLP benchmark child failed ({' '.join(map(str, args))}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(quick):
    steps = 6 if quick else 15
    results = []
    for dtype in DTYPES:
        times = _child("time", dtype, int(quick), steps)
        for v in VARIANTS:
            memory = _child("memory", v, dtype, int(quick))
            results.append({"dtype": dtype, "variant": v, **memory, **times[v]})
            r = results[-1]
            print(f"  {dtype:9s} {v:20s} peak {r['peak_step_bytes'] / 2**20:7.1f} MiB  saved {r['saved_bytes'] / 2**20:7.1f} MiB"
                  f"  MLP saved {r['mlp_saved_bytes'] / 2**20:6.1f} MiB  {r['median_s'] * 1e3:7.0f} ms  "
                  f"{r['time_ratio']:.3f}x torch.nn's time", flush=True)
    return results


def markdown(results, command, plotted):
    size = results[0].get("shape", "")
    lines = [f"## Training step of a Hugging Face Llama: torch.nn, convert(), convert(fuse=True){size}", "",
             f"`{command}`; CPU, {THREADS} threads. Peak: the resident set's rise over a step; saved: bytes autograd "
             "keeps for backward (the step's, beyond the parameters; one MLP's, beyond its input and weights); time: "
             "median per step, and its ratio to torch.nn's (round by round, quartiles in brackets; below 1: faster).",
             "", "| dtype | variant | peak MiB | saved MiB | MLP saved MiB (ratio) | ms per step | time / torch.nn's |",
             "|---|---|---|---|---|---|---|"]
    base = {r["dtype"]: r for r in results if r["variant"] == "torch.nn"}
    for r in results:
        mlp_ratio = r["mlp_saved_bytes"] / base[r["dtype"]]["mlp_saved_bytes"]
        lines.append(f"| {r['dtype']} | {r['variant']} | {r['peak_step_bytes'] / 2**20:.1f} | {r['saved_bytes'] / 2**20:.1f} "
                     f"| {r['mlp_saved_bytes'] / 2**20:.1f} ({mlp_ratio:.2f}x) | {r['median_s'] * 1e3:.0f} "
                     f"| {r['time_ratio']:.3f} ({r['time_ratio_p25']:.3f}-{r['time_ratio_p75']:.3f}) |")
    if plotted:
        lines += ["", "Plot: [gated MLP training step](gated_mlp.png)."]
    return "\n".join(lines) + "\n"


def plot(results, path):
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    width = 0.2
    for ax, key, scale, label in ((axes[0], "peak_step_bytes", 2**-20, "peak memory of a step (MiB)"),
                                  (axes[1], "mlp_saved_bytes", 2**-20, "one MLP's saved bytes (MiB)"),
                                  (axes[2], "median_s", 1.0, "time per step (s)")):
        for i, v in enumerate(VARIANTS):
            rows = [r for r in results if r["variant"] == v]
            ax.bar([j + (i - 1.5) * width for j in range(len(rows))], [r[key] * scale for r in rows], width, label=v)
        ax.set_xticks(range(len(DTYPES)))
        ax.set_xticklabels(list(DTYPES))
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(loc="lower left", fontsize=8)
    fig.suptitle(f"Llama training step on CPU, {THREADS} threads")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--_child":
        kind = argv[1]
        if kind == "memory":
            result = measure_memory(argv[2], argv[3], bool(int(argv[4])))
        else:
            result = measure_time(argv[2], bool(int(argv[3])), int(argv[4]))
        print(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 layers, batch 4, fewer steps")
    parser.add_argument("--out", default="bench_out")
    args = parser.parse_args(argv)
    command = "python benchmarks/gated_mlp.py" + (" --quick" if args.quick else "") + f" --out {args.out}"
    results = run(args.quick)
    size = shape(args.quick)
    for r in results:
        r["shape"] = f" ({size['layers']} layers, batch {size['batch']} x 256 tokens)"
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "gated_mlp.json"), "w") as f:
        json.dump({"command": command, "threads": THREADS, "results": results}, f, indent=1)
    plotted = plot(results, os.path.join(args.out, "gated_mlp.png"))
    with open(os.path.join(args.out, "gated_mlp.md"), "w") as f:
        f.write(markdown(results, command, plotted))
    print(f"wrote {args.out}/gated_mlp.json, gated_mlp.md" + (", gated_mlp.png" if plotted else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A training step, torch.nn against the same model converted to this
project's layers (torch_activations.convert) and, where the model's
activation takes it, converted with saved="uint8" (the derivative kept in one
byte per element): peak memory and time.

    python benchmarks/training.py --out bench_out [--quick]

Models (CPU, float32):
  mlp-<act>    four blocks of Linear(512, 2048) -> act -> Linear(2048, 512),
               2048 rows, for activations whose saved tensor differs (ELU,
               Leaky ReLU, Softplus: the output here, the input in torch) and
               for some that do not (GELU, SiLU, ReLU)
  transformer  a pre-norm encoder block (torch.nn.TransformerEncoderLayer,
               GELU, d_model 256, 4 heads, feed-forward 1024), batch 8 x 256
               tokens
One step is forward, a sum loss, backward and SGD.

Peak memory: each (model, variant) runs in its own process with glibc's
mmap threshold pinned at 64 KiB, so every tensor's pages come and go with it
and the resident set follows the live tensors; the figure is the peak
resident set during the steps (Linux VmHWM, reset after warm-up) less the
resident set before them. Saved bytes: the distinct storages autograd keeps
for backward during forward (torch.autograd.graph.saved_tensors_hooks).
Time: median seconds per step in a second process under the tuned allocation
(freed blocks stay in the heap), with the interquartile spread; the two
variants of a model interleave step by step so drift hits both alike.

Writes training.json, training.md and training.png (with matplotlib) to --out.
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
except ImportError:  # run from a checkout built in place but not installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import torch_activations as ta

MLP_ACTIVATIONS = {
    "elu": lambda: torch.nn.ELU(), "leaky_relu": lambda: torch.nn.LeakyReLU(0.1),
    "softplus": lambda: torch.nn.Softplus(), "gelu": lambda: torch.nn.GELU(),
    "silu": lambda: torch.nn.SiLU(), "relu": lambda: torch.nn.ReLU(),
}
MLP_BLOCKS, MLP_ROWS = 4, 2048
MODELS = [f"mlp-{name}" for name in MLP_ACTIVATIONS] + ["transformer"]
VARIANTS = ("torch.nn", "converted", "uint8")
UINT8_MODELS = {"mlp-gelu", "mlp-silu", "transformer"}  # activations that take saved="uint8"


def variants(model_name):
    return VARIANTS if model_name in UINT8_MODELS else VARIANTS[:2]
MEMORY_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
TIME_ENV = {"MALLOC_MMAP_THRESHOLD_": str(4 << 30), "MALLOC_TRIM_THRESHOLD_": str(4 << 30)}
THREADS = 2


def build(model_name, variant):
    """The model and one batch of inputs, the same for both variants."""
    torch.manual_seed(0)
    if model_name == "transformer":
        model = torch.nn.TransformerEncoderLayer(256, 4, 1024, dropout=0.0, activation=torch.nn.GELU(),
                                                 batch_first=True, norm_first=True)
        x = torch.randn(8, 256, 256)
    else:
        act = MLP_ACTIVATIONS[model_name.split("-", 1)[1]]
        blocks = [[torch.nn.Linear(512, 2048), act(), torch.nn.Linear(2048, 512)] for _ in range(MLP_BLOCKS)]
        model = torch.nn.Sequential(*[layer for block in blocks for layer in block])
        x = torch.randn(MLP_ROWS, 512)
    if variant != "torch.nn":
        model = ta.convert(model, saved="uint8" if variant == "uint8" else "auto")
    return model, x


def make_step(model, x):
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = model(x).float().square().mean()
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def saved_bytes(model, x):
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    params = {p.untyped_storage().data_ptr() for p in model.parameters()} | {x.untyped_storage().data_ptr()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    # parameters and the batch live anyway: count what forward made for backward
    return sum(n for ptr, n in storages.items() if ptr not in params)


def _status_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure_memory(model_name, variant, steps):
    torch.set_num_threads(THREADS)
    model, x = build(model_name, variant)
    step = make_step(model, x)
    for _ in range(2):  # gradients and optimizer state exist from here on
        step()
    optimizer_free = saved_bytes(model, x)
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident set
    for _ in range(steps):
        step()
    peak = _status_kib("VmHWM")
    return {"peak_step_bytes": (peak - before) * 1024, "saved_bytes": optimizer_free}


def measure_time(model_name, steps):
    torch.set_num_threads(THREADS)
    names = variants(model_name)
    runs = {variant: make_step(*build(model_name, variant)) for variant in names}
    losses = {variant: run() for variant, run in runs.items()}
    samples = {variant: [] for variant in names}
    for i in range(steps):
        order = names if i % 2 == 0 else names[::-1]
        for variant in order:
            started = time.perf_counter()
            runs[variant]()
            samples[variant].append(time.perf_counter() - started)
    out = {}
    for variant, times in samples.items():
        q1, median, q3 = statistics.quantiles(times, n=4)
        out[variant] = {"median_s": median, "spread": (q3 - q1) / 2 / median, "first_loss": losses[variant]}
    return out


def _child(kind, model_name, variant, steps):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(MEMORY_ENV if kind == "memory" else TIME_ENV)
    command = [sys.executable, os.path.abspath(__file__), "--_child", kind, model_name, variant, str(steps)]
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"training benchmark child failed ({kind} {model_name} {variant}):\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run(quick):
    memory_steps, time_steps = (3, 10) if quick else (5, 30)
    results = []
    for model_name in MODELS:
        times = _child("time", model_name, "-", time_steps)
        for variant in variants(model_name):
            memory = _child("memory", model_name, variant, memory_steps)
            results.append({"model": model_name, "variant": variant, **memory, **times[variant]})
            print(f"  {model_name:18s} {variant:10s} peak {memory['peak_step_bytes'] / 2**20:7.1f} MiB  "
                  f"saved {memory['saved_bytes'] / 2**20:7.1f} MiB  {times[variant]['median_s'] * 1e3:7.1f} ms",
                  flush=True)
    return results


def markdown(results, command, plotted=False):
    by = {(r["model"], r["variant"]): r for r in results}
    lines = [
        "## Training step: torch.nn, converted, converted with saved=\"uint8\"",
        "",
        f"`{command}`; CPU, float32, {THREADS} threads. Peak: the resident set's rise during a step "
        "(every tensor mmapped, so it follows the live tensors); saved: bytes autograd keeps for backward; "
        "time: median per step, spread in brackets. Each cell is torch.nn / converted / converted with "
        "saved=\"uint8\" (\"-\" where the model's activation has no uint8 mode); the time ratio is "
        "torch.nn over each.",
        "",
        "| model | peak MiB | saved MiB | ms per step | time ratio |",
        "|---|---|---|---|---|",
    ]

    def cells(model_name, fmt):
        return " / ".join(fmt(by[model_name, v]) if (model_name, v) in by else "-" for v in VARIANTS)

    for model_name in MODELS:
        base = by[model_name, "torch.nn"]["median_s"]
        lines.append(
            f"| {model_name} "
            f"| {cells(model_name, lambda r: format(r['peak_step_bytes'] / 2**20, '.1f'))} "
            f"| {cells(model_name, lambda r: format(r['saved_bytes'] / 2**20, '.1f'))} "
            f"| {cells(model_name, lambda r: format(r['median_s'] * 1e3, '.1f') + ' (±' + format(r['spread'], '.0%') + ')')} "
            f"| {cells(model_name, lambda r: format(base / r['median_s'], '.2f') + 'x')} |")
    if plotted:
        lines += ["", "Plot: [training step](training.png)."]
    return "\n".join(lines) + "\n"


def plot(results, path):
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = {(r["model"], r["variant"]): r for r in results}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.27
    for ax, key, scale, label in ((axes[0], "peak_step_bytes", 2**-20, "peak memory of a step (MiB)"),
                                  (axes[1], "median_s", 1e3, "time per step (ms)")):
        for i, variant in enumerate(VARIANTS):
            shown = [j for j, m in enumerate(MODELS) if (m, variant) in by]
            values = [by[MODELS[j], variant][key] * scale for j in shown]
            label_of = 'converted, saved="uint8"' if variant == "uint8" else variant
            ax.bar([j + (i - 1) * width for j in shown], values, width, label=label_of)
        ax.set_xticks(range(len(MODELS)))
        ax.set_xticklabels(MODELS, rotation=30, ha="right")
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(loc="lower left")
    fig.suptitle(f"Training step on CPU, float32, {THREADS} threads: torch.nn, converted, converted with saved=\"uint8\"")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write(out, results, command):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump({"command": command, "threads": THREADS, "results": results}, f, indent=1)
    plotted = plot(results, os.path.join(out, "training.png"))
    with open(os.path.join(out, "training.md"), "w") as f:
        f.write(markdown(results, command, plotted))
    written = ["training.json", "training.md"] + (["training.png"] if plotted else [])
    print(f"wrote {', '.join(os.path.join(out, w) for w in written)}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--_child":
        kind, model_name, variant, steps = argv[1:5]
        result = measure_memory(model_name, variant, int(steps)) if kind == "memory" else measure_time(model_name, int(steps))
        print(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps")
    parser.add_argument("--out", default="bench_out")
    args = parser.parse_args(argv)
    command = "python benchmarks/training.py" + (" --quick" if args.quick else "") + f" --out {args.out}"
    write(args.out, run(args.quick), command)
    return 0


if __name__ == "__main__":
    sys.exit(main())

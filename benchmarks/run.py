"""Benchmark every registry op against torch: eager, torch.compile and ours.

    python benchmarks/run.py --quick      # the README's figures, a few minutes
    python benchmarks/run.py              # everything (see below)
    python benchmarks/run.py --ops relu,gelu --dtypes float32 --sizes 20,22 --modes fwdbwd

For each op, dtype, size and mode (fwd: forward under no_grad; fwdbwd:
forward then backward(grad)) the three competitors run side by side,
interleaved round by round, and the medians are compared. Each (dtype, size)
also times a plain copy, the memory floor that an elementwise op cannot beat:
"% copy" is our bandwidth against it and "floor" our time over the time the
op's bytes take at copy speed (1.0 = at the floor). Bytes saved for backward
come from saved_tensors_hooks, ours against torch eager.

Full mode: float32 and bfloat16, sizes 2^16, 2^18, 2^20, 2^22, 2^23 and 2^24
on CPU (every power 2^16..2^26 on CUDA), plus a softmax row-length sweep (rows
of 128..32768 at 2^22 elements on CPU, 2^24 on CUDA), ~0.3 s per competitor.
--quick: float32, sizes 2^16 and 2^23 on CPU (2^20 and 2^26 on CUDA), ~0.1 s.

On CPU glibc malloc hands big blocks back to the OS on free, so every fresh
large output page-faults (about 12 ms per 32 MB on the 2-core dev machine),
which can swamp the kernels. --cpu-malloc both (the CPU default) therefore
runs everything twice, in child processes: "default" (the environment as
users have it, MALLOC_* unset) and "tuned" (MALLOC_MMAP_THRESHOLD_ and
MALLOC_TRIM_THRESHOLD_ at 4 GiB, which keeps freed blocks in the heap; glibc
2.36 accepts these values and the page faults vanish up to 2^24-element
tensors, checked by the fresh_fill_ms probe recorded in the metadata).

Run time on the 2-core dev machine (CPU, both allocation modes, with
torch.compile, other work running alongside): --quick measured at 4.4 minutes
with an empty inductor cache (about 100 s of it compiling) and 1.5
minutes with a warm one; full mode (536 cases per allocation mode) is
estimated from the quick run's per-case cost at about 30 minutes, not yet
timed end to end. --no-compile or --cpu-malloc tuned roughly halve either.

Output in --out (default bench_out/): results.json, results.md, ratio.png and
bandwidth.png (the plots need matplotlib).
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import zlib

import torch

try:
    import torch_activations as ta
except ImportError:  # run from a checkout that is built in place but not installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import torch_activations as ta

import _cases
import _report
import _timing

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
MODES = ("fwd", "fwdbwd")
# log2 element counts
DEFAULT_SIZES = {
    ("cpu", "quick"): (16, 23),  # 2^23: where the CPU targets are stated
    ("cuda", "quick"): (20, 26),
    ("cpu", "full"): (16, 18, 20, 22, 23, 24),  # 2^23: where the CPU targets are stated
    ("cuda", "full"): tuple(range(16, 27)),
}
SWEEP_LOG2_TOTAL = {"cpu": 22, "cuda": 24}
SECONDS_PER_COMPETITOR = {"quick": 0.1, "full": 0.3}
# Bytes an op must move, in units of numel * itemsize: read x, write y;
# backward adds read grad, read one saved tensor, write grad_x.
BYTES_PER_ELEMENT = {"fwd": 2, "fwdbwd": 5}

GLIBC_MALLOC_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")
TUNED_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(4 << 30), "MALLOC_TRIM_THRESHOLD_": str(4 << 30)}
ALLOCATION_MODES = ("default", "tuned")


def _csv(kind):
    return lambda text: [kind(item.strip()) for item in text.split(",") if item.strip()]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="float32, two sizes, short timing")
    parser.add_argument("--ops", type=_csv(str), help="comma-separated op names (e.g. relu,gelu_tanh)")
    parser.add_argument("--dtypes", type=_csv(str), help="float32,bfloat16")
    parser.add_argument("--sizes", type=_csv(int), help="log2 element counts, e.g. 16,20,24")
    parser.add_argument("--modes", type=_csv(str), help="fwd,fwdbwd")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile competitor")
    parser.add_argument("--no-sweep", action="store_true", help="skip the softmax row-length sweep (full mode)")
    parser.add_argument("--cpu-malloc", choices=("both",) + ALLOCATION_MODES, default="both",
                        help="CPU allocator setting(s) to run under (default both)")
    parser.add_argument("--out", default="bench_out", help="output folder (default bench_out/)")
    # internal: a child process measuring under one allocator setting
    parser.add_argument("--_child-config", help=argparse.SUPPRESS)
    parser.add_argument("--_child-output", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _check_choices(what, values, allowed):
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(map(str, unknown))} (choose from {', '.join(map(str, sorted(allowed)))})")


def resolve_config(args, argv):
    """Everything a measuring process needs, as plain JSON-able values."""
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device available")
    mode = "quick" if args.quick else "full"
    config = {
        "device": device,
        "run_mode": mode,
        "ops": args.ops,
        "dtypes": args.dtypes or (["float32"] if args.quick else list(DTYPES)),
        "log2_sizes": args.sizes or list(DEFAULT_SIZES[device, mode]),
        "modes": args.modes or list(MODES),
        "compile": not args.no_compile,
        "sweep": mode == "full" and not args.no_sweep,
        "sweep_log2_total": SWEEP_LOG2_TOTAL[device],
        "seconds_per_competitor": SECONDS_PER_COMPETITOR[mode],
        "allocations": list(ALLOCATION_MODES) if args.cpu_malloc == "both" else [args.cpu_malloc],
        "command": shlex.join(["python", *argv]),
    }
    if args.ops:
        _check_choices("op", args.ops, _cases.known_names())
    _check_choices("dtype", config["dtypes"], DTYPES)
    _check_choices("mode", config["modes"], MODES)
    _check_choices("size (log2)", config["log2_sizes"], range(0, 31))
    return config


# ---------------------------------------------------------------- measuring


STATUS_WIDTH = 90


class Progress:
    """One self-overwriting status line on stderr."""

    def __init__(self, total, prefix):
        self.total, self.prefix, self.done = total, prefix, 0
        self.start = time.perf_counter()

    def show(self, what):
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        line = f"{self.prefix}{self.done + 1}/{self.total} {what}  {_clock(elapsed)} elapsed, ETA {_clock(eta)}"
        sys.stderr.write("\r" + line[:STATUS_WIDTH].ljust(STATUS_WIDTH))  # short enough not to wrap
        sys.stderr.flush()

    def advance(self):
        self.done += 1

    def close(self):
        done = f"{self.prefix}{self.total} cases in {_clock(time.perf_counter() - self.start)}"
        sys.stderr.write("\r" + done.ljust(STATUS_WIDTH) + "\n")


def _clock(seconds):
    return "--:--" if seconds != seconds else f"{int(seconds) // 60:02d}:{int(seconds) % 60:02d}"


def _seed(*key):
    return zlib.crc32("/".join(map(str, key)).encode())


def plan_cases(config):
    """(row, dtype, log2 size, mode) in run order: the main rows size by size,
    then the softmax sweep at its fixed total."""
    rows = _cases.op_rows(config["ops"])
    cases = [(row, dtype, k, mode) for dtype in config["dtypes"] for k in config["log2_sizes"]
             for row in rows for mode in config["modes"]]
    if config["sweep"]:
        cases += [(row, dtype, config["sweep_log2_total"], mode) for dtype in config["dtypes"]
                  for row in _cases.sweep_rows(config["ops"]) for mode in config["modes"]]
    return cases


def measure_copy(dtype, n, device, timer, seconds):
    """Seconds per dst.copy_(src): the bandwidth every op is held against."""
    src = torch.randn(n, device=device).to(dtype)
    dst = torch.empty_like(src)
    samples = _timing.measure_interleaved({"copy": _timing.Competitor(lambda: dst.copy_(src))}, timer, seconds)
    stats = _timing.describe(samples["copy"])
    return {"dtype": str(dtype).replace("torch.", ""), "log2_size": n.bit_length() - 1, "n": n,
            "bytes": 2 * n * src.element_size(), "gbps": 2 * n * src.element_size() / stats["median_s"] / 1e9,
            **stats}


def saved_bytes(row, inputs):
    """Bytes kept for backward by ours and by torch eager, and the unit n * itemsize."""
    counts = {
        name: _timing.saved_tensor_bytes(fn, inputs.x, *inputs.weights, **row.params)
        for name, fn in (("ours", _cases.our_function(row)), ("torch", _cases.torch_function(row)))
    }
    return {**counts, "unit": inputs.numel * inputs.x.element_size()}


def _first_call_seconds(competitor):
    start = time.perf_counter()
    competitor.call()
    competitor.reset()
    return time.perf_counter() - start


def make_inputs(row, dtype_name, k, device, backward):
    return _cases.make_inputs(row, DTYPES[dtype_name], 2**k, device, backward, seed=_seed(row.label, dtype_name, k))


def measure_case(row, dtype_name, k, mode, config, compiled, timer, copy, saved):
    """Times, bandwidth and agreement of one (op, dtype, size, mode); `saved`
    caches the saved-bytes counts, which do not depend on the mode."""
    inputs = make_inputs(row, dtype_name, k, config["device"], backward=mode == "fwdbwd")
    if (row.label, dtype_name, k) not in saved:
        backward_inputs = inputs if mode == "fwdbwd" else make_inputs(row, dtype_name, k, config["device"], True)
        saved[row.label, dtype_name, k] = saved_bytes(row, backward_inputs)
    ours, eager = _cases.our_function(row), _cases.torch_function(row)
    competitors = {"ours": _cases.competitor(ours, row, inputs), "torch": _cases.competitor(eager, row, inputs)}
    record = {"compile_first_call_s": None, "compile_error": None}
    if config["compile"]:
        candidate = _cases.competitor(compiled.get(row, mode), row, inputs)
        try:
            record["compile_first_call_s"] = _first_call_seconds(candidate)  # compiles on first use
            competitors["compile"] = candidate
        except Exception as error:  # no compiler, unsupported op: report it, keep going
            record["compile_error"] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    samples = _timing.measure_interleaved(competitors, timer, config["seconds_per_competitor"])
    times = {name: _timing.describe(s) for name, s in samples.items()}
    nbytes = BYTES_PER_ELEMENT[mode] * inputs.numel * inputs.x.element_size()
    return {
        "op": row.label, "base_op": row.spec.name, "kind": row.spec.kind, "composite": row.is_composite,
        "sweep": row.sweep, "row_length": row.row_length, "params": {p: str(v) for p, v in row.kwargs},
        "dtype": dtype_name, "log2_size": k, "n": 2**k, "numel": inputs.numel, "shape": list(inputs.x.shape),
        "mode": mode, "bytes": nbytes,
        **{name: times.get(name) for name in ("ours", "torch", "compile")},
        **record,
        "max_rel_diff": _cases.agreement(row, inputs, ours, eager),
        **_derived(times, nbytes, copy),
        "saved": saved[row.label, dtype_name, k],
    }


def _derived(times, nbytes, copy):
    ours = times["ours"]["median_s"]
    compile_time = times["compile"]["median_s"] if "compile" in times else None
    ours_gbps = nbytes / ours / 1e9
    floor_s = nbytes / (copy["gbps"] * 1e9)  # the op's bytes moved at copy speed
    return {
        "ratio_eager": times["torch"]["median_s"] / ours,
        "ratio_compile": compile_time / ours if compile_time else None,
        "ours_gbps": ours_gbps, "copy_gbps": copy["gbps"],
        "pct_copy": 100 * ours_gbps / copy["gbps"], "floor_ratio": ours / floor_s,
    }


def run_measurements(config, allocation):
    """Every planned case under the allocator setting this process runs with."""
    device = config["device"]
    timer = _timing.timer_for(device)
    compiled = _cases.CompiledFunctions() if config["compile"] else None
    cases = plan_cases(config)
    progress = Progress(len(cases), f"[{allocation}] ")
    copies, saved, results = {}, {}, []
    fill_probe_ms = _timing.fresh_fill_ms() if device == "cpu" else None  # before the heap is shaped by the run
    started = time.perf_counter()
    for row, dtype_name, k, mode in cases:
        progress.show(f"{row.label} {dtype_name} 2^{k} {mode}")
        if (dtype_name, k) not in copies:
            copies[dtype_name, k] = measure_copy(DTYPES[dtype_name], 2**k, device, timer, config["seconds_per_competitor"])
        results.append(measure_case(row, dtype_name, k, mode, config, compiled, timer, copies[dtype_name, k], saved))
        progress.advance()
    progress.close()
    return {"allocation": allocation, "metadata": metadata(config, allocation, time.perf_counter() - started, fill_probe_ms),
            "copy": list(copies.values()), "results": results}


# ---------------------------------------------------------------- metadata


def device_name(device):
    if device == "cuda":
        return torch.cuda.get_device_name()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def metadata(config, allocation, seconds, fill_probe_ms):
    return {
        "device": device_name(config["device"]), "device_type": config["device"],
        "torch": torch.__version__, "cpu_isa": ta.CPU_ISA, "has_cuda_kernels": ta.HAS_CUDA_KERNELS,
        "threads": torch.get_num_threads(), "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "run_mode": config["run_mode"], "allocation": allocation,
        "malloc_env": {var: os.environ[var] for var in GLIBC_MALLOC_VARS if var in os.environ},
        "fresh_fill_64MiB_ms": fill_probe_ms,
        "libc": " ".join(platform.libc_ver()), "python": platform.python_version(),
        "command": config["command"], "seconds": seconds,
    }


# ---------------------------------------------------------------- processes


def _allocation_env(allocation):
    env = {var: value for var, value in os.environ.items() if var not in GLIBC_MALLOC_VARS}
    if allocation == "tuned":
        env.update(TUNED_MALLOC_ENV)
    return env


def run_child(config, allocation):
    """Measure in a fresh process: malloc reads its variables only at start."""
    with tempfile.TemporaryDirectory() as folder:
        config_path, output_path = os.path.join(folder, "config.json"), os.path.join(folder, "run.json")
        with open(config_path, "w") as f:
            json.dump({**config, "allocation": allocation}, f)
        command = [sys.executable, os.path.abspath(__file__), "--_child-config", config_path, "--_child-output", output_path]
        completed = subprocess.run(command, env=_allocation_env(allocation))
        if completed.returncode != 0:
            raise SystemExit(f"the '{allocation}' allocation run failed (exit {completed.returncode})")
        with open(output_path) as f:
            return json.load(f)


def child_main(config_path, output_path):
    with open(config_path) as f:
        config = json.load(f)
    run = run_measurements(config, config["allocation"])
    with open(output_path, "w") as f:
        json.dump(run, f)


def main(argv=None):
    argv = sys.argv if argv is None else argv
    args = parse_args(argv[1:])
    if args._child_config:
        return child_main(args._child_config, args._child_output)
    _cases.check_coverage()
    config = resolve_config(args, argv)
    started = time.perf_counter()
    if config["device"] == "cpu":
        runs = [run_child(config, allocation) for allocation in config["allocations"]]
    else:
        runs = [run_measurements(config, "cuda-caching-allocator")]
    wall = time.perf_counter() - started
    _report.write_all(config, runs, wall, args.out)


if __name__ == "__main__":
    main()

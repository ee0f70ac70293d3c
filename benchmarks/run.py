"""Benchmark every registry op against torch: eager, torch.compile and ours.

    python benchmarks/run.py --quick      # every target at fewer sizes and rounds, minutes
    python benchmarks/run.py              # everything (see below)
    python benchmarks/run.py --ops relu,gelu --dtypes float32 --sizes 20,22 --skip sizes,overhead

Sections (--skip drops some):
  main      each op, forward (under no_grad) and forward+backward, against
            torch eager and (under the tuned setting) torch.compile of the same
            torch expression, with the copy bandwidth as the memory floor and
            the bytes saved for backward; under every allocation setting
  sizes     forward+backward of every op with a torch twin against it, float32
            and bfloat16, sizes 2^10..2^24 (CPU), where the crossover shows
  overhead  forward of a one-element tensor, with and without grad: the
            per-call cost against the torch twin
  rows      softmax and log_softmax at row lengths 128..32768 (full mode)
  training  a training step of MLPs and a transformer block, torch.nn
            against torch_activations.convert of it: peak memory, saved
            bytes and time (CPU; benchmarks/training.py)
  fused     the gated ops and bias_activation against the composites users
            write, eager and compiled, forward+backward at 2^20..2^24 (CPU;
            benchmarks/fused.py)
sizes, overhead and rows run under the default allocation setting only (CPU).

The competitors run side by side, interleaved round by round, so sample i of
one pairs with sample i of another; every figure is a median over rounds with
its spread (half the interquartile range over the median; ratios are taken
round by round). A case spreading more than 10% is measured again, for
longer, and marked noisy if it still does; one measured while other processes
took over a quarter of the CPU is marked loaded. A load check at start warns
when the machine is busy.

CPU allocation: glibc malloc hands big blocks back to the OS on free, so every
fresh large output page-faults (about 12 ms per 32 MB on a 2-core machine),
which can swamp the kernels. --cpu-malloc both (the default) runs the main
section twice, each in a child process: "default" (MALLOC_* unset, as users
have it) and "tuned" (MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ at
4 GiB: freed blocks stay in the heap). The targets are stated under default
(what users run); the tuned figures are reported beside them. --threads sets torch's thread count
(default 2, the setting the targets are stated at).

Exit status: 0 when every target measured under the setting it is stated for
held, 1 when one did not (a target not measured, e.g. with --skip, counts as
neither), 2 for bad arguments.

Modes: --quick: float32 at 2^23 in main, sizes 2^10, 2^13, 2^16, 2^18, 2^20,
2^22, 2^24 in the sweep, ~0.1 s per competitor. Full: float32 and bfloat16 at
2^16..2^24 in main, every power 2^10..2^24 in the sweep, the row sweep,
~0.3 s. On CUDA the sizes reach 2^26.

Output in --out (default bench_out/): results.json (every case, with its
spread), results.md (a one-screen summary and a table per op), ratio_vs_size.png
and bandwidth.png (need matplotlib); training.json, training.md and
training.png from the training section; fused.json and fused.md from the
fused section.
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
import fused
import training

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
MODES = ("fwd", "fwdbwd")
SECTIONS = ("main", "sizes", "overhead", "rows", "training", "fused")
# log2 element counts
MAIN_SIZES = {
    ("cpu", "quick"): (23,),  # 2^23: where the CPU targets are stated
    ("cuda", "quick"): (20, 26),
    ("cpu", "full"): (16, 18, 20, 22, 23, 24),
    ("cuda", "full"): tuple(range(16, 27)),
}
SWEEP_SIZES = {
    ("cpu", "quick"): (10, 13, 16, 18, 20, 22, 24),
    ("cuda", "quick"): (10, 14, 18, 22, 26),
    ("cpu", "full"): tuple(range(10, 25)),
    ("cuda", "full"): tuple(range(10, 27)),
}
SWEEP_DTYPES = ("float32", "bfloat16")
ROW_SWEEP_LOG2_TOTAL = {"cpu": 22, "cuda": 24}
SECONDS_PER_COMPETITOR = {"quick": 0.1, "full": 0.3}
DEFAULT_THREADS = 2
# Bytes an op must move, in units of numel * itemsize: read x, write y;
# backward adds read grad, read one saved tensor, write grad_x.
BYTES_PER_ELEMENT = {"fwd": 2, "fwdbwd": 5}
# A case measured while other processes took more than this share of the CPU
# is marked loaded.
LOADED_SHARE = 0.25
ATTEMPTS = 2  # the first measurement and one re-measurement

GLIBC_MALLOC_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")
TUNED_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(4 << 30), "MALLOC_TRIM_THRESHOLD_": str(4 << 30)}
ALLOCATION_MODES = ("default", "tuned")
TARGET_ALLOCATION = "default"  # the CPU setting the targets are stated under: what users have


def _csv(kind):
    return lambda text: [kind(item.strip()) for item in text.split(",") if item.strip()]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every target at fewer sizes and rounds")
    parser.add_argument("--ops", type=_csv(str), help="comma-separated op names (e.g. relu,gelu_tanh)")
    parser.add_argument("--dtypes", type=_csv(str), help="float32,bfloat16 (main and sizes sections)")
    parser.add_argument("--sizes", type=_csv(int), help="log2 element counts of the main section, e.g. 16,20,24")
    parser.add_argument("--sweep-sizes", type=_csv(int), help="log2 element counts of the sizes section")
    parser.add_argument("--modes", type=_csv(str), help="fwd,fwdbwd (main section)")
    parser.add_argument("--skip", type=_csv(str), default=[], help=f"sections to leave out: {','.join(SECTIONS)}")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help=f"torch threads on CPU (default {DEFAULT_THREADS})")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile competitor")
    parser.add_argument("--cpu-malloc", choices=("both",) + ALLOCATION_MODES, default="both",
                        help="CPU allocator setting(s) to run under (default both)")
    parser.add_argument("--seconds", type=float, help="timing per competitor and case (default 0.1 quick, 0.3 full)")
    parser.add_argument("--out", default="bench_out", help="output folder (default bench_out/)")
    # internal: a child process measuring under one allocator setting
    parser.add_argument("--_child-config", help=argparse.SUPPRESS)
    parser.add_argument("--_child-output", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _check_choices(what, values, allowed):
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        print(f"unknown {what}: {', '.join(map(str, unknown))} (choose from {', '.join(map(str, sorted(allowed)))})",
              file=sys.stderr)
        raise SystemExit(2)


def resolve_config(args, argv):
    """Everything a measuring process needs, as plain JSON-able values."""
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: no CUDA device available", file=sys.stderr)
        raise SystemExit(2)
    mode = "quick" if args.quick else "full"
    sections = [s for s in SECTIONS if s not in args.skip and not (s == "rows" and mode == "quick")]
    config = {
        "device": device,
        "run_mode": mode,
        "ops": args.ops,
        "dtypes": args.dtypes or (["float32"] if args.quick else list(DTYPES)),
        "sweep_dtypes": args.dtypes or list(SWEEP_DTYPES),
        "log2_sizes": args.sizes or list(MAIN_SIZES[device, mode]),
        "sweep_log2_sizes": args.sweep_sizes or list(SWEEP_SIZES[device, mode]),
        "modes": args.modes or list(MODES),
        "sections": sections,
        "compile": not args.no_compile,
        "row_sweep_log2_total": ROW_SWEEP_LOG2_TOTAL[device],
        "seconds_per_competitor": args.seconds or SECONDS_PER_COMPETITOR[mode],
        "threads": args.threads if device == "cpu" else None,
        "allocations": list(ALLOCATION_MODES) if args.cpu_malloc == "both" else [args.cpu_malloc],
        "command": shlex.join(["python", *argv]),
    }
    if args.ops:
        _check_choices("op", args.ops, _cases.known_names())
    _check_choices("section", args.skip, SECTIONS)
    _check_choices("dtype", config["dtypes"], DTYPES)
    _check_choices("mode", config["modes"], MODES)
    _check_choices("size (log2)", config["log2_sizes"] + config["sweep_log2_sizes"], range(0, 31))
    return config


def primary_allocation(config):
    """The one setting the sizes, overhead and rows sections run under."""
    if config["device"] != "cpu":
        return "cuda-caching-allocator"
    return TARGET_ALLOCATION if TARGET_ALLOCATION in config["allocations"] else config["allocations"][0]


# ---------------------------------------------------------------- planning


def plan_cases(config, allocation):
    """Cases in run order, each measured once: {row, dtype, k, mode,
    sections, compile}. The main section's cases carry the compile
    competitor under the primary setting (compiling again in the other child
    would double the run for figures no target reads); a sweep case that is
    also a main case is measured once."""
    primary = allocation == primary_allocation(config)
    sections = set(config["sections"])
    cases = {}

    def add(row, dtype, k, mode, section, compile_it):
        key = (row.label, dtype, k, mode)
        case = cases.setdefault(key, {"row": row, "dtype": dtype, "k": k, "mode": mode, "sections": [], "compile": False})
        case["sections"].append(section)
        case["compile"] = case["compile"] or compile_it

    if "main" in sections:
        for dtype in config["dtypes"]:
            for k in config["log2_sizes"]:
                for row in _cases.op_rows(config["ops"]):
                    for mode in config["modes"]:
                        add(row, dtype, k, mode, "main", config["compile"] and primary)
    if primary and "sizes" in sections:
        for dtype in config["sweep_dtypes"]:
            for k in config["sweep_log2_sizes"]:
                for row in _cases.twin_rows(config["ops"]):
                    add(row, dtype, k, "fwdbwd", "sizes", False)
    if primary and "rows" in sections:
        for dtype in config["dtypes"]:
            for row in _cases.row_length_rows(config["ops"]):
                for mode in config["modes"]:
                    add(row, dtype, config["row_sweep_log2_total"], mode, "rows", config["compile"])
    return list(cases.values())


def plan_overhead(config, allocation):
    if allocation != primary_allocation(config) or "overhead" not in config["sections"]:
        return []
    return [(row, grad) for row in _cases.twin_rows(config["ops"]) for grad in (False, True)]


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


def measure_steady(competitors, timer, seconds, load, summarize):
    """Interleaved samples, measured again (for longer) when they spread too
    much; the steadier attempt is kept, flagged noisy if it still spreads too
    much and loaded if other processes took much of the CPU meanwhile."""
    best = None
    for attempt in range(1, ATTEMPTS + 1):
        load.read()
        samples = _timing.measure_interleaved(competitors, timer, seconds * attempt)
        others = load.read()
        summary = summarize(samples)
        spread = max(summary["spreads"])
        if best is None or spread < best["spread"]:
            best = {"summary": summary, "spread": spread, "others_cpu": others,
                    "loaded": others is not None and others > LOADED_SHARE}
        if spread <= _timing.NOISY_SPREAD:
            break
    best["attempts"] = attempt
    best["noisy"] = best["spread"] > _timing.NOISY_SPREAD
    return best


def _spreads_of_times(samples):
    times = {name: _timing.describe(s) for name, s in samples.items()}
    return {"times": times, "spreads": [t["spread"] for t in times.values()]}


def measure_copy(dtype, n, device, timer, seconds, load):
    """Seconds per dst.copy_(src): the bandwidth every op is held against."""
    src = torch.randn(n, device=device).to(dtype)
    dst = torch.empty_like(src)
    measured = measure_steady({"copy": _timing.Competitor(lambda: dst.copy_(src))}, timer, seconds, load,
                              _spreads_of_times)
    stats = measured["summary"]["times"]["copy"]
    nbytes = 2 * n * src.element_size()
    return {"dtype": str(dtype).replace("torch.", ""), "log2_size": n.bit_length() - 1, "n": n,
            "bytes": nbytes, "gbps": nbytes / stats["median_s"] / 1e9, **stats,
            "noisy": measured["noisy"], "loaded": measured["loaded"]}


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


def _summarize_case(samples):
    """Times of every competitor and our ratios against the others, round by round."""
    summary = _spreads_of_times(samples)
    summary["ratios"] = {name: _timing.describe_ratio(samples[name], samples["ours"]) for name in samples if name != "ours"}
    summary["spreads"] += [r["spread"] for r in summary["ratios"].values()]
    return summary


def measure_case(case, config, compiled, timer, copy, saved, load):
    """Times, ratios, bandwidth and agreement of one (op, dtype, size, mode);
    `saved` caches the saved-bytes counts, which do not depend on the mode."""
    row, dtype_name, k, mode = case["row"], case["dtype"], case["k"], case["mode"]
    inputs = make_inputs(row, dtype_name, k, config["device"], backward=mode == "fwdbwd")
    if (row.label, dtype_name, k) not in saved:
        backward_inputs = inputs if mode == "fwdbwd" else make_inputs(row, dtype_name, k, config["device"], True)
        saved[row.label, dtype_name, k] = saved_bytes(row, backward_inputs)
    ours, eager = _cases.our_function(row), _cases.torch_function(row)
    competitors = {"ours": _cases.competitor(ours, row, inputs), "torch": _cases.competitor(eager, row, inputs)}
    record = {"compile_first_call_s": None, "compile_error": None}
    if case["compile"]:
        candidate = _cases.competitor(compiled.get(row, mode), row, inputs)
        try:
            record["compile_first_call_s"] = _first_call_seconds(candidate)  # compiles on first use
            competitors["compile"] = candidate
        except Exception as error:  # no compiler, unsupported op: report it, keep going
            record["compile_error"] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    measured = measure_steady(competitors, timer, config["seconds_per_competitor"], load, _summarize_case)
    times, ratios = measured["summary"]["times"], measured["summary"]["ratios"]
    nbytes = BYTES_PER_ELEMENT[mode] * inputs.numel * inputs.x.element_size()
    return {
        "op": row.label, "base_op": row.spec.name, "kind": row.spec.kind, "composite": row.is_composite,
        "row_sweep": row.row_sweep, "row_length": row.row_length, "params": {p: str(v) for p, v in row.kwargs},
        "sections": case["sections"],
        "dtype": dtype_name, "log2_size": k, "n": 2**k, "numel": inputs.numel, "shape": list(inputs.x.shape),
        "mode": mode, "bytes": nbytes,
        **{name: times.get(name) for name in ("ours", "torch", "compile")},
        **_ratio_fields("eager", ratios.get("torch")), **_ratio_fields("compile", ratios.get("compile")),
        **record,
        "max_rel_diff": _cases.agreement(row, inputs, ours, eager),
        **_bandwidth(times, nbytes, copy),
        "saved": saved[row.label, dtype_name, k],
        "attempts": measured["attempts"], "noisy": measured["noisy"], "loaded": measured["loaded"],
        "others_cpu": measured["others_cpu"], "copy_noisy": copy["noisy"],
    }


def _ratio_fields(name, stats):
    if stats is None:
        return {f"ratio_{name}": None, f"ratio_{name}_q": None, f"ratio_{name}_spread": None}
    return {f"ratio_{name}": stats["median"], f"ratio_{name}_q": [stats["p25"], stats["p75"]],
            f"ratio_{name}_spread": stats["spread"]}


def _bandwidth(times, nbytes, copy):
    ours = times["ours"]["median_s"]
    floor_s = nbytes / (copy["gbps"] * 1e9)  # the op's bytes moved at copy speed
    return {
        "ours_gbps": nbytes / ours / 1e9, "torch_gbps": nbytes / times["torch"]["median_s"] / 1e9,
        "copy_gbps": copy["gbps"], "pct_copy": 100 * nbytes / ours / 1e9 / copy["gbps"], "floor_ratio": ours / floor_s,
    }


def _summarize_overhead(samples):
    summary = _spreads_of_times(samples)
    summary["difference"] = _timing.describe_difference(samples["ours"], samples["torch"])
    # the spread that matters is that of the difference, against the torch call it adds to
    difference = summary["difference"]
    summary["spreads"] = [(difference["p75_s"] - difference["p25_s"]) / (2 * summary["times"]["torch"]["median_s"])]
    return summary


def measure_overhead(row, grad, config, load):
    dtype = torch.float32
    competitors = {
        "ours": _cases.overhead_competitor(_cases.our_function(row), row, dtype, config["device"], grad),
        "torch": _cases.overhead_competitor(_cases.torch_function(row), row, dtype, config["device"], grad),
    }
    measured = measure_steady(competitors, _timing.wall_timer_for(config["device"]), config["seconds_per_competitor"],
                              load, _summarize_overhead)
    difference = measured["summary"]["difference"]
    return {
        "op": row.label, "base_op": row.spec.name, "grad": grad, "dtype": "float32", "numel": 1,
        **measured["summary"]["times"],
        "overhead_s": difference["median_s"], "overhead_q_s": [difference["p25_s"], difference["p75_s"]],
        "attempts": measured["attempts"], "noisy": measured["noisy"], "loaded": measured["loaded"],
        "others_cpu": measured["others_cpu"],
    }


def run_measurements(config, allocation):
    """Every planned case under the allocator setting this process runs with."""
    device = config["device"]
    if config["threads"]:
        torch.set_num_threads(config["threads"])
    timer = _timing.timer_for(device)
    compiled = _cases.CompiledFunctions() if config["compile"] else None
    cases, overhead_cases = plan_cases(config, allocation), plan_overhead(config, allocation)
    progress = Progress(len(cases) + len(overhead_cases), f"[{allocation}] ")
    load = _timing.OtherLoad()
    copies, saved, results, overhead = {}, {}, [], []
    fill_probe_ms = _timing.fresh_fill_ms() if device == "cpu" else None  # before the heap is shaped by the run
    started = time.perf_counter()
    for row, grad in overhead_cases:
        progress.show(f"{row.label} 1 element {'with' if grad else 'without'} grad")
        overhead.append(measure_overhead(row, grad, config, load))
        progress.advance()
    for case in cases:
        dtype_name, k = case["dtype"], case["k"]
        progress.show(f"{case['row'].label} {dtype_name} 2^{k} {case['mode']}")
        if (dtype_name, k) not in copies:
            copies[dtype_name, k] = measure_copy(DTYPES[dtype_name], 2**k, device, timer,
                                                 config["seconds_per_competitor"], load)
        results.append(measure_case(case, config, compiled, timer, copies[dtype_name, k], saved, load))
        progress.advance()
    progress.close()
    # while timing only: torch.compile's worker processes count as others while they compile
    shares = [r["others_cpu"] for r in overhead + results if r["others_cpu"] is not None]
    others = {"mean": sum(shares) / len(shares), "max": max(shares)} if shares else None
    meta = metadata(config, allocation, time.perf_counter() - started, fill_probe_ms, others)
    return {"allocation": allocation, "metadata": meta, "copy": list(copies.values()), "results": results,
            "overhead": overhead}


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


def metadata(config, allocation, seconds, fill_probe_ms, others_cpu):
    return {
        "device": device_name(config["device"]), "device_type": config["device"], "cores": os.cpu_count(),
        "torch": torch.__version__, "cpu_isa": ta.CPU_ISA, "has_cuda_kernels": ta.HAS_CUDA_KERNELS,
        "threads": torch.get_num_threads(), "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "run_mode": config["run_mode"], "allocation": allocation,
        "malloc_env": {var: os.environ[var] for var in GLIBC_MALLOC_VARS if var in os.environ},
        "fresh_fill_64MiB_ms": fill_probe_ms, "others_cpu_while_timing": others_cpu,
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
    return 0


def main(argv=None):
    argv = sys.argv if argv is None else argv
    args = parse_args(argv[1:])
    if args._child_config:
        return child_main(args._child_config, args._child_output)
    _cases.check_coverage()
    config = resolve_config(args, argv)
    load = _timing.check_load()
    for line in _report.load_lines(load, warn=True):
        print(line, file=sys.stderr)
    started = time.perf_counter()
    if config["device"] == "cpu":
        runs = [run_child(config, allocation) for allocation in config["allocations"]]
    else:
        runs = [run_measurements(config, primary_allocation(config))]
    wall = time.perf_counter() - started
    status = _report.write_all(config, runs, wall, args.out, load, primary_allocation(config))
    if "training" in config["sections"] and config["device"] == "cpu":
        print("\ntraining step, torch.nn against converted:")
        training.write(args.out, training.run(config["run_mode"] == "quick"), config["command"])
        with open(os.path.join(args.out, "training.md")) as part, open(os.path.join(args.out, "results.md"), "a") as whole:
            whole.write("\n" + part.read())
    if "fused" in config["sections"] and config["device"] == "cpu":
        print("\nfused ops against their composites:")
        command = "python benchmarks/fused.py" + (" --quick" if config["run_mode"] == "quick" else "") + f" --out {args.out}"
        status = max(status, fused.write(args.out, fused.run(config["run_mode"] == "quick"), command))
        with open(os.path.join(args.out, "fused.md")) as part, open(os.path.join(args.out, "results.md"), "a") as whole:
            whole.write("\n" + part.read())
    return status


if __name__ == "__main__":
    sys.exit(main())

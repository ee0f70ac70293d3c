"""Turning measurements into verdicts, the one-screen summary, the table per
op, results.json, results.md and the plots."""

import json
import math
import os
import statistics

from torch_activations.registry import POINTWISE

CPU_TARGET_LOG2 = 23  # the CPU targets at one size are stated at 8M float32 elements
SWEEP_MEDIAN_RANGE = (16, 20)  # the sweep's median target covers 2^16..2^20
BUSY_SHARE = 0.10  # other processes above this share of the CPU: the machine is busy
NOISY, LOADED = "~", "*"
RATIO_PLOT_RANGE = (1 / 16, 16)


# ---------------------------------------------------------------- formatting


def _pct(spread):
    return f"±{100 * spread:.0f}%" if spread is not None else ""


def _ratio(r, name="eager", spread=True):
    value = r.get(f"ratio_{name}") if r else None
    if value is None:
        return "-"
    text = f"{value:.2f}x"
    if spread:
        text += f" {_pct(r[f'ratio_{name}_spread'])}"
    return text + _marks(r)


def _marks(r):
    return (NOISY if r.get("noisy") else "") + (LOADED if r.get("loaded") else "")


def _us(seconds):
    return f"{seconds * 1e6:+.1f} us"


def allocation_label(allocation):
    return {"tuned": "tuned malloc", "default": "default malloc"}.get(allocation, allocation)


def _case_name(r):
    return f"{r['op']} {r['dtype']} 2^{r['log2_size']} {r['mode']}"


def _list_beyond(results, key, bound, side):
    """The cases whose `key` lies past `bound` on `side` ("below" or "above")."""
    past = (lambda v: v < bound) if side == "below" else (lambda v: v > bound)
    cases = [f"{_case_name(r)} {r[key]:.2f}{_marks(r)}" for r in results if r[key] is not None and past(r[key])]
    return f"{side}: " + "; ".join(cases) if cases else ""


def _quartiles(r, key):
    """A case's (lower, upper) quartile of its ratio, or None where not measured."""
    q = r.get(f"{key}_q")
    return tuple(q) if q and None not in q else None


def verdict(r, key="ratio_eager"):
    """A case's verdict, judged by its ratio's interquartile range so that a
    noisy machine can neither fake a win nor hide one: "loses" when even the
    upper quartile is below 1.0, "wins" when even the lower is above, else
    "tie"."""
    if r.get(key) is None:
        return None
    low, high = _quartiles(r, key) or (r[key], r[key])
    return "loses" if high < 1.0 else "wins" if low > 1.0 else "tie"


def _losses(results, key="ratio_eager"):
    """The cases that lose (verdict), and, apart, the ties whose median is below 1.0."""
    lost = [r for r in results if verdict(r, key) == "loses"]
    close = [r for r in results if verdict(r, key) == "tie" and r[key] < 1.0]

    def described(r):
        q = _quartiles(r, key)
        return f"{_case_name(r)} {r[key]:.2f}" + (f" [{q[0]:.2f}-{q[1]:.2f}]" if q else "")

    parts = [f"{label}: " + "; ".join(map(described, group))
             for label, group in (("lose", lost), ("ties below 1.0", close)) if group]
    return lost, "; ".join(parts)


def text_table(rows, headers):
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(headers), line("-" * w for w in widths)] + [line(row) for row in rows])


def markdown_table(rows, headers):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


# ---------------------------------------------------------------- selections


def main_results(run, dtype="float32", mode="fwdbwd"):
    return [r for r in run["results"] if "main" in r["sections"] and r["dtype"] == dtype and r["mode"] == mode]


def sweep_results(run, dtype=None):
    return [r for r in run["results"] if "sizes" in r["sections"] and (dtype is None or r["dtype"] == dtype)]


def _nearest_size(results, wanted):
    sizes = sorted({r["log2_size"] for r in results})
    return min(sizes, key=lambda k: (abs(k - wanted), -k)) if sizes else None


def headline_size(run):
    wanted = CPU_TARGET_LOG2 if run["metadata"]["device_type"] == "cpu" else math.inf
    main = main_results(run)
    if wanted == math.inf:
        return max((r["log2_size"] for r in main), default=None)
    return _nearest_size(main, wanted)


# ---------------------------------------------------------------- targets


def _target(text, value, ok, allocation, counts, detail=""):
    return {"target": text, "value": value, "ok": ok, "allocation": allocation, "counts": counts, "detail": detail}


def _skipped(text, why, allocation, counts):
    return _target(text, "not measured", None, allocation, counts, why)


def _median_spread(results, key="ratio_eager_spread"):
    spreads = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(spreads) if spreads else None


def cpu_main_targets(run, counts):
    allocation = run["allocation"]
    main = main_results(run)
    k = headline_size(run)
    texts = ("median ratio vs eager over the ops with a torch twin >= 1.5", "no op loses to eager (a loss: the ratio's upper quartile below 1.0)",
             "worst pointwise floor ratio <= 2.0")
    if k is None:
        return [_skipped(t, "needs float32 fwd+bwd results in the main section", allocation, counts) for t in texts]
    at = [r for r in main if r["log2_size"] == k]
    where = f"float32 fwd+bwd at 2^{k}" + ("" if k == CPU_TARGET_LOG2 else f" (nearest measured to 2^{CPU_TARGET_LOG2})")
    twins = [r for r in at if not r["composite"]]
    targets = []
    if twins:
        median = statistics.median(r["ratio_eager"] for r in twins)
        targets.append(_target(f"{texts[0]}, {where}", f"{median:.2f}x {_pct(_median_spread(twins))}", median >= 1.5,
                               allocation, counts, f"{len(twins)} ops"))
    else:
        targets.append(_skipped(texts[0], "no op with a torch twin measured", allocation, counts))
    lowest = min(at, key=lambda r: r["ratio_eager"])
    lost, detail = _losses(at)
    targets.append(_target(f"{texts[1]}, {where}", f"{_ratio(lowest)} ({lowest['op']}); {len(lost)} lose",
                           not lost, allocation, counts, detail))
    pointwise = [r for r in at if r["kind"] == POINTWISE]
    if pointwise:
        worst = max(pointwise, key=lambda r: r["floor_ratio"])
        targets.append(_target(f"{texts[2]}, {where}", f"{worst['floor_ratio']:.2f}{_marks(worst)} ({worst['op']})",
                               worst["floor_ratio"] <= 2.0, allocation, counts,
                               _list_beyond(pointwise, "floor_ratio", 2.0, "above")))
    else:
        targets.append(_skipped(texts[2], "no pointwise op measured", allocation, counts))
    return targets


def sweep_targets(run, counts):
    """Issue 8's size sweep: forward+backward of every op with a torch twin."""
    allocation, threads = run["allocation"], run["metadata"]["threads"]
    sweep = sweep_results(run)
    every = (f"no op with a torch twin loses to eager at any size (a loss: the ratio's upper quartile below 1.0), "
             f"fwd+bwd, {threads} threads")
    median_text = f"median over ops and sizes 2^{SWEEP_MEDIAN_RANGE[0]}..2^{SWEEP_MEDIAN_RANGE[1]} >= 1.2x eager, fwd+bwd"
    if not sweep:
        return [_skipped(every, "sizes section not run", allocation, counts),
                _skipped(median_text, "sizes section not run", allocation, counts)]
    targets = []
    for dtype in sorted({r["dtype"] for r in sweep}, key=lambda d: d != "float32"):
        group = [r for r in sweep if r["dtype"] == dtype]
        sizes = sorted({r["log2_size"] for r in group})
        lowest = min(group, key=lambda r: r["ratio_eager"])
        lost, detail = _losses(group)
        targets.append(_target(f"{every}, {dtype}, 2^{sizes[0]}..2^{sizes[-1]} ({len(sizes)} sizes)",
                               f"{len(lost)} of {len(group)} cases lose; lowest {_ratio(lowest)} "
                               f"({lowest['op']} at 2^{lowest['log2_size']})",
                               not lost, allocation, counts, detail))
        band = [r for r in group if SWEEP_MEDIAN_RANGE[0] <= r["log2_size"] <= SWEEP_MEDIAN_RANGE[1]]
        if not band:
            targets.append(_skipped(f"{median_text}, {dtype}", "no size in the range measured", allocation, counts))
            continue
        median = statistics.median(r["ratio_eager"] for r in band)
        per_size = ", ".join(f"2^{k} {statistics.median(r['ratio_eager'] for r in band if r['log2_size'] == k):.2f}x"
                             for k in sorted({r["log2_size"] for r in band}))
        targets.append(_target(f"{median_text}, {dtype}", f"{median:.2f}x {_pct(_median_spread(band))}", median >= 1.2,
                               allocation, counts, f"median per size: {per_size}"))
    return targets


def overhead_targets(run, counts):
    allocation = run["allocation"]
    overhead = run.get("overhead") or []
    targets = []
    for grad in (False, True):
        text = f"per-call overhead within 1 us of the torch twin, 1-element forward {'with' if grad else 'without'} grad"
        group = [o for o in overhead if o["grad"] == grad]
        if not group:
            targets.append(_skipped(text, "overhead section not run", allocation, counts))
            continue
        worst = max(group, key=lambda o: o["overhead_s"])
        over = [f"{o['op']} {_us(o['overhead_s'])}" for o in group if o["overhead_s"] > 1e-6]
        targets.append(_target(text, f"worst {_us(worst['overhead_s'])}{_marks(worst)} ({worst['op']}: ours "
                                     f"{worst['ours']['median_s'] * 1e6:.1f} us, torch {worst['torch']['median_s'] * 1e6:.1f} us)",
                               worst["overhead_s"] <= 1e-6, allocation, counts,
                               ("over: " + "; ".join(over)) if over else ""))
    return targets


def cuda_targets(run, counts):
    allocation = run["allocation"]
    main = [r for r in run["results"] if "main" in r["sections"]]
    if not main:
        return [_skipped("CUDA targets", "no main-section results", allocation, counts)]
    k = max(r["log2_size"] for r in main)
    at = [r for r in main if r["log2_size"] == k]
    targets = []
    for dtype in sorted({r["dtype"] for r in at}):
        for mode in ("fwd", "fwdbwd"):
            group = [r for r in at if r["dtype"] == dtype and r["mode"] == mode]
            if group:
                worst = min(group, key=lambda r: r["pct_copy"])
                targets.append(_target(f"% of copy bandwidth >= 95 every op, {dtype} {mode} at 2^{k}",
                                       f"lowest {worst['pct_copy']:.0f}%{_marks(worst)} ({worst['op']})",
                                       worst["pct_copy"] >= 95, allocation, counts,
                                       _list_beyond(group, "pct_copy", 95, "below")))
    lowest = min(at, key=lambda r: r["ratio_eager"])
    targets.append(_target(f"ratio vs eager >= 1.0 every op at 2^{k}", f"lowest {_ratio(lowest)} ({_case_name(lowest)})",
                           lowest["ratio_eager"] >= 1.0, allocation, counts, _list_beyond(at, "ratio_eager", 1.0, "below")))
    composites = [r for r in at if r["composite"]]
    if composites:
        worst = min(composites, key=lambda r: r["ratio_eager"])
        targets.append(_target(f"composites >= 2x eager at 2^{k}", f"lowest {_ratio(worst)} ({_case_name(worst)})",
                               worst["ratio_eager"] >= 2.0, allocation, counts,
                               _list_beyond(composites, "ratio_eager", 2.0, "below")))
    rows = [r for r in run["results"] if "rows" in r["sections"]]
    if rows:
        worst = min(rows, key=lambda r: r["ratio_eager"])
        targets.append(_target("softmax row sweep >= 1.0x eager", f"lowest {_ratio(worst)} ({_case_name(worst)})",
                               worst["ratio_eager"] >= 1.0, allocation, counts,
                               _list_beyond(rows, "ratio_eager", 1.0, "below")))
    else:
        targets.append(_skipped("softmax row sweep >= 1.0x eager", "rows section not run (full mode only)", allocation, counts))
    return targets


def targets_for(run, primary):
    """Every verdict of one run; those of the primary run (the setting the
    targets are stated under) decide the exit status, the others are for
    reference."""
    counts = run["allocation"] == primary
    if run["metadata"]["device_type"] != "cpu":
        return cuda_targets(run, counts) + sweep_targets(run, counts) + overhead_targets(run, counts)
    targets = cpu_main_targets(run, counts)
    if counts:
        targets += sweep_targets(run, counts) + overhead_targets(run, counts)
    return targets


def exit_status(targets):
    """0 when every counted target that was measured held, else 1."""
    return 1 if any(t["counts"] and t["ok"] is False for t in targets) else 0


def verdict_lines(targets):
    verdict = {True: "PASS", False: "FAIL", None: "SKIP"}
    lines = []
    for t in targets:
        lines.append(f"{verdict[t['ok']]}  [{allocation_label(t['allocation'])}] {t['target']}: {t['value']}")
        if t["detail"]:
            lines.append(f"      {t['detail']}")
    return lines


# ---------------------------------------------------------------- summary


def load_lines(load, warn=False):
    share, load1, cores = load.get("others_cpu"), load.get("load_average_1min"), load.get("cores")
    if share is None:
        return ["load check: not available on this system (no /proc/stat)"]
    text = (f"load check: other processes took {100 * share:.0f}% of the {cores} cores over {load['seconds']:.0f} s"
            + (f" (load average {load1:.2f})" if load1 is not None else ""))
    if share > BUSY_SHARE:
        return [f"WARNING: the machine is busy: {text}. Figures will be noisy and slower than this machine can do;"
                " rerun on an idle machine before trusting or publishing them." if warn else f"BUSY: {text}"]
    return [f"{text}: idle enough"]


def _conditions(load, runs):
    during = [(run["allocation"], run["metadata"].get("others_cpu_while_timing")) for run in runs]
    during = [(allocation, others) for allocation, others in during if others]
    busy = (load.get("others_cpu") or 0) > BUSY_SHARE or any(others["mean"] > BUSY_SHARE for _, others in during)
    state = "**busy machine: do not publish these figures**" if busy else "idle"
    text = f"Conditions: {state}; other processes took {100 * (load.get('others_cpu') or 0):.0f}% of the CPU at the start check"
    if during:
        text += ", while timing: " + ", ".join(f"{100 * o['mean']:.0f}% on average (at most {100 * o['max']:.0f}%) "
                                              f"under {allocation_label(a)}" for a, o in during)
    return text + "."


def _allocation_line(runs):
    parts = []
    for run in runs:
        meta = run["metadata"]
        env = " ".join(f"{k}={v}" for k, v in meta["malloc_env"].items()) or "MALLOC_* unset"
        probe = meta.get("fresh_fill_64MiB_ms")
        parts.append(f"{allocation_label(run['allocation'])} = {env}" + (f" (fresh 64 MiB fill {probe:.1f} ms)" if probe else ""))
    return "Allocation settings: " + "; ".join(parts) + "."


def headline(run, others=()):
    """The median over the ops with a torch twin, apart from the composites."""
    k = headline_size(run)
    at = [r for r in main_results(run) if r["log2_size"] == k]
    twins = [r for r in at if not r["composite"]]
    if not twins:
        return "Headline: not measured (needs float32 fwd+bwd results for ops with a torch twin)."
    median = statistics.median(r["ratio_eager"] for r in twins)
    text = (f"Headline [{allocation_label(run['allocation'])}, float32, forward+backward, 2^{k} elements]: "
            f"median over the {len(twins)} ops with a torch twin **{median:.2f}x** torch eager "
            f"({_pct(_median_spread(twins))}; range {min(r['ratio_eager'] for r in twins):.2f}x-"
            f"{max(r['ratio_eager'] for r in twins):.2f}x)")
    composites = [r for r in at if r["composite"]]
    if composites:
        text += ("; composites, against the plain-torch expression a user writes: "
                 + ", ".join(f"{r['op']} {r['ratio_eager']:.2f}x" for r in composites))
    for other in others:
        twins_other = [r for r in main_results(other) if r["log2_size"] == k and not r["composite"]]
        if twins_other:
            text += (f". Under {allocation_label(other['allocation'])}: "
                     f"{statistics.median(r['ratio_eager'] for r in twins_other):.2f}x")
    return text + "."


def noise_lines(runs):
    cases = [(run, r) for run in runs for r in run["results"] + run.get("overhead", [])]
    noisy = [(run, r) for run, r in cases if r.get("noisy")]
    loaded = [(run, r) for run, r in cases if r.get("loaded")]
    remeasured = sum(r.get("attempts", 1) > 1 for _, r in cases)

    def name(run, r):
        return (f"{r['op']} 1 element {'grad' if r['grad'] else 'no grad'}" if "grad" in r else _case_name(r)) \
            + f" [{run['allocation']}]"

    lines = [f"Noise: {remeasured} of {len(cases)} cases spread over ±10% and were measured again; {len(noisy)} "
             f"still did (marked {NOISY}); {len(loaded)} ran while other processes took over a quarter of the CPU "
             f"(marked {LOADED})."]
    for label, group in (("noisy", noisy), ("loaded", loaded)):
        if group:
            shown = ", ".join(name(run, r) for run, r in group[:8])
            lines.append(f"{label}: {shown}" + (f" and {len(group) - 8} more" if len(group) > 8 else ""))
    return lines


# ---------------------------------------------------------------- the table


TABLE_HEADERS = ("op", "fwd+bwd vs eager", "default malloc", "fwd vs eager", "vs compile", "floor",
                 "lowest over sizes, float32", "lowest, bfloat16", "overhead, no grad", "overhead, grad",
                 "saved ours / torch")


def op_table(runs, primary):
    """One row per op: the main section at the headline size under the
    primary setting (and fwd+bwd under the other), the lowest ratio of the
    size sweep, the per-call overhead and the bytes saved for backward."""
    run = next(r for r in runs if r["allocation"] == primary)
    others = [r for r in runs if r is not run]
    k = headline_size(run)

    def main_case(r_run, op, mode):
        return next((r for r in r_run["results"] if "main" in r["sections"] and r["op"] == op and r["dtype"] == "float32"
                     and r["mode"] == mode and r["log2_size"] == k), None)

    def lowest(op, dtype):
        group = [r for r in sweep_results(run, dtype) if r["op"] == op]
        if not group:
            return "-"
        r = min(group, key=lambda r: r["ratio_eager"])
        return f"{_ratio(r, spread=False)} at 2^{r['log2_size']}"

    def overhead(op, grad):
        o = next((o for o in run.get("overhead", []) if o["op"] == op and o["grad"] == grad), None)
        return f"{_us(o['overhead_s'])}{_marks(o)}" if o else "-"

    ops = list(dict.fromkeys(r["op"] for r in run["results"] if not r["row_sweep"]))
    rows = []
    for op in ops:
        fwdbwd, fwd = main_case(run, op, "fwdbwd"), main_case(run, op, "fwd")
        other = main_case(others[0], op, "fwdbwd") if others else None
        label = op + (" (composite)" if (fwdbwd or fwd or {}).get("composite") else "")
        saved = (fwdbwd or fwd or {}).get("saved")
        rows.append((
            label, _ratio(fwdbwd), _ratio(other), _ratio(fwd), _ratio(fwdbwd, "compile"),
            f"{fwdbwd['floor_ratio']:.2f}" if fwdbwd else "-",
            lowest(op, "float32"), lowest(op, "bfloat16"), overhead(op, False), overhead(op, True),
            f"{saved['ours'] / saved['unit']:.2f} / {saved['torch'] / saved['unit']:.2f}" if saved else "-",
        ))
    headers = list(TABLE_HEADERS)
    headers[1] = f"fwd+bwd vs eager, 2^{k}" if k is not None else headers[1]
    headers[2] = f"same, {allocation_label(others[0]['allocation'])}" if others else headers[2]
    # leave out what this run did not measure
    keep = [i for i in range(len(headers)) if i == 0 or any(row[i] != "-" for row in rows)]
    return [tuple(row[i] for i in keep) for row in rows], [headers[i] for i in keep]


def _metadata_lines(config, runs, wall):
    meta = runs[0]["metadata"]
    return [
        f"Command: `{config['command']}` ({config['run_mode']} mode), wall time {wall / 60:.1f} min, {meta['date_utc']}.",
        f"Machine: {meta['device']} ({meta['device_type']}, {meta['cores']} cores), torch threads {meta['threads']}, "
        f"CPU kernels {meta['cpu_isa']}; torch {meta['torch']}, Python {meta['python']}, {meta['libc']}.",
    ]


def summary_lines(config, runs, wall, load, targets, primary):
    run = next(r for r in runs if r["allocation"] == primary)
    others = [r for r in runs if r is not run]
    counted = [t for t in targets if t["counts"]]
    reference = [t for t in targets if not t["counts"]]
    status = exit_status(targets)
    held = sum(t["ok"] is True for t in counted)
    measured = sum(t["ok"] is not None for t in counted)
    lines = [*_metadata_lines(config, runs, wall), _conditions(load, runs)]
    if config["device"] == "cpu":
        lines.append(_allocation_line(runs))
    lines += ["", headline(run, others), "",
              f"Targets, stated under {allocation_label(primary)} ({held} of {measured} measured held: exit status {status}):",
              "", "```", *verdict_lines(counted), "```"]
    if reference:
        lines += ["", "For reference, not counted in the exit status:", "", "```", *verdict_lines(reference), "```"]
    lines += ["", *noise_lines(runs), "",
              "Ratio = torch time / our time, taken round by round (> 1: ours is faster); ± is half the interquartile "
              "range over the median. floor = our time over the op's bytes at `copy_` speed (1.0 = at the memory "
              "floor). Overhead = our time - torch's for a one-element forward. Saved = bytes kept for backward, in "
              "units of n * itemsize. Every case, with its quartiles: results.json."]
    return lines


# ---------------------------------------------------------------- output files


def write_all(config, runs, wall, out, load, primary):
    """Print the summary, write results.json, results.md and the plots;
    return the exit status."""
    os.makedirs(out, exist_ok=True)
    targets = [t for run in runs for t in targets_for(run, primary)]
    status = exit_status(targets)
    rows, headers = op_table(runs, primary)
    plots = write_plots(out, runs, primary)
    summary = summary_lines(config, runs, wall, load, targets, primary)
    if plots:
        summary.append("Plots: " + ", ".join(f"[{name[:-4].replace('_', ' ')}]({name})" for name in plots) + ".")
    print("\n" + "\n".join(line.replace("**", "") for line in summary if line != "```"))
    print("\n" + text_table(rows, headers))
    for run in runs:
        for line in problem_lines(run):
            print("! " + line)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(_rounded({"config": config, "wall_s": wall, "load_check": load, "primary_allocation": primary,
                            "summary": {"targets": targets, "exit_status": status}, "runs": runs}),
                  f, separators=(",", ":"))
    with open(os.path.join(out, "results.md"), "w") as f:
        problems = [line for run in runs for line in problem_lines(run)]
        f.write("\n".join(["# torch-activations benchmark", "", *summary, "", markdown_table(rows, headers), ""]
                          + (["Problems:", "", *[f"- {p}" for p in problems], ""] if problems else [])))
    print(f"\nwrote {out}/results.json, results.md" + "".join(f", {p}" for p in plots))
    print(f"exit status {status}: " + ("every measured target held" if status == 0 else "a target did not hold"))
    return status


def _rounded(value, digits=5):
    """Floats to `digits` significant digits: far finer than any spread."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v, digits) for v in value]
    return value


def problem_lines(run):
    lines = [f"compile failed for {r['op']} {r['dtype']} {r['mode']}: {r['compile_error']}"
             for r in run["results"] if r["compile_error"]]
    tolerance = {"float32": 1e-3, "bfloat16": 3e-2}
    lines += [f"ours and torch disagree: {_case_name(r)}, max relative difference {r['max_rel_diff']:.2g}"
              for r in run["results"] if r["max_rel_diff"] > tolerance.get(r["dtype"], 1e-3)]
    return lines


# ---------------------------------------------------------------- plots


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no plots")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_plots(out, runs, primary):
    plt = _pyplot()
    if plt is None:
        return []
    run = next(r for r in runs if r["allocation"] == primary)
    written = []
    if plot_ratio_vs_size(plt, run, os.path.join(out, "ratio_vs_size.png")):
        written.append("ratio_vs_size.png")
    if plot_bandwidth(plt, run, os.path.join(out, "bandwidth.png")):
        written.append("bandwidth.png")
    return written


def _size_series(run):
    """The results to plot against size: the sweep if it ran, else the main section's fwd+bwd."""
    series = sweep_results(run)
    if len({r["log2_size"] for r in series}) < 2:
        series = [r for r in run["results"] if "main" in r["sections"] and r["mode"] == "fwdbwd"]
    return series if len({r["log2_size"] for r in series}) >= 2 else []


def _grid(plt, count, title):
    columns = min(5, count)
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows + 0.8), sharex=True, sharey=True,
                             squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    return fig, list(axes.flat)[:count]


def _subtitle(run):
    meta = run["metadata"]
    return (f"{meta['device']}, {meta['threads']} threads, {allocation_label(run['allocation'])}, "
            f"torch {meta['torch']}, {meta['date_utc'][:10]}")


def plot_ratio_vs_size(plt, run, path):
    """One panel per op: torch time / ours against size, float32 and
    bfloat16, with the interquartile range; 1.0 and 1.2 marked."""
    series = _size_series(run)
    if not series:
        return False
    ops = list(dict.fromkeys(r["op"] for r in series))
    fig, axes = _grid(plt, len(ops), f"forward+backward, torch eager time / ours against size (bars: interquartile "
                                     f"range across rounds)\n{_subtitle(run)}")
    colors = {"float32": "tab:blue", "bfloat16": "tab:orange"}
    band = SWEEP_MEDIAN_RANGE
    ratios = [r["ratio_eager"] for r in series]
    # outliers (a loaded machine's) beyond these show as triangles on the edge
    low, high = max(min(ratios) / 1.3, RATIO_PLOT_RANGE[0]), min(max(ratios) * 1.3, RATIO_PLOT_RANGE[1])
    for ax, op in zip(axes, ops):
        ax.axvspan(band[0] - 0.25, band[1] + 0.25, color="0.93", zorder=0)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.axhline(1.2, color="0.5", linewidth=0.8, linestyle="--")
        for dtype, color in colors.items():
            points = sorted((r["log2_size"], r["ratio_eager"], r["ratio_eager_q"]) for r in series
                            if r["op"] == op and r["dtype"] == dtype)
            if not points:
                continue
            ks, values, quartiles = zip(*points)
            errors = [[max(0.0, v - q[0]) for v, q in zip(values, quartiles)],
                      [max(0.0, q[1] - v) for v, q in zip(values, quartiles)]]
            ax.errorbar(ks, values, yerr=errors, color=color, marker=".", linewidth=1.2, capsize=2, label=dtype)
            for k, v in zip(ks, values):
                if not low <= v <= high:
                    ax.plot([k], [high if v > high else low], marker="^" if v > high else "v", color=color,
                            clip_on=False)
        ax.set_title(op, fontsize=9)
        ax.grid(True, which="major", linewidth=0.3)
    ticks = [t for t in (1 / 16, 0.125, 0.25, 0.5, 1, 2, 4, 8, 16) if low <= t <= high]
    axes[0].set_yscale("log")
    axes[0].set_ylim(low, high)
    axes[0].set_yticks(ticks, [f"{t:g}" for t in ticks])
    axes[0].minorticks_off()
    return _finish_panels(plt, fig, axes, "torch time / our time (> 1: ours faster)", path)


def plot_bandwidth(plt, run, path):
    """One panel per op: GB/s of ours and of torch against size (float32
    forward+backward), under the copy bandwidth of the same size."""
    series = [r for r in _size_series(run) if r["dtype"] == "float32"]
    if not series:
        return False
    ops = list(dict.fromkeys(r["op"] for r in series))
    sizes = {r["log2_size"] for r in series}
    copies = sorted((c["log2_size"], c["gbps"]) for c in run["copy"] if c["dtype"] == "float32" and c["log2_size"] in sizes)
    fig, axes = _grid(plt, len(ops), "float32 forward+backward: bytes that must move / time, against size; "
                                     f"dashed: dst.copy_(src)\n{_subtitle(run)}")
    for ax, op in zip(axes, ops):
        for key, label, style in (("ours_gbps", "ours", "-"), ("torch_gbps", "torch", ":")):
            points = sorted((r["log2_size"], r[key]) for r in series if r["op"] == op)
            ax.plot(*zip(*points), linestyle=style, marker=".", label=label)
        if copies:
            ax.plot(*zip(*copies), color="black", linestyle="--", linewidth=1, label="copy")
        ax.set_title(op, fontsize=9)
        ax.set_yscale("log")
        ax.grid(True, linewidth=0.3)
    return _finish_panels(plt, fig, axes, "GB/s", path)


def _finish_panels(plt, fig, axes, ylabel, path):
    """The small multiples' common ending: legend, axis labels, save."""
    axes[0].legend(fontsize=7, loc="best")
    for ax in axes:
        ax.set_xlabel("log2(elements)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.text(0.005, 0.5, ylabel, rotation=90, va="center", fontsize=8)
    fig.tight_layout(rect=(0.02, 0, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True

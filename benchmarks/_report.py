"""Turning measurements into the terminal table, the target summary,
results.json, results.md and the plots."""

import json
import os
import statistics

from torch_activations.registry import POINTWISE

CPU_TARGET_LOG2 = 23  # the CPU targets are stated at 8M float32 elements
COLUMNS = ("op", "dtype", "size", "mode", "ours ms", "torch ms", "compile ms", "vs eager", "vs compile",
           "GB/s", "% copy", "floor", "saved ours/torch")


# ---------------------------------------------------------------- tables


def _ms(stats):
    return f"{stats['median_s'] * 1e3:.3f}" if stats else "-"


def _x(value):
    return f"{value:.2f}x" if value is not None else "-"


def _saved(saved):
    return f"{saved['ours'] / saved['unit']:.2f}x / {saved['torch'] / saved['unit']:.2f}x n*itemsize"


def table_rows(results):
    return [
        (r["op"], r["dtype"], f"2^{r['log2_size']}", r["mode"], _ms(r["ours"]), _ms(r["torch"]), _ms(r["compile"]),
         _x(r["ratio_eager"]), _x(r["ratio_compile"]), f"{r['ours_gbps']:.1f}", f"{r['pct_copy']:.0f}%",
         f"{r['floor_ratio']:.2f}", _saved(r["saved"]))
        for r in results
    ]


def text_table(rows, headers=COLUMNS):
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) if i >= 4 else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(headers), line("-" * w for w in widths)] + [line(row) for row in rows])


def markdown_table(rows, headers=COLUMNS):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" if i < 4 else "---:" for i in range(len(headers))) + "|"]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


# ---------------------------------------------------------------- targets


def _target(text, value, ok, detail=""):
    return {"target": text, "value": value, "ok": ok, "detail": detail}


def _skipped(text, why):
    return _target(text, "not measured", None, why)


def _nearest_size(results, wanted):
    sizes = sorted({r["log2_size"] for r in results})
    return min(sizes, key=lambda k: (abs(k - wanted), -k)) if sizes else None


def cpu_targets(results):
    main = [r for r in results if not r["sweep"] and r["dtype"] == "float32" and r["mode"] == "fwdbwd"]
    k = _nearest_size(main, CPU_TARGET_LOG2)
    if k is None:
        why = "needs float32 fwdbwd results"
        return [_skipped(t, why) for t in ("median ratio vs eager >= 1.5", "lowest op ratio >= 1.0", "worst pointwise floor <= 2.0")]
    at = [r for r in main if r["log2_size"] == k]
    where = f"float32 fwd+bwd at 2^{k}" + ("" if k == CPU_TARGET_LOG2 else f" (nearest measured to 2^{CPU_TARGET_LOG2})")
    median = statistics.median(r["ratio_eager"] for r in at)
    lowest = min(at, key=lambda r: r["ratio_eager"])
    targets = [
        _target(f"median ratio vs eager >= 1.5, {where}", f"{median:.2f}x", median >= 1.5, f"{len(at)} ops"),
        _target(f"lowest op ratio vs eager >= 1.0, {where}", f"{lowest['ratio_eager']:.2f}x ({lowest['op']})",
                lowest["ratio_eager"] >= 1.0, _list_beyond(at, "ratio_eager", 1.0, "below")),
    ]
    pointwise = [r for r in at if r["kind"] == POINTWISE]
    if pointwise:
        worst = max(pointwise, key=lambda r: r["floor_ratio"])
        targets.append(_target(f"worst pointwise floor ratio <= 2.0, {where}", f"{worst['floor_ratio']:.2f} ({worst['op']})",
                               worst["floor_ratio"] <= 2.0, _list_beyond(pointwise, "floor_ratio", 2.0, "above")))
    else:
        targets.append(_skipped("worst pointwise floor ratio <= 2.0", "no pointwise op measured"))
    return targets


def cuda_targets(results):
    main = [r for r in results if not r["sweep"]]
    if not main:
        return [_skipped("CUDA targets", "no results")]
    k = max(r["log2_size"] for r in main)
    at = [r for r in main if r["log2_size"] == k]
    targets = []
    for dtype in sorted({r["dtype"] for r in at}):
        for mode in ("fwd", "fwdbwd"):
            group = [r for r in at if r["dtype"] == dtype and r["mode"] == mode]
            if group:
                worst = min(group, key=lambda r: r["pct_copy"])
                targets.append(_target(f"% of copy bandwidth >= 95 every op, {dtype} {mode} at 2^{k}",
                                       f"lowest {worst['pct_copy']:.0f}% ({worst['op']})", worst["pct_copy"] >= 95,
                                       _list_beyond(group, "pct_copy", 95, "below")))
    lowest = min(at, key=lambda r: r["ratio_eager"])
    targets.append(_target(f"ratio vs eager >= 1.0 every op at 2^{k}", f"lowest {lowest['ratio_eager']:.2f}x ({lowest['op']} {lowest['dtype']} {lowest['mode']})",
                           lowest["ratio_eager"] >= 1.0, _list_beyond(at, "ratio_eager", 1.0, "below")))
    composites = [r for r in at if r["composite"]]
    if composites:
        worst = min(composites, key=lambda r: r["ratio_eager"])
        targets.append(_target(f"composites >= 2x eager at 2^{k}", f"lowest {worst['ratio_eager']:.2f}x ({worst['op']} {worst['dtype']} {worst['mode']})",
                               worst["ratio_eager"] >= 2.0, _list_beyond(composites, "ratio_eager", 2.0, "below")))
    sweep = [r for r in results if r["sweep"]]
    if sweep:
        worst = min(sweep, key=lambda r: r["ratio_eager"])
        targets.append(_target("softmax row sweep >= 1.0x eager", f"lowest {worst['ratio_eager']:.2f}x ({worst['op']} {worst['dtype']} {worst['mode']})",
                               worst["ratio_eager"] >= 1.0, _list_beyond(sweep, "ratio_eager", 1.0, "below")))
    else:
        targets.append(_skipped("softmax row sweep >= 1.0x eager", "sweep not run (full mode only)"))
    return targets


def _case_name(r):
    return f"{r['op']} {r['dtype']} 2^{r['log2_size']} {r['mode']}"


def _list_beyond(results, key, bound, side):
    """The cases whose `key` lies past `bound` on `side` ("below" or "above")."""
    past = (lambda v: v < bound) if side == "below" else (lambda v: v > bound)
    cases = [f"{_case_name(r)} {r[key]:.2f}" for r in results if past(r[key])]
    return f"{side}: " + "; ".join(cases) if cases else ""



def targets_for(run):
    results = run["results"]
    return cpu_targets(results) if run["metadata"]["device_type"] == "cpu" else cuda_targets(results)


def summary_lines(targets):
    verdict = {True: "PASS", False: "FAIL", None: "SKIP"}
    lines = []
    for t in targets:
        lines.append(f"{verdict[t['ok']]}  {t['target']}: {t['value']}")
        if t["detail"]:
            lines.append(f"      {t['detail']}")
    return lines


def attention_lines(results):
    """Every case behind torch eager, or a pointwise op more than 2x off the memory floor."""
    lines = [f"ratio {r['ratio_eager']:.2f}x vs eager: {_case_name(r)}" for r in results if r["ratio_eager"] < 1.0]
    lines += [f"floor ratio {r['floor_ratio']:.2f}: {_case_name(r)}" for r in results
              if r["kind"] == POINTWISE and r["floor_ratio"] > 2.0]
    return lines


def problem_lines(run):
    lines = [f"compile failed for {r['op']} {r['dtype']} {r['mode']}: {r['compile_error']}"
             for r in run["results"] if r["compile_error"]]
    tolerance = {"float32": 1e-3, "bfloat16": 3e-2}
    lines += [f"ours and torch disagree: {_case_name(r)}, max relative difference {r['max_rel_diff']:.2g}"
              for r in run["results"] if r["max_rel_diff"] > tolerance.get(r["dtype"], 1e-3)]
    return lines


# ---------------------------------------------------------------- output files


def _title(run):
    meta = run["metadata"]
    probe = meta["fresh_fill_64MiB_ms"]
    probe_text = f", fresh 64 MiB fill {probe:.1f} ms" if probe is not None else ""
    env = " ".join(f"{k}={v}" for k, v in meta["malloc_env"].items()) or "MALLOC_* unset"
    return f"allocation: {run['allocation']} ({env}{probe_text})"


def _metadata_lines(config, runs, wall):
    meta = runs[0]["metadata"]
    return [
        f"device: {meta['device']} ({meta['device_type']}), threads: {meta['threads']}, CPU ISA: {meta['cpu_isa']}",
        f"torch {meta['torch']}, Python {meta['python']}, {meta['libc']}, date {meta['date_utc']}",
        f"mode: {config['run_mode']}, allocation: {', '.join(r['allocation'] for r in runs)}, wall time {wall:.0f} s",
        f"command: {config['command']}",
    ]


def write_markdown(path, config, runs, targets, wall):
    parts = ["# torch-activations benchmark", "", *[f"- {line}" for line in _metadata_lines(config, runs, wall)], ""]
    parts += ["ratio = torch time / our time (>1: we are faster). % copy = our bandwidth against "
              "`dst.copy_(src)` of the same dtype and size; floor = our time / (bytes / copy bandwidth). "
              "Bytes: fwd 2, fwd+bwd 5 x n x itemsize. Saved: bytes kept for backward, ours / torch eager.", ""]
    for run in runs:
        parts += [f"## Summary, {_title(run)}", "", "```", *summary_lines(targets[run["allocation"]]), "```", ""]
    for run in runs:
        attention = attention_lines(run["results"]) + problem_lines(run)
        parts += [f"## Results, {_title(run)}", ""]
        if attention:
            parts += ["Needs attention:", "", *[f"- {line}" for line in attention], ""]
        parts += [markdown_table(table_rows(run["results"])), ""]
        copies = [(c["dtype"], f"2^{c['log2_size']}", f"{c['median_s'] * 1e3:.3f}", f"{c['gbps']:.1f}") for c in run["copy"]]
        parts += ["Copy bandwidth:", "", markdown_table(copies, ("dtype", "size", "ms", "GB/s")), ""]
    with open(path, "w") as f:
        f.write("\n".join(parts))


def write_all(config, runs, wall, out):
    os.makedirs(out, exist_ok=True)
    targets = {run["allocation"]: targets_for(run) for run in runs}
    for run in runs:
        print(f"\n== {_title(run)}")
        print(text_table(table_rows(run["results"])))
        for line in problem_lines(run):
            print("! " + line)
    print()
    print("\n".join(_metadata_lines(config, runs, wall)))
    for run in runs:
        print(f"\nSummary, {_title(run)}")
        print("\n".join(summary_lines(targets[run["allocation"]])))
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"config": config, "wall_s": wall, "summary": targets, "runs": runs}, f, indent=1)
    write_markdown(os.path.join(out, "results.md"), config, runs, targets, wall)
    write_plots(out, runs)
    print(f"\nwrote {out}/results.json, results.md" + ("" if not _HAS_PLOTS[0] else ", ratio.png, bandwidth.png"))


# ---------------------------------------------------------------- plots

_HAS_PLOTS = [False]


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: skipping ratio.png and bandwidth.png")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_plots(out, runs):
    plt = _pyplot()
    if plt is None:
        return
    _HAS_PLOTS[0] = True
    plot_ratio(plt, runs, os.path.join(out, "ratio.png"))
    plot_bandwidth(plt, runs, os.path.join(out, "bandwidth.png"))


def _float32_main(run):
    return [r for r in run["results"] if not r["sweep"] and r["dtype"] == "float32"]


def plot_ratio(plt, runs, path):
    """Our speed ratio vs eager per op at the largest float32 size, fwd and fwd+bwd."""
    fig, axes = plt.subplots(len(runs), 1, figsize=(14, 4.5 * len(runs)), squeeze=False)
    for ax, run in zip(axes[:, 0], runs):
        results = _float32_main(run)
        if not results:
            ax.set_visible(False)
            continue
        k = max(r["log2_size"] for r in results)
        ops = list(dict.fromkeys(r["op"] for r in results))
        for offset, mode in ((-0.2, "fwd"), (0.2, "fwdbwd")):
            ratios = {r["op"]: r["ratio_eager"] for r in results if r["log2_size"] == k and r["mode"] == mode}
            ax.bar([i + offset for i, op in enumerate(ops)], [ratios.get(op, 0) for op in ops], width=0.4,
                   label="fwd+bwd" if mode == "fwdbwd" else mode)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(ops)), ops, rotation=45, ha="right")
        ax.set_ylabel("torch eager time / our time")
        ax.set_title(f"float32, 2^{k} elements, {run['metadata']['device']}, allocation {run['allocation']}")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_bandwidth(plt, runs, path):
    """Our GB/s against size per op (float32), with the copy bandwidth as the ceiling."""
    modes = ("fwd", "fwdbwd")
    fig, axes = plt.subplots(len(runs), 2, figsize=(15, 5.5 * len(runs)), squeeze=False)
    colors = plt.get_cmap("tab20").colors + plt.get_cmap("tab20b").colors
    for row_axes, run in zip(axes, runs):
        results = _float32_main(run)
        ops = list(dict.fromkeys(r["op"] for r in results))
        copies = sorted((c["log2_size"], c["gbps"]) for c in run["copy"] if c["dtype"] == "float32")
        for ax, mode in zip(row_axes, modes):
            for color, op in zip(colors, ops):
                points = sorted((r["log2_size"], r["ours_gbps"]) for r in results if r["op"] == op and r["mode"] == mode)
                if points:
                    ax.plot(*zip(*points), marker=".", color=color, label=op)
            if copies:
                ax.plot(*zip(*copies), color="black", linestyle="--", linewidth=2, label="copy")
            ax.set_xlabel("log2(elements)")
            ax.set_ylabel("GB/s (bytes that must move / time)")
            ax.set_title(f"float32 {'fwd+bwd' if mode == 'fwdbwd' else mode}, allocation {run['allocation']}")
        row_axes[1].legend(fontsize=7, ncol=2, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

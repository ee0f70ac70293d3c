"""Prints the README's table of activations from the registry.

    python scripts/readme_table.py            # print the table
    python scripts/readme_table.py --check    # exit 1 if README.md differs
    python scripts/readme_table.py --write    # put it into README.md

CUDA_STATUS records where the CUDA kernels last ran the whole test suite.
The accuracy column comes from scripts/accuracy.json, written by
`python scripts/accuracy.py --write` (the sweep is not rerun here).
"""

import json
import pathlib
import sys

from torch_activations.registry import ACTIVATIONS, CHANNELWISE

CUDA_STATUS = "compiled, not yet run on a GPU"

BEGIN, END = "<!-- activations table: begin -->", "<!-- activations table: end -->"
ACCURACY = pathlib.Path(__file__).resolve().parent / "accuracy.json"


def _signature(spec):
    if spec.name == "swish_learnable":
        return "`swish(input, beta: Tensor)`"
    if spec.kind == CHANNELWISE:
        return f"`{spec.name}(input, weight)`"
    params = "".join(f", {n}={d!r}" for n, d in spec.params)
    inplace = ", inplace=False" if spec.inplace else ""
    return f"`{spec.name}(input{params}{inplace})`"


def _module(spec):
    if spec.name == "swish_learnable":
        return "`Swish(beta, learnable=True)`"
    return f"`{spec.module}`"


def _twin(spec):
    if spec.torch_module is not None:
        return f"`torch.nn.{spec.torch_module.__name__}`"
    return "none (reference: composite expression)"


def _ulps(v):
    return f"{v:.2f}" if v < 100 else f"{v:.3g}"


def _accuracy(spec, measured):
    """'ours / torch' max float32 forward ulps, for each parameter set measured."""
    cells = []
    for label, r in measured.items():
        if label == spec.name or label.startswith(spec.name + "("):
            params = label[len(spec.name):].strip("()")
            cells.append((f"{params}: " if params else "") + f"{_ulps(r['ours'])} / {_ulps(r['torch'])}")
    if not cells:
        raise SystemExit(f"scripts/accuracy.json has no figures for {spec.name}: run scripts/accuracy.py --write")
    return "; ".join(cells)


def table():
    measured = json.loads(ACCURACY.read_text())["float32_forward_max_ulps"]
    rows = [
        "| functional | module | torch twin | backward saves | float32 max ulps, ours / torch | CPU | CUDA |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in ACTIVATIONS:
        saves = "input, weight" if spec.kind == CHANNELWISE else spec.saves
        if spec.saves_otherwise:
            saves += f" ({spec.saves_otherwise})"
        rows.append(f"| {_signature(spec)} | {_module(spec)} | {_twin(spec)} | {saves} | "
                    f"{_accuracy(spec, measured)} | tested | {CUDA_STATUS} |")
    return "\n".join(rows)


def main():
    text = table()
    if "--check" not in sys.argv and "--write" not in sys.argv:
        print(text)
        return
    path = pathlib.Path(__file__).resolve().parent.parent / "README.md"
    readme = path.read_text()
    before, rest = readme.split(BEGIN, 1)
    current, after = rest.split(END, 1)
    if "--write" in sys.argv:
        path.write_text(f"{before}{BEGIN}\n{text}\n{END}{after}")
    elif current.strip() != text:
        sys.exit("README.md's table is out of date: run python scripts/readme_table.py and paste it in")


if __name__ == "__main__":
    main()

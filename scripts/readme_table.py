"""Prints the README's table of activations from the registry.

    python scripts/readme_table.py            # print the table
    python scripts/readme_table.py --check    # exit 1 if README.md differs

CUDA_STATUS records what evidence the CUDA kernels have: compiled by nvcc,
and the whole test suite run through them under the CPU emulation of CUDA
(tools/test_cuda_emulated.sh, in CI); no GPU has run them yet.
"""

import pathlib
import sys

from torch_activations.registry import ACTIVATIONS, CHANNELWISE

CUDA_STATUS = "compiled by nvcc; tested under CPU emulation in CI; not yet run on a GPU"

BEGIN, END = "<!-- activations table: begin -->", "<!-- activations table: end -->"


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


def table():
    rows = [
        "| functional | module | torch twin | backward saves | CPU | CUDA |",
        "|---|---|---|---|---|---|",
    ]
    for spec in ACTIVATIONS:
        saves = "input, weight" if spec.kind == CHANNELWISE else spec.saves
        rows.append(f"| {_signature(spec)} | {_module(spec)} | {_twin(spec)} | {saves} | tested | {CUDA_STATUS} |")
    return "\n".join(rows)


def main():
    text = table()
    if "--check" not in sys.argv:
        print(text)
        return
    readme = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()
    current = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    if current != text:
        sys.exit("README.md's table is out of date: run python scripts/readme_table.py and paste it in")


if __name__ == "__main__":
    main()

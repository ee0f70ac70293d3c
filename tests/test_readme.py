"""The README's table of activations is generated from the registry."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_readme_table_is_current():
    run = subprocess.run([sys.executable, "scripts/readme_table.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_readme_table_lists_every_op():
    from torch_activations.registry import ACTIVATIONS

    readme = (ROOT / "README.md").read_text()
    for spec in ACTIVATIONS:
        assert f"| `{spec.module}" in readme, spec.name

"""The package's build backend: setuptools', plus the torch to build against.

The compiled libraries link against the torch they are built with and load
with that torch only. An isolated build (pip's default) installs the build
requirements into a fresh environment, so the torch requested here is the
version installed in the environment being installed into, or any recent torch
when there is none (the wheel then requires that version). setup.py compares
the two before compiling and stops with the command to run when they still
differ (another build of the same version: CPU-only against CUDA).
"""

import json
import subprocess
import sys
import tempfile

from setuptools.build_meta import *  # noqa: F401,F403  (every hook setuptools provides)

ANY_RECENT_TORCH = "torch>=2.6"


def installed_torch():
    """(torch.__version__, torch.version.cuda) where sys.executable installs
    packages, or None when torch is not installed there. `python -E` ignores
    PYTHONPATH, through which pip puts its isolated build environment first."""
    code = "import json, torch; print(json.dumps([str(torch.__version__), torch.version.cuda]))"
    try:
        done = subprocess.run([sys.executable, "-E", "-c", code], capture_output=True, text=True,
                              cwd=tempfile.gettempdir(), timeout=600)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0 or not done.stdout.strip():
        return None
    version, cuda = json.loads(done.stdout.strip().splitlines()[-1])
    return version, cuda


def torch_label(version, cuda):
    return f"{version} ({'CUDA ' + cuda if cuda else 'CPU-only'})"


def _torch_requirement():
    torch = installed_torch()
    return [f"torch=={torch[0].split('+')[0]}" if torch else ANY_RECENT_TORCH]


# setup.py imports torch, so every hook that runs it needs torch installed.
def get_requires_for_build_wheel(config_settings=None):
    return _torch_requirement()


def get_requires_for_build_editable(config_settings=None):
    return _torch_requirement()


def get_requires_for_build_sdist(config_settings=None):
    return _torch_requirement()

"""The build record: what the package was compiled against, and the refusal
of another torch at import (one line, with the command that rebuilds)."""

import pathlib
import sys

import pytest
import torch

import torch_activations as ta
from torch_activations import _library

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_the_build_recorded_the_running_torch():
    info = _library._read_build_info()
    assert info is not None
    assert (info["torch"], info["torch_cuda"]) == (str(torch.__version__), torch.version.cuda)
    assert info["cuda_kernels"] == ta.HAS_CUDA_KERNELS
    assert ta.CPU_ISA in info["cpu_isas"] or (ta.CUDA_EMULATION and ta.CPU_ISA is None)
    for stem, filename in info["libraries"].items():  # the loader uses exactly these files
        assert _library._library_path(stem) == str(pathlib.Path(_library._HERE) / filename)


@pytest.mark.parametrize("built", [("1.0.0", None), (str(torch.__version__), "0.1"), (str(torch.__version__), None)])
def test_another_torch_is_refused_in_one_line_with_the_fix(built):
    running = (str(torch.__version__), torch.version.cuda)
    if built == running:
        pytest.skip("the same torch as the running one")
    with pytest.raises(ImportError) as raised:
        _library._check_build({"torch": built[0], "torch_cuda": built[1], "source": str(ROOT)})
    message = str(raised.value)
    assert "\n" not in message
    assert f"built against torch {built[0]}" in message and f"but torch {running[0]}" in message
    assert "rebuild it for this torch: " in message
    assert ("setup.py build_ext --inplace" in message) or ("pip install --no-build-isolation" in message)


def test_a_missing_record_is_refused():
    with pytest.raises(ImportError, match="no record of the torch it was built against"):
        _library._check_build(None)


def test_the_build_backend_sees_the_installed_torch(monkeypatch):
    sys.path.insert(0, str(ROOT))
    try:
        import build_backend
    finally:
        sys.path.remove(str(ROOT))
    installed = build_backend.installed_torch()
    # PYTHONPATH-only installs are invisible to it (python -E), as pip's build environment is
    if installed is not None:
        assert installed == (str(torch.__version__), torch.version.cuda)
    # an isolated build asks for the installed version, or any recent torch where there is none
    monkeypatch.setattr(build_backend, "installed_torch", lambda: ("2.13.0+cpu", None))
    assert build_backend.get_requires_for_build_wheel() == ["torch==2.13.0"]
    monkeypatch.setattr(build_backend, "installed_torch", lambda: None)
    assert build_backend.get_requires_for_build_wheel() == [build_backend.ANY_RECENT_TORCH]

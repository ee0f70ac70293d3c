"""Run code when a module is first imported, not before: the integrations
with optional parts of torch (DTensor) cost nothing to a user who never
imports them."""

import importlib.abc
import importlib.machinery
import sys
import warnings


def when_imported(name, action):
    """action() once module `name` is imported (now, if it already is)."""
    if name in sys.modules:
        _run(name, action)
    else:
        sys.meta_path.insert(0, _Watch(name, action))


def _run(name, action):
    try:
        action()
    except Exception as error:  # an integration must never break the import of `name`
        warnings.warn(f"torch_activations: its {name} integration failed to register: {error!r}", stacklevel=3)


class _Watch(importlib.abc.MetaPathFinder):
    def __init__(self, name, action):
        self.name, self.action = name, action

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenRun(spec.loader, self.name, self.action)
        return spec


class _ThenRun(importlib.abc.Loader):
    def __init__(self, loader, name, action):
        self.loader, self.name, self.action = loader, name, action

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        _run(self.name, self.action)

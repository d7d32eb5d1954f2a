"""Fixtures of the knowledge-base tests.

Self-service through WeChat and QQ (test_selfservice_channels.py) reuses the adapter tests'
fake platforms, fixtures and end-to-end helpers rather than copies of them. Their directories
(tests/adapters/wechat, tests/adapters/qq) are no packages: their modules import one another
by bare name (``from fake_qq import FakeQQ``, ``from conftest import qq_config``), as pytest
imports them for their own tests, with the directory on ``sys.path``. ``adapter_tests`` imports
them the same way, so a run of both suites shares one copy of each module.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ADAPTER_TESTS = Path(__file__).resolve().parents[1] / "adapters"


def adapter_tests(platform: str, module: str) -> ModuleType:
    """tests/adapters/<platform>/<module>.py, imported as pytest imports it there."""
    directory = ADAPTER_TESTS / platform
    if str(directory) not in sys.path:
        sys.path.append(str(directory))
    if module == "conftest":
        # Both directories have a conftest.py: each gets its own name here.
        return _by_path(f"{platform}_conftest", directory / "conftest.py")
    loaded = sys.modules.get(module)
    if loaded is not None:
        return loaded
    # The module may import its directory's conftest by bare name: that one, for the import.
    saved = sys.modules.get("conftest")
    sys.modules["conftest"] = adapter_tests(platform, "conftest")
    try:
        return importlib.import_module(module)
    finally:
        if saved is None:
            sys.modules.pop("conftest", None)
        else:
            sys.modules["conftest"] = saved


def _by_path(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# The adapter tests' own fake-platform fixtures (their conftest.py), under names of their own.
wechat_fake = adapter_tests("wechat", "conftest").fake
qq_fake = adapter_tests("qq", "conftest").fake

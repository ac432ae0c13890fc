"""The on-disk cache: its folder, and generated source written there and imported as a module."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType


def cache_dir() -> Path:
    """`$ATTNHLS_CACHE`, else `$XDG_CACHE_HOME/attnhls`, else `~/.cache/attnhls`."""
    if os.environ.get("ATTNHLS_CACHE"):
        return Path(os.environ["ATTNHLS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "attnhls"


def load_source(source: str, kind: str) -> ModuleType:
    """Import `source` from `<cache>/<kind>/m_<hash>.py` (written once; Numba caches beside it)."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    name = f"attnhls_gen_{kind}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    folder = cache_dir() / kind
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"m_{digest}.py"
    if not path.exists() or path.read_text() != source:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source)
        os.replace(tmp, path)  # NOTE: atomic, so parallel test workers never read half a file
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path  # a .py file always has a source loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module

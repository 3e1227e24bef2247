"""pe-bench: compare positional encodings on speed, KV-cache behaviour, length extrapolation and tasks.

The Python API in one place: ``pe_bench.run(...)`` does what ``pe-bench compare`` does
(session.py); ``plot_results`` draws a folder's figures again, and its summary with them;
``make_runtime`` says where to run. They are imported on first use, so ``import pe_bench``
stays light.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("pe-bench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

_API = {"run": "pe_bench.session", "Reporter": "pe_bench.session", "plot_results": "pe_bench.replot",
        "make_runtime": "pe_bench.runtime"}


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'pe_bench' has no attribute {name!r}")


__all__ = ["__version__", *_API]

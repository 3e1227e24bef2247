"""pe-bench: compare positional encodings on speed, KV-cache behaviour and length extrapolation."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pe-bench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

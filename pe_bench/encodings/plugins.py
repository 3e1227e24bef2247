"""Encodings a user brings: a file, a module, or an installed package's entry point.

Wherever an encoding name is accepted, a user can give

- ``path/to/file.py:ClassName`` — a Python file anywhere (loaded under a private module name,
  with its folder importable while it loads, so it can import a module beside it);
- ``package.module:ClassName`` — an importable module;
- or a name that an installed package registers under the entry-point group
  ``pe_bench.encodings`` (``[project.entry-points."pe_bench.encodings"] gaussian = "pkg.mod:Gaussian"``).

A loaded class is checked (a ``PositionalEncoding`` subclass declaring a name, a family, a
description and whether it is shift-invariant, whose name no built-in has) and registered
under its own ``name``, so tables, resume keys and figures use that name. ``Origin`` says
where each registered encoding came from, with the sha256 of its source file, so a run's
manifest names exactly what it measured. Every problem is an ``InputError`` naming the file
and what is wrong.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from pe_bench.encodings.base import Family, PositionalEncoding
from pe_bench.errors import InputError

ENTRY_POINT_GROUP = "pe_bench.encodings"
REQUIRED_CLAIMS = ("name", "family", "description", "shift_invariant")


@dataclass(frozen=True)
class Origin:
    """Where a registered encoding came from."""

    kind: str  # "built-in", "file", "module" or "entry point"
    source: str = ""  # the spec or entry point a user gave ("examples/gaussian.py:Gaussian")
    path: str = ""  # the source file, resolved
    sha256: str = ""  # of the source file's bytes

    def describe(self) -> str:
        return self.kind if self.kind == "built-in" else f"{self.kind} {self.source}"

    def record(self) -> dict[str, str]:
        """For the manifest."""
        return {"kind": self.kind, "source": self.source, "path": self.path, "sha256": self.sha256}


BUILT_IN = Origin("built-in")


def is_spec(name: str) -> bool:
    """True for ``file.py:Class`` and ``module:Class`` (a registry name has no colon)."""
    return ":" in name


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _import_file(path: Path, spec: str) -> ModuleType:
    if not path.exists():
        raise InputError(f"plugin {spec}: {path} does not exist")
    if not path.is_file():
        raise InputError(f"plugin {spec}: {path} is not a regular file")
    module_name = f"pe_bench_plugin_{_sha256(path)[:12]}_{path.stem}"
    if module_name in sys.modules:  # the same file, unchanged, loaded before
        return sys.modules[module_name]
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise InputError(f"plugin {spec}: {path} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up by name
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # so that `from helper import X` finds examples/x/helper.py
    try:
        loader_spec.loader.exec_module(module)
    except SyntaxError as e:
        del sys.modules[module_name]
        raise InputError(f"plugin {spec}: syntax error in {path} at line {e.lineno}: {e.msg}") from None
    except Exception as e:  # a plugin's own bug: report it in one line, whatever it is
        del sys.modules[module_name]
        raise InputError(f"plugin {spec}: importing {path} raised {type(e).__name__}: {e}") from None
    finally:
        sys.path.remove(folder)
    return module


def _import_module(module_name: str, spec: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        raise InputError(f"plugin {spec}: no module named '{e.name}' (give path/to/file.py:Class "
                         "or an importable package.module:Class)") from None
    except SyntaxError as e:
        raise InputError(f"plugin {spec}: syntax error in {e.filename} at line {e.lineno}: {e.msg}") from None
    except Exception as e:
        raise InputError(f"plugin {spec}: importing {module_name} raised {type(e).__name__}: {e}") from None


def check_class(cls: object, spec: str) -> type[PositionalEncoding]:
    """``cls`` if it is a usable encoding class; otherwise an InputError saying what is missing."""
    if not (inspect.isclass(cls) and issubclass(cls, PositionalEncoding)):
        raise InputError(f"plugin {spec} is not a positional encoding: it must be a subclass of "
                         "pe_bench.encodings.base.PositionalEncoding")
    missing = [claim for claim in REQUIRED_CLAIMS if not hasattr(cls, claim)]
    if missing:
        raise InputError(f"plugin {spec} does not declare {', '.join(missing)} (class attributes)")
    if not isinstance(cls.family, Family):
        raise InputError(f"plugin {spec}: family must be a pe_bench.encodings.base.Family, got {cls.family!r}")
    if not isinstance(cls.name, str) or not cls.name or ":" in cls.name or "," in cls.name:
        raise InputError(f"plugin {spec}: name must be a non-empty string without ':' or ',', got {cls.name!r}")
    return cls


def load_spec(spec: str) -> tuple[type[PositionalEncoding], Origin]:
    """The class ``spec`` names (``file.py:Class`` or ``module:Class``) and where it came from."""
    where, _, class_name = spec.rpartition(":")
    if not where or not class_name:
        raise InputError(f"plugin {spec}: give path/to/file.py:ClassName or package.module:ClassName")
    if where.endswith(".py") or "/" in where or "\\" in where:
        path = Path(where).expanduser()
        module = _import_file(path, spec)
        origin = Origin("file", spec, str(path.resolve()), _sha256(path))
    else:
        module = _import_module(where, spec)
        file = getattr(module, "__file__", None)
        origin = Origin("module", spec, file or "", _sha256(Path(file)) if file else "")
    if not hasattr(module, class_name):
        defined = sorted(n for n, v in vars(module).items()
                         if inspect.isclass(v) and issubclass(v, PositionalEncoding) and v.__module__ == module.__name__)
        hint = f"; it defines {', '.join(defined)}" if defined else "; it defines no encoding class"
        raise InputError(f"plugin {spec}: {where} has no class '{class_name}'{hint}")
    return check_class(getattr(module, class_name), spec), origin


def entry_point_specs() -> dict[str, str]:
    """Installed packages' encodings: entry-point name -> 'module:Class' (nothing is imported)."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_entry_point(name: str) -> tuple[type[PositionalEncoding], Origin]:
    """The class an installed package registers as ``name`` under ``pe_bench.encodings``."""
    (ep,) = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    spec = f"{ep.value} (entry point '{name}')"
    try:
        cls = ep.load()
    except Exception as e:
        raise InputError(f"plugin {spec}: loading it raised {type(e).__name__}: {e}") from None
    module = sys.modules.get(getattr(cls, "__module__", ""), None)
    file = getattr(module, "__file__", None) or ""
    dist = getattr(ep, "dist", None)
    source = f"{dist.name}: {ep.value}" if dist is not None else ep.value
    return check_class(cls, spec), Origin("entry point", source, file, _sha256(Path(file)) if file else "")

"""A user's own encoding: loaded from a file, a module or an entry point, checked, registered by name."""

import sys
import textwrap

import pytest
import torch

from pe_bench.encodings import encoding_class, parse_encodings, resolve
from pe_bench.errors import InputError
from pe_bench.model import build_model

GOOD = '''
import torch
from pe_bench.encodings.base import Family, PositionalEncoding


class Shifted(PositionalEncoding):
    """Adds a constant per position: an absolute encoding written by a user."""

    name = "{name}"
    family = Family.EMBEDDING
    description = "a test plugin"
    shift_invariant = False

    def embedding(self, positions, dtype):
        return (positions.to(dtype)[:, None] / 100).expand(-1, self.d_model)
'''


@pytest.fixture
def registry(plugin_registry):
    """Plugins registered by a test are forgotten after it."""
    return plugin_registry


def write(folder, source: str, name: str = "plug.py"):
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


def test_a_file_plugin_is_loaded_registered_under_its_name_and_runs(tmp_path, registry):
    path = write(tmp_path, GOOD.format(name="shifted"))
    assert resolve(f"{path}:Shifted") == "shifted"
    assert registry.ENCODINGS["shifted"].description == "a test plugin"
    origin = registry.ORIGINS["shifted"]
    assert origin.kind == "file" and origin.path == str(path.resolve()) and len(origin.sha256) == 64
    model = build_model(f"{path}:Shifted", "tiny")
    assert model(torch.randint(0, 256, (1, 8))).shape == (1, 8, 256)
    assert parse_encodings(f"rope,{path}:Shifted,all") == ("rope", "shifted", *registry.base_encodings()[:3],
                                                          *registry.base_encodings()[4:])


def test_a_file_plugin_imports_a_module_beside_it(tmp_path, registry):
    folder = tmp_path / "x"
    folder.mkdir()
    write(folder, "SCALE = 50\n", "beside_helper.py")
    path = write(folder, "from beside_helper import SCALE\n" + GOOD.format(name="beside").replace("100", "SCALE"))
    assert resolve(f"{path}:Shifted") == "beside"
    assert str(folder) not in sys.path  # importable while it loads, not afterwards


def test_a_module_plugin_is_loaded(tmp_path, registry, monkeypatch):
    write(tmp_path, GOOD.format(name="from-module"), "user_encodings_mod.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert resolve("user_encodings_mod:Shifted") == "from-module"
    assert registry.ORIGINS["from-module"].kind == "module"


def test_an_entry_point_plugin_is_found_by_name(tmp_path, registry, monkeypatch):
    write(tmp_path, GOOD.format(name="via-entry-point"), "entry_mod.py")
    info = tmp_path / "userplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: userplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[pe_bench.encodings]\nvia-entry-point = entry_mod:Shifted\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert encoding_class("via-entry-point").name == "via-entry-point"
    assert registry.ORIGINS["via-entry-point"].kind == "entry point"
    assert "via-entry-point" not in registry.base_encodings()  # 'all' means the built-ins


@pytest.mark.parametrize("source,spec,message", [
    (None, "{dir}/missing.py:X", "does not exist"),
    ("def broken(:\n", "{path}:X", "syntax error in"),
    ("import no_such_module_here\n", "{path}:X", "raised ModuleNotFoundError"),
    (GOOD.format(name="ok"), "{path}:Missing", "has no class 'Missing'; it defines Shifted"),
    ("class NotAnEncoding:\n    pass\n", "{path}:NotAnEncoding", "is not a positional encoding"),
    (GOOD.format(name="alibi"), "{path}:Shifted", "the name of a built-in encoding; change its `name` attribute"),
    (GOOD.format(name="ok").replace("    shift_invariant = False\n", ""), "{path}:Shifted",
     "does not declare shift_invariant"),
    (None, "no_such_package.module:X", "no module named 'no_such_package'"),
])
def test_bad_plugins_are_one_line_input_errors_naming_the_file(tmp_path, registry, source, spec, message):
    path = tmp_path / "plug.py"
    if source is not None:
        path.write_text(source)
    spec = spec.format(dir=tmp_path, path=path)
    with pytest.raises(InputError, match=message) as error:
        resolve(spec)
    assert "\n" not in str(error.value) and spec.split(":")[0] in str(error.value)


def test_two_plugins_with_one_name_are_refused(tmp_path, registry):
    a = write(tmp_path, GOOD.format(name="twin"), "a.py")
    b = write(tmp_path, GOOD.format(name="twin").replace("/ 100", "/ 50"), "b.py")
    resolve(f"{a}:Shifted")
    assert resolve(f"{a}:Shifted") == "twin"  # the same file again is fine
    with pytest.raises(InputError, match="like"):
        resolve(f"{b}:Shifted")

"""A run on a busy machine says so and records the load (issue 26, item 2)."""

from __future__ import annotations

import os

from pe_bench.machine import BUSY_PER_CORE, busy_notice, cpu_model, is_busy, machine_load
from pe_bench.results import manifest
from pe_bench.runtime import make_runtime


def test_the_load_is_read_against_the_cores(monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 2.0, 1.0))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert machine_load() == {"load_1min": 3.0, "cores": 2, "per_core": 1.5}


def test_a_busy_machine_gets_a_one_line_warning_and_a_quiet_one_none():
    busy = {"load_1min": 3.0, "cores": 2, "per_core": 1.5}
    notice = busy_notice(busy)
    assert notice is not None and "\n" not in notice
    assert "load 3.00 on 2 cores" in notice and "load_at_start" in notice
    assert busy_notice({"load_1min": 2 * BUSY_PER_CORE * 0.9, "cores": 2, "per_core": 0.45}) is None
    assert not is_busy(None) and busy_notice(None) is None  # no load average on this system


def test_no_load_average_is_none_not_an_error(monkeypatch):
    def unavailable():
        raise OSError("no /proc/loadavg")

    monkeypatch.setattr(os, "getloadavg", unavailable)
    assert machine_load() is None


def test_the_manifest_entry_records_the_load_at_start(monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (5.0, 1.0, 1.0))
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    entry = manifest.new_entry(encodings=("rope",), suites={}, preset="tiny",
                               runtime_record=make_runtime("cpu").record(), seed=None, resume=False, command=["x"])
    assert entry["load_at_start"] == {"load_1min": 5.0, "cores": 4, "per_core": 1.25}


def test_the_cpu_is_named_from_cpuinfo_and_recorded_in_the_manifest(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu\n")
    assert cpu_model(cpuinfo) == "AMD EPYC 7B13"
    monkeypatch.setattr("platform.processor", lambda: "arm")
    assert cpu_model(tmp_path / "missing") == "arm"  # no /proc: what platform knows
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nmodel name\t:\nBogoMIPS\t: 50.00\nCPU part\t: 0xd0c\n")
    assert cpu_model(arm) == "arm"  # an empty or missing model name: the fallback, not None
    garbled = tmp_path / "garbled"
    garbled.write_bytes(b"model name\t: \xff\xfe CPU\n")
    assert cpu_model(garbled).endswith("CPU")  # bytes that are not UTF-8 do not stop a run
    monkeypatch.setattr(manifest, "cpu_model", lambda: "AMD EPYC 7B13")
    entry = manifest.new_entry(encodings=("rope",), suites={}, preset="tiny",
                               runtime_record=make_runtime("cpu").record(), seed=None, resume=False, command=["x"])
    assert entry["cpu"] == "AMD EPYC 7B13"

"""The built binaries carry the hardening the build asks for.

wardd runs as root and reads what local users send it; wardctl and
ward-session are what operators and end users run. Each is checked as
built (WARD_BUILD), so a build change that drops a flag fails here:
PIE (address randomisation of the program itself), full RELRO (meson.build:
the GOT resolved before main and then read-only), a non-executable stack,
the stack protector and, in an optimised build without ASan,
_FORTIFY_SOURCE's checked calls.
"""

import json
import re
import subprocess

import pytest

from conftest import BUILD

BINARIES = ["wardd", "wardctl", "ward-session"]


def readelf(*args):
    return subprocess.run(["readelf", "-W", *args], check=True, capture_output=True,
                          text=True).stdout


def build_option(name):
    options = json.loads((BUILD / "meson-info" / "intro-buildoptions.json").read_text())
    return next(o["value"] for o in options if o["name"] == name)


def dynamic_flags(path):
    """The words of the FLAGS and FLAGS_1 entries of the dynamic section."""
    words = set()
    for line in readelf("-d", str(path)).splitlines():
        m = re.search(r"\((FLAGS(?:_1)?)\)\s+(?:Flags:)?\s*(.*)$", line)
        if m:
            words.update(f"{m[1]}:{w}" for w in m[2].split())
    return words


def segments(path):
    """Program header type -> its flags column (e.g. 'RW ')."""
    out = {}
    for line in readelf("-l", str(path)).splitlines():
        fields = line.split()
        if fields and fields[0].isupper() and fields[0].startswith(("GNU_", "LOAD")):
            out[fields[0]] = line[line.index(fields[0]):]
    return out


def undefined_symbols(path):
    names = set()
    for line in readelf("--dyn-syms", str(path)).splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[6] == "UND":
            names.add(fields[7].split("@")[0])
    return names


@pytest.mark.parametrize("name", BINARIES)
def test_binary_is_pie_with_full_relro(name):
    path = BUILD / name
    assert "Type:                              DYN" in readelf("-h", str(path))
    flags = dynamic_flags(path)
    assert "FLAGS_1:PIE" in flags, flags
    # Full RELRO: a RELRO segment, and every symbol bound at load time.
    assert "GNU_RELRO" in segments(path)
    assert {"FLAGS:BIND_NOW", "FLAGS_1:NOW"} <= flags, flags


@pytest.mark.parametrize("name", BINARIES)
def test_binary_stack_is_protected_and_not_executable(name):
    path = BUILD / name
    stack = segments(path)["GNU_STACK"]
    assert re.search(r"\sRW\s+0x", stack), stack
    assert "__stack_chk_fail" in undefined_symbols(path)


def fortified_build():
    """meson.build turns _FORTIFY_SOURCE on in optimised builds without ASan."""
    return (build_option("optimization") not in ("0", "g")
            and "address" not in build_option("b_sanitize"))


# Defined only where the build fortifies (the sanitizer build does not): a
# skipped test would be counted as failed, and there is nothing to check.
if fortified_build():
    @pytest.mark.parametrize("name", BINARIES)
    def test_binary_uses_fortified_calls(name):
        checked = {s for s in undefined_symbols(BUILD / name)
                   if s.endswith("_chk") and s != "__stack_chk_fail"}
        assert checked, f"{name} calls no __*_chk function"

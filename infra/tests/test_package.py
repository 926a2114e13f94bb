"""Tests for infra/check_package.py: it must accept a good package and name every problem
in a bad one. Run: python -m pytest infra/tests (see infra/requirements-dev.txt)."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

INFRA = Path(__file__).resolve().parents[1]
REPO = INFRA.parent
sys.path.insert(0, str(INFRA))

import check_package  # noqa: E402
from check_package import check, glibc_version, highest_glibc, needed_versions, parse_elf  # noqa: E402

FUNCTIONS = sorted(p.parent.name for p in (REPO / "function-definitions").glob("*/function.json"))
HOST_JSON = (REPO / "host.json").read_bytes()


def tiny_elf(interpreter: str | None = None) -> bytes:
    """A minimal ELF64 x86-64 executable: one PT_LOAD running exit(0), plus a PT_INTERP
    when an interpreter is given. Without one it is a valid statically linked binary."""
    base, ehsize, phsize = 0x400000, 64, 56
    phnum = 2 if interpreter else 1
    interp = interpreter.encode() + b"\0" if interpreter else b""
    code = bytes.fromhex("b83c000000" "31ff" "0f05")  # mov eax, 60; xor edi, edi; syscall
    interp_off = ehsize + phnum * phsize
    code_off = interp_off + len(interp)
    size = code_off + len(code)
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, base + code_off, ehsize, 0, 0, ehsize, phsize, phnum, 0, 0, 0)
    phdrs = b""
    if interpreter:
        phdrs += struct.pack("<IIQQQQQQ", 3, 4, interp_off, base + interp_off, base + interp_off, len(interp), len(interp), 1)
    phdrs += struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)
    return ehdr + phdrs + interp + code


def write_zip(path: Path, entries: dict[str, bytes], modes: dict[str, int] | None = None, system: int = 3) -> Path:
    """Write entries (name -> content) to a zip; files are 0644 unless modes says otherwise."""
    modes = modes or {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = system
            info.external_attr = modes.get(name, 0o100644) << 16
            zf.writestr(info, data)
    return path


def good_entries(exe: bytes | None = None) -> tuple[dict[str, bytes], dict[str, int]]:
    """A package like package.sh builds, with a tiny static ELF as the executable."""
    entries = {"host.json": HOST_JSON, "mpe-approver": exe if exe is not None else tiny_elf()}
    for fn in FUNCTIONS:
        entries[f"{fn}/function.json"] = (REPO / "function-definitions" / fn / "function.json").read_bytes()
    return entries, {"mpe-approver": 0o100755}


def problems_of(tmp_path: Path, entries, modes=None, repo: Path | None = REPO, **kw) -> list[str]:
    problems, _ = check(write_zip(tmp_path / "p.zip", entries, modes, **kw), repo)
    return problems


def assert_problem(problems: list[str], *fragments: str) -> None:
    """Some problem line contains all the fragments."""
    assert any(all(f in p for f in fragments) for p in problems), f"no problem with {fragments} in {problems}"


@pytest.fixture(scope="module")
def gcc_binary(tmp_path_factory) -> Path:
    """A real dynamic ELF built here: pthread_create in glibc >= 2.34 is GLIBC_2.34."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed: cannot build a real ELF that needs a new glibc")
    d = tmp_path_factory.mktemp("gcc")
    (d / "t.c").write_text(
        "#include <pthread.h>\n"
        "static void *f(void *a) { return a; }\n"
        "int main(void) { pthread_t t; pthread_create(&t, 0, f, 0); return pthread_join(t, 0); }\n"
    )
    subprocess.run([gcc, "-O2", "-o", str(d / "t"), str(d / "t.c"), "-pthread"], check=True)
    return d / "t"


def host_glibc() -> tuple[int, ...]:
    import platform

    lib, version = platform.libc_ver()
    return tuple(int(p) for p in version.split(".")) if lib == "glibc" else ()


def readelf_versions(path: Path) -> set[str] | None:
    """The version names `readelf -V` lists as needed, for cross-checking the parser."""
    if shutil.which("readelf") is None:
        return None
    out = subprocess.run(["readelf", "-V", "-W", str(path)], capture_output=True, text=True, check=True).stdout
    section = out.split(".gnu.version_r", 1)[1] if ".gnu.version_r" in out else ""
    return {line.split("Name: ", 1)[1].split()[0] for line in section.splitlines() if "Name: " in line}


# --- ELF parsing ---------------------------------------------------------------


def test_versions_of_gcc_binary(gcc_binary):
    versions = needed_versions(gcc_binary.read_bytes())
    if host_glibc() >= (2, 34):
        assert "GLIBC_2.34" in versions
    assert glibc_version(highest_glibc(versions)) > (2, 28) or host_glibc() < (2, 34)
    expected = readelf_versions(gcc_binary)
    if expected is not None:
        assert versions == expected
    assert parse_elf(gcc_binary.read_bytes()).interpreter == "/lib64/ld-linux-x86-64.so.2"


def test_versions_of_bin_true():
    true = Path(shutil.which("true") or "/bin/true")
    data = true.read_bytes()
    versions = needed_versions(data)
    assert "GLIBC_2.2.5" in versions  # the x86-64 baseline every dynamic glibc binary has
    expected = readelf_versions(true)
    if expected is not None:
        assert versions == expected
    assert "libc.so.6" in parse_elf(data).needed_libs


def test_section_headers_are_not_needed(gcc_binary):
    """The versions come from the dynamic segment, so a binary without section headers parses the same."""
    data = bytearray(gcc_binary.read_bytes())
    struct.pack_into("<Q", data, 40, 0)  # e_shoff
    struct.pack_into("<HHH", data, 60, 0, 0, 0)  # e_shnum, e_shstrndx
    assert needed_versions(bytes(data)) == needed_versions(gcc_binary.read_bytes())


def test_glibc_versions_compare_numerically():
    assert glibc_version("GLIBC_2.3.4") == (2, 3, 4)
    assert glibc_version("GLIBC_PRIVATE") is None
    assert glibc_version("GCC_3.0") is None
    assert highest_glibc({"GLIBC_2.3", "GLIBC_2.28", "GLIBC_2.2.5", "GLIBC_2.4"}) == "GLIBC_2.28"
    assert highest_glibc(set()) is None


def test_tiny_static_elf():
    info = parse_elf(tiny_elf())
    assert info.interpreter is None and info.versions == {} and info.needed_libs == []


@pytest.mark.parametrize(
    "data, message",
    [
        (b"#!/bin/sh\nexec true\n", "no \\x7fELF magic"),
        (b"\x7fELF" + bytes([1, 1, 1]) + bytes(60), "not ELF64"),
        (tiny_elf()[:18] + struct.pack("<H", 183) + tiny_elf()[20:], "not x86-64"),  # EM_AARCH64
    ],
)
def test_parse_elf_rejects(data, message):
    with pytest.raises(check_package.ElfError, match=message.replace("\\", "\\\\")):
        parse_elf(data)


# --- packages that pass -----------------------------------------------------------


def test_good_package_passes(tmp_path):
    entries, modes = good_entries()
    problems, summary = check(write_zip(tmp_path / "ok.zip", entries, modes), REPO)
    assert problems == []
    assert "statically linked" in "\n".join(summary)


def test_gcc_static_binary_passes(tmp_path):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    (tmp_path / "s.c").write_text("int main(void) { return 0; }\n")
    built = subprocess.run([gcc, "-static", "-o", str(tmp_path / "s"), str(tmp_path / "s.c")], capture_output=True)
    if built.returncode != 0:
        pytest.skip(f"gcc -static failed (no static libc?): {built.stderr.decode()[-200:]}")
    entries, modes = good_entries((tmp_path / "s").read_bytes())
    assert problems_of(tmp_path, entries, modes) == []


def test_real_package():
    """The package infra/package.sh built (CI runs package.sh before the tests)."""
    zip_path = Path(os.environ.get("MPE_PACKAGE_ZIP", REPO / "dist" / "mpe-approver.zip"))
    if not zip_path.is_file():
        pytest.fail(f"{zip_path} does not exist: run infra/package.sh first")
    result = subprocess.run(
        [sys.executable, str(INFRA / "check_package.py"), "--repo", str(REPO), str(zip_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "interpreter /lib64/ld-linux-x86-64.so.2" in result.stdout
    with zipfile.ZipFile(zip_path) as zf:
        assert sorted(zf.namelist()) == sorted(["host.json", "mpe-approver", *(f"{f}/function.json" for f in FUNCTIONS)])


# --- packages that fail -------------------------------------------------------------


def test_missing_host_json(tmp_path):
    entries, modes = good_entries()
    del entries["host.json"]
    assert_problem(problems_of(tmp_path, entries, modes), "host.json: missing")


def test_host_json_invalid(tmp_path):
    entries, modes = good_entries()
    entries["host.json"] = b'{"customHandler": '
    problems = problems_of(tmp_path, entries, modes, repo=None)
    assert_problem(problems, "host.json: invalid JSON")


def test_host_json_without_executable_path(tmp_path):
    entries, modes = good_entries()
    entries["host.json"] = json.dumps({"version": "2.0"}).encode()
    assert_problem(problems_of(tmp_path, entries, modes, repo=None), "defaultExecutablePath")


def test_executable_named_by_host_json_missing(tmp_path):
    entries, modes = good_entries()
    del entries["mpe-approver"]
    assert_problem(problems_of(tmp_path, entries, modes), "mpe-approver", "not in the zip")


def test_executable_without_run_bit(tmp_path):
    entries, _ = good_entries()
    assert_problem(problems_of(tmp_path, entries, {"mpe-approver": 0o100644}), "mpe-approver", "owner-execute")


def test_executable_not_a_regular_file(tmp_path):
    entries, _ = good_entries()
    assert_problem(problems_of(tmp_path, entries, {"mpe-approver": 0o120777}), "regular file")  # a symlink


def test_executable_from_non_unix_zip(tmp_path):
    entries, modes = good_entries()
    assert_problem(problems_of(tmp_path, entries, modes, system=0), "create_system=0")


def test_executable_not_elf(tmp_path):
    entries, modes = good_entries(b"#!/bin/sh\nexec true\n")
    assert_problem(problems_of(tmp_path, entries, modes), "not an ELF64 x86-64 executable")


def test_wrong_interpreter(tmp_path):
    entries, modes = good_entries(tiny_elf("/lib/ld-musl-x86_64.so.1"))
    assert_problem(problems_of(tmp_path, entries, modes), "interpreter is '/lib/ld-musl-x86_64.so.1'")


def test_binary_needing_new_glibc(tmp_path, gcc_binary):
    if host_glibc() < (2, 34):
        pytest.skip(f"this machine's glibc {host_glibc()} is too old to build a binary needing > 2.28")
    entries, modes = good_entries(gcc_binary.read_bytes())
    problems = problems_of(tmp_path, entries, modes)
    assert_problem(problems, "needs GLIBC_2.34", "newer than the allowed GLIBC_2.28")
    assert not any("GLIBC_2.2.5" in p for p in problems)  # old versions are fine


def test_missing_function_json(tmp_path):
    entries, modes = good_entries()
    del entries["MpeCheck/function.json"]
    entries["MpeCheck/readme.txt"] = b"x"
    problems = problems_of(tmp_path, entries, modes)
    assert_problem(problems, "MpeCheck/: folder without function.json")
    assert_problem(problems, "MpeCheck/function.json", "missing from the zip")


def test_function_json_invalid_or_without_bindings(tmp_path):
    entries, modes = good_entries()
    entries["MpeEvent/function.json"] = b"{not json"
    entries["MpeCheck/function.json"] = b'{"bindings": {}}'
    problems = problems_of(tmp_path, entries, modes, repo=None)
    assert_problem(problems, "MpeEvent/function.json: invalid JSON")
    assert_problem(problems, "MpeCheck/function.json", "bindings")


def fake_repo(tmp_path: Path, functions: list[str]) -> Path:
    repo = tmp_path / "repo"
    for fn in functions:
        (repo / "function-definitions" / fn).mkdir(parents=True)
        (repo / "function-definitions" / fn / "function.json").write_bytes(
            (REPO / "function-definitions" / fn / "function.json").read_bytes()
            if fn in FUNCTIONS
            else b'{"bindings": [{"type": "httpTrigger", "direction": "in", "name": "req"}]}'
        )
    (repo / "host.json").write_bytes(HOST_JSON)
    return repo


def test_function_missing_compared_with_repo(tmp_path):
    entries, modes = good_entries()
    repo = fake_repo(tmp_path, [*FUNCTIONS, "MpeNew"])
    assert_problem(problems_of(tmp_path, entries, modes, repo=repo), "MpeNew/function.json", "missing from the zip")


def test_function_extra_compared_with_repo(tmp_path):
    entries, modes = good_entries()
    repo = fake_repo(tmp_path, FUNCTIONS[1:])
    assert_problem(problems_of(tmp_path, entries, modes, repo=repo), f"{FUNCTIONS[0]}/function.json", "not in")


def test_function_json_differs_from_repo(tmp_path):
    entries, modes = good_entries()
    entries["MpeReplay/function.json"] = b'{"bindings": [{"type": "httpTrigger"}]}'
    assert_problem(problems_of(tmp_path, entries, modes), "MpeReplay/function.json: differs from")


def test_stray_entries(tmp_path):
    entries, modes = good_entries()
    entries["local.settings.json"] = b"{}"
    entries["MpeCheck/extra.json"] = b"{}"
    entries["MpeCheck/sub/function.json"] = b"{}"
    problems = problems_of(tmp_path, entries, modes)
    assert_problem(problems, "local.settings.json: stray entry at the zip root")
    assert_problem(problems, "MpeCheck/extra.json: stray entry")
    assert_problem(problems, "MpeCheck/sub/function.json: stray entry")


def test_not_a_zip(tmp_path):
    (tmp_path / "p.zip").write_bytes(b"not a zip")
    problems, _ = check(tmp_path / "p.zip", REPO)
    assert_problem(problems, "cannot open as a zip")


def test_cli_reports_every_problem_at_once(tmp_path):
    entries, _ = good_entries(b"MZ not elf")
    del entries["MpeCheck/function.json"]
    entries["junk.txt"] = b""
    zip_path = write_zip(tmp_path / "bad.zip", entries, {"mpe-approver": 0o100600})
    result = subprocess.run(
        [sys.executable, str(INFRA / "check_package.py"), "--repo", str(REPO), str(zip_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    for fragment in ("owner-execute", "not an ELF64", "MpeCheck/function.json", "junk.txt: stray"):
        assert any(fragment in line for line in lines), (fragment, lines)
    assert all(line.startswith(f"{zip_path}: ") for line in lines)
    assert f"{len(lines)} problem(s)" in result.stderr

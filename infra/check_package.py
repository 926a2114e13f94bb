#!/usr/bin/env python3
"""Check an Azure Functions custom-handler deployment zip for mpe-approver.

Usage: check_package.py [--repo DIR] ZIP

Reports every problem at once, one line each, and exits 1; exits 0 with a short
summary when the package is fine. Python 3.11 standard library only.

What a good package looks like (the layout `infra/package.sh` builds):
  host.json                 customHandler.description.defaultExecutablePath names the executable
  <Function>/function.json  one folder per function, JSON with a "bindings" array
  mpe-approver              ELF64 x86-64, mode 0755 (unix), needs glibc <= 2.28

With --repo DIR, host.json and the set (and content) of the functions must match
DIR/host.json and DIR/function-definitions/<Function>/function.json.
"""

from __future__ import annotations

import argparse
import json
import stat
import struct
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

# The oldest glibc the binary must run on: Azure Functions Linux images are Debian
# bullseye (2.31) or bookworm (2.36); the build targets 2.28 for margin.
MAX_GLIBC = (2, 28)
INTERPRETER = "/lib64/ld-linux-x86-64.so.2"
# Shared libraries that every glibc system has; anything else (libssl, ...) may be
# missing or the wrong version on the Functions image.
SYSTEM_LIBS = {
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "ld-linux-x86-64.so.2",
    "libgcc_s.so.1",
}
UNIX = 3  # ZipInfo.create_system for unix: only then do unzippers honour the mode bits


class ElfError(ValueError):
    """The bytes are not an ELF file this checker understands."""


@dataclass
class ElfInfo:
    kind: str  # "executable" (ET_EXEC) or "position-independent executable" (ET_DYN)
    interpreter: str | None  # PT_INTERP, None when statically linked
    needed_libs: list[str] = field(default_factory=list)  # DT_NEEDED
    versions: dict[str, set[str]] = field(default_factory=dict)  # library -> version names (verneed)


# ELF constants (see elf(5)).
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ = 0, 1, 5, 10
DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF
ET_EXEC, ET_DYN = 2, 3
EM_X86_64 = 62


def parse_elf(data: bytes) -> ElfInfo:
    """Parse an ELF64 little-endian x86-64 file: interpreter, DT_NEEDED and the
    symbol versions it needs (DT_VERNEED), read from the dynamic segment the way
    the loader reads them, so stripped section headers do not matter."""
    if len(data) < 64 or data[:4] != b"\x7fELF":
        raise ElfError("not an ELF file (no \\x7fELF magic)")
    if data[4] != 2:
        raise ElfError(f"not ELF64 (EI_CLASS={data[4]})")
    if data[5] != 1:
        raise ElfError(f"not little-endian (EI_DATA={data[5]})")
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    if e_machine != EM_X86_64:
        raise ElfError(f"not x86-64 (e_machine={e_machine})")
    if e_type not in (ET_EXEC, ET_DYN):
        raise ElfError(f"not an executable (e_type={e_type})")
    e_phoff = struct.unpack_from("<Q", data, 32)[0]
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    if e_phnum == 0 or e_phentsize < 56 or e_phoff + e_phnum * e_phentsize > len(data):
        raise ElfError("no valid program headers")

    loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz) to map addresses to file offsets
    interpreter = None
    dynamic = None  # (offset, size)
    for i in range(e_phnum):
        p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, e_phoff + i * e_phentsize
        )
        if p_offset + p_filesz > len(data):
            raise ElfError(f"program header {i} points past the end of the file")
        if p_type == PT_LOAD:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == PT_INTERP:
            interpreter = data[p_offset : p_offset + p_filesz].split(b"\0", 1)[0].decode(errors="replace")
        elif p_type == PT_DYNAMIC:
            dynamic = (p_offset, p_filesz)

    kind = "executable" if e_type == ET_EXEC else "position-independent executable"
    info = ElfInfo(kind=kind, interpreter=interpreter)
    if dynamic is None:  # statically linked: nothing to resolve at load time
        return info

    def offset_of(vaddr: int) -> int:
        for start, off, size in loads:
            if start <= vaddr < start + size:
                return off + vaddr - start
        raise ElfError(f"address {vaddr:#x} is in no PT_LOAD segment")

    tags: dict[int, list[int]] = {}
    off, size = dynamic
    for pos in range(off, off + size - 15, 16):
        d_tag, d_val = struct.unpack_from("<qQ", data, pos)
        if d_tag == DT_NULL:
            break
        tags.setdefault(d_tag, []).append(d_val)
    if DT_STRTAB not in tags:
        raise ElfError("dynamic segment has no DT_STRTAB")
    strtab = offset_of(tags[DT_STRTAB][0])
    strsz = tags.get(DT_STRSZ, [len(data) - strtab])[0]

    def string(index: int) -> str:
        if index >= strsz:
            raise ElfError(f"string index {index} is past DT_STRSZ {strsz}")
        start = strtab + index
        end = data.find(b"\0", start)
        return data[start : end if end >= 0 else len(data)].decode(errors="replace")

    info.needed_libs = [string(v) for v in tags.get(DT_NEEDED, [])]

    # Elf64_Verneed {vn_version:H vn_cnt:H vn_file:I vn_aux:I vn_next:I}, each followed
    # (at vn_aux) by vn_cnt Elf64_Vernaux {vna_hash:I vna_flags:H vna_other:H vna_name:I vna_next:I}.
    if DT_VERNEED in tags:
        pos = offset_of(tags[DT_VERNEED][0])
        for _ in range(tags.get(DT_VERNEEDNUM, [0])[0]):
            _ver, cnt, file_, aux, nxt = struct.unpack_from("<HHIII", data, pos)
            names = info.versions.setdefault(string(file_), set())
            apos = pos + aux
            for _ in range(cnt):
                _hash, _flags, _other, name, anext = struct.unpack_from("<IHHII", data, apos)
                names.add(string(name))
                if anext == 0:
                    break
                apos += anext
            if nxt == 0:
                break
            pos += nxt
    return info


def needed_versions(data: bytes) -> set[str]:
    """Every symbol version the ELF file needs from any library, e.g. {"GLIBC_2.2.5", "GLIBC_2.34"}."""
    return set().union(*parse_elf(data).versions.values())


def glibc_version(name: str) -> tuple[int, ...] | None:
    """"GLIBC_2.3.4" -> (2, 3, 4); None for other names (GLIBC_PRIVATE, GCC_3.0, ...)."""
    prefix, _, number = name.partition("_")
    parts = number.split(".")
    if prefix != "GLIBC" or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def highest_glibc(versions: set[str]) -> str | None:
    numbered = [v for v in versions if glibc_version(v) is not None]
    return max(numbered, key=glibc_version) if numbered else None


def check_elf(name: str, data: bytes, problems: list[str]) -> str:
    """Append the executable's problems; return a one-line description for the summary."""
    try:
        info = parse_elf(data)
    except (ElfError, struct.error) as e:
        problems.append(f"{name}: not an ELF64 x86-64 executable: {e}")
        return ""
    versions = set().union(*info.versions.values())
    if info.interpreter is None:
        if info.needed_libs:
            problems.append(f"{name}: has no program interpreter (PT_INTERP) but needs {info.needed_libs}: a shared library, not an executable")
    elif info.interpreter != INTERPRETER:
        problems.append(f"{name}: program interpreter is {info.interpreter!r}, expected {INTERPRETER!r}")
    for lib in info.needed_libs:
        if lib not in SYSTEM_LIBS:
            problems.append(f"{name}: needs shared library {lib}, which the Functions image may not have")
    limit = ".".join(map(str, MAX_GLIBC))
    for v in sorted(versions, key=lambda v: glibc_version(v) or ()):
        number = glibc_version(v)
        if v == "GLIBC_PRIVATE":
            problems.append(f"{name}: needs GLIBC_PRIVATE symbols (tied to one exact glibc build)")
        elif number is not None and number > MAX_GLIBC:
            problems.append(f"{name}: needs {v}, newer than the allowed GLIBC_{limit} (Functions images: bullseye 2.31)")
    if info.interpreter is None:
        return f"{name}: statically linked {info.kind}"
    return (
        f"{name}: ELF64 x86-64 {info.kind}, interpreter {info.interpreter}, "
        f"highest glibc {highest_glibc(versions) or 'none'}, libs {', '.join(info.needed_libs) or 'none'}"
    )


def load_json(label: str, raw: bytes, problems: list[str]):
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        problems.append(f"{label}: invalid JSON: {e}")
        return None


def repo_functions(repo: Path) -> dict[str, Path]:
    """Function name -> function.json under REPO/function-definitions."""
    root = repo / "function-definitions"
    return {p.parent.name: p for p in sorted(root.glob("*/function.json"))}


def check(zip_path: Path, repo: Path | None = None) -> tuple[list[str], list[str]]:
    """Return (problems, summary lines) for the package at zip_path."""
    problems: list[str] = []
    summary: list[str] = []
    try:
        zf = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as e:
        return [f"cannot open as a zip: {e}"], []
    with zf:
        infos = zf.infolist()
        by_name: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if info.filename in by_name:
                problems.append(f"{info.filename}: duplicate entry in the zip")
            by_name[info.filename] = info

        # host.json and the executable it names.
        exe_name = None
        if "host.json" not in by_name:
            problems.append("host.json: missing at the zip root")
        else:
            host = load_json("host.json", zf.read("host.json"), problems)
            if host is not None:
                try:
                    exe_name = host["customHandler"]["description"]["defaultExecutablePath"]
                except (KeyError, TypeError):
                    problems.append("host.json: no customHandler.description.defaultExecutablePath")
                if exe_name is not None and (not isinstance(exe_name, str) or not exe_name):
                    problems.append(f"host.json: defaultExecutablePath is not a file name: {exe_name!r}")
                    exe_name = None
            if repo is not None and (repo / "host.json").is_file():
                if zf.read("host.json") != (repo / "host.json").read_bytes():
                    problems.append(f"host.json: differs from {repo / 'host.json'}")

        if exe_name is not None:
            exe = by_name.get(exe_name)
            if exe is None:
                problems.append(f"{exe_name}: named by host.json's defaultExecutablePath but not in the zip")
            else:
                mode = exe.external_attr >> 16
                if exe.create_system != UNIX:
                    problems.append(f"{exe_name}: zip entry not made on unix (create_system={exe.create_system}), its mode bits would be ignored")
                if not stat.S_ISREG(mode):
                    problems.append(f"{exe_name}: not stored as a regular file (unix mode {mode:#o})")
                if not mode & stat.S_IXUSR:
                    problems.append(f"{exe_name}: no owner-execute bit (unix mode {mode:#o})")
                summary.append(check_elf(exe_name, zf.read(exe), problems) + f", mode {stat.S_IMODE(mode):04o}")

        # Function folders: <Name>/function.json; anything else is stray.
        functions: dict[str, zipfile.ZipInfo] = {}
        for name, info in by_name.items():
            parts = name.split("/")
            if len(parts) == 2 and parts[1] == "function.json" and parts[0] not in ("", ".", ".."):
                functions[parts[0]] = info
        folders = {n.split("/")[0] for n in by_name if "/" in n}
        for folder in sorted(folders - functions.keys()):
            problems.append(f"{folder}/: folder without function.json")
        for name in sorted(by_name):
            info = by_name[name]
            top = name.split("/")[0]
            if name in ("host.json", exe_name) or name == f"{top}/function.json":
                continue
            if info.is_dir() and name == f"{top}/" and top in functions:
                continue  # an explicit directory entry for a function folder is harmless
            if top in functions:
                problems.append(f"{name}: stray entry in function folder {top}/ (only function.json belongs there)")
            elif "/" in name:
                problems.append(f"{name}: stray entry (not <Function>/function.json)")
            else:
                problems.append(f"{name}: stray entry at the zip root")

        for fn, info in sorted(functions.items()):
            label = f"{fn}/function.json"
            raw = zf.read(info)
            doc = load_json(label, raw, problems)
            if doc is not None:
                bindings = doc.get("bindings") if isinstance(doc, dict) else None
                if not isinstance(bindings, list) or not bindings:
                    problems.append(f"{label}: no non-empty \"bindings\" array")
                elif not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in bindings):
                    problems.append(f"{label}: every binding must be an object with a \"type\"")
        if not functions:
            problems.append("no function folders (<Function>/function.json) in the zip")

        if repo is not None:
            expected = repo_functions(repo)
            if not expected:
                problems.append(f"--repo {repo}: no function-definitions/<Function>/function.json found")
            for fn in sorted(expected.keys() - functions.keys()):
                problems.append(f"{fn}/function.json: in {repo / 'function-definitions'} but missing from the zip")
            for fn in sorted(functions.keys() - expected.keys()):
                problems.append(f"{fn}/function.json: in the zip but not in {repo / 'function-definitions'}")
            for fn in sorted(functions.keys() & expected.keys()):
                if zf.read(functions[fn]) != expected[fn].read_bytes():
                    problems.append(f"{fn}/function.json: differs from {expected[fn]}")
        summary.insert(0, f"{zip_path}: {len(infos)} entries; functions: {', '.join(sorted(functions)) or 'none'}")
    return problems, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check an mpe-approver Azure Functions deployment zip.")
    parser.add_argument("zip", type=Path, help="the package, e.g. dist/mpe-approver.zip")
    parser.add_argument("--repo", type=Path, help="repository root: the zip's functions and host.json must match it")
    args = parser.parse_args(argv)
    if args.repo is not None and not (args.repo / "function-definitions").is_dir():
        print(f"--repo {args.repo}: has no function-definitions/ folder", file=sys.stderr)
        return 2
    problems, summary = check(args.zip, args.repo)
    if problems:
        for p in problems:
            print(f"{args.zip}: {p}")
        print(f"{args.zip}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("package ok: " + "\n  ".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

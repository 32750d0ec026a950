"""Remove from the image's venv what the service never loads, and say what each rule saved.

    python3 scripts/image/prune_venv.py /opt/venv [--strip-debug] [--dry-run]

Dockerfile.prod's deps stage runs it right after pip (stdlib only: the base's python3;
--strip-debug needs binutils' `strip`, which only that build stage has). The stage then
imports the compiled packages, and `make image-test` runs a lookup, a query, similarity
and substructure searches, standardization and a depiction in the container, so a rule
that removed something the service needs fails the build or the test.

The rules, in order (what each removed from the x86_64 image in November 2026;
docs/DEPLOYMENT.md has the whole size account):
1. Test suites: `tests/` and `test/` inside packages (22 MiB), except PyTables' own,
   which `import tables` loads (`from .tests import print_versions, test`).
2. SciPy's subpackages other than the two FPSim2 loads (57 MiB). FPSim2 imports
   `scipy.sparse.csr_matrix` at module top and nothing else in the service imports SciPy.
   `scipy.sparse` loads `scipy._lib` and its own modules; its `linalg` and `csgraph`
   subpackages load lazily, on first attribute access, which FPSim2 never makes.
3. Distributions nothing imports, installed only because another package declares them
   (22 MiB): Pillow (RDKit's `Draw.MolToImage` and friends; the service draws SVG with
   `MolDraw2DSVG`, which does not use it) and setuptools (declared by
   chembl_structure_pipeline, which never imports it). Their files go by their RECORD,
   dist-info included, so `pip list` and scanners see what is really there.
4. Type stubs (`*-stubs/`) and static archives (`*.a`), for type checkers and linkers (6 MiB).
5. With --strip-debug: the DWARF debug sections of the compiled modules that carry them
   (`strip --strip-debug`, 26 MiB in 10 files, most of it uvloop's and FPSim2's). Symbols
   stay, so profilers and crash dumps still name C functions. Never the `*.libs/` files.
6. Vendored shared libraries (`*.libs/`) that no remaining ELF file needs, which after
   rule 2 is SciPy's OpenBLAS, gfortran and quadmath (27 MiB). Needs are read from each ELF
   file's dynamic section (DT_NEEDED) and followed transitively, so a library another
   kept library needs stays.
"""

from __future__ import annotations

import argparse
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

TEST_DIR_NAMES = frozenset({"tests", "test"})
# Test packages their own package's __init__ imports: removing them breaks the import.
KEEP_TESTS = frozenset({"tables/tests"})
# The subpackages of a package to keep; every other subpackage of it goes.
KEEP_SUBPACKAGES: dict[str, frozenset[str]] = {"scipy": frozenset({"_lib", "sparse"})}
# Subpackages of a kept subpackage that go too (they load lazily and nothing asks for them).
DROP_NESTED = ("scipy/sparse/linalg", "scipy/sparse/csgraph")
# Distributions (dist-info names, lower case) that nothing in the service imports.
UNUSED_DISTRIBUTIONS = frozenset({"pillow", "setuptools"})

ELF_MAGIC = b"\x7fELF"
PT_LOAD, PT_DYNAMIC = 1, 2
DT_NULL, DT_NEEDED, DT_STRTAB = 0, 1, 5


def size_of(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size if path.exists() or path.is_symlink() else 0
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_dir())


def site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if len(found) != 1:
        raise SystemExit(f"prune_venv: expected one site-packages under {venv}, found {found}")
    return found[0]


def test_suites(site: Path) -> Iterator[Path]:
    for path in sorted(site.rglob("*")):
        if path.name not in TEST_DIR_NAMES or path.is_symlink() or not path.is_dir():
            continue
        relative = path.relative_to(site).as_posix()
        # A top-level `test` would be a distribution of its own, not a package's suite.
        if relative not in KEEP_TESTS and "/" in relative:
            yield path


def unused_subpackages(site: Path) -> Iterator[Path]:
    for package, keep in KEEP_SUBPACKAGES.items():
        root = site / package
        if root.is_dir():
            for child in sorted(root.iterdir()):
                if child.is_dir() and child.name != "__pycache__" and child.name not in keep:
                    yield child
    for nested in DROP_NESTED:
        if (site / nested).is_dir():
            yield site / nested


def record_paths(info: Path) -> list[str]:
    """The site-packages-relative paths a distribution's RECORD lists."""
    rows = (line.split(",")[0] for line in (info / "RECORD").read_text().splitlines())
    return [row for row in rows if row and not row.startswith("..")]  # ../../../bin/ scripts


def unused_distributions(site: Path) -> Iterator[Path]:
    """Each unused distribution's top-level entries (whole, unless another one shares them)."""
    owners: dict[str, set[str]] = {}
    infos = sorted(site.glob("*.dist-info"))
    for info in infos:
        for row in record_paths(info):
            owners.setdefault(row.split("/")[0], set()).add(info.name)
    for info in infos:
        if (
            info.name.removesuffix(".dist-info").rsplit("-", 1)[0].lower().replace("_", "-")
            not in UNUSED_DISTRIBUTIONS
        ):
            continue
        rows = record_paths(info)
        for top in sorted({row.split("/")[0] for row in rows}):
            if owners[top] == {info.name}:
                yield site / top
            else:  # a shared top level (a namespace package): only this distribution's files
                yield from (
                    site / row for row in rows if row.split("/")[0] == top and (site / row).exists()
                )


def stubs_and_archives(site: Path) -> Iterator[Path]:
    yield from (p for p in sorted(site.glob("*-stubs")) if p.is_dir())
    yield from (p for p in sorted(site.rglob("*.a")) if p.is_file())


def elf_files(site: Path) -> Iterator[Path]:
    for path in sorted(site.rglob("*.so*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as file:
                if file.read(4) == ELF_MAGIC:
                    yield path


def elf_header(data: bytes) -> bool:
    """True for a 64-bit little-endian ELF file, the only kind a wheel for this image has."""
    return data[:4] == ELF_MAGIC and data[4] == 2 and data[5] == 1


def section_names(data: bytes) -> list[str]:
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    if shoff == 0 or shnum == 0:
        return []
    (names_offset,) = struct.unpack_from("<Q", data, shoff + shstrndx * shentsize + 0x18)
    names = []
    for index in range(shnum):
        (name,) = struct.unpack_from("<I", data, shoff + index * shentsize)
        start = names_offset + name
        names.append(data[start : data.index(b"\0", start)].decode())
    return names


def needed_libraries(data: bytes) -> list[str]:
    """The DT_NEEDED names of an ELF file's dynamic section."""
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz)
    dynamic: tuple[int, int] | None = None  # (offset, filesz)
    for index in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + index * phentsize
        )
        if p_type == PT_LOAD:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == PT_DYNAMIC:
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        return []
    needed: list[int] = []
    strtab_vaddr: int | None = None
    for entry in range(dynamic[0], dynamic[0] + dynamic[1], 16):
        tag, value = struct.unpack_from("<qQ", data, entry)
        if tag == DT_NULL:
            break
        if tag == DT_NEEDED:
            needed.append(value)
        elif tag == DT_STRTAB:
            strtab_vaddr = value
    if strtab_vaddr is None:
        return []
    # The string table's address is virtual: find the loaded segment that holds it.
    address = strtab_vaddr
    strtab = next(
        (
            offset + address - vaddr
            for vaddr, offset, size in loads
            if vaddr <= address < vaddr + size
        ),
        None,
    )
    if strtab is None:
        return []
    return [data[strtab + n : data.index(b"\0", strtab + n)].decode() for n in needed]


def with_debug_sections(site: Path) -> Iterator[Path]:
    """Compiled modules with DWARF sections. Not the libraries auditwheel grafted into
    `*.libs/`: patchelf rewrote those, and `strip` has broken such files before
    ("ELF load command address/offset not page-aligned")."""
    for path in elf_files(site):
        if any(part.endswith(".libs") for part in path.relative_to(site).parts):
            continue
        data = path.read_bytes()
        if elf_header(data) and any(name.startswith(".debug_") for name in section_names(data)):
            yield path


def unneeded_vendored_libraries(site: Path) -> list[Path]:
    """Files in `*.libs/` that nothing else in site-packages needs, directly or not."""
    vendored = {
        p.name: p for d in sorted(site.glob("*.libs")) for p in sorted(d.iterdir()) if p.is_file()
    }
    frontier = [p for p in elf_files(site) if not p.parent.name.endswith(".libs")]
    kept: set[str] = set()
    while frontier:
        data = frontier.pop().read_bytes()
        for name in needed_libraries(data) if elf_header(data) else []:
            if name in vendored and name not in kept:
                kept.add(name)
                frontier.append(vendored[name])
    return [path for name, path in vendored.items() if name not in kept]


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def apply(rule: str, paths: list[Path], site: Path, dry_run: bool, verbose: bool) -> int:
    saved = sum(size_of(p) for p in paths)
    print(f"prune_venv: {rule}: {len(paths)} paths, {saved / 2**20:.1f} MiB")
    for path in paths:
        if verbose:
            print(f"  {path.relative_to(site)}")
        if not dry_run:
            remove(path)
    return saved


def strip_debug(paths: list[Path], site: Path, dry_run: bool, verbose: bool) -> int:
    strip = shutil.which("strip")
    if strip is None:
        raise SystemExit("prune_venv: --strip-debug needs binutils' strip on PATH")
    before = sum(p.stat().st_size for p in paths)
    if not dry_run:
        for path in paths:
            subprocess.run([strip, "--strip-debug", str(path)], check=True)
    after = before if dry_run else sum(p.stat().st_size for p in paths)
    print(f"prune_venv: debug sections: {len(paths)} files, {(before - after) / 2**20:.1f} MiB")
    if verbose:
        for path in paths:
            print(f"  {path.relative_to(site)}")
    return before - after


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("venv", type=Path, help="the virtual environment to prune, e.g. /opt/venv")
    parser.add_argument(
        "--strip-debug", action="store_true", help="also strip DWARF debug sections (needs strip)"
    )
    parser.add_argument("--dry-run", action="store_true", help="say what would go; change nothing")
    parser.add_argument("--verbose", action="store_true", help="list every path")
    args = parser.parse_args(argv)
    site = site_packages(args.venv)
    before = size_of(site)
    options = (site, args.dry_run, args.verbose)
    apply("test suites", list(test_suites(site)), *options)
    apply("unused SciPy subpackages", list(unused_subpackages(site)), *options)
    apply("unused distributions", list(unused_distributions(site)), *options)
    apply("type stubs and static archives", list(stubs_and_archives(site)), *options)
    if args.strip_debug:
        strip_debug(list(with_debug_sections(site)), *options)
    apply("unneeded vendored libraries", unneeded_vendored_libraries(site), *options)
    if not args.dry_run:
        print(
            f"prune_venv: site-packages {before / 2**20:.0f} MiB -> {size_of(site) / 2**20:.0f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""scripts/image/prune_venv.py and warm_pyc.py: what the image build removes and compiles.

The rules run on a small venv made here from real files (ELF modules and libraries copied
from this interpreter's site-packages, so DT_NEEDED and DWARF sections are real ones).
binutils' readelf and strip come from scripts/install-system-deps.sh: missing, these fail.
The image itself (the rules on the real venv, the service in it) is `make image-test`.
"""

from __future__ import annotations

import ctypes
import importlib.util
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "image"
SITE = Path(sysconfig.get_paths()["purelib"])


@pytest.fixture(scope="module")
def prune() -> Iterator[ModuleType]:
    """``scripts/image/prune_venv.py`` imported as a module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(SCRIPTS))
        import prune_venv

        yield prune_venv


@pytest.fixture(scope="module")
def warm() -> Iterator[ModuleType]:
    """``scripts/image/warm_pyc.py`` imported as a module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(SCRIPTS))
        import warm_pyc

        yield warm_pyc


def binutil(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: scripts/install-system-deps.sh installs binutils"
    return path


def one(pattern: str) -> Path:
    found = sorted(SITE.glob(pattern))
    assert found, f"no {pattern} in {SITE}"
    return found[0]


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def copy(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def readelf(option: str, path: Path) -> list[str]:
    """The lines of ``readelf <option> --wide path``."""
    command = [binutil("readelf"), option, "--wide", str(path)]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()


def readelf_needed(path: Path) -> list[str]:
    lines = readelf("--dynamic", path)
    return [line.split("[", 1)[1].rstrip("]") for line in lines if "(NEEDED)" in line]


def readelf_sections(path: Path) -> list[str]:
    lines = readelf("--section-headers", path)
    return [field for line in lines for field in line.split() if field.startswith(".")]


@pytest.mark.parametrize(
    "pattern",
    [
        "numpy/_core/_multiarray_umath.*.so",  # needs numpy.libs' OpenBLAS
        "numpy.libs/libscipy_openblas64_*.so",  # needs its gfortran
        "rdkit/Chem/rdchem.so",  # many rdkit.libs, boost
        "msgpack/_cmsgpack.*.so",
    ],
)
def test_needed_libraries_read_from_the_elf_file_match_readelf(
    prune: ModuleType, pattern: str
) -> None:
    path = one(pattern)
    assert prune.needed_libraries(path.read_bytes()) == readelf_needed(path)


def test_section_names_match_readelf(prune: ModuleType) -> None:
    path = one("msgpack/_cmsgpack.*.so")
    names = prune.section_names(path.read_bytes())
    assert ".debug_info" in names  # the wheel ships it (what --strip-debug is for)
    assert {n for n in names if n} == set(readelf_sections(path)) - {"."}


# Source files the rules keep, and those they remove, in the venv fixture.
KEPT = [
    "pkg/__init__.py",
    "tables/tests/__init__.py",  # imported by `import tables`
    "test/__init__.py",  # a top-level distribution called test, not a suite
    "scipy/__init__.py",
    "scipy/_lib/_util.py",
    "scipy/sparse/_base.py",
    "google/protobuf/message.py",  # shares the google/ top level with a removed one
]
REMOVED = [
    "pkg/tests/test_pkg.py",
    "pkg/sub/test/test_sub.py",
    "scipy/stats/_stats.py",
    "scipy/sparse/linalg/_svd.py",
    "scipy/sparse/csgraph/_tools.py",
    "PIL/Image.py",
    "google/pillow_extra.py",
    "foo-stubs/__init__.pyi",
    "pkg/lib/libpkg.a",
]


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    """A venv with one of each thing a rule removes, and its look-alikes that must stay."""
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    for path in KEPT + REMOVED:
        write(site / path)
    write(site / "protobuf-1.0.dist-info/RECORD", "google/protobuf/message.py,,\n")
    write(
        site / "pillow-13.0.0.dist-info/RECORD",
        "PIL/Image.py,sha256=x,1\ngoogle/pillow_extra.py,,\n"
        "pillow-13.0.0.dist-info/RECORD,,\n../../../bin/pilprint,,\n",
    )
    # Real ELF files: numpy's core module needs OpenBLAS, which needs gfortran (kept,
    # transitively); an OpenBLAS under scipy.libs that nothing needs (removed).
    copy(one("numpy/_core/_multiarray_umath.*.so"), site / "numpy/_core/_multiarray_umath.so")
    for lib in sorted((SITE / "numpy.libs").iterdir()):
        copy(lib, site / "numpy.libs" / lib.name)
    copy(one("numpy.libs/libscipy_openblas64_*.so"), site / "scipy.libs/libscipy_openblas.so")
    copy(one("msgpack/_cmsgpack.*.so"), site / "msgpack/_cmsgpack.so")
    return tmp_path / "venv"


def tree(site: Path) -> set[str]:
    return {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}


def test_the_rules_remove_what_nothing_loads_and_keep_the_rest(
    prune: ModuleType, venv: Path
) -> None:
    site = prune.site_packages(venv)
    gfortran = [p.name for p in (site / "numpy.libs").iterdir() if "gfortran" in p.name]
    assert gfortran, "numpy.libs has no gfortran: the transitive case is not tested"

    assert prune.main([str(venv)]) == 0

    left = tree(site)
    assert left >= {
        *KEPT,
        "protobuf-1.0.dist-info/RECORD",
        "numpy/_core/_multiarray_umath.so",
        f"numpy.libs/{gfortran[0]}",
        "msgpack/_cmsgpack.so",
    }
    assert any(p.startswith("numpy.libs/libscipy_openblas64_") for p in left)  # needed
    also_removed = ["pillow-13.0.0.dist-info/RECORD", "scipy.libs/libscipy_openblas.so"]
    assert not left & {*REMOVED, *also_removed}, left & {*REMOVED, *also_removed}


def test_dry_run_changes_nothing(prune: ModuleType, venv: Path) -> None:
    site = prune.site_packages(venv)
    before = tree(site)
    assert prune.main([str(venv), "--dry-run", "--strip-debug"]) == 0
    assert tree(site) == before


def test_strip_debug_drops_dwarf_and_the_module_still_loads(prune: ModuleType, venv: Path) -> None:
    site = prune.site_packages(venv)
    module = site / "msgpack/_cmsgpack.so"
    vendored = copy(module, site / "numpy.libs/libdebug.so")  # a *.libs file: never stripped
    size = module.stat().st_size
    assert any(n.startswith(".debug_") for n in readelf_sections(module))
    assert vendored not in set(prune.with_debug_sections(site))

    prune.strip_debug(list(prune.with_debug_sections(site)), site, False, False)

    assert not any(n.startswith(".debug_") for n in readelf_sections(module))
    assert module.stat().st_size < size / 2
    assert prune.needed_libraries(module.read_bytes()) == readelf_needed(module)
    ctypes.CDLL(str(module))  # the dynamic loader still maps it
    assert vendored.stat().st_size == size


def test_warm_pyc_compiles_what_the_service_imports_and_nothing_else(
    warm: ModuleType, tmp_path: Path
) -> None:
    out = tmp_path / "pyc"
    chemagent = Path(sys.executable).parent / "chemagent"
    src = ROOT / "src"
    roots = ["--root", str(src), "--root", str(SITE)]
    server = [str(chemagent), "serve", "--workers", "2"]
    code = warm.main(["--out", str(out), *roots, "--python", sys.executable, "--", *server])
    assert code == 0

    def pyc(source: Path) -> Path:
        return out / Path(importlib.util.cache_from_source(str(source))).relative_to("/")

    app = pyc(src / "chemagent" / "app.py")
    assert app.is_file()
    # PEP 552 flags: hash-based (bit 0), source not checked (bit 1 clear).
    assert int.from_bytes(app.read_bytes()[4:8], "little") == 0b01
    assert pyc(SITE / "fastapi" / "routing.py").is_file()  # the workers' requests
    assert pyc(SITE / "gunicorn" / "arbiter.py").is_file()  # the master
    grpc_exporter = SITE / "opentelemetry/exporter/otlp/proto/grpc/trace_exporter/__init__.py"
    assert pyc(grpc_exporter).is_file()  # tracing's imports, run after the service
    assert not pyc(SITE / "numpy" / "_core" / "tests" / "test_api.py").exists()
    assert not pyc(ROOT / "tests" / "deploy" / "test_image_pruning.py").exists()  # no --root
    compiled = sum(1 for _ in out.rglob("*.pyc"))
    assert 300 < compiled < 3000, compiled


def test_warm_pyc_fails_the_build_when_the_service_does_not_come_up(
    warm: ModuleType, tmp_path: Path
) -> None:
    server = [sys.executable, "-c", "raise SystemExit(3)"]
    code = warm.main(["--out", str(tmp_path / "pyc"), "--root", str(tmp_path), "--", *server])
    assert code == 1
    assert not (tmp_path / "pyc").exists()

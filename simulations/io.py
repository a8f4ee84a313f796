"""Files in and out: matrices, label pairs, priors; atomic writes; provenance records."""

from __future__ import annotations

import csv
import io
import json
import mmap
import os
import platform
import tempfile
import zipfile
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

from theory.errors import InputError
from theory.validation import check_labels, check_transition


def _existing(path) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"file not found: {p}")
    if p.is_dir():
        raise InputError(f"{p} is a directory, expected a file")
    return p


def read_array(path, what: str = "array") -> np.ndarray:
    """A numeric array from ``.npy`` or a comma/space separated text file."""
    p = _existing(path)
    try:
        if p.suffix == ".npy":
            return np.load(p, allow_pickle=False)
        text = p.read_text()
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {what} file {p}: {exc}") from None
    rows = [r for r in (line.split("#")[0].strip() for line in text.splitlines()) if r]
    if not rows:
        raise InputError(f"{what} file {p} is empty")
    try:
        data = [[float(v) for v in r.replace(",", " ").split()] for r in rows]
    except ValueError as exc:
        raise InputError(f"{what} file {p} holds a non-numeric value ({exc})") from None
    if len({len(r) for r in data}) != 1:
        raise InputError(f"{what} file {p} has rows of different lengths")
    return np.array(data, dtype=np.float64)


def read_matrix(path) -> np.ndarray:
    """A transition matrix file (CSV or .npy; rows = clean class, columns = noisy class)."""
    return check_transition(read_array(path, "matrix"), name=f"matrix in {Path(path).name}")


def read_prior(path) -> np.ndarray:
    return read_array(path, "prior").ravel()


def read_label_pair(paths, clean_key: str = "clean", noisy_key: str = "noisy"):
    """(clean, noisy) label arrays from one ``.npz`` with two keys, or from two ``.npy`` files."""
    if len(paths) == 2:
        return tuple(check_labels(read_npy(p), f"labels in {p}") for p in paths)
    if len(paths) != 1:
        raise InputError("--labels takes one .npz file or two .npy files (clean, noisy)")
    p = _existing(paths[0])
    try:
        with np.load(p, allow_pickle=False) as z:
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise InputError(f"{p} is not an .npz archive")
            for key in (clean_key, noisy_key):
                if key not in z.files:
                    raise InputError(f"{p} has no array {key!r} (it has: {', '.join(z.files)})")
            return (
                check_labels(z[clean_key], f"labels {clean_key!r} in {p}"),
                check_labels(z[noisy_key], f"labels {noisy_key!r} in {p}"),
            )
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"cannot read labels from {p}: {exc}") from None


def read_label_arrays(path, keys) -> dict[str, np.ndarray]:
    """Raw label arrays by key from one ``.npz`` (checked by the caller, which knows the rules)."""
    p = _existing(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise InputError(f"{p} is not an .npz archive")
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise InputError(f"{p} has no array {missing[0]!r} (it has: {', '.join(z.files)})")
            return {k: z[k] for k in keys}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"cannot read labels from {p}: {exc}") from None


def read_npz(path, what: str = "file", *, mmap: bool = False) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive, without pickles; a missing file, a file that is not
    an archive, or a broken one is an InputError naming ``what`` and the path.

    With ``mmap``, each member of at least ``MAP_MIN_BYTES`` that the archive stores
    uncompressed (``np.savez`` stores; ``np.savez_compressed`` deflates) is a read-only
    memory map of the file instead of a copy in memory: pages are read as they are touched
    and the kernel can drop them again. A compressed member is read into memory."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} not found: {p}")
    # Asked before np.load: it returns a bare array for a .npy (no context manager) and
    # calls a text file "pickled data", neither of which says what is wrong.
    try:
        with open(p, "rb") as f:
            magic = f.read(6)
    except OSError as exc:
        raise InputError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    if magic == b"\x93NUMPY":
        raise InputError(
            f"cannot read {what} {p}: it is a single .npy array, not an .npz archive "
            "(write it with np.savez)"
        )
    if not zipfile.is_zipfile(p):
        raise InputError(f"cannot read {what} {p}: it is not an .npz archive (np.savez writes one)")
    try:
        mapped = _mapped_members(p) if mmap else {}
        with np.load(p, allow_pickle=False) as z:
            return {k: mapped[k] if k in mapped else z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        detail = " ".join(str(exc).split())  # one line, whatever the reader said
        raise InputError(f"cannot read {what} {p}: {detail}") from None


# Below this a member is read: a map costs a file descriptor's worth of bookkeeping and
# makes the array read-only, which small label arrays gain nothing from.
MAP_MIN_BYTES = 1 << 24
_LOCAL_HEADER = 30  # bytes of a zip local file header before its name and extra field
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _file_map(a: np.ndarray):
    """The ``mmap.mmap`` behind an array that ``read_npz(mmap=True)`` mapped (or a view of
    one), else None."""
    obj = a
    while obj is not None:
        if isinstance(obj, np.memmap) and getattr(obj, "_mmap", None) is not None:
            return obj._mmap
        if isinstance(obj, mmap.mmap):
            return obj
        obj = getattr(obj, "base", None)
    return None


def drop_pages(a: np.ndarray, start: int = 0, stop: int | None = None) -> None:
    """Let the kernel unmap the pages of rows ``[start, stop)`` of a file-mapped array from
    this process (``MADV_DONTNEED``): they stay in the page cache and come back on the next
    read, but stop counting in the resident memory. A pass over a mapped array larger than
    the memory its reader should hold drops each block once read. Does nothing for an
    array in memory, where the same advice would zero it."""
    m = _file_map(a)
    advice = getattr(mmap, "MADV_DONTNEED", None)  # absent where the system has no madvise
    if m is None or advice is None or not a.flags.c_contiguous or not a.size:
        return
    stop = a.shape[0] if stop is None else min(stop, a.shape[0])
    if stop <= start:
        return
    row = a.nbytes // a.shape[0]
    base = np.frombuffer(m, np.uint8).ctypes.data
    lo = a.ctypes.data - base + start * row
    hi = a.ctypes.data - base + stop * row
    lo -= lo % mmap.PAGESIZE
    hi = min(len(m), hi + (-hi) % mmap.PAGESIZE)
    if 0 <= lo < hi:
        m.madvise(advice, lo, hi - lo)


BLOCK_BYTES = 1 << 25  # of an array a pass reads before it drops the block's mapped pages


def row_blocks(a: np.ndarray):
    """Row ranges ``(start, stop)`` of ``a`` of about ``BLOCK_BYTES`` each; once the caller
    has used one, its pages are dropped where ``a`` maps a file (``drop_pages``), so that a
    pass over a mapped array holds one block of it in memory, not all of it."""
    n = a.shape[0] if a.ndim else 0
    step = max(1, BLOCK_BYTES // max(1, a.nbytes // max(n, 1)))
    for start in range(0, n, step):
        stop = min(n, start + step)
        yield start, stop
        drop_pages(a, start, stop)


def _mapped_members(p: Path) -> dict[str, np.ndarray]:
    """Read-only maps of the stored (uncompressed) ``.npy`` members of at least
    ``MAP_MIN_BYTES``, by key; a member of object dtype is left to ``np.load`` to refuse."""
    out = {}
    with zipfile.ZipFile(p) as zf, open(p, "rb") as f:
        for info in zf.infolist():
            if (
                not info.filename.endswith(".npy")
                or info.compress_type != zipfile.ZIP_STORED
                or info.flag_bits & 0x1  # encrypted
                or info.file_size < MAP_MIN_BYTES
            ):
                continue
            f.seek(info.header_offset)
            local = f.read(_LOCAL_HEADER)
            if local[:4] != b"PK\x03\x04":
                continue
            name_len = int.from_bytes(local[26:28], "little")
            extra_len = int.from_bytes(local[28:30], "little")
            start = info.header_offset + _LOCAL_HEADER + name_len + extra_len
            f.seek(start)
            version = np.lib.format.read_magic(f)
            if version not in _HEADER_READERS:
                continue
            shape, fortran, dtype = _HEADER_READERS[version](f)
            if dtype.hasobject:
                continue
            offset = f.tell()
            if offset + dtype.itemsize * int(np.prod(shape)) > start + info.file_size:
                continue  # a member shorter than its header says: np.load names the fault
            mm = np.memmap(
                p, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C"
            )
            out[info.filename[: -len(".npy")]] = mm.view(np.ndarray)
    return out


def read_commented_csv(path, *, complete_rows: bool = False) -> tuple[list[dict], list[str]]:
    """The rows and the header of a CSV whose lines that start with ``#`` are comments (the
    provenance line of the figure and sweep CSVs).

    Parameters
    ----------
    path : str or pathlib.Path
        The CSV file.
    complete_rows : bool
        Drop a last line that has no newline: a row cut short when the writer was killed
        (a resumed sweep redoes it).

    Returns
    -------
    tuple of (list of dict, list of str)
        Each row as a dict of column name -> cell text, in file order, and the column names.
    """
    with open(path, newline="") as f:
        text = f.read()
    if complete_rows and text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    lines = [line for line in io.StringIO(text, newline="") if not line.startswith("#")]
    reader = csv.DictReader(lines)
    rows = list(reader)
    return rows, list(reader.fieldnames or [])


def write_commented_csv(path, rows: list[dict], meta: dict) -> None:
    """Rows as a CSV whose first line is ``# `` and ``meta`` as JSON (what
    ``read_commented_csv`` skips), written atomically; the header is every key in order of
    first appearance, a missing cell empty."""
    header = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        f.write("# " + json.dumps(meta, sort_keys=True) + "\n")
        w = csv.DictWriter(f, fieldnames=header, restval="")
        w.writeheader()
        for r in rows:
            w.writerow({k: csv_cell(v) for k, v in r.items()})


def read_npy(path) -> np.ndarray:
    p = _existing(path)
    try:
        return np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"cannot read {p}: {exc}") from None


def ensure_dir(path) -> Path:
    """Create the output folder ``path`` (and parents), or raise InputError saying why not."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(f"output folder {p} is an existing file") from None
    except OSError as exc:
        raise InputError(f"cannot create output folder {p}: {exc.strerror}") from None
    return p


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``.

    It is renamed onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make results private
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, default=_jsonable) + "\n")


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def dumps(obj) -> str:
    return json.dumps(obj, default=_jsonable, allow_nan=False)


def csv_cell(v) -> str:
    """A value as a CSV cell: plain numbers (numpy scalars too), empty for None."""
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, np.integer):
        return str(int(v))
    return str(v)


def fmt(x, width: int = 6) -> str:
    """A precision or loss for a human table: four decimals, or a dash when there is none."""
    return "-".rjust(width) if x is None or x == "" else f"{float(x):{width}.4f}"


def versions() -> dict:
    out = {"python": platform.python_version()}
    for dist in ("smallloss", "numpy", "scipy", "numba", "scikit-learn", "torch"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


_COMMAND = {"line": ""}  # set once by the CLI, the one place that reads argv


def record_command(words: list[str]) -> None:
    """Remember the command line that this process runs, for the provenance of its outputs."""
    _COMMAND["line"] = " ".join(words)


def provenance(settings: dict) -> dict:
    """What made an output: settings, versions, the command line and the time."""
    return {
        "settings": settings,
        "versions": versions(),
        "command": _COMMAND["line"],
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }

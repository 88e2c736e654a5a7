"""Safe output folders and file writing.

Rules (issue 11):

* the scenario name is a label, never a path: folders are named by
  :func:`slug`;
* a run writes into a fresh folder it creates itself and never deletes
  anything it did not create;
* an existing result (a folder holding the :data:`RESULT_MARKER` file that
  cryosim writes into every result it publishes) is replaced only on request
  and only atomically (:func:`publish`): the new folder is complete first, the
  old one is renamed to a hidden backup, the new one renamed in, then the
  backup removed; on failure the old one is put back;
* no symlink is followed when writing: files are created new
  (``O_CREAT | O_EXCL | O_NOFOLLOW``) under a random name and
  ``os.replace``-d into place, and a symlinked output folder is refused.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import stat
import tempfile
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..checks import ScenarioError

__all__ = [
    "MAX_SLUG_CHARS",
    "RESULT_MARKER",
    "OutputError",
    "atomic_write",
    "to_jsonable",
    "check_not_symlink",
    "choose_result_folder",
    "is_result",
    "make_partial",
    "mark_result",
    "open_stream",
    "publish",
    "slug",
]

#: File written into every result folder cryosim publishes; only a folder
#: holding it may ever be replaced (with ``--overwrite``).
RESULT_MARKER = ".cryosim-result"
#: Longest folder name derived from a scenario name: well under the 255-byte
#: file-name limit of common file systems, with room for "-NNN.partial".
MAX_SLUG_CHARS = 64
#: Sibling folders tried (name-2, name-3, ...) before giving up: a bound, not a quota.
MAX_SIBLINGS = 9999

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)


class OutputError(ScenarioError):
    """An output location that cryosim refuses to write to (exit status 2)."""


def slug(name: str) -> str:
    """A safe folder name for a scenario name.

    ASCII letters, digits, ``-``, ``_`` and ``.`` (not leading); anything else
    becomes ``_``; at most :data:`MAX_SLUG_CHARS` characters; ``"scenario"``
    when nothing is left (``""``, ``"."``, ``".."``, ``"/"``...).
    """
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", text)
    text = text.lstrip("._-")[:MAX_SLUG_CHARS].rstrip("_")
    if not text or set(text) <= {".", "_", "-"}:
        return "scenario"
    return text


def check_not_symlink(path: Path, what: str) -> None:
    """Refuse ``path`` if it is a symbolic link (it is not followed)."""
    if path.is_symlink():
        raise OutputError(what, str(path), "a real folder, not a symbolic link (cryosim does not follow links "
                                           "when writing)")


def _is_dir_nofollow(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def atomic_write(path: str | Path, write: Callable[[IO[Any]], Any], mode: str = "w") -> None:
    """Write ``path`` through a new temporary file, then rename it into place.

    The temporary file has a random name and is created with
    ``O_CREAT | O_EXCL | O_NOFOLLOW``, so nothing planted in the folder (a
    symlink named like the temporary, say) is ever followed or overwritten; the
    final ``os.replace`` replaces a link at ``path`` itself, not its target.
    The folder must not be a symbolic link.
    """
    path = Path(path)
    check_not_symlink(path.parent, "output folder")
    binary = "b" in mode
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY, 0o644)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 48 random bits
        raise OutputError("output file", str(path), "a folder where a new temporary file can be created")
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", newline="", encoding="utf-8")) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def open_stream(path: str | Path) -> IO[str]:
    """Open ``path`` for streaming text rows, created new: never truncating a file, never following a symlink.

    Creates the parent folder if needed (refusing a symlinked one); an existing
    file at ``path`` (an earlier run's time series) is refused, a symlink too
    (``O_EXCL`` | ``O_NOFOLLOW``).
    """
    path = Path(path)
    check_not_symlink(path.parent, "output folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o644)
    except OSError as e:
        if path.is_symlink():
            raise OutputError("output file", str(path), "a regular file, not a symbolic link") from None
        if e.errno == errno.EEXIST:
            raise OutputError("output file", str(path), "a new file (it exists: an earlier run's? choose another "
                              "output folder)") from None
        raise OutputError("output file", str(path), f"a writable file ({e.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OutputError("output file", str(path), "a regular file")
    return os.fdopen(fd, "w", newline="", encoding="utf-8")


def is_result(path: Path) -> bool:
    """True for a real folder (not a link) holding the :data:`RESULT_MARKER` file."""
    if not _is_dir_nofollow(path):
        return False
    try:
        return stat.S_ISREG(os.lstat(path / RESULT_MARKER).st_mode)
    except OSError:
        return False


def mark_result(folder: Path) -> None:
    """Write the marker that makes ``folder`` a replaceable cryosim result."""
    atomic_write(folder / RESULT_MARKER, lambda fh: fh.write(
        "This folder is a cryosim result: `cryosim run --overwrite` may replace it as a whole.\n"))


#: File inside a working folder naming the process that owns it (``host pid``), for :func:`clean_stale_partials`.
PARTIAL_OWNER = ".cryosim-owner"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clean_stale_partials(parent: Path) -> list[Path]:
    """Remove the working folders (``*.partial``) in ``parent`` whose owning process, on this host, is gone (a
    killed run's): never one of another host, a live process, or one without an owner file (not ours, or one
    just being created). Returns what was removed."""
    import socket

    removed = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    host = socket.gethostname()
    for e in entries:
        if not e.name.endswith(".partial") or not e.is_dir(follow_symlinks=False):
            continue
        try:
            owner_host, pid = (Path(e.path) / PARTIAL_OWNER).read_text(encoding="utf-8").split()
            pid_i = int(pid)
        except (OSError, ValueError):
            continue
        if owner_host == host and pid_i != os.getpid() and not _pid_alive(pid_i):
            shutil.rmtree(e.path, ignore_errors=True)
            removed.append(Path(e.path))
    return removed


def make_partial(final: Path) -> Path:
    """Create a fresh, empty working folder next to ``final`` (random name, ``*.partial``), owned by this process;
    stale ones of killed runs there are removed first (:func:`clean_stale_partials`)."""
    import socket

    parent = final.parent
    check_not_symlink(parent, "output folder")
    parent.mkdir(parents=True, exist_ok=True)
    if not _is_dir_nofollow(parent):
        raise OutputError("output folder", str(parent), "a folder")
    clean_stale_partials(parent)
    partial = Path(tempfile.mkdtemp(prefix=final.name + ".", suffix=".partial", dir=parent))
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(partial, 0o777 & ~umask)  # mkdtemp makes it private (0700); a result is an ordinary folder
    atomic_write(partial / PARTIAL_OWNER, lambda fh: fh.write(f"{socket.gethostname()} {os.getpid()}\n"))
    return partial


def choose_result_folder(root: Path, name: str, *, overwrite: bool, inside: bool) -> Path:
    """Where a new result goes.

    ``inside``: ``root`` is a parent folder and the result is ``root/name``.
    Otherwise ``root`` itself is the wanted result folder, unless it exists
    and is not a cryosim result, in which case the result goes *inside* it
    (``root/name``): a user's folder is never replaced or emptied.

    The chosen path either does not exist or (with ``overwrite``) is an
    existing cryosim result; without ``overwrite`` an existing one gives way
    to the first free sibling ``name-2``, ``name-3``, ...
    """
    root = Path(root)
    check_not_symlink(root, "--out" if not inside else "output folder")
    if root.exists() and not _is_dir_nofollow(root):
        raise OutputError("--out", str(root), "a folder or a path that does not exist yet (this is a file)")
    if inside or (root.exists() and not is_result(root)):
        base = root / name
    else:
        base = root
    check_not_symlink(base, "output folder")
    if not base.exists() and not base.is_symlink():
        return base
    if overwrite and is_result(base):
        return base
    for k in range(2, MAX_SIBLINGS + 2):
        cand = base.with_name(f"{base.name}-{k}")
        if not cand.exists() and not cand.is_symlink():
            return cand
    raise OutputError("output folder", str(base), f"fewer than {MAX_SIBLINGS} earlier results of the same name")


def publish(partial: Path, final: Path, *, overwrite: bool = False) -> Path:
    """Move the complete ``partial`` folder to ``final``; returns where it went.

    Without ``overwrite`` nothing is replaced: if ``final`` came into being
    since it was chosen (another run of the same name finished first), the
    result goes to the first free sibling ``final-2``, ``final-3``, ... (each
    rename is atomic and fails on an existing folder, so two runs racing for
    one name both keep their result). With ``overwrite`` an existing ``final``
    must be a cryosim result; it is swapped out atomically: renamed to a hidden
    backup, ``partial`` renamed in, backup removed. If the second rename fails
    the old result is put back and the new one stays in ``partial``.
    """
    if final.is_symlink():
        raise OutputError("output folder", str(final), "a real folder, not a symbolic link")
    try:
        (partial / PARTIAL_OWNER).unlink()  # a published result has no owner to outlive
    except FileNotFoundError:
        pass
    if not overwrite or not final.exists():
        candidates = [final] + [final.with_name(f"{final.name}-{k}") for k in range(2, MAX_SIBLINGS + 2)]
        for cand in candidates:
            if cand.exists() or cand.is_symlink():
                continue
            try:
                os.rename(partial, cand)  # onto a folder that appeared meanwhile: ENOTEMPTY / EEXIST
                return cand
            except OSError as e:
                if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        raise OutputError("output folder", str(final), f"fewer than {MAX_SIBLINGS} earlier results of the same name")
    if not is_result(final):
        raise OutputError("output folder", str(final), "a cryosim result folder (it has no "
                          f"{RESULT_MARKER} file, so it is not replaced)")
    backup = final.with_name(f".{final.name}.old-{secrets.token_hex(4)}")
    os.rename(final, backup)
    try:
        os.rename(partial, final)
    except BaseException:
        os.rename(backup, final)
        raise
    shutil.rmtree(backup, ignore_errors=True)
    return final


def to_jsonable(x: Any) -> Any:
    """``json.dump`` default for numpy scalars and arrays, paths and anything else (as text)."""
    import numpy as np

    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)

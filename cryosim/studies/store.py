"""Where a study keeps its results: one small file per finished point, then the table.

Layout of a study folder::

    .cryosim-study        marker: this folder is a study (resumable)
    study.json            study digest, cryosim version, the designed points
    study.toml            copy of the study file as read
    points/000042.json    one per finished point (ok or error), written by create-then-rename
    results.parquet, results.csv, plots/   assembled from points/ at the end

Every file is written through :func:`cryosim.post.files.atomic_write`, so a
point file is either complete or absent, whenever the process is stopped.
A folder is resumed only by the study it was made for (same digest).
"""

from __future__ import annotations

import json
import math
import os
import stat
import time
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..post.files import OutputError, atomic_write, check_not_symlink
from .study import Study

__all__ = ["STUDY_MARKER", "StudyFolder", "open_study_folder"]

STUDY_MARKER = ".cryosim-study"
#: Digits of the point file names: sorts in order up to 10^6 points (MAX_POINTS is 10^5).
INDEX_DIGITS = 6


def _json_value(x: Any) -> Any:
    """NaN and infinities are not JSON: stored as null."""
    return None if isinstance(x, float) and not math.isfinite(x) else x


class StudyFolder:
    """A study's results folder (created or resumed by :func:`open_study_folder`)."""

    def __init__(self, path: Path, study: Study, points: list[dict[str, Any]]) -> None:
        self.path = path
        self.study = study
        self.points = points
        self.point_dir = path / "points"

    def point_file(self, index: int) -> Path:
        return self.point_dir / f"{index:0{INDEX_DIGITS}d}.json"

    def _read_point(self, index: int) -> dict[str, Any] | None:
        """The stored row of point ``index`` if its file is a valid one, else None.

        Valid: a regular file (a symbolic link is never followed), JSON of a
        table with this ``index``, a ``status``, and the point's designed
        values (a file planted or left from another study is not a result of
        this one). An invalid file is removed, so the point is computed again.
        """
        path = self.point_file(index)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        why = None
        row: Any = None
        if not stat.S_ISREG(st.st_mode):
            why = "not a regular file"
        else:
            try:
                with path.open(encoding="utf-8") as fh:
                    row = json.load(fh)
            except (OSError, ValueError) as e:
                why = f"unreadable ({type(e).__name__})"
        if why is None:
            if not isinstance(row, dict) or row.get("index") != index or "status" not in row:
                why = "not a point row of this study"
            elif any(row.get(k) != v for k, v in self.points[index].items()):
                why = "its values are not those of this point"
        if why is None:
            return row
        print(f"cryosim: note: {path} is {why}; the point is computed again")
        try:
            path.unlink()
        except OSError:
            pass
        return None

    def _stored(self) -> dict[int, dict[str, Any]]:
        """The valid stored rows by point index, each file read once (:meth:`_read_point`)."""
        rows = {}
        for p in self.point_dir.glob("*.json"):
            stem = p.stem
            if stem.isdigit() and int(stem) < len(self.points):
                row = self._read_point(int(stem))
                if row is not None:
                    rows[int(stem)] = row
        return rows

    def finished(self) -> set[int]:
        """Indices of the points stored so far (valid point files only: :meth:`_read_point`)."""
        return set(self._stored())

    def failed(self) -> set[int]:
        """Indices of the stored points whose status is an error."""
        return {int(r["index"]) for r in self.rows() if r["status"] != "ok"}

    def store(self, row: dict[str, Any]) -> None:
        """Store one finished point (atomically)."""
        clean = {k: _json_value(v) for k, v in row.items()}
        atomic_write(self.point_file(int(row["index"])), lambda fh: json.dump(clean, fh, indent=1))

    def rows(self) -> list[dict[str, Any]]:
        """The valid stored rows in index order."""
        stored = self._stored()
        return [stored[i] for i in sorted(stored)]

    def table(self) -> pd.DataFrame:
        """The stored points as a table, one row per point in index order (NaN where a point has no value)."""
        df = pd.DataFrame(self.rows())
        if not df.empty:
            df = df.set_index("index", drop=False).sort_index()
        return df

    def write_table(self, df: pd.DataFrame) -> list[Path]:
        """``results.parquet`` and ``results.csv``."""
        pq, csv = self.path / "results.parquet", self.path / "results.csv"
        atomic_write(pq, lambda fh: df.to_parquet(fh, index=False), mode="wb")
        atomic_write(csv, lambda fh: df.to_csv(fh, index=False))
        return [pq, csv]


def _new_folder(path: Path, study: Study) -> StudyFolder:
    path.mkdir(parents=True, exist_ok=True)
    points = study.points()
    manifest = {
        "study": study.name,
        "digest": study.digest,
        "cryosim_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "definition": study.definition(),
        "points": points,
    }
    (path / "points").mkdir(exist_ok=True)
    if study.source_text is not None:
        atomic_write(path / "study.toml", lambda fh: fh.write(study.source_text))
    atomic_write(path / "study.json", lambda fh: json.dump(manifest, fh, indent=1))
    # the marker last: a folder with the marker has its manifest
    atomic_write(path / STUDY_MARKER, lambda fh: fh.write(
        "This folder holds a cryosim study: `cryosim sweep` with the same study file resumes it.\n"))
    return StudyFolder(path, study, points)


def _resume(path: Path, study: Study) -> StudyFolder:
    try:
        with (path / "study.json").open(encoding="utf-8") as fh:
            manifest = json.load(fh)
    except (OSError, ValueError) as e:
        raise OutputError("study folder", str(path), f"a study folder with a readable study.json ({e})") from None
    if manifest.get("digest") != study.digest:
        raise OutputError(
            "study folder", str(path),
            f"a folder of this study: it holds the results of study {manifest.get('study')!r} "
            f"(digest {str(manifest.get('digest'))[:12]}), and this study file defines another one "
            f"(digest {study.digest[:12]}: a base, parameter, value or setting differs; see {path / 'study.toml'}). "
            "Resume with the study file it was made from, or give another --out for the new study")
    if manifest.get("cryosim_version") != __version__:
        print(f"cryosim: note: {path} was started with cryosim {manifest.get('cryosim_version')}, "
              f"this is {__version__}; each point records the version that computed it")
    (path / "points").mkdir(exist_ok=True)
    for tmp in (path / "points").glob(".*.tmp"):  # atomic_write's temporaries of a killed run: never complete
        tmp.unlink()
    # the designed points are read back, not redrawn: a resumed sample is the one that was started
    return StudyFolder(path, study, manifest["points"])


def open_study_folder(path: str | Path, study: Study) -> StudyFolder:
    """Create the study folder at ``path``, or resume the one there.

    ``path`` may not exist yet (it is created), be an empty folder, or be a
    study folder of the same study (resumed). Anything else is refused: a
    folder of other files is never written into, a symbolic link never followed.
    """
    path = Path(path)
    check_not_symlink(path, "--out")
    if path.exists() and not path.is_dir():  # not a link: refused above
        raise OutputError("--out", str(path), "a folder or a path that does not exist yet (this is a file)")
    if (path / STUDY_MARKER).is_file():
        return _resume(path, study)
    if path.exists() and any(os.scandir(path)):
        raise OutputError("--out", str(path), "an empty or new folder, or the folder of an earlier run of this "
                          "study (this one holds other files, and a study does not write among them)")
    return _new_folder(path, study)

"""Output safety (issue 11, items 1-4 and 12): the scenario name is a label,
nothing a run did not create is deleted, results are replaced only atomically
and on request, no symlink is followed, Ctrl-C exits 130 for every solver."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import cryosim
from cryosim import cli
from cryosim.cli import main
from cryosim.post import files
from cryosim.post.files import RESULT_MARKER, OutputError, atomic_write, open_stream, slug

BODY = """
[probe]
gauge = 18
active_length_m = 0.005
[[protocol]]
type = "freeze"
duration_s = 5
tip_temperature_C = -70
[numerics]
resolution = 0.35
"""


def scenario_file(folder: Path, name: str | None = "small", fname: str = "s.toml") -> Path:
    f = folder / fname
    head = "" if name is None else f"name = {json.dumps(name)}\n"
    f.write_text(head + BODY)
    return f


def earlier_result(folder: Path) -> Path:
    """A fake earlier cryosim result with a file in it."""
    folder.mkdir(parents=True)
    (folder / RESULT_MARKER).write_text("x")
    (folder / "results.json").write_text('{"old": true}')
    return folder


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    return work


# --- 1. the scenario name is a label ---------------------------------------
@pytest.mark.integration
@pytest.mark.parametrize("name", ["", ".", "..", "../../x", "/etc", "~"])
def test_name_is_never_a_path(cwd, name, capsys):
    other = earlier_result(cwd / "cryosim-output" / "other")
    victim = cwd.parent.parent / "x"  # what "../../x" would reach from cryosim-output/
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    f = scenario_file(cwd, name)
    assert main(["run", str(f), "--quiet"]) == 0
    assert f.exists() and (other / "results.json").read_text() == '{"old": true}'
    assert (victim / "keep.txt").read_text() == "keep"
    made = [p for p in (cwd / "cryosim-output").iterdir() if p.name != "other"]
    assert len(made) == 1 and made[0].name == slug(name)
    summary = json.loads((made[0] / "results.json").read_text())
    assert summary["scenario"] == name  # the full name is kept inside
    assert not list((cwd / "cryosim-output").glob("*.partial"))


def test_slug_rules():
    assert slug("") == slug(".") == slug("..") == slug("/") == "scenario"
    assert slug("../../x") == "x"
    assert slug("a b/c") == "a_b_c"
    assert len(slug("y" * 300)) == files.MAX_SLUG_CHARS
    assert not slug(".hidden").startswith(".")


def test_mathtext_name_plots_fine(cwd):
    f = scenario_file(cwd, "$\\foo{$")
    assert main(["run", str(f), "--quiet"]) == 0
    out = cwd / "cryosim-output" / slug("$\\foo{$")
    assert (out / "extent_vs_time.png").stat().st_size > 1000
    assert json.loads((out / "results.json").read_text())["scenario"] == "$\\foo{$"
    assert not list((cwd / "cryosim-output").glob("*.partial"))


@pytest.mark.parametrize("name", ["a\0b", "a\nb", "z" * 300])
def test_unprintable_or_long_names_refused(cwd, name, capsys):
    f = scenario_file(cwd, name)
    assert main(["run", str(f), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "name" in err
    assert not (cwd / "cryosim-output").exists()


# --- 2. --out never deletes what it did not create -----------------------------
@pytest.mark.integration
def test_out_existing_folder_is_not_emptied(cwd, capsys):
    mine = cwd / "mine"
    mine.mkdir()
    (mine / "data.txt").write_text("precious")
    f = scenario_file(cwd, "r")
    for extra in ([], [], ["--overwrite"]):  # r, then its sibling r-2, then r replaced
        assert main(["run", str(f), "--out", str(mine), "--quiet", *extra]) == 0
        assert (mine / "data.txt").read_text() == "precious"
    assert sorted(p.name for p in mine.iterdir()) == ["data.txt", "r", "r-2"]
    assert (mine / "r" / "results.json").exists() and (mine / "r-2" / "results.json").exists()
    assert not (mine / RESULT_MARKER).exists()
    out = capsys.readouterr().out
    assert f"wrote {mine / 'r-2'}/" in out and f"replaced {mine / 'r'}/" in out


def test_out_file_refused(cwd, capsys):
    target = cwd / "data.txt"
    target.write_text("precious")
    f = scenario_file(cwd)
    assert main(["run", str(f), "--out", str(target), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "file" in err
    assert target.read_text() == "precious"


# --- 3. replacing is explicit and atomic -----------------------------------------
@pytest.mark.integration
def test_rerun_uses_a_sibling_without_overwrite(cwd, capsys):
    f = scenario_file(cwd, "r")
    assert main(["run", str(f), "--quiet"]) == 0
    first = (cwd / "cryosim-output" / "r" / "results.json").read_bytes()
    assert main(["run", str(f), "--quiet"]) == 0
    assert (cwd / "cryosim-output" / "r" / "results.json").read_bytes() == first
    assert (cwd / "cryosim-output" / "r-2" / "results.json").exists()
    assert "cryosim-output/r-2" in capsys.readouterr().out


def test_overwrite_replaces_a_result_and_leaves_nothing_behind(cwd):
    out = cwd / "res"
    earlier_result(out)
    f = scenario_file(cwd, "r")
    assert main(["run", str(f), "--out", str(out), "--overwrite", "--quiet"]) == 0
    assert json.loads((out / "results.json").read_text())["scenario"] == "r"
    assert (out / RESULT_MARKER).is_file()
    assert sorted(p.name for p in cwd.iterdir()) == ["res", "s.toml"]  # no backup, no .partial


def test_failed_swap_keeps_the_old_result(cwd, monkeypatch, capsys):
    out = earlier_result(cwd / "res")
    real_rename = os.rename

    def rename(src, dst):
        if str(src).endswith(".partial"):
            raise PermissionError(13, "Permission denied")
        return real_rename(src, dst)

    monkeypatch.setattr(files.os, "rename", rename)
    f = scenario_file(cwd, "r")
    assert main(["run", str(f), "--out", str(out), "--overwrite", "--quiet"]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Permission denied" in err
    assert (out / "results.json").read_text() == '{"old": true}'
    partial = [p for p in cwd.iterdir() if p.name.endswith(".partial")]
    assert len(partial) == 1 and (partial[0] / "results.json").exists()
    assert str(partial[0]) in err and "unchanged" in err
    assert not [p for p in cwd.iterdir() if p.name.startswith(".res.old")]


# --- 4. no symlink is followed ----------------------------------------------------
@pytest.fixture(scope="module")
def small_results():
    s = cryosim.default_scenario().with_(protocol=cryosim.Protocol.single_freeze(5.0, -70.0),
                                         numerics=cryosim.Numerics(resolution=0.35))
    return cryosim.run(s)


@pytest.mark.integration
@pytest.mark.parametrize("planted", ["results.json.tmp", "results.json", "timeseries.csv.tmp", "extent_vs_time.png"])
def test_save_does_not_follow_planted_links(tmp_path, small_results, planted):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / planted).symlink_to(victim)
    small_results.save(out)
    assert victim.read_text() == "precious"
    assert (out / "results.json").is_file() and not (out / "results.json").is_symlink()


def test_save_refuses_a_symlinked_folder(tmp_path, small_results):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(OutputError, match="symbolic link"):
        small_results.save(tmp_path / "link")
    assert not list(real.iterdir())


def test_atomic_write_and_stream_refuse_links(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "s.csv").symlink_to(victim)
    with pytest.raises(OutputError, match="symbolic link"):
        open_stream(tmp_path / "s.csv")
    atomic_write(tmp_path / "s.csv", lambda fh: fh.write("new"))
    assert victim.read_text() == "precious" and (tmp_path / "s.csv").read_text() == "new"


def test_symlinked_output_root_refused(cwd, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (cwd / "cryosim-output").symlink_to(elsewhere)
    f = scenario_file(cwd, "r")
    assert main(["run", str(f), "--quiet"]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert not list(elsewhere.iterdir())
    (cwd / "outlink").symlink_to(elsewhere)
    assert main(["run", str(f), "--out", "outlink", "--quiet"]) == 2
    assert not list(elsewhere.iterdir())


def test_planted_partial_link_is_not_followed(cwd, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep")
    (cwd / "cryosim-output").mkdir()
    (cwd / "cryosim-output" / "r.partial").symlink_to(elsewhere)
    f = scenario_file(cwd, "r")
    assert main(["run", str(f), "--quiet"]) == 0
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.txt"]
    assert (cwd / "cryosim-output" / "r" / "results.json").exists()


# --- 12. Ctrl-C exits 130 with the same message for every solver ---------------------
def _interrupt_after(seconds: float, wrap=None):
    real_run = cryosim.api.run

    def fake_run(scenario, output_dir=None, progress=None):
        def stop(t, t_end):
            if t > seconds:
                if wrap is None:
                    raise KeyboardInterrupt
                try:
                    raise KeyboardInterrupt
                except KeyboardInterrupt as e:
                    raise wrap("error code 1 in a PETSc callback") from e

        return real_run(scenario, output_dir=output_dir, progress=stop)

    return fake_run


class FakePetscError(RuntimeError):
    pass


FakePetscError.__module__ = "petsc4py.PETSc"


@pytest.mark.parametrize("wrap", [None, RuntimeError], ids=["plain", "wrapped"])
def test_interrupt_exits_130_and_keeps_the_time_series(cwd, monkeypatch, capsys, wrap):
    monkeypatch.setattr(cryosim.api, "run", _interrupt_after(2.0, wrap))
    f = scenario_file(cwd, "r")
    assert main(["run", str(f), "--quiet"]) == 130
    err = capsys.readouterr().err.strip()
    partial = [p for p in (cwd / "cryosim-output").iterdir()]
    assert len(partial) == 1 and partial[0].name.endswith(".partial")
    assert err == f"cryosim: interrupted; the time series computed so far is kept in {partial[0]}/timeseries.csv " \
                  "(no summary, field or plots were written)"
    rows = (partial[0] / "timeseries.csv").read_text().splitlines()
    assert rows[0].startswith("time_s") and len(rows) > 2


def test_petsc_error_after_sigint_counts_as_interruption(cwd, monkeypatch, capsys):
    def fake_run(scenario, output_dir=None, progress=None):
        cli._STATE.sigint_received = True  # what the SIGINT handler records
        raise FakePetscError("error code 1")  # PETSc lost the KeyboardInterrupt

    monkeypatch.setattr(cryosim.api, "run", fake_run)
    assert main(["run", str(scenario_file(cwd)), "--quiet"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_other_errors_still_raise(cwd, monkeypatch):
    def fake_run(scenario, output_dir=None, progress=None):
        raise FakePetscError("a real PETSc failure")

    monkeypatch.setattr(cryosim.api, "run", fake_run)
    with pytest.raises(FakePetscError):
        main(["run", str(scenario_file(cwd)), "--quiet"])


@pytest.mark.slow
def test_interrupt_fem_exits_130(cwd, monkeypatch, capsys):
    pytest.importorskip("dolfinx", exc_type=ImportError)
    monkeypatch.setattr(cryosim.api, "run", _interrupt_after(1.0))
    f = scenario_file(cwd, "r")
    assert main(["run", str(f), "--quiet", "--solver", "fem"]) == 130
    err = capsys.readouterr().err
    assert "interrupted; the time series computed so far is kept in" in err


def test_an_earlier_result_is_never_replaced_silently(tmp_path, small_results):
    """Results.save into a folder holding a saved result, and a run streaming into a folder holding a time
    series, are refused (they overwrote / truncated it); save(..., overwrite=True) replaces on purpose."""
    out = tmp_path / "mine"
    small_results.save(out, plots=False)
    before = (out / "results.json").read_bytes()
    with pytest.raises(OutputError, match="results.json"):
        small_results.save(out, plots=False)
    assert (out / "results.json").read_bytes() == before
    small_results.save(out, plots=False, overwrite=True)
    series = (out / "timeseries.csv").read_bytes()
    with pytest.raises(OutputError, match="output_dir.*timeseries.csv"):
        cryosim.run(small_results.scenario, output_dir=out)
    assert (out / "timeseries.csv").read_bytes() == series
    from cryosim.post.files import open_stream

    with pytest.raises(OutputError, match="a new file"):
        open_stream(out / "timeseries.csv")
    assert (out / "timeseries.csv").read_bytes() == series


def test_two_runs_of_one_name_both_keep_their_result(tmp_path):
    """Two runs that chose the same free folder (started together): the second to finish goes to the next free
    sibling instead of replacing the first (issue 16: one of the two results was lost)."""
    from cryosim.post.files import choose_result_folder, make_partial, mark_result, publish

    root = tmp_path / "cryosim-output"
    a = choose_result_folder(root, "same", overwrite=False, inside=True)
    b = choose_result_folder(root, "same", overwrite=False, inside=True)
    assert a == b == root / "same"
    pa, pb = make_partial(a), make_partial(b)
    for p, text in ((pa, "first"), (pb, "second")):
        (p / "results.json").write_text(text)
        mark_result(p)
    assert publish(pa, a) == root / "same"
    assert publish(pb, b) == root / "same-2"
    assert (root / "same" / "results.json").read_text() == "first"
    assert (root / "same-2" / "results.json").read_text() == "second"
    # with overwrite the earlier result is replaced, on purpose
    pc = make_partial(a)
    (pc / "results.json").write_text("third")
    mark_result(pc)
    assert publish(pc, a, overwrite=True) == root / "same"
    assert (root / "same" / "results.json").read_text() == "third"


def test_working_folders_of_killed_runs_are_cleaned(tmp_path):
    """A killed run leaves its *.partial folder; the next run in the same place removes it if its owner process
    is gone, and never one of a live process or one it cannot attribute (issue 16)."""
    import subprocess
    import sys

    from cryosim.post.files import PARTIAL_OWNER, make_partial

    root = tmp_path / "cryosim-output"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = make_partial(root / "r")
    (stale / PARTIAL_OWNER).write_text(f"{__import__('socket').gethostname()} {int(dead.stdout)}\n")
    live = make_partial(root / "r")  # this process: alive
    foreign = root / "x.abc.partial"
    foreign.mkdir()  # no owner file: not ours to judge
    newest = make_partial(root / "r")
    assert not stale.exists() and live.exists() and foreign.exists() and newest.exists()

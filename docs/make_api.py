"""Write docs/api.md: the public names of cryosim (``__all__`` of the package and its subpackages) and their
docstrings, as markdown.

    PYTHONPATH=. python docs/make_api.py          # rewrites docs/api.md
    PYTHONPATH=. python docs/make_api.py --check  # exit 1 when docs/api.md is out of date
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path

try:
    import dolfinx_solver  # noqa: F401  (wheel install: must precede dolfinx / petsc4py)
except ImportError:
    pass

#: Modules documented, in order: the package, its subpackages with an ``__all__``, and the post-processing
#: modules users call directly (``cryosim.post`` has no ``__all__`` of its own).
MODULES = ("cryosim", "cryosim.fast", "cryosim.fem", "cryosim.studies", "cryosim.validation",
           "cryosim.post.results", "cryosim.post.trackers", "cryosim.post.series")

OUT = Path(__file__).with_name("api.md")


def _clean(text: str) -> str:
    return re.sub(r" at 0x[0-9a-f]+", "", text)


def _signature(obj: object) -> str:
    try:
        return _clean(str(inspect.signature(obj)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""


def _doc(obj: object) -> str:
    return inspect.getdoc(obj) or "(no docstring)"


def _members(cls: type) -> list[tuple[str, object]]:
    """Public methods and properties defined on ``cls`` itself (not inherited), in source order."""
    out = []
    for name, value in cls.__dict__.items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            out.append((name, value))
    return out


def _entry(module: str, name: str, obj: object) -> list[str]:
    lines: list[str] = []
    if inspect.isclass(obj):
        lines += [f"### class `{name}{_signature(obj)}`", "", _doc(obj), ""]
        for mname, m in _members(obj):
            if isinstance(m, property):
                lines += [f"- **`{mname}`** (property): {(_doc(m.fget) if m.fget else '').splitlines()[0]}"
                          if m.fget and inspect.getdoc(m.fget) else f"- **`{mname}`** (property)"]
            else:
                first = (inspect.getdoc(m) or "").split("\n\n")[0].replace("\n", " ")
                lines += [f"- **`{mname}{_signature(m)}`**" + (f": {first}" if first else "")]
        lines.append("")
    elif callable(obj):
        lines += [f"### `{name}{_signature(obj)}`", "", _doc(obj), ""]
    else:
        shown = _clean(repr(obj))
        if len(shown) > 300:
            shown = shown[:300] + " ..."
        lines += [f"### `{name}`", "", f"`{type(obj).__name__}`: `{shown}`", ""]
    return lines


def render() -> str:
    lines = ["# API reference", "",
             "Generated from the docstrings by `docs/make_api.py` (do not edit by hand: run "
             "`PYTHONPATH=. python docs/make_api.py`). The public names are each module's `__all__`.", ""]
    lines += ["Modules: " + ", ".join(f"[`{m}`](#{m.replace('.', '')})" for m in MODULES), ""]
    for modname in MODULES:
        mod = importlib.import_module(modname)
        lines += [f"## {modname}", "", (inspect.getdoc(mod) or "").split("\n\n")[0], ""]
        for name in getattr(mod, "__all__", ()):
            if name.startswith("__"):
                continue
            lines += _entry(modname, name, getattr(mod, name))
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        same = OUT.is_file() and OUT.read_text(encoding="utf-8") == text
        print("docs/api.md is up to date" if same else "docs/api.md is out of date: run docs/make_api.py")
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

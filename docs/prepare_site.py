"""Turn `nbs/*.ipynb` into a Sphinx source tree for the documentation site.

Steps (run by `docs/build.sh`, with the project's venv python):

1. Execute every notebook (cleared in git) with nbclient on a kernel that runs *this* python
   (a private kernelspec under `docs/_build/jupyter`, found through JUPYTER_PATH, so no global
   kernel is assumed). Cells that `nbdev_test` skips (`#| eval: false`, the `tst_flags` of
   settings.ini) are skipped here too. Notebooks run in parallel (`DOCS_JOBS`, default 2) with the
   notebook folder as working directory, like `nbdev_test`. Results are cached under
   `docs/_build/exec`, keyed by a hash of the notebook, the package sources and this script, so an
   unchanged notebook is not re-run. Any failure stops the build with the notebook and cell named.
2. Apply the nbdev display directives to the executed notebooks: `hide`/`default_exp`/
   `include: false` cells are dropped, `export` cells are folded ("Show code cell source"),
   `echo: false`/`output: false` hide input/output; directive comment lines are stripped.
3. Write the Sphinx source tree: the notebooks in reading order (index first, then by their numeric
   prefix, grouped by tens into the navigation captions), an API reference with one page per
   public `mmsold` module, and the images the notebooks' markdown references.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import configparser
import copy
import hashlib
import importlib
import inspect
import json
import os
import pkgutil
import pprint
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import page_of, rewrite_links, write_results  # noqa: E402

HERE = Path(__file__).resolve().parent
KERNEL_NAME = "mmsold-docs"
SLOW_CELL = 20.0  # seconds; slower cells are named in the build log
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}
# Navigation captions by the tens digit of the notebook number (see DEVELOPING.md's layout table).
GROUPS = {0: "Library", 1: "Theory", 2: "Baselines", 3: "Images", 4: "Performance", 5: "Scale-out"}
_ANSI = re.compile(r"\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])")
_DIRECTIVE = re.compile(r"^\s*#\|\s?(.*?)\s*$")

# Run in the kernel before the notebook's own cells; never shown on the page.
PREAMBLE = r'''
import matplotlib as _mpl
_mpl_use_orig = _mpl.use
def _mpl_use_docs(backend, *args, **kwargs):
    # Notebooks may force Agg so that tests never open windows; the docs kernel keeps the inline
    # backend so that figures are captured as outputs.
    if str(backend).lower() == "agg":
        return None
    return _mpl_use_orig(backend, *args, **kwargs)
_mpl.use = _mpl_use_docs
del _mpl
import warnings as _warnings
# tqdm.auto warns (with a path into the venv) when ipywidgets is missing, which it is in this
# kernel; the warning is about the docs kernel, not about the notebook
_warnings.filterwarnings("ignore", message="IProgress not found")
del _warnings
'''


# ----------------------------------------------------------------------------- discovery

def notebook_order(path: Path):
    "Sort key: index first, then numeric prefix, then name."
    stem = path.stem
    if stem == "index":
        return (0, 0, stem)
    m = re.match(r"^(\d+)", stem)
    return (1, int(m.group(1)), stem) if m else (2, 0, stem)


def find_notebooks(nbs: Path) -> list[Path]:
    nbs_list = [p for p in nbs.glob("*.ipynb") if not p.name.startswith(("_", "."))]
    return sorted(nbs_list, key=notebook_order)


def read_settings(root: Path) -> configparser.SectionProxy:
    cp = configparser.ConfigParser()
    cp.read(root / "settings.ini")
    return cp["DEFAULT"]


# ----------------------------------------------------------------------------- directives

def split_directives(source: str):
    "Leading `#| ...` lines of a code cell -> (dict of directives, remaining source)."
    lines = source.splitlines()
    directives = {}
    i = 0
    while i < len(lines):
        m = _DIRECTIVE.match(lines[i])
        if not m:
            break
        text = m.group(1)
        key, _, val = text.partition(" ")
        if key.endswith(":"):
            key = key[:-1]
        elif ":" in key:  # `eval:false`
            key, _, val2 = key.partition(":")
            val = (val2 + " " + val).strip()
        directives[key.strip().lower()] = val.strip()
        i += 1
    return directives, "\n".join(lines[i:]).lstrip("\n")


def _false(d, key):
    return d.get(key, "").strip().strip("'\"").lower() == "false"


def skip_in_exec(cell, skip_flags) -> bool:
    "The same cells `nbdev_test` leaves out."
    if cell.cell_type != "code":
        return True
    if "nbdev_export(" in cell.source:
        return True
    d, _ = split_directives(cell.source)
    return _false(d, "eval") or bool(skip_flags & d.keys())


# ----------------------------------------------------------------------------- execution

def _kernel_dir(build: Path) -> Path:
    "A kernelspec that runs this venv's python; found through JUPYTER_PATH (not installed globally)."
    jdir = build / "jupyter"
    kdir = jdir / "kernels" / KERNEL_NAME
    kdir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "mmsold docs (venv python)",
        "language": "python",
        "metadata": {"debugger": False},
    }
    (kdir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return jdir


def execute_notebook(src: str, dst: str, cwd: str, skip_flags: list[str], timeout: int) -> dict:
    "Execute notebook `src` in a fresh kernel; write the executed copy to `dst`. Runs in a worker."
    from jupyter_client import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    t0 = time.time()
    nb = nbformat.read(src, as_version=4)
    flags = set(skip_flags)
    run = copy.deepcopy(nb)
    skipped = []
    for i, cell in enumerate(run.cells):
        if cell.cell_type == "code" and skip_in_exec(cell, flags):
            cell.source = ""  # nbclient does not run empty cells
            skipped.append(i)
    run.cells.insert(0, nbformat.v4.new_code_cell(PREAMBLE))
    run.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": KERNEL_NAME, "language": "python"}
    # IPC sockets in a private temporary folder: nothing listens on TCP, nothing lands in `cwd`
    ipc_dir = tempfile.mkdtemp(prefix="mmsold-kernel-")
    km = KernelManager(kernel_name=KERNEL_NAME, transport="ipc", ip=os.path.join(ipc_dir, "k"))
    starts = {}
    name = Path(src).name

    def _started(cell, cell_index, **kw):
        starts[cell_index] = time.time()
        if os.environ.get("DOCS_VERBOSE"):
            print(f"[docs]   {name}: cell {cell_index - 1} started", flush=True)

    def _done(cell, cell_index, **kw):
        dt = time.time() - starts.get(cell_index, time.time())
        if dt > SLOW_CELL:
            print(f"[docs]   {name}: cell {cell_index - 1} took {dt:.1f} s", flush=True)

    client = NotebookClient(run, km=km, kernel_name=KERNEL_NAME, timeout=timeout, allow_errors=False,
                            resources={"metadata": {"path": cwd}}, record_timing=False,
                            on_cell_start=_started, on_cell_executed=_done)
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as e:
        # find the failing cell: the first code cell holding an error output (or the last one run)
        idx = None
        for i, cell in enumerate(run.cells[1:]):
            if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                idx = i
                break
        msg = _ANSI.sub("", str(e))
        return {"ok": False, "src": src, "cell": idx, "error": msg[-6000:], "seconds": time.time() - t0}
    except Exception as e:  # kernel died, could not start, ...
        return {"ok": False, "src": src, "cell": None, "error": f"{type(e).__name__}: {e}",
                "seconds": time.time() - t0}
    finally:
        try:  # nbclient leaves a kernel it did not start (km=...) running
            if km.has_kernel:
                km.shutdown_kernel(now=True)
        except Exception:
            pass
        shutil.rmtree(ipc_dir, ignore_errors=True)
    for cell, done in zip(nb.cells, run.cells[1:]):
        if cell.cell_type == "code":
            cell.outputs = done.get("outputs", [])
            cell.execution_count = done.get("execution_count")
    tmp = Path(dst).with_suffix(".tmp")
    nbformat.write(nb, str(tmp))
    os.replace(tmp, dst)
    return {"ok": True, "src": src, "seconds": time.time() - t0, "skipped": len(skipped)}


def source_hash(root: Path) -> str:
    "Hash of everything besides the notebook itself that can change a notebook's outputs."
    h = hashlib.sha256()
    files = [Path(__file__), root / "settings.ini"]
    for sub in ("mmsold", "paper_figs"):
        files += sorted((root / sub).rglob("*.py")) if (root / sub).exists() else []
    for f in files:
        if f.exists():
            h.update(str(f.relative_to(root) if root in f.parents else f.name).encode())
            h.update(f.read_bytes())
    h.update(sys.version.encode())
    return h.hexdigest()


def execute_all(nbs: list[Path], root: Path, build: Path, jobs: int, timeout: int,
                skip_flags: list[str], use_cache: bool) -> dict[Path, Path]:
    cache = build / "exec"
    cache.mkdir(parents=True, exist_ok=True)
    base = source_hash(root)
    out, todo = {}, []
    for p in nbs:
        key = hashlib.sha256(base.encode() + p.read_bytes()).hexdigest()[:20]
        dst = cache / f"{p.stem}-{key}.ipynb"
        out[p] = dst
        if use_cache and dst.exists():
            print(f"[docs] cached   {p.name}", flush=True)
            continue
        for old in cache.glob(f"{p.stem}-*.ipynb"):
            old.unlink()
        todo.append((p, dst))
    if not todo:
        return out
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [str(_kernel_dir(build))] + ([os.environ["JUPYTER_PATH"]] if os.environ.get("JUPYTER_PATH") else []))
    # Kernels see the repo first on sys.path (same code as the checkout, installed or not) and one
    # BLAS thread each, since `jobs` kernels share the machine.
    os.environ["PYTHONPATH"] = os.pathsep.join([str(root)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    os.environ["IN_TEST"] = "1"  # as nbdev_test sets it: this execution is the notebooks' test run
    # figures must reach the outputs: the inline backend, even when the caller (e.g. the Makefile)
    # exports MPLBACKEND=Agg for headless runs
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    failures = []
    t0 = time.time()
    with cf.ProcessPoolExecutor(max_workers=max(1, min(jobs, len(todo)))) as pool:
        futs = {pool.submit(execute_notebook, str(p), str(d), str(p.parent), skip_flags, timeout): p
                for p, d in todo}
        for fut in cf.as_completed(futs):
            p = futs[fut]
            try:
                r = fut.result()
            except Exception as e:  # worker crashed
                r = {"ok": False, "cell": None, "error": f"{type(e).__name__}: {e}", "seconds": 0.0}
            if r["ok"]:
                print(f"[docs] executed {p.name} in {r['seconds']:.1f} s"
                      + (f" ({r['skipped']} cells skipped as in nbdev_test)" if r.get("skipped") else ""),
                      flush=True)
            else:
                where = f"cell {r['cell']} (0-based, markdown included)" if r["cell"] is not None else "kernel"
                print(f"[docs] FAILED   {p.name} ({where}) after {r['seconds']:.1f} s", flush=True)
                failures.append((p, where, r["error"]))
    print(f"[docs] executed {len(todo)} notebook(s) in {time.time() - t0:.1f} s wall", flush=True)
    if failures:
        for p, where, err in failures:
            print(f"\n===== notebook {p} failed to execute ({where}) =====\n{err}\n", file=sys.stderr)
        names = ", ".join(p.name for p, _, _ in failures)
        sys.exit(f"[docs] ERROR: notebook execution failed: {names}")
    return out


# ----------------------------------------------------------------------------- page processing

def _clean_output(o):
    if o.get("output_type") == "stream":
        o["text"] = _ANSI.sub("", o.get("text", ""))
    return o


def process_notebook(nb, name: str):
    "Apply nbdev display directives; return the notebook for Sphinx."
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            d, src = split_directives(cell.source)
            if {"hide", "default_exp"} & d.keys() or _false(d, "include"):
                continue
            tags = list(cell.metadata.get("tags", []))
            if {"export", "exporti", "exp"} & d.keys() or d.get("code-fold", "").lower() in ("true", "show"):
                tags.append("hide-input")
            if _false(d, "echo"):
                tags.append("remove-input")
            if _false(d, "output"):
                tags.append("remove-output")
            cell.source = src
            cell.outputs = [_clean_output(o) for o in cell.get("outputs", [])]
            if not src.strip() and not cell.outputs:
                continue
            if tags:
                cell.metadata["tags"] = sorted(set(tags))
        elif cell.cell_type == "raw":
            continue  # raw cells (e.g. quarto front matter) have no place on the page
        cells.append(cell)
    nb.cells = cells
    first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if first is None or not re.match(r"^#\s+\S", first.source.lstrip()):
        sys.exit(f"[docs] ERROR: {name}: the first markdown cell must start with '# Title' "
                 "(it becomes the page title)")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def toctree_block(caption: str, entries: list[str], maxdepth=2) -> str:
    lines = ["```{toctree}", ":hidden:", f":caption: {caption}", f":maxdepth: {maxdepth}", ""]
    return "\n".join(lines + entries + ["```", ""])


def navigation(pages: list[str]) -> str:
    "Hidden toctrees for the landing page: notebooks grouped by tens, the results, the API reference."
    groups: dict[str, list[str]] = {}
    for stem in pages:
        m = re.match(r"^(\d+)", stem)
        cap = GROUPS.get(int(m.group(1)) // 10, "Notebooks") if m else "Notebooks"
        groups.setdefault(cap, []).append(stem)
    blocks = [toctree_block(cap, entries) for cap, entries in groups.items()]
    blocks.append(toctree_block("Results", ["results/index"], maxdepth=1))
    blocks.append(toctree_block("Reference", ["api/index"], maxdepth=1))
    return "\n".join(blocks)


# ----------------------------------------------------------------------------- API reference

def public_modules(root: Path, lib: str) -> list[str]:
    sys.path.insert(0, str(root))
    pkg = importlib.import_module(lib)
    # subpackages (mmsold.score, mmsold.neighbors) and their public submodules get pages too
    names = sorted(m.name for m in pkgutil.walk_packages(pkg.__path__, prefix=f"{lib}.")
                   if not any(part.startswith("_") for part in m.name.split(".")[1:]))
    return names


def module_sources(nbs: list[Path]) -> dict[str, str]:
    "module name -> notebook stem, from `#| default_exp` lines."
    out = {}
    for p in nbs:
        m = re.search(r"#\|\s*default_exp\s+([\w.]+)", p.read_text(encoding="utf-8"))
        if m:
            out[m.group(1).removesuffix(".__init__")] = p.stem
    return out


def _autodoc_entry(obj, name: str) -> list[str]:
    "The autodoc directive documenting `name` according to what it is."
    if inspect.isclass(obj):
        kind = "autoexception" if issubclass(obj, BaseException) else "autoclass"
        return [f".. {kind}:: {name}", "   :members:", "   :show-inheritance:"]
    if callable(obj):
        return [f".. autofunction:: {name}"]
    # a module constant: autodata would show its type's docstring (e.g. dict's); show the value
    value = pprint.pformat(obj, width=88, compact=True, sort_dicts=False).splitlines()
    if len(value) > 20:
        value = value[:20] + ["..."]
    return [f".. py:data:: {name}", f"   :type: {type(obj).__name__}", "", "   Value::", ""] + \
        [f"      {line}" for line in value]


def write_api(src: Path, root: Path, lib: str, nbs: list[Path]):
    api = src / "api"
    api.mkdir(parents=True, exist_ok=True)
    mods = public_modules(root, lib)
    origin = module_sources(nbs)
    for mod in mods:
        short = mod.split(".", 1)[1]
        m = importlib.import_module(mod)
        members = list(getattr(m, "__all__", []))
        lines = [mod, "=" * len(mod), "", f".. automodule:: {mod}", "   :no-members:", ""]
        if short in origin:
            lines += [f"Generated from the notebook :doc:`../{origin[short]}`.", ""]
        if members:
            lines += [".. rubric:: Contents", "", ".. autosummary::", "   :nosignatures:", ""]
            lines += [f"   {n}" for n in members] + [""]
            lines += [".. rubric:: Reference", ""]
            for n in members:
                lines += _autodoc_entry(getattr(m, n, None), n) + [""]
        (api / f"{mod}.rst").write_text("\n".join(lines), encoding="utf-8")
    title = "API reference"
    idx = [title, "=" * len(title), "",
           f"One page per public module of ``{lib}``, generated from the docstrings of the code the",
           "notebooks export.", "",
           ".. autosummary::", "", *[f"   {m}" for m in mods], "",
           ".. toctree::", "   :hidden:", "", *[f"   {m}" for m in mods], ""]
    (api / "index.rst").write_text("\n".join(idx), encoding="utf-8")
    return mods


# ----------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=HERE.parent)
    ap.add_argument("--nbs", type=Path, default=None, help="notebook folder (default: nbs_path of settings.ini)")
    ap.add_argument("--src", type=Path, required=True, help="Sphinx source folder to (re)create")
    ap.add_argument("--build", type=Path, default=HERE / "_build", help="cache folder")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("DOCS_JOBS", "2")))
    ap.add_argument("--timeout", type=int, default=int(os.environ.get("DOCS_CELL_TIMEOUT", "300")),
                    help="seconds per cell")
    ap.add_argument("--no-cache", action="store_true")
    a = ap.parse_args(argv)
    root = a.root.resolve()
    cfg = read_settings(root)
    nbs_dir = (a.nbs or root / cfg.get("nbs_path", "nbs")).resolve()
    lib = cfg.get("lib_name", "mmsold")
    skip_flags = cfg.get("tst_flags", "").split()
    nbs = find_notebooks(nbs_dir)
    print(f"[docs] {len(nbs)} notebook(s) in {nbs_dir}: {', '.join(p.stem for p in nbs)}", flush=True)
    executed = execute_all(nbs, root, a.build.resolve(), a.jobs, a.timeout, skip_flags, not a.no_cache)

    src = a.src.resolve()
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    pages = []
    index_nb = None
    for p in nbs:
        nb = process_notebook(nbformat.read(str(executed[p]), as_version=4), p.name)
        if p.stem == "index":
            index_nb = nb
            continue
        nbformat.write(nb, str(src / p.name))
        pages.append(p.stem)
    nav = navigation(pages)
    if index_nb is None:
        print("[docs] note: nbs/index.ipynb does not exist yet; writing a placeholder landing page", flush=True)
        index_nb = nbformat.v4.new_notebook()
        index_nb.cells.append(nbformat.v4.new_markdown_cell(
            f"# {cfg.get('title', lib)}\n\n> {cfg.get('description', '')}"))
    write_results(src, root)
    pages_of = page_of(root)
    for cell in index_nb.cells:  # links to repository files (../paper_figs/x.md) -> the results pages
        if cell.cell_type == "markdown":
            cell.source = rewrite_links(cell.source, root, pages_of)
    index_nb.cells.append(nbformat.v4.new_markdown_cell(nav))
    nbformat.write(index_nb, str(src / "index.ipynb"))
    for f in nbs_dir.rglob("*"):
        rel = f.relative_to(nbs_dir)
        if f.is_file() and f.suffix.lower() in IMAGE_EXTS and not any(
                part.startswith((".", "_")) for part in rel.parts):
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, src / rel)
    mods = write_api(src, root, lib, nbs)
    print(f"[docs] source tree {src}: {len(pages) + 1} page(s), API modules: {', '.join(mods)}", flush=True)


if __name__ == "__main__":
    main()

"""The Results section of the documentation site, generated from the committed result files.

`write_results(src, root)` writes `src/results/`: an overview page (the map of the paper's figures
to ours, read from the table under "## Map" in `paper_figs/README.md`), one page per row of that
map with every `.md` table and `.png` figure the row names, one page for every other
`paper_figs/*.md` or `*.png` that no row names (so a new experiment's output gets a page with no
list to edit: its title is the file's first `# ` heading, or its name), a page for
`benchmarks/README.md` and one for the full write-up `paper_figs/README.md`. Nothing is copied
by hand: rebuilding the site after rerunning a script shows the new numbers. A file a map row
names but that does not exist (yet) is skipped with a message, never an error.

`link_target(target)` maps a link written in `nbs/index.ipynb` (relative to `nbs/`, e.g.
`../paper_figs/results.md`) to the page of the site that shows that file.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

FIGS = "paper_figs"
BENCH = "benchmarks"
OUT = "results"
_FILE = re.compile(r"`([\w.-]*\.(?:md|png|json|csv|py))`")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass
class Page:
    slug: str
    title: str
    intro: str = ""
    mds: list[str] = field(default_factory=list)    # file names in paper_figs/
    pngs: list[str] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)
    paper: str = ""
    what: str = ""


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def map_rows(readme: Path) -> list[list[str]]:
    "Rows (paper, what, ours, status) of the table under the '## Map' heading of paper_figs/README.md."
    if not readme.exists():
        return []
    rows, in_map = [], False
    for line in readme.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            in_map = line.lower().startswith("## map")
            continue
        if in_map and line.startswith("|"):
            cells = _cells(line)
            if len(cells) >= 4 and not set(cells[0]) <= set("-: "):
                rows.append(cells[:4])
    return rows[1:]  # drop the header row


def files_named(cell: str) -> list[str]:
    "File names in backticks; a bare `.md` after `name.png` means `name.md`."
    out, stem = [], None
    for name in _FILE.findall(cell):
        if name.startswith(".") and stem:
            name = stem + name
        elif not name.startswith("."):
            stem = name.rsplit(".", 1)[0]
        else:
            continue
        if name not in out:
            out.append(name)
    return out


def _title(path: Path) -> str | None:
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _HEADING.match(line)
        if m and len(m.group(1)) == 1:
            return m.group(2)
        if line.strip():
            return None
    return None


def _humanise(stem: str) -> str:
    "fig3_digits_numbers -> 'Fig. 3 digits numbers', table1_classifier -> 'Table 1 classifier'."
    text = stem.replace("_", " ").strip()
    text = re.sub(r"^fig(\d+)", r"Fig. \1", text)
    text = re.sub(r"^table(\d+)", r"Table \1", text)
    return text[:1].upper() + text[1:]


def _extends(stem: str, other: str) -> bool:
    "Whether the file `stem` belongs with the file `other`: it starts with it, or shares its first two words."
    if stem.startswith(other + "_"):
        return True
    a, b = stem.split("_"), other.split("_")
    return len(a) > 2 and len(b) > 2 and a[:2] == b[:2]


def plan(root: Path, log=print) -> list[Page]:
    "The result pages, in the map's order, then the unmapped files in name order."
    figs = root / FIGS
    pages, used, slugs = [], set(), set()
    for paper, what, ours, status in map_rows(figs / "README.md"):
        named = files_named(ours) + [n for n in files_named(status) if n not in files_named(ours)]
        missing = [n for n in named if n.endswith((".md", ".png")) and not (figs / n).exists()]
        for n in missing:
            log(f"[docs] results: {FIGS}/{n} is named in the map of {FIGS}/README.md but does not "
                "exist (yet); its page leaves it out")
        mds = [n for n in named if n.endswith(".md") and n not in missing]
        pngs = [n for n in named if n.endswith(".png") and n not in missing]
        if not mds and not pngs:
            log(f"[docs] results: no table or figure exists yet for the map row {paper!r} ({what}); skipped")
            continue
        slug = (mds or pngs)[0].rsplit(".", 1)[0]
        while slug in slugs:
            slug += "_"
        slugs.add(slug)
        title = what[:1].upper() + what[1:] if paper.lower() == "beyond" else f"{paper}: {what}"
        scripts = [n for n in named if n.endswith(".py")]
        for n in mds + pngs:  # `x.md` written by `x.py`, when the row does not name the script
            script = f"{n.rsplit('.', 1)[0]}.py"
            if (figs / script).exists() and script not in scripts:
                scripts.append(script)
        pages.append(Page(slug, title, status, mds, pngs, scripts, paper, what))
        used.update(mds + pngs)
    # a file no row names joins the page of a file or script it extends (fig4_fashion_grid_PCA.png ->
    # the page of fig4_fashion_grid.png; ddpm_draw_spread.md -> the page naming ddpm_draw_spread.py) ...
    for f in sorted(list(figs.glob("*.md")) + list(figs.glob("*.png"))):
        if f.name in used or f.name == "README.md":
            continue
        host = next((p for p in pages if any(f.stem == n[:-3] or _extends(f.stem, n.rsplit(".", 1)[0])
                                                for n in p.mds + p.pngs + p.scripts)), None)
        if host is not None:
            (host.mds if f.suffix == ".md" else host.pngs).append(f.name)
            used.add(f.name)
    # ... and every other table or figure gets its own page (with the figure of the same name, if any)
    extra_md = sorted(p.name for p in figs.glob("*.md") if p.name != "README.md" and p.name not in used)
    for name in extra_md:
        stem = name[:-3]
        png = [f"{stem}.png"] if (figs / f"{stem}.png").exists() and f"{stem}.png" not in used else []
        script = [f"{stem}.py"] if (figs / f"{stem}.py").exists() else []
        pages.append(Page(stem, _title(figs / name) or _humanise(stem), "", [name], png, script))
        used.update([name] + png)
    for png in sorted(p.name for p in figs.glob("*.png") if p.name not in used):
        stem = png[:-4]
        script = [f"{stem}.py"] if (figs / f"{stem}.py").exists() else []
        pages.append(Page(stem, _humanise(stem), "", [], [png], script))
    return pages


def _body(text: str, top: int, drop_title: bool) -> str:
    "Shift the markdown headings of `text` so that its highest becomes level `top`, gaps closed."
    lines = text.strip().splitlines()
    if drop_title and lines and (m := _HEADING.match(lines[0])) and len(m.group(1)) == 1:
        lines = lines[1:]
    levels = sorted({len(m.group(1)) for l in lines if (m := _HEADING.match(l))})
    new_level = {lv: min(top + i, 6) for i, lv in enumerate(levels)}
    out, fence = [], False
    for l in lines:
        if l.lstrip().startswith(("```", "~~~")):
            fence = not fence
        m = None if fence else _HEADING.match(l)
        out.append("#" * new_level[len(m.group(1))] + " " + m.group(2) if m else l)
    return "\n".join(out).strip()


def _plain_links(text: str) -> str:
    "Relative links of a copied file would point nowhere on the site: keep their text and name the file."
    return re.sub(r"(?<!!)\[([^\]]+)\]\((?![a-z]+:|#)([^)\s]+)\)", r"\1 (`\2`)", text)


def writeup_sections(readme: Path, names: list[str]) -> list[str]:
    """Sections of the write-up whose heading names one of `names` (scripts or outputs), each up to
    the next heading of the same or a higher level: the reading of a result, kept next to it."""
    if not readme.exists() or not names:
        return []
    lines = readme.read_text(encoding="utf-8").splitlines()
    out, i = [], 0
    while i < len(lines):
        m = _HEADING.match(lines[i])
        if m and len(m.group(1)) > 1 and any(f"`{n}`" in m.group(2) for n in names):
            level, j = len(m.group(1)), i + 1
            while j < len(lines) and not ((h := _HEADING.match(lines[j])) and len(h.group(1)) <= level):
                j += 1
            out.append("\n".join(lines[i:j]))
            i = j
        else:
            i += 1
    return out


def _page_text(page: Page, figs: Path) -> str:
    parts = [f"# {page.title}", ""]
    if page.paper.lower() == "beyond":
        parts += ["*Beyond the paper.*", ""]
    elif page.paper:
        parts += [f"*Paper:* {page.paper}, {page.what}.", ""]
    if page.intro and page.intro != "-":
        parts += [f"*What differs:* {page.intro}", ""]
    if page.scripts:
        runs = ", ".join(f"`python {FIGS}/{s}`" for s in page.scripts)
        parts += [f"Written by {runs} (`--fast` for a quick run); the files are in `{FIGS}/`.", ""]
    single = len(page.mds) == 1
    for name in page.mds:
        f = figs / name
        own = _title(f)
        if not single:
            parts += [f"## {own or name}", ""]
        elif own and own != page.title:
            parts += [f"**{own}**", ""]
        parts += [_plain_links(_body(f.read_text(encoding="utf-8"), 2 if single else 3,
                                     drop_title=single or bool(own))), "", f"Source: `{FIGS}/{name}`.", ""]
    for png in page.pngs:
        parts += [f"![{page.title}: {png}]({png})", "", f"`{FIGS}/{png}`", ""]
    notes = writeup_sections(figs / "README.md", page.scripts + page.mds)
    if notes:
        parts += ["## From the write-up", "",
                  f"The sections of `{FIGS}/README.md` ([the full write-up](writeup.md)) about these files.", ""]
        parts += [_plain_links(_body(n, 3, False)) + "\n" for n in notes]
    return "\n".join(parts).rstrip() + "\n"


def write_results(src: Path, root: Path, log=print) -> list[str]:
    "Write the Results section into `src/results/`; return the page names (for the toctree)."
    figs = root / FIGS
    out = src / OUT
    out.mkdir(parents=True, exist_ok=True)
    pages = plan(root, log)
    for page in pages:
        (out / f"{page.slug}.md").write_text(_page_text(page, figs), encoding="utf-8")
        for png in page.pngs:
            shutil.copy2(figs / png, out / png)
    names = [p.slug for p in pages]
    extra = []
    bench = root / BENCH / "README.md"
    if bench.exists():
        text = bench.read_text(encoding="utf-8")
        for img in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text):
            if (root / BENCH / img).exists():
                shutil.copy2(root / BENCH / img, out / Path(img).name)
                text = text.replace(f"]({img})", f"]({Path(img).name})")
        (out / "benchmarks.md").write_text(_plain_links(_body(text, 1, False)) + "\n", encoding="utf-8")
        extra.append("benchmarks")
    else:
        log(f"[docs] results: {BENCH}/README.md does not exist; no benchmarks page")
    readme = figs / "README.md"
    if readme.exists():
        text = _plain_links(_body(readme.read_text(encoding="utf-8"), 1, False))
        (out / "writeup.md").write_text(text + "\n", encoding="utf-8")
        extra.append("writeup")
    rows = ["| paper | what it shows | page | what differs |", "|---|---|---|---|"]
    for p in pages:
        rows.append(f"| {p.paper or '-'} | {p.what or '-'} | [{p.title}]({p.slug}.md) | {p.intro or '-'} |")
    index = [
        "# Results", "",
        "The paper's figures and tables as this package reproduces them. Every page is generated when "
        "the site is built, from the tables (`.md`) and figures (`.png`) that the committed scripts in "
        f"`{FIGS}/` write (`make figures` reruns them at full settings; `make test` runs each with "
        "`--fast`). The table below follows the map in the write-up; files that no row of the map names "
        "get a page of their own at the end.", "",
        *rows, "",
        "Also: [speed and benchmarks](benchmarks.md) (from `benchmarks/README.md`) and "
        f"[the full write-up](writeup.md) (`{FIGS}/README.md`: protocols, settings, run times and "
        "the reading of each result)." if extra else "", "",
        "```{toctree}", ":hidden:", ":maxdepth: 1", "", *names, *extra, "```", "",
    ]
    (out / "index.md").write_text("\n".join(index), encoding="utf-8")
    log(f"[docs] results: {len(pages)} result page(s) from {FIGS}/, plus {', '.join(extra) or 'nothing else'}")
    return names


def link_target(target: str, root: Path, pages: dict[str, str]) -> str | None:
    """Where a relative link of nbs/index.ipynb should point on the site, or None to drop the link.

    `pages`: file name in paper_figs/ -> result page slug (from `page_of`).
    """
    path, _, anchor = target.partition("#")
    p = Path(path)
    if len(p.parts) >= 2 and p.parts[0] == ".." and p.parts[1] == FIGS:
        name = "/".join(p.parts[2:])
        if name == "README.md":
            return f"{OUT}/index.md"
        if name.endswith(".png") and (root / FIGS / name).exists():
            return f"{OUT}/{name}"
        if name in pages:
            return f"{OUT}/{pages[name]}.md"
        return None
    if p.parts[:2] == ("..", BENCH) and "/".join(p.parts[2:]) == "README.md":
        return f"{OUT}/benchmarks.md"
    if p.parts and p.parts[0] == "..":
        return None  # a repository file that is not on the site
    return target


def page_of(root: Path) -> dict[str, str]:
    "File name in paper_figs/ -> slug of the result page that shows it."
    return {n: p.slug for p in plan(root, log=lambda *a: None) for n in p.mds + p.pngs}


def rewrite_links(markdown: str, root: Path, pages: dict[str, str]) -> str:
    "Point the landing page's links to repository files at the site's pages (or drop the link)."
    def sub(m):
        bang, label, target = m.group(1), m.group(2), m.group(3)
        if re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", target, re.I):
            return m.group(0)
        new = link_target(target, root, pages)
        if new is None:
            if bang:
                raise SystemExit(f"[docs] ERROR: index.ipynb shows the image {target}, which is not on the site")
            return f"{label} (`{Path(target.partition('#')[0]).name}`)"
        return f"{bang}[{label}]({new})"
    return re.sub(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)", sub, markdown)

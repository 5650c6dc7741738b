"""Make nbdev-style docstrings safe for Sphinx autodoc.

The package's docstrings are written for nbdev's markdown `show_doc` and for humans reading plain
text: `code` in single backticks, math as `$x$`/`$$x$$` or plain text such as `|mean - mu|`,
`||A||_F`, `Sigma*`, `mean_`. Read as reStructuredText those produce errors (`|x|` is a substitution,
`mean_` a hyperlink target, a lone `*` an unfinished emphasis). `markdown_to_rst` rewrites a
docstring before napoleon sees it:

- code spans become literals, `$..$` becomes :math:, `$$..$$` a math block, `[t](url)` a link;
- in the remaining text `\\`, `|`, a word-final `_` and any `*` that is not balanced emphasis are
  escaped so they show up literally;
- numpy-style section headers and their "name : type" lines are left for napoleon.
"""
from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_DCODE = re.compile(r"``[^`\n]+``")
_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$\w])\$(?!\s)([^$\n]+?)(?<![\s\\])\$(?![\w$])")
_LINK = re.compile(r"\[([^\]\n]+)\]\((\S+?)\)")
_EMPH = re.compile(r"(?<![\w*\\])(\*\*?)(?=\S)[^*\n]*?(?<=\S)\1(?![\w*])")
_SECTION_LINE = re.compile(r"^\s*-{3,}\s*$")
_PH = "\x00{}\x00"


def _escape_plain(text: str) -> str:
    text = text.replace("\\", "\\\\")
    text = text.replace("|", "\\|")
    text = re.sub(r"(?<=\w)_(?!\w)", r"\\_", text)
    # keep balanced *emphasis* / **strong**, escape every other star
    out, pos = [], 0
    for m in _EMPH.finditer(text):
        out.append(text[pos:m.start()].replace("*", "\\*"))
        out.append(m.group(0))
        pos = m.end()
    out.append(text[pos:].replace("*", "\\*"))
    return "".join(out)


def _convert_block(text: str) -> str:
    "Convert one run of free text (no section spec lines)."
    saved: list[str] = []

    def keep(s):
        saved.append(s)
        return _PH.format(len(saved) - 1)

    text = _DCODE.sub(lambda m: keep(m.group(0)), text)
    text = _DISPLAY.sub(lambda m: keep("\n\n.. math::\n\n   " + " ".join(m.group(1).split()) + "\n\n"), text)
    text = _INLINE.sub(lambda m: keep(f":math:`{m.group(1)}`"), text)
    text = _CODE.sub(lambda m: keep(f"``{m.group(1).strip()}``" if m.group(1).strip() else m.group(0)), text)
    text = _LINK.sub(lambda m: keep(f"`{m.group(1)} <{m.group(2)}>`__"), text)
    text = _escape_plain(text)
    return re.sub("\x00(\\d+)\x00", lambda m: saved[int(m.group(1))], text)


def markdown_to_rst(lines: list[str]) -> list[str]:
    """Rewrite docstring `lines` (as autodoc passes them, dedented) into safe reST."""
    out: list[str] = []
    buf: list[str] = []
    section_indent = None

    def flush():
        if buf:
            out.extend(_convert_block("\n".join(buf)).split("\n"))
            buf.clear()

    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        indent = len(line) - len(line.lstrip())
        if line.strip() and _SECTION_LINE.match(nxt):  # numpy section header
            flush()
            out.append(line)
            section_indent = indent
            continue
        if _SECTION_LINE.match(line):
            flush()
            out.append(line)
            continue
        if section_indent is not None and line.strip() and indent == section_indent:
            # "name : type" spec line in a numpy section: leave it to napoleon, but make the type
            # part safe (it is rendered as text)
            flush()
            name, sep, typ = line.partition(" : ")
            out.append(name + sep + (_convert_block(typ) if sep else ""))
            continue
        buf.append(line)
    flush()
    return out


_SOURCE_NB = re.compile(r"File to edit:\s*(\S+\.ipynb)")


def notebook_summary(module) -> str | None:
    """The `> summary` line of the notebook an nbdev module was exported from.

    nbdev writes that line into the module docstring without escaping backslashes, so LaTeX such as
    `\\top` or `\\frac` arrives as a tab or a form feed; the notebook holds the intended text."""
    try:
        path = Path(inspect.getsourcefile(module))
        head = path.read_text(encoding="utf-8")[:2000]
        m = _SOURCE_NB.search(head)
        if not m:
            return None
        nb = json.loads((path.parent / m.group(1)).read_text(encoding="utf-8"))
    except (OSError, TypeError, ValueError):
        return None
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            src = "".join(cell.get("source", []))
            for line in src.splitlines():
                if line.startswith(">"):
                    return line.lstrip("> ").strip()
            return None
    return None


def process_docstring(app, what, name, obj, options, lines):
    "Sphinx `autodoc-process-docstring` handler (connect with a priority below napoleon's 500)."
    if what == "module":
        summary = notebook_summary(obj)
        if summary:
            lines[:] = [summary, ""]
    lines[:] = markdown_to_rst(lines)

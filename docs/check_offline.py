"""Fail if any page of the built site would load something from the network.

Scans every HTML file for resources (script, stylesheet/preload/icon links, img/srcset, iframe,
source, object, inline `url(...)`/`@import`) whose address is absolute http(s) or
protocol-relative (`//host/...`), and every CSS file for `url(...)`/`@import` of such addresses.
Plain `<a href>` links are navigation, not loads, and are allowed. The browser test
(tests/browser) additionally blocks and reports any non-localhost request at run time.

Usage: python docs/check_offline.py _site    (exit status 1 and a list of offenders if any)
"""
from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

_REMOTE = re.compile(r"^\s*(?:https?:)?//", re.I)
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""", re.I)
_NONLOADING_REL = {"canonical", "alternate", "author", "license", "next", "prev", "index", "search",
                   "help", "copyright", "bookmark", "external", "noopener", "noreferrer", "me"}
_SKIP_DIRS = {"_screens", "_sources"}


class _Scan(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.bad: list[str] = []

    def _check(self, tag, attr, value):
        if value and _REMOTE.match(value):
            self.bad.append(f"<{tag} {attr}={value!r}>")

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag in ("script", "img", "iframe", "source", "audio", "video", "embed", "track", "input"):
            self._check(tag, "src", a.get("src"))
        if tag in ("img", "source"):
            for part in a.get("srcset", "").split(","):
                self._check(tag, "srcset", part.strip().split(" ")[0])
        if tag == "video":
            self._check(tag, "poster", a.get("poster"))
        if tag == "object":
            self._check(tag, "data", a.get("data"))
        if tag == "link":
            rels = set(a.get("rel", "").lower().split())
            if not rels or not rels <= _NONLOADING_REL:
                self._check(tag, "href", a.get("href"))
        if "style" in a:
            for m in _CSS_URL.finditer(a["style"]):
                self._check(tag, "style", m.group(1) or m.group(2))

    def handle_data(self, data):
        if self.lasttag == "style":
            for m in _CSS_URL.finditer(data):
                self._check("style", "url", m.group(1) or m.group(2))


def remote_references(site: str | Path) -> list[str]:
    "List of 'file: reference' strings for every network resource the site's HTML/CSS would load."
    site = Path(site)
    problems = []
    for f in sorted(site.rglob("*")):
        rel = f.relative_to(site)
        if not f.is_file() or _SKIP_DIRS & set(rel.parts):
            continue
        if f.suffix == ".html":
            p = _Scan()
            p.feed(f.read_text(encoding="utf-8", errors="replace"))
            problems += [f"{rel}: {b}" for b in p.bad]
        elif f.suffix == ".css":
            for m in _CSS_URL.finditer(f.read_text(encoding="utf-8", errors="replace")):
                ref = m.group(1) or m.group(2)
                if _REMOTE.match(ref):
                    problems.append(f"{rel}: url({ref})")
    return problems


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.exit(__doc__)
    site = Path(argv[0])
    if not (site / "index.html").exists():
        sys.exit(f"[docs] ERROR: {site}/index.html not found; build the site first")
    bad = remote_references(site)
    if bad:
        print("[docs] ERROR: the site references network resources:", *bad[:50], sep="\n  ")
        sys.exit(1)
    n = sum(1 for _ in site.rglob("*.html"))
    print(f"[docs] offline check: {n} HTML pages, no network resources referenced")


if __name__ == "__main__":
    main()

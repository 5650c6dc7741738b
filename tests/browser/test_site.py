"""The built site passes the browser check, and the check catches broken sites.

The negative tests copy the built site to a temporary folder, break one thing (MathJax removed,
an image deleted, a remote script added, a console error, a search term that is not there) and
assert that `check_site` reports exactly that kind of problem on the affected page.
"""
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from site_checker import check_results, check_site, site_pages  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("SITE_DIR", ROOT / "_site"))


@pytest.fixture(scope="module")
def site():
    if not (SITE / "index.html").exists():
        pytest.fail(f"{SITE} is not built: run docs/build.sh first")
    return SITE


def _page_with(site, pattern):
    "First notebook page (not API/index) whose HTML matches `pattern`."
    for rel in site_pages(site):
        if "/" in rel or rel in ("index.html", "genindex.html", "search.html", "py-modindex.html"):
            continue
        if re.search(pattern, (site / rel).read_text(encoding="utf-8")):
            return rel
    pytest.skip(f"no page matches {pattern!r} yet")


@pytest.fixture
def broken(site, tmp_path):
    "A private copy of the site to break (screenshots left out)."
    dst = tmp_path / "site"
    shutil.copytree(site, dst, ignore=shutil.ignore_patterns("_screens"))
    return dst


def test_site_passes(site):
    # MMSOLD_SCREENSHOTS=first (set by `make test`): screenshots of the first screen only, which is
    # cheaper; the checks of every page are the same
    full = os.environ.get("MMSOLD_SCREENSHOTS", "full") != "first"
    problems = check_site(site, screens_dir=site / "_screens", full_page=full)
    assert problems == [], "\n".join(problems)
    assert (site / "_screens" / "index.png").stat().st_size > 0


def test_results_pages(site):
    "The Results section is reachable from the landing page; a results page shows a table and a figure."
    problems = check_results(site, screens_dir=site / "_screens")
    assert problems == [], "\n".join(problems)


def test_results_check_detects_missing_table_and_figure(broken):
    page = broken / "results" / "acceptance_2d.html"
    html = page.read_text(encoding="utf-8")
    html, n_tables = re.subn(r"<table.*?</table>", "", html, flags=re.S)
    html, n_imgs = re.subn(r"<img[^>]*>", "", html)
    assert n_tables >= 1 and n_imgs >= 1
    page.write_text(html, encoding="utf-8")
    index = broken / "index.html"
    index.write_text(re.sub(r'href="results/index.html"', 'href="#"', index.read_text(encoding="utf-8")),
                     encoding="utf-8")
    problems = check_results(broken)
    assert any("no link to results/index.html" in p for p in problems), problems
    assert any("no visible table" in p for p in problems), problems
    assert any("0 of 0 visible figure(s)" in p for p in problems), problems


def test_detects_math_not_rendered(broken):
    rel = _page_with(broken, r'class="math')
    html = (broken / rel).read_text(encoding="utf-8")
    html, n = re.subn(r'<script[^>]*mathjax[^>]*></script>', "", html, flags=re.I)
    assert n >= 1
    (broken / rel).write_text(html, encoding="utf-8")
    problems = check_site(broken, pages=[rel], search_term=None)
    assert any("MathJax is not loaded" in p for p in problems), problems
    assert any("raw TeX" in p for p in problems), problems


def test_detects_missing_image(broken):
    rel = _page_with(broken, r'<img[^>]+src="_images/')
    src = re.search(r'<img[^>]+src="(_images/[^"]+)"', (broken / rel).read_text(encoding="utf-8")).group(1)
    (broken / src).unlink()
    problems = check_site(broken, pages=[rel], search_term=None)
    assert any(f"image not loaded: {src}" in p for p in problems), problems


def test_detects_network_request_and_console_error(broken):
    html = (broken / "index.html").read_text(encoding="utf-8")
    html = html.replace("</head>", '<script src="https://cdn.example.com/x.js"></script>'
                        "<script>console.error('deliberate error')</script></head>", 1)
    (broken / "index.html").write_text(html, encoding="utf-8")
    problems = check_site(broken, pages=["index.html"], search_term=None)
    assert any("non-local address: https://cdn.example.com/x.js" in p for p in problems), problems
    assert any("deliberate error" in p for p in problems), problems


def test_detects_failed_search(broken):
    problems = check_site(broken, pages=[], search_term="zqxjkvwyb")
    assert problems == ["search.html: no results for 'zqxjkvwyb'"], problems


def test_offline_scan_detects_remote_resources(broken):
    sys.path.insert(0, str(ROOT / "docs"))
    from check_offline import remote_references
    assert remote_references(broken) == []
    html = (broken / "index.html").read_text(encoding="utf-8")
    html = html.replace("</head>", '<link rel="stylesheet" href="https://fonts.example.com/css">'
                        '<img src="//cdn.example.com/a.png"></head>', 1)
    (broken / "index.html").write_text(html, encoding="utf-8")
    (broken / "_static" / "extra.css").write_text("@import 'http://fonts.example.com/f.css';")
    found = remote_references(broken)
    assert len(found) == 3, found

"""Check the built documentation site in headless Chromium (Debian's `/usr/bin/chromium`).

`check_site(site_dir)` serves `site_dir` on a local port, opens every HTML page with Playwright
driving the system Chromium (Playwright's own browsers are never downloaded) and returns a list of
problems, empty when all is well. For every page:

- no console errors, no uncaught page errors, no local resource answering >= 400;
- math typeset: every Sphinx math element holds MathJax output (`mjx-container`), no MathJax error
  (`mjx-merror`), and no raw TeX delimiters (`$$`, `\\(`, `\\[`, `\\begin{`, `$..\\cmd..$`) in the visible
  text outside code blocks;
- every `<img>` loaded (`naturalWidth > 0`);
- no request to anything but the local server (such requests are blocked and reported).

The search page must find `search_term` ("retraction"). Screenshots go to `screens_dir`.

`check_results(site_dir)` checks the Results section: the landing page links to it, and a results
page shows a table with rows and a figure that loaded.

CLI: python tests/browser/site_checker.py _site [--screens _site/_screens]
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import functools
import http.server
import os
import re
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlparse

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SKIP_DIRS = {"_static", "_sources", "_screens", "_images"}
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$")

# Visible text outside code/math, as the reader sees it.
_JS_VISIBLE_TEXT = r"""() => {
  const skip = 'pre, code, script, style, textarea, noscript, mjx-container, .highlight, .MathJax';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(skip)) continue;
    if (el.checkVisibility && !el.checkVisibility()) continue;
    parts.push(n.textContent);
  }
  return parts.join(' ');
}"""

_JS_MATH = r"""async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
    if (MathJax.typesetPromise) { await MathJax.typesetPromise(); }
  }
  const maths = Array.from(document.querySelectorAll('span.math, div.math'));
  return {
    present: !!(window.MathJax && MathJax.startup),
    math: maths.length,
    untypeset: maths.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80)),
    containers: document.querySelectorAll('mjx-container').length,
    errors: Array.from(document.querySelectorAll('mjx-merror')).map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 80)),
  };
}"""

_JS_IMAGES = r"""async () => {
  const imgs = Array.from(document.images);
  for (const img of imgs) {
    if (!img.complete) { img.scrollIntoView(); }
    try { await img.decode(); } catch (e) {}
  }
  return imgs.map(img => ({src: img.getAttribute('src'), ok: img.complete && img.naturalWidth > 0}));
}"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(site_dir: Path):
    "Start a threaded HTTP server for `site_dir` on a free local port; returns (server, base_url)."
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def site_pages(site_dir: Path) -> list[str]:
    "Relative paths of all HTML pages of the site (assets and screenshots excluded)."
    pages = [p.relative_to(site_dir).as_posix() for p in site_dir.rglob("*.html")]
    return sorted(p for p in pages if not SKIP_DIRS & set(p.split("/")[:-1]))


def _is_local(url: str) -> bool:
    u = urlparse(url)
    return u.scheme in ("data", "blob", "about") or (u.hostname or "") in LOCAL_HOSTS


def check_site(site_dir, screens_dir=None, pages=None, search_term: str | None = "retraction",
               chromium: str = CHROMIUM, timeout_ms: int = 30000, full_page: bool = True,
               workers: int | None = None) -> list[str]:
    """Open the pages of the built site in headless Chromium and return a list of problems.

    `pages`: relative HTML paths to check (default: every page). `search_term`: the search page must
    find it (None skips that check). `screens_dir`: where PNG screenshots go (None: no screenshots).
    `workers`: browsers checking pages side by side, one per thread (default
    `MMSOLD_BROWSER_WORKERS` or 2; every page is still checked once, by one of them).
    """
    site_dir = Path(site_dir).resolve()
    if not (site_dir / "index.html").exists():
        return [f"{site_dir}/index.html does not exist: build the site first (docs/build.sh)"]
    if not Path(chromium).exists():
        return [f"{chromium} not found: apt-get install -y chromium"]
    pages = site_pages(site_dir) if pages is None else list(pages)
    if screens_dir is not None:
        screens_dir = Path(screens_dir)
        screens_dir.mkdir(parents=True, exist_ok=True)
    n = max(1, workers or int(os.environ.get("MMSOLD_BROWSER_WORKERS", "2")))
    n = min(n, max(1, len(pages) // 8))  # a browser start costs about as much as a few pages
    chunks = [pages[i::n] for i in range(n)]
    jobs = [(chunk, search_term if i == 0 else None) for i, chunk in enumerate(chunks)]
    server, base = serve(site_dir)
    try:
        args = (base, screens_dir, chromium, timeout_ms, full_page)
        if n == 1:
            results = [_check_pages(chunk, term, *args) for chunk, term in jobs]
        else:
            # one Playwright instance and one browser per thread (Playwright objects stay in their thread)
            with cf.ThreadPoolExecutor(max_workers=n) as pool:
                results = list(pool.map(_check_pages, *zip(*[(c, t) + args for c, t in jobs])))
    finally:
        server.shutdown()
        server.server_close()
    problems = [p for probs, _ in results for p in probs]
    remote = {url for _, urls in results for url in urls}
    for url in sorted(remote):
        problems.append(f"network request to a non-local address: {url}")
    return problems


def _check_pages(pages, search_term, base, screens_dir, chromium, timeout_ms, full_page):
    "One browser checking `pages` (and the search, if `search_term`): (problems, remote addresses)."
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    remote: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mmsold-chromium-") as profile, sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            profile, executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900}, service_workers="block")

        def route(r):
            if _is_local(r.request.url):
                r.continue_()
            else:
                remote.append(r.request.url)
                r.abort()

        ctx.route("**/*", route)
        ctx.on("request", lambda req: None if _is_local(req.url) else remote.append(req.url))
        for rel in pages:
            problems += [f"{rel}: {p}" for p in _check_page(ctx, base + rel, rel, screens_dir,
                                                              timeout_ms, full_page)]
        if search_term is not None:
            problems += _check_search(ctx, base, search_term, screens_dir, timeout_ms)
        ctx.close()
    return problems, remote


def _check_page(ctx, url, rel, screens_dir, timeout_ms, full_page) -> list[str]:
    out: list[str] = []
    page = ctx.new_page()
    page.on("console", lambda m: out.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: out.append(f"uncaught error: {e}"))
    page.on("requestfailed", lambda r: out.append(f"request failed: {r.url} ({r.failure})")
            if _is_local(r.url) else None)
    page.on("response", lambda r: out.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    try:
        resp = page.goto(url, wait_until="load", timeout=timeout_ms)
        if resp is None or resp.status != 200:
            out.append(f"page answered {resp.status if resp else 'nothing'}")
        math = page.evaluate(_JS_MATH)
        if math["math"] and not math["present"]:
            out.append(f"{math['math']} math element(s) but MathJax is not loaded")
        if math["untypeset"]:
            out.append(f"{len(math['untypeset'])} of {math['math']} math element(s) not typeset, "
                       f"e.g. {math['untypeset'][0]!r}")
        for err in math["errors"]:
            out.append(f"MathJax error: {err}")
        text = page.evaluate(_JS_VISIBLE_TEXT)
        raw = sorted(set(m.group(0)[:60] for m in RAW_TEX.finditer(text)))
        if raw:
            out.append(f"raw TeX in the visible text: {raw[:5]}")
        for img in page.evaluate(_JS_IMAGES):
            if not img["ok"]:
                out.append(f"image not loaded: {img['src']}")
        page.wait_for_timeout(50)  # let late console messages arrive
        if screens_dir is not None:
            shot = screens_dir / (rel.replace("/", "__").removesuffix(".html") + ".png")
            # whole page for content; the first screen for generated listings and source views
            whole = full_page and not rel.startswith(("_modules/", "genindex"))
            page.screenshot(path=str(shot), full_page=whole)
    except Exception as e:  # timeouts, crashes: a problem, not a test-harness error
        out.append(f"{type(e).__name__}: {e}")
    finally:
        page.close()
    return out


def _check_search(ctx, base, term, screens_dir, timeout_ms) -> list[str]:
    out: list[str] = []
    page = ctx.new_page()
    page.on("console", lambda m: out.append(f"search.html: console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: out.append(f"search.html: uncaught error: {e}"))
    try:
        page.goto(f"{base}search.html?q={term}", wait_until="load", timeout=timeout_ms)
        # Sphinx writes a summary line ("Search finished, found N pages ..."/"did not match") when done
        page.wait_for_function(
            "() => { const s = document.querySelector('#search-results .search-summary, #search-results > p');"
            " return s && /found|match/i.test(s.textContent); }", timeout=timeout_ms)
        hits = page.evaluate("() => Array.from(document.querySelectorAll('#search-results ul.search li'))"
                             ".map(li => li.textContent.trim().slice(0, 100))")
        if not hits:
            out.append(f"search.html: no results for {term!r}")
        else:  # snippets are fetched after the summary line; then typeset by _static/search-math.js
            try:
                page.wait_for_function(
                    # API-object hits (li.kind-object) never get a snippet in Sphinx's search; pages do
                    "() => { const n = document.querySelectorAll('#search-results ul.search li:not(.kind-object)').length;"
                    " return document.querySelectorAll('#search-results li:not(.kind-object) p.context').length >= n; }",
                    timeout=60000)
            except Exception:
                out.append("search.html: result snippets did not all load")
            page.wait_for_timeout(100)
            page.evaluate("async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }")
            raw = sorted(set(m.group(0)[:60] for m in RAW_TEX.finditer(page.evaluate(_JS_VISIBLE_TEXT))))
            if raw:
                out.append(f"search.html: raw TeX in the visible text: {raw[:5]}")
        if screens_dir is not None:
            page.screenshot(path=str(Path(screens_dir) / f"search_{term}.png"), full_page=False)
    except Exception as e:
        out.append(f"search.html: {type(e).__name__}: {e}")
    finally:
        page.close()
    return out


_JS_RESULTS = r"""() => {
  const main = document.querySelector('article') || document.body;
  const visible = el => { const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden'; };
  const tables = Array.from(main.querySelectorAll('table')).filter(visible);
  const imgs = Array.from(main.querySelectorAll('img')).filter(visible);
  return {
    tables: tables.length,
    rows: tables.length ? tables[0].querySelectorAll('tbody tr').length : 0,
    images: imgs.length,
    loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
  };
}"""


def check_results(site_dir, page: str = "results/acceptance_2d.html", chromium: str = CHROMIUM,
                  timeout_ms: int = 30000, screens_dir=None) -> list[str]:
    """The Results section: reachable from the landing page by a link, and `page` shows a table and
    a figure. Returns a list of problems (empty when all is well)."""
    from playwright.sync_api import sync_playwright

    site_dir = Path(site_dir).resolve()
    out: list[str] = []
    server, base = serve(site_dir)
    try:
        with tempfile.TemporaryDirectory(prefix="mmsold-chromium-") as profile, sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(
                profile, executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 900}, service_workers="block")
            ctx.route("**/*", lambda r: r.continue_() if _is_local(r.request.url) else r.abort())
            tab = ctx.new_page()
            tab.goto(base + "index.html", wait_until="load", timeout=timeout_ms)
            # a link in the landing page's text (not only the sidebar) leads to the results overview
            link = tab.locator("article a[href$='results/index.html']")
            if link.count() == 0:
                out.append("index.html: no link to results/index.html in the page text")
            else:
                link.first.scroll_into_view_if_needed()
                link.first.click()
                tab.wait_for_load_state("load")
                if not tab.url.endswith("results/index.html"):
                    out.append(f"index.html: following the results link reached {tab.url}")
                else:
                    r = tab.evaluate(_JS_RESULTS)
                    if r["tables"] == 0 or r["rows"] == 0:
                        out.append("results/index.html: no visible table of results pages")
                    if tab.locator(f"article a[href$='{Path(page).name}']").count() == 0:
                        out.append(f"results/index.html: no link to {Path(page).name}")
            if not (site_dir / page).exists():
                out.append(f"{page} does not exist")
            else:
                tab.goto(base + page, wait_until="load", timeout=timeout_ms)
                tab.evaluate(_JS_IMAGES)  # waits for every image to decode
                r = tab.evaluate(_JS_RESULTS)
                if r["tables"] == 0 or r["rows"] == 0:
                    out.append(f"{page}: no visible table with rows")
                if r["images"] == 0 or r["loaded"] < r["images"]:
                    out.append(f"{page}: {r['loaded']} of {r['images']} visible figure(s) loaded")
                if screens_dir is not None:
                    tab.screenshot(path=str(Path(screens_dir) / "results_page.png"), full_page=False)
            ctx.close()
    finally:
        server.shutdown()
        server.server_close()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="Check the built docs site in headless Chromium.")
    ap.add_argument("site", type=Path)
    ap.add_argument("--screens", type=Path, default=None, help="default: SITE/_screens")
    a = ap.parse_args(argv)
    pages = site_pages(a.site)
    problems = check_site(a.site, screens_dir=a.screens or a.site / "_screens")
    for p in problems:
        print("PROBLEM", p)
    print(f"checked {len(pages)} pages + search: {len(problems)} problem(s)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()

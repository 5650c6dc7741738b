"""The generator of the site's Results section (docs/results.py), on a small made-up paper_figs/.

Runs with the browser tests (they share the site's build); it needs no browser itself.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs"))
import results  # noqa: E402

PNG = bytes.fromhex("89504e470d0a1a0a")  # only copied, never decoded here

README = """# paper_figs

## Map: the paper's figures and ours

| paper | what it shows | ours | status / what differs |
|---|---|---|---|
| Fig. 1 | the first figure | `fig1_a.png`, `.md` (`fig1_a.py`) | reproduced |
| Fig. 2 | not run yet | `fig2_b.md` | - |
| beyond | an extra table | `extra.md` | see `extra_more.md` |

## Fig. 1 in detail (`fig1_a.py`)

Why the figure looks as it does.

### A subsection

More reading.

## Something else

Not about fig1.
"""


def make_root(tmp_path):
    figs = tmp_path / "paper_figs"
    figs.mkdir()
    (figs / "README.md").write_text(README)
    (figs / "fig1_a.png").write_bytes(PNG)
    (figs / "fig1_a.md").write_text("| x | y |\n|---|---|\n| 1 | 2 |\n")
    (figs / "fig1_a.py").write_text("")
    (figs / "fig1_a_wide.png").write_bytes(PNG)  # extends fig1_a: joins its page
    (figs / "extra.md").write_text("# Extra\n\n| a |\n|---|\n| 3 |\n")
    (figs / "extra_more.md").write_text("more\n")
    (figs / "table1_new.md").write_text("# A new table\n\n| b |\n|---|\n| 4 |\n")  # in no row
    (figs / "lonely_plot.png").write_bytes(PNG)
    return tmp_path


def test_pages_follow_the_map_and_pick_up_every_other_file(tmp_path):
    root = make_root(tmp_path)
    log = []
    pages = {p.slug: p for p in results.plan(root, log=log.append)}
    # the row whose only file does not exist is skipped with a message naming the file
    assert any("fig2_b.md" in m and "does not exist" in m for m in log), log
    assert "fig2_b" not in pages
    assert pages["fig1_a"].mds == ["fig1_a.md"]
    assert pages["fig1_a"].pngs == ["fig1_a.png", "fig1_a_wide.png"]
    assert pages["extra"].mds == ["extra.md", "extra_more.md"]  # the status column names it
    # files that no row names still get pages, titled by their heading or their name
    assert pages["table1_new"].title == "A new table"
    assert pages["lonely_plot"].pngs == ["lonely_plot.png"]
    used = [n for p in pages.values() for n in p.mds + p.pngs]
    assert sorted(used) == sorted(set(used))  # every file on one page only


def test_written_pages_hold_tables_figures_and_the_reading(tmp_path):
    root = make_root(tmp_path)
    src = tmp_path / "src"
    names = results.write_results(src, root, log=lambda *a: None)
    out = src / "results"
    page = (out / "fig1_a.md").read_text()
    assert page.startswith("# Fig. 1: the first figure")
    assert "| 1 | 2 |" in page and "![" in page and "(fig1_a_wide.png)" in page
    assert "Why the figure looks as it does." in page and "More reading." in page
    assert "Not about fig1." not in page
    assert (out / "fig1_a.png").exists() and (out / "lonely_plot.png").exists()
    index = (out / "index.md").read_text()
    for n in names:
        assert f"{n}.md" in index or f"\n{n}\n" in index
    assert "writeup" in index and (out / "writeup.md").exists()


def test_landing_page_links_point_to_result_pages(tmp_path):
    root = make_root(tmp_path)
    pages = results.page_of(root)
    text = ("[map](../paper_figs/README.md) [t](../paper_figs/fig1_a.md) ![f](../paper_figs/fig1_a.png) "
            "[nb](00_core.ipynb) [dev](../DEVELOPING.md) [web](https://example.org)")
    new = results.rewrite_links(text, root, pages)
    assert "[map](results/index.md)" in new
    assert "[t](results/fig1_a.md)" in new
    assert "![f](results/fig1_a.png)" in new
    assert "[nb](00_core.ipynb)" in new and "[web](https://example.org)" in new
    assert "dev (`DEVELOPING.md`)" in new

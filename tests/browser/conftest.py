"""Browser tests of the built documentation site.

They need a built `_site/` (docs/build.sh) and Debian's chromium, so they are not part of the
default `pytest` run: they are skipped unless MMSOLD_BROWSER_TESTS=1, which `docs/test_site.sh` sets.
"""
import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.environ.get("MMSOLD_BROWSER_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="browser test of the docs site: run docs/test_site.sh")
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(skip)

"""docs/docstrings.py turns nbdev-style docstrings into reST that docutils parses without complaint."""
import io
import sys
from pathlib import Path

import docutils.core
import docutils.nodes
from docutils.parsers.rst import roles

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docs"))
from docstrings import markdown_to_rst  # noqa: E402
from sphinx.ext.napoleon import Config, NumpyDocstring  # noqa: E402


def _raw_sphinx(text: str) -> str:
    "What Sphinx would parse without our rewrite."
    return str(NumpyDocstring(text.splitlines(), Config(napoleon_use_param=True, napoleon_use_rtype=False)))


def _as_sphinx(text: str) -> str:
    "What Sphinx parses: our rewrite first (priority 400), then napoleon's numpy sections."
    lines = markdown_to_rst(text.splitlines())
    return str(NumpyDocstring(lines, Config(napoleon_use_param=True, napoleon_use_rtype=False)))

SAMPLES = [
    "(max |mean(Z) - mu|, ||cov(Z) - Sigma||_F / ||Sigma||_F) with the 1/P covariance.",
    "Attributes mean_, covariance_ and rank_ after `fit`; Sigma* = L L^T, eq. (34).",
    "Score $s(z) = -\\nabla V_{\\delta,\\sigma}(z)$ and $$p_\\delta(z) = \\frac1N \\sum_i N(z; x_i, \\delta^2 I)$$ done.",
    "See [the paper](https://arxiv.org/abs/2605.14276) and *emphasis*, **strong**, a lone * star.",
    "Parameters\n----------\nX : array (N, d)\n    Training data |x|, weights w_i_ and Sigma*.\nk : int\n    Count.",
]


def _messages(rst: str):
    "docutils warnings and errors for `rst` (what Sphinx would turn into build warnings)."
    roles.register_generic_role("math", docutils.nodes.math)
    stream = io.StringIO()
    docutils.core.publish_doctree(rst, settings_overrides={"report_level": 2, "halt_level": 5,
                                                           "warning_stream": stream})
    return [line for line in stream.getvalue().splitlines() if line.strip()]


def test_raw_samples_are_broken_rst():
    "Three samples are errors for a plain reST parse (so the conversion test means something); the"
    # math and link samples parse, but would show raw `$` and markdown link syntax on the page.
    assert [bool(_messages(_raw_sphinx(s))) for s in SAMPLES] == [True, True, False, False, True]


def test_converted_samples_parse_cleanly():
    for s in SAMPLES:
        out = _as_sphinx(s)
        assert _messages(out) == [], (s, out)


def test_conversion_keeps_the_text():
    out = "\n".join(markdown_to_rst(SAMPLES[0].splitlines()))
    assert "\\|mean(Z) - mu\\|" in out
    out = "\n".join(markdown_to_rst(SAMPLES[2].splitlines()))
    assert ":math:`s(z) = -\\nabla V_{\\delta,\\sigma}(z)`" in out and ".. math::" in out
    out = "\n".join(markdown_to_rst(SAMPLES[4].splitlines()))
    assert "X : array (N, d)" in out  # numpy spec lines are left for napoleon
    assert ":param X: Training data \\|x\\|" in _as_sphinx(SAMPLES[4])

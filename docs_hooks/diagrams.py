"""MkDocs hook: draw every ```dot block of a page as an inline SVG picture, with Graphviz.

The generated model pages keep their diagrams as DOT source (which the drift test compares); the
pictures are made here, at build time, by the ``dot`` program from the Debian ``graphviz``
package. Nothing is fetched: the SVG goes into the page itself.

An SVG is never shrunk below the width at which its smallest text is 12 px tall; a picture wider
than the column scrolls sideways instead of turning unreadable.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

from mkdocs.exceptions import PluginError

_FENCE = re.compile(r"^```dot\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->\n?", re.DOTALL)
_WIDTH = re.compile(r'<svg width="([\d.]+)pt"')
_FONT_SIZE = re.compile(r'font-size="([\d.]+)"')
_SMALLEST_TEXT_PX = 12.0
_PX_PER_PT = 4 / 3


def _svg(source: str, page: str, number: int) -> str:
    dot = shutil.which("dot")
    if dot is None:
        raise PluginError(
            "drawing the diagrams needs Graphviz's `dot` (Debian: apt-get install graphviz)"
        )
    done = subprocess.run(
        [dot, "-Tsvg"], input=source, capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise PluginError(f"dot could not draw a diagram of {page}: {done.stderr.strip()}")
    svg = _COMMENT.sub("", _PROLOG.sub("", done.stdout)).strip()
    # Graphviz numbers its ids from one in every picture; a page holds many pictures.
    svg = svg.replace(' id="', f' id="diagram{number}-')
    width = _WIDTH.search(svg)
    sizes = [float(s) for s in _FONT_SIZE.findall(svg)]
    if width is not None and sizes:
        natural = float(width.group(1)) * _PX_PER_PT
        smallest = min(sizes) * _PX_PER_PT
        floor = natural * min(1.0, _SMALLEST_TEXT_PX / smallest)
        svg = svg.replace("<svg ", f'<svg style="min-width:{floor:.0f}px" ', 1)
    return f'<div class="diagram">\n{svg}\n</div>'


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """Replace each ```dot block of ``markdown`` with the picture Graphviz draws from it."""
    count = iter(range(1, 1_000_000))
    return _FENCE.sub(lambda m: _svg(m.group(1), page.file.src_uri, next(count)), markdown)

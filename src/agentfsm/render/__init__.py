"""Pictures and documentation generated from machine data: diagrams, tables, docs pages.

Everything here reads a machine's ``MachineSpec`` (and, for the offered-actions matrix, asks
the engine), so the pictures cannot disagree with the machine they show.

- ``to_mermaid``, ``to_dot``, ``to_markdown_table``: a machine (or a spec) as text.
- ``offered_matrix``: which user actions each status offers, and why not the others.
- ``docs_page``: a whole Markdown page per machine; ``refusal_codes_page``: every refusal code
  and where it comes from; ``write_pages`` and ``drifted_pages`` keep the committed pages in
  step with the machines.
"""

from agentfsm.render._docs import DEFAULT_DOCS_DIR, drifted_pages, expected_pages, write_pages
from agentfsm.render._dot import to_dot
from agentfsm.render._matrix import OfferedMatrix, default_waits, offered_matrix
from agentfsm.render._mermaid import to_mermaid
from agentfsm.render._page import BANNER, docs_page
from agentfsm.render._refusals import ENGINE_CODES, refusal_codes_page
from agentfsm.render._samples import SAMPLE_TIME, sample_snapshot
from agentfsm.render._table import TABLE_COLUMNS, to_markdown_table

__all__ = [
    "BANNER",
    "DEFAULT_DOCS_DIR",
    "ENGINE_CODES",
    "SAMPLE_TIME",
    "TABLE_COLUMNS",
    "OfferedMatrix",
    "default_waits",
    "docs_page",
    "drifted_pages",
    "expected_pages",
    "offered_matrix",
    "refusal_codes_page",
    "sample_snapshot",
    "to_dot",
    "to_markdown_table",
    "to_mermaid",
    "write_pages",
]

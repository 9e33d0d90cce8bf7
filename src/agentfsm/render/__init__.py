"""Pictures and documentation generated from machine data: diagrams, tables, docs pages.

Everything here reads a machine's ``MachineSpec`` (and, for the offered-actions matrix, asks
the engine), so the pictures cannot disagree with the machine they show.
"""

from agentfsm.render._dot import to_dot
from agentfsm.render._matrix import OfferedMatrix, offered_matrix
from agentfsm.render._mermaid import to_mermaid
from agentfsm.render._page import BANNER, docs_page
from agentfsm.render._samples import SAMPLE_TIME, sample_snapshot
from agentfsm.render._table import TABLE_COLUMNS, to_markdown_table

__all__ = [
    "BANNER",
    "SAMPLE_TIME",
    "TABLE_COLUMNS",
    "OfferedMatrix",
    "docs_page",
    "offered_matrix",
    "sample_snapshot",
    "to_dot",
    "to_markdown_table",
    "to_mermaid",
]

"""The generated docs pages as files: write them, or list the ones that drifted from the machines.

One page per shipped machine (``agentfsm.models.MACHINES``), named ``<machine>.md``, and the
table of every refusal code (``refusal-codes.md``). Both the
command line (``agentfsm docs``) and the drift test use these two functions, so they cannot
disagree about what "up to date" means.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from agentfsm._machine import Machine
from agentfsm.models import MACHINES
from agentfsm.render._page import docs_page
from agentfsm.render._refusals import REFUSALS_PAGE, refusal_codes_page

DEFAULT_DOCS_DIR = Path("docs/models")
"""Where ``agentfsm docs`` writes and checks pages, relative to the working directory."""

REGENERATE = "agentfsm docs --write"
"""The command that regenerates the pages (quoted in drift messages)."""


def expected_pages(machines: Mapping[str, Machine] = MACHINES) -> dict[str, str]:
    """Every page the machines generate: file name -> Markdown text.

    One page per machine, in the machines' order, then the refusal-code page.
    """
    pages = {f"{name}.md": docs_page(machine) for name, machine in machines.items()}
    pages[REFUSALS_PAGE] = refusal_codes_page(machines)
    return pages


def write_pages(directory: Path, machines: Mapping[str, Machine] = MACHINES) -> list[Path]:
    """Write every generated page into ``directory`` (created if missing).

    Returns:
        The paths written, in the machines' order, then the refusal-code page.

    Raises:
        OSError: the directory or a page cannot be written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, text in expected_pages(machines).items():
        path = directory / filename
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def drifted_pages(directory: Path, machines: Mapping[str, Machine] = MACHINES) -> list[str]:
    """The pages in ``directory`` that are missing or differ from what the machines generate.

    Returns:
        One sentence per drifted page (``"alfe.md differs from the alfe machine"``); an empty
        list means every page is up to date.
    """
    drifted = []
    for filename, text in expected_pages(machines).items():
        path = directory / filename
        if not path.is_file():
            drifted.append(f"{path} is missing")
        elif path.read_text(encoding="utf-8") != text:
            source = (
                "the engine and the machines"
                if filename == REFUSALS_PAGE
                else f"the {filename.removesuffix('.md')} machine"
            )
            drifted.append(f"{path} differs from {source}")
    return drifted

"""``benchmarks/table.py`` prints every row of the performance table, each figure twice."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agentfsm.runtime._pgserver import find_pg_bin

ROOT = Path(__file__).resolve().parent.parent
HISTORY = (10, 20, 40)
ROWS = (
    "full Alfe walk, decide+apply, × baseline",
    "plain 12-status table, × baseline",
    "the same, each event built by name, × baseline",
    "offered (guard-aware), × baseline's listing",
    "SQLite, 100 events/txn, × bare SQL",
    "SQLite, 1 event/txn, × bare SQL",
    "PostgreSQL, one writer, × one-statement bare SQL",
    "memory per tracked agent, bytes",
    *(f"duplicate, {h:,} events of history, µs" for h in HISTORY),
)
POSTGRES = ROWS[6]
FIGURE = re.compile(r"^[\d,.]+(×|%| B| µs)$")
VERDICTS = {"met", "not met", "met 1 of 2", "—"}
# The peers each row must print beside its figures.
PEERS = {
    ROWS[0]: ("transitions", "python-statemachine"),
    ROWS[1]: ("transitions", "python-statemachine"),
    ROWS[4]: ("bare SQL",),
    ROWS[5]: ("bare SQL",),
    ROWS[6]: ("bare SQL",),
    ROWS[7]: ("baseline", "transitions", "python-statemachine"),
}


# Two whole runs, each starting a PostgreSQL server: about 25 s on an idle machine.
@pytest.mark.slow
def test_quick_table_prints_every_row_with_two_figures() -> None:
    pytest.importorskip("transitions")
    pytest.importorskip("statemachine")
    path = [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    tiny = ["--events", "2000", "--agents", "50", "--psm-events", "200"]
    tiny += ["--memory-agents", "1000", "--peer-memory-agents", "50", "--psm-memory-agents", "20"]
    tiny += ["--sqlite-events", "200", "--pg-events", "100"]
    tiny += ["--history", ",".join(map(str, HISTORY))]
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "table.py"), "--quick", *tiny],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    postgres = find_pg_bin() is not None
    for row in ROWS:
        found = [line for line in lines if line.startswith(row)]
        assert len(found) == 1, f"row {row!r} printed {len(found)} times:\n{done.stdout}"
        goal, run1, run2, verdict, *peers = re.split(r"\s{2,}", found[0][len(row) :].strip())
        if row == POSTGRES and not postgres:
            assert (run1, run2) == ("—", "—")
            assert sum("PostgreSQL row is skipped" in line for line in lines) == 2
            continue
        assert FIGURE.match(run1), (row, run1)
        assert FIGURE.match(run2), (row, run2)
        assert verdict in VERDICTS, (row, verdict)
        if row != ROWS[8]:  # the shortest history is the duplicates' reference, with no goal
            assert goal[0] in "≤≥", (row, goal)
            assert verdict != "—", row
        for peer in PEERS.get(row, ()):
            assert re.search(rf"\b{re.escape(peer)} [\d,.]+ ?\S* / [\d,.]+", " ".join(peers)), (
                row,
                peer,
                peers,
            )

"""The migration commands: diff, check-migration, migrate plan|apply on a SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentfsm.cli import main
from agentfsm.migrate import diff_machines
from agentfsm.migrate.examples import ALFE_V2
from agentfsm.models import ALFE
from agentfsm.runtime import MIGRATE, Controller, ManualClock, SQLiteStore
from tests.conftest import T0
from tests.migrations import LINK_V1, LINK_V2, SPLIT

EXAMPLES = "agentfsm.migrate.examples"


def test_diff_lists_what_changed_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "alfe", f"{EXAMPLES}:ALFE_V2"]) == 0
    text = capsys.readouterr().out
    assert "statuses added: hibernated" in text
    assert "+ hibernate from stopped -> hibernated" in text
    assert "+ start from hibernated -> starting" in text
    # The actions table marks the status whose actions changed, and only it.
    marked = [line.split()[0] for line in text.splitlines() if line.endswith("*")]
    assert marked == ["hibernated"]


def test_diff_draws_the_changes_in_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "alfe", f"{EXAMPLES}:ALFE_V2", "--format", "mermaid"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("stateDiagram-v2")
    assert "stopped --> hibernated: hibernate (new)" in text
    assert "class hibernated added" in text


def test_a_split_diff_shows_the_removed_status_and_the_changed_rows() -> None:
    diff = diff_machines(LINK_V1, LINK_V2, SPLIT)
    assert diff.statuses_removed == ("failing",)
    assert {r.event for r in diff.rows if r.kind == "changed"} == {
        "connection_lost",
        "boot_timeout",
    }
    assert "class failing removed" in diff.to_mermaid()
    assert "failing --> failed: recovery_exhausted (gone)" in diff.to_mermaid()
    assert diff_machines(ALFE, ALFE).empty


def test_check_migration_exits_1_with_a_counterexample(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-migration", f"{EXAMPLES}:ALFE_V1_TO_V2"]) == 0
    assert "ok" in capsys.readouterr().out
    assert main(["check-migration", "tests.migrations:REMOVAL_UNMAPPED"]) == 1
    out = capsys.readouterr().out
    assert "status-map" in out
    assert "capacity_unavailable by platform: pending -> waitlisted" in out


def test_bad_references_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-migration", "nothing"]) == 2
    assert main(["check-migration", "agentfsm.models:ALFE"]) == 2
    assert main(["diff", "alfe", "nope"]) == 2
    assert "error" in capsys.readouterr().err


def test_migrate_plan_then_apply_on_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "agents.db"
    store = SQLiteStore(db)
    controller = Controller(ALFE, store, ManualClock(T0))
    controller.create_many([(f"a{i}", "alfe", _agent(f"a{i}")) for i in range(5)])
    store.close()
    ref = f"{EXAMPLES}:ALFE_V1_TO_V2"
    assert main(["migrate", "plan", "--db", str(db), "--migration", ref]) == 0
    assert "pending -> pending" in capsys.readouterr().out
    assert main(["migrate", "apply", "--db", str(db), "--migration", ref, "--dry-run"]) == 0
    assert "dry run" in capsys.readouterr().out
    assert main(["migrate", "apply", "--db", str(db), "--migration", ref]) == 0
    assert "migrated 5 agent(s)" in capsys.readouterr().out
    reopened = SQLiteStore(db)
    assert [r.kind for r in reopened.audit_log()].count(MIGRATE) == 5
    assert {a.machine_version for a in reopened.agents()} == {ALFE_V2.version}
    reopened.close()
    # A migration that fails its check is not applied.
    bad = "tests.migrations:REMOVAL_UNMAPPED"
    assert main(["migrate", "apply", "--db", str(db), "--migration", bad]) == 1
    assert "not applied" in capsys.readouterr().out
    assert main(["migrate", "plan", "--db", str(tmp_path / "none.db"), "--migration", ref]) == 2


def _agent(agent_id: str) -> object:
    from agentfsm.models import AlfeAgent

    return AlfeAgent(agent_id, agent_id)

"""The API generated from a machine of one's own: its roles, its plain record, its actions."""

from __future__ import annotations

import importlib.util
import sys
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from agentfsm import Role
from agentfsm.http import Caller, TokenAuthenticator, create_app
from agentfsm.runtime import AsyncController, AsyncSQLiteStore, ManualClock
from tests.web.support import API, bearer

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]


def _gpu_job() -> Any:
    spec = importlib.util.spec_from_file_location("gpu_job_example", ROOT / "examples/gpu_job.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.MACHINE


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    machine = _gpu_job()
    store = AsyncSQLiteStore(tmp_path / "jobs.db")
    controller = AsyncController([machine], store, ManualClock(datetime(2026, 4, 3, tzinfo=UTC)))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.open()
        yield
        await store.close()

    auth = TokenAuthenticator(
        {
            "owner": Caller("ann", Role("owner"), tenant="lab"),
            "scheduler": Caller("sched", Role("scheduler", person=False)),
        }
    )
    app = create_app(controller, None, auth, lifespan=lifespan)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_a_machine_of_ones_own_is_served_with_its_roles(client: TestClient) -> None:
    owner, scheduler = bearer("owner"), bearer("scheduler")
    made = client.post(
        f"{API}/agents", json={"agent_id": "lab.job-1", "machine": "gpu_job", "data": 0},
        headers=owner,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["data"] == 0
    offers = {o["event"]: o for o in made.json()["offered"]}
    assert set(offers) == {"cancel", "resume"}  # the owner's actions, nothing else
    assert client.post(f"{API}/agents/lab.job-1/schedule", headers=owner).status_code == 403
    assert client.post(f"{API}/agents/lab.job-1/schedule", headers=scheduler).status_code == 200
    refused = client.post(f"{API}/agents/lab.job-1/resume", headers=owner)
    assert refused.status_code == 409
    assert refused.json()["code"] == "not_allowed_from_status"
    assert client.post(f"{API}/agents/lab.job-1/cancel", headers=owner).status_code == 200
    rows = client.get(f"{API}/agents/lab.job-1/events", headers=owner).json()["items"]
    assert [(r["event"], r["actor"]) for r in rows[1:]] == [
        ("schedule", "scheduler"),
        ("resume", "owner"),
        ("cancel", "owner"),
    ]
    doc = client.get(f"{API}/machines/gpu_job").json()
    assert "no_checkpoint" in {c for a in doc["actions"] for c in a["refusal_codes"]}


def test_a_record_that_is_not_the_machines_is_422(client: TestClient) -> None:
    bad = client.post(
        f"{API}/agents", json={"agent_id": "lab.job-2", "machine": "gpu_job", "data": "x"},
        headers=bearer("owner"),
    )  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["field"] == "data"
    assert client.get(f"{API}/agents/lab.job-2", headers=bearer("owner")).status_code == 404

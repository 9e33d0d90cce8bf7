"""The one JSON form of every public record: what the HTTP API sends, ``--json`` prints, and
``history`` writes.

- ``dump(record)`` turns a record into plain JSON values (``dict``, ``list``, ``str``, numbers,
  booleans, ``None``), ready for ``json.dumps``.
- ``schema(record_type)`` is the JSON Schema (draft 2020-12) that every ``dump`` of that type
  validates against.
- ``load(record_type, data)`` reads a dumped ``AuditRow``, ``Snapshot``, ``AgentRecord``,
  ``Refusal``, ``Offer``, ``Event`` or data record back.

The form, once for all records:

- field names are the library's attribute names (``from_status``, ``to_status``, ``since``);
- an actor is its role's code (``"U"``, ``"S"``, ``"T"``, or a machine's own role code);
- a ``datetime`` is an ISO 8601 string with its offset (``"2026-04-03T10:00:00+00:00"``); a
  ``timedelta`` is a number of seconds;
- tuples and sets are arrays, mappings are objects;
- the runtime's values (``Snapshot``, ``Step``, ``Refusal``, ``Offer``, ``Event``,
  ``AuditRow``, ``AgentRecord``, ``OutboxItem``, ``TimerRow``) are objects of their fields;
  ``Step`` and ``Refusal`` add ``"accepted"`` (``true`` / ``false``) so a client can tell them
  apart;
- any other attrs record (an agent's data, an effect, a domain event, a condition) is an object
  of its fields with ``"@type"``: its class name (``{"@type": "StopHost", "host": 3}``).
"""

from agentfsm._wire_dump import TYPE_KEY, dump
from agentfsm._wire_load import load
from agentfsm._wire_schema import schema

__all__ = ["TYPE_KEY", "dump", "load", "schema"]

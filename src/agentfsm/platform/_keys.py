"""The ids the platform derives for the events it sends, so that asking twice records once.

An id names the request it stands for: the step that sends it, the agent, the version the
event was decided from, the event and (when it has one) its payload. Two asks at one version
for the same event with different parameters (a suspension whose reason changed while the
first was refused) are then two keys, not one key reused for another request. These ids live
in the platform's scope (``Actor.SYSTEM``): a user sending the same text reaches none of them.
"""

from __future__ import annotations

import hashlib

from agentfsm._values import Event


def derived_id(step: str, agent_id: str, version: int, event: Event) -> str:
    """``step:agent:version:event``, with a digest of the payload when there is one."""
    base = f"{step}:{agent_id}:{version}:{event.name}"
    if not event.payload:
        return base
    # repr of the platform's own payloads (short strings and numbers) is stable.
    text = repr(sorted(event.payload.items()))
    return f"{base}:{hashlib.blake2b(text.encode(), digest_size=8).hexdigest()}"

"""The ids the platform derives for the events it sends, so that asking twice records once.

An id names the request it stands for: the step that sends it, the agent, the version the
event was decided from, the event and (when it has one) its payload. Two asks at one version
for the same event with different parameters (a suspension whose reason changed while the
first was refused) are then two keys, not one key reused for another request. These ids live
in the platform's scope (``Actor.SYSTEM``): a user sending the same text reaches none of them.
"""

from __future__ import annotations

import hashlib

from agentfsm._values import MAX_EVENT_ID_LENGTH, Event


def derived_id(step: str, agent_id: str, version: int, event: Event) -> str:
    """``step:agent:version:event``, with a digest of the payload when there is one.

    An id that would be longer than an event id may be (an agent id of a thousand
    characters) names the agent by a digest of its id instead.
    """
    base = f"{step}:{agent_id}:{version}:{event.name}"
    if len(base) > MAX_EVENT_ID_LENGTH - 20:
        agent = hashlib.blake2b(agent_id.encode("utf-8", "surrogatepass"), digest_size=16)
        base = f"{step}:#{agent.hexdigest()}:{version}:{event.name[:900]}"
    if not event.payload:
        return base
    # repr of the platform's own payloads (short strings and numbers) is stable.
    text = repr(sorted(event.payload.items()))
    return f"{base}:{hashlib.blake2b(text.encode(), digest_size=8).hexdigest()}"

"""How a Recif agent's Kubernetes objects are named and labelled, in one place.

Every object of an agent is named after its slug (a DNS-1123 label), so the Service's in-cluster
name is the endpoint ``DesiredSpec.endpoint`` publishes. The canary pair is ``<slug>-canary``.
Stable and canary pods share ``app.kubernetes.io/name`` and differ by
``app.kubernetes.io/instance``, so each Service and each Deployment selects its own pods only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from agentfsm._errors import InvalidInput
from agentfsm._slug import MAX_SLUG_LENGTH, check_slug

NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "agentfsm"
"""The value of the ``app.kubernetes.io/managed-by`` label on every object the host makes."""
CONFIG_HASH_ANNOTATION = "agents.recif.dev/config-hash"
"""The pod-template annotation holding ``config_hash`` of the ConfigMap the pods read."""
FENCE_ANNOTATION = "agentfsm.dev/fence"
"""The annotation holding the fencing token of the work that last wrote the object."""

CONTAINER = "agent"
CONFIG_VOLUME = "config"
CREDENTIALS_VOLUME = "credentials"
CONFIG_MOUNT_PATH = "/etc/agent/config"
"""Where an agent's container finds its ConfigMap, one file per key."""
CREDENTIALS_MOUNT_PATH = "/etc/agent/credentials"
"""Where an agent's container finds its credential Secret."""
HEALTH_PATH = "/healthz"
"""The HTTP path of the agent container's readiness probe."""
CANARY_SUFFIX = "-canary"

_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_MAX_CONFIG_KEY = 253


def canary_name(slug: str) -> str:
    """The name of the canary Deployment and Service of agent ``slug``.

    Raises:
        InvalidInput: ``slug`` is not a DNS-1123 label, or is too long for ``<slug>-canary`` to
            be one (a Service name and a label value are at most 63 characters).
    """
    check_slug(slug)
    name = slug + CANARY_SUFFIX
    if len(name) > MAX_SLUG_LENGTH:
        room = MAX_SLUG_LENGTH - len(CANARY_SUFFIX)
        raise InvalidInput(
            f"agent {slug[:20]!r}... cannot run a canary: {name!r} would be {len(name)} characters "
            f"long; a slug of at most {room} characters leaves room for {CANARY_SUFFIX!r}"
        )
    return name


def labels(slug: str, instance: str, component: str) -> dict[str, str]:
    """The labels of one of the agent's objects (and of its pods)."""
    return {
        NAME_LABEL: slug,
        INSTANCE_LABEL: instance,
        COMPONENT_LABEL: component,
        MANAGED_BY_LABEL: MANAGED_BY,
    }


def selector(slug: str, instance: str) -> dict[str, str]:
    """The labels that pick the pods of one Deployment (stable or canary) and nothing else."""
    return {NAME_LABEL: slug, INSTANCE_LABEL: instance}


def selector_text(match: Mapping[str, str]) -> str:
    """``match`` as a label selector string (``a=b,c=d``) for list calls."""
    return ",".join(f"{k}={v}" for k, v in sorted(match.items()))


def check_config_keys(config: Mapping[str, str]) -> None:
    """Raise unless every key of ``config`` can be a ConfigMap key.

    Raises:
        InvalidInput: a key is empty, too long, or has characters other than letters, digits,
            ``-``, ``_`` and ``.`` (the message names it).
    """
    for key in config:
        bad = len(key) > _MAX_CONFIG_KEY or _CONFIG_KEY.fullmatch(key) is None
        if bad or key == "." or key.startswith(".."):
            raise InvalidInput(
                f"config key {key!r} cannot be a ConfigMap key: use letters, digits, '-', '_' and "
                f"'.', at most {_MAX_CONFIG_KEY} characters, not '.' and not starting with '..'"
            )

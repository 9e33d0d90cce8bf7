"""What a Recif spec may hold: an image that is an OCI reference, and a bounded config.

The image grammar is the one container registries and clients share (the OCI distribution
spec and ``distribution/reference``)::

    reference  = name [":" tag] ["@" digest]
    name       = [domain "/"] path            at most 255 characters in all
    domain     = host [":" port]              host: DNS labels joined by ".", or "[IPv6]"
    path       = component ("/" component)*   component: [a-z0-9]+ joined by ".", "_", "__", "-"+
    tag        = [A-Za-z0-9_][A-Za-z0-9_.-]*  at most 128 characters
    digest     = algorithm ":" encoded        sha256: 64 hex digits, sha512: 128

The first part of a name is a registry host only when it looks like one (it holds a ``.`` or a
``:``, is ``localhost``, or has capitals); otherwise it is the first path component, as
``docker pull`` reads it. A reference is printable ASCII: no whitespace, no control characters,
no line breaks, so it can never carry text into a file or a commit as anything but itself.

A config becomes a Kubernetes ConfigMap, so its keys follow the ConfigMap key rules and its
size the ConfigMap limit.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

MAX_NAME_LENGTH = 255
MAX_TAG_LENGTH = 128
MAX_DIGEST_ALGORITHM_LENGTH = 32
MAX_DIGEST_ENCODED_LENGTH = 256
MAX_IMAGE_LENGTH = (
    MAX_NAME_LENGTH + 1 + MAX_TAG_LENGTH + 1 + MAX_DIGEST_ALGORITHM_LENGTH + 1
) + MAX_DIGEST_ENCODED_LENGTH
"""The longest reference the grammar allows (a full name, tag and digest)."""

MAX_CONFIG_ENTRIES = 256
"""The most keys a Recif agent's config (its ConfigMap) may hold."""
MAX_CONFIG_KEY_LENGTH = 253
MAX_CONFIG_BYTES = 1024 * 1024
"""A ConfigMap holds at most 1 MiB: keys and values, counted in UTF-8."""

_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_PORT = re.compile(r"[0-9]{1,5}")
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_ALGORITHM = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*")
_ENCODED = re.compile(r"[A-Za-z0-9=_-]{32,256}")
_KNOWN_DIGESTS = {"sha256": re.compile(r"[a-f0-9]{64}"), "sha512": re.compile(r"[a-f0-9]{128}")}
_CONFIG_KEY = re.compile(r"[-._A-Za-z0-9]+")

EXAMPLE_IMAGE = "ghcr.io/recif/corail:1.4"


def _host_problem(domain: str) -> str | None:
    if domain.startswith("["):
        end = domain.find("]")
        try:
            ipaddress.IPv6Address(domain[1:end] if end > 0 else "")
        except ValueError:
            return f"{domain!r} is not a bracketed IPv6 address"
        port = domain[end + 1 :]
        if port == "":
            return None
        if not port.startswith(":"):
            return f"{domain!r} has text after its IPv6 address that is not a :port"
        return _port_problem(port[1:])
    host, colon, port = domain.partition(":")
    labels = host.split(".")
    if not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return (
            f"the registry host {host!r} must be DNS labels (letters, digits and '-', "
            "at most 63 each) joined by '.'"
        )
    return _port_problem(port) if colon else None


def _port_problem(port: str) -> str | None:
    if _PORT.fullmatch(port) and 0 < int(port) <= 65535:
        return None
    return f"the registry port {port!r} must be a number from 1 to 65535"


def _split_domain(name: str) -> tuple[str | None, str]:
    head, slash, rest = name.partition("/")
    looks_like_host = "." in head or ":" in head or head == "localhost" or head != head.lower()
    if slash and looks_like_host:
        return head, rest
    return None, name


def _digest_problem(digest: str) -> str | None:
    algorithm, colon, encoded = digest.partition(":")
    if (
        not colon
        or len(algorithm) > MAX_DIGEST_ALGORITHM_LENGTH
        or not _ALGORITHM.fullmatch(algorithm)
    ):
        return f"the digest {digest[:40]!r} must be algorithm:hex, such as sha256:<64 hex digits>"
    known = _KNOWN_DIGESTS.get(algorithm)
    if known is not None and not known.fullmatch(encoded):
        size = 64 if algorithm == "sha256" else 128
        return f"a {algorithm} digest must be {size} lowercase hex digits"
    if known is None and not _ENCODED.fullmatch(encoded):
        return (
            f"the {algorithm} digest must be 32 to {MAX_DIGEST_ENCODED_LENGTH} letters, digits, "
            "'=', '_' or '-'"
        )
    return None


def _reference_problem(text: str) -> str | None:
    rest, at, digest = text.partition("@")
    if at:
        problem = _digest_problem(digest)
        if problem is not None:
            return problem
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        name, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.fullmatch(tag):
            return (
                f"the tag {tag[:40]!r} must be 1 to {MAX_TAG_LENGTH} letters, digits, '_', '.' "
                "or '-', not starting with '.' or '-'"
            )
    else:
        name = rest
    if not name:
        return "it has no repository name"
    if len(name) > MAX_NAME_LENGTH:
        return f"its name is {len(name)} characters long; at most {MAX_NAME_LENGTH} are allowed"
    domain, path = _split_domain(name)
    if domain is not None:
        problem = _host_problem(domain)
        if problem is not None:
            return problem
    for component in path.split("/"):
        if not _COMPONENT.fullmatch(component):
            return (
                f"the path component {component[:40]!r} must be lowercase letters and digits, "
                "separated by '.', '_', '__' or dashes"
            )
    return None


def image_problem(value: object) -> str | None:
    """Why ``value`` is not an OCI image reference, or ``None`` when it is one.

    Args:
        value: what was given as an image (``registry:5000/team/app:1.4@sha256:…``).

    Returns:
        A sentence naming the first part that breaks the grammar, or ``None``.
    """
    if not isinstance(value, str):
        return f"an image must be a string, not {type(value).__name__}"
    if not value:
        return "an image must not be empty"
    if len(value) > MAX_IMAGE_LENGTH:
        return f"the image is {len(value)} characters long; at most {MAX_IMAGE_LENGTH} are allowed"
    if not all("!" <= ch <= "~" for ch in value):
        return (
            f"the image {value[:40]!r} must be printable ASCII without spaces, control "
            "characters or line breaks"
        )
    problem = _reference_problem(value)
    if problem is None:
        return None
    return f"the image {value[:60]!r} is not an OCI reference (such as {EXAMPLE_IMAGE}): {problem}"


def _key_problem(key: object) -> str | None:
    if not isinstance(key, str):
        return f"config keys must be strings, not {type(key).__name__}"
    if (
        not 0 < len(key) <= MAX_CONFIG_KEY_LENGTH
        or not _CONFIG_KEY.fullmatch(key)
        or key in (".", "..")
        or key.startswith("..")
    ):
        return (
            f"the config key {key[:40]!r} must be 1 to {MAX_CONFIG_KEY_LENGTH} letters, digits, "
            "'-', '_' or '.' (and not '.', '..' or start with '..')"
        )
    return None


def _utf8_size(text: str) -> int | None:
    try:
        return len(text.encode())
    except UnicodeEncodeError:  # a lone surrogate, as json.loads can produce
        return None


def config_problem(value: object) -> str | None:
    """Why ``value`` cannot be a Recif agent's config (a ConfigMap), or ``None`` when it can.

    Args:
        value: a mapping of config keys to string values.

    Returns:
        A sentence naming what is wrong (type, count, a key, a value, the size), or ``None``.
    """
    if not isinstance(value, Mapping):
        return f"a config must be a mapping of strings, not {type(value).__name__}"
    if len(value) > MAX_CONFIG_ENTRIES:
        return f"a config holds at most {MAX_CONFIG_ENTRIES} entries, not {len(value)}"
    total = 0
    for key, item in value.items():
        problem = _key_problem(key)
        if problem is not None:
            return problem
        if not isinstance(item, str):
            return f"config values must be strings; {key!r} is a {type(item).__name__}"
        size = _utf8_size(item)
        if size is None:
            return f"the config value of {key!r} is not valid Unicode text (a lone surrogate)"
        total += len(key) + size
        if total > MAX_CONFIG_BYTES:
            return f"a config holds at most {MAX_CONFIG_BYTES} bytes of keys and values (1 MiB)"
    return None

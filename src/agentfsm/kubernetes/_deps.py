"""The Kubernetes host needs the ``kubernetes`` extra (the official client); say so if missing.

Imported first by the package so that a missing client surfaces as ``MissingExtra`` naming the
extra to install, rather than as a bare ``ModuleNotFoundError`` from deep inside a module.
"""

from __future__ import annotations

import importlib

from agentfsm._errors import MissingExtra

try:
    importlib.import_module("kubernetes.client")
except ImportError as exc:
    raise MissingExtra("The Kubernetes host", "kubernetes", "kubernetes") from exc

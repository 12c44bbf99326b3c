"""Deploys and rollbacks: a git working tree, its units, database, health check and watch."""

from __future__ import annotations

from backends.base import Backend, BackendKind, Runtime
from backends.deploy.backend import DeployBackend
from backends.deploy.config import DeployConfig, parse, validate


def build(entries: list[DeployConfig], runtime: Runtime) -> list[Backend]:
    return [DeployBackend(entry, runtime) for entry in entries]


KIND = BackendKind(section="deploy", parse=parse, build=build, validate=validate)

"""Shared fixtures: one local Ray per session, the fake provider as a real server on loopback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import ray

from targen_ray.fake.process import FakeProcess

ROOT = Path(__file__).resolve().parents[1]
BOOLQ = ROOT / "jobs" / "boolq.yaml"
FAKE_KEY = "sk-test-fake-0123456789"


@pytest.fixture(scope="session")
def ray_session():
    # Workers inherit the driver's environment at ray.init: the fake key must be set before.
    os.environ["FAKE_API_KEY"] = FAKE_KEY
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def fake(tmp_path_factory):
    os.environ["FAKE_API_KEY"] = FAKE_KEY
    server = FakeProcess(tmp_path_factory.mktemp("fake"), "--wrong-label-rate", "0.2", "--invalid-key", "sk-revoked")
    yield server
    server.stop()

"""The binding's tests run under tests/conformance's conformance_env (phase
live): a real edgekeyd serves the case file's keyset; the tokens are the
ones it minted (EDGEKEY_CONFORMANCE_TOKENS)."""
import json
import os

import pytest


@pytest.fixture(scope="session")
def table():
    t = os.environ.get("EDGEKEY_CONFORMANCE_TABLE")
    if not t:
        pytest.fail("EDGEKEY_CONFORMANCE_TABLE is not set: run through conformance_env (ctest -R bindings_python)")
    return t


@pytest.fixture(scope="session")
def tokens():
    with open(os.environ["EDGEKEY_CONFORMANCE_TOKENS"]) as f:
        return json.load(f)

"""pytest fixtures for a mock Tencent Cloud KMS, registered through the `pytest11` entry point
(installing the package is enough). See docs/python.md.

- `tkms_server`: a fresh `KmsServer` for each test; `tkms_server_session`: one per session.
- `tkms_kms_client`: the official `KmsClient` pointed at `tkms_server` (skipped unless
  tencentcloud-sdk-python-kms is installed).
- `tkms_env`: TENCENTCLOUD_SECRET_ID/SECRET_KEY/REGION and TKMS_ENDPOINT for the code under test.
"""

from typing import Iterator

import pytest

from .testing import KmsServer


@pytest.fixture
def tkms_server() -> Iterator[KmsServer]:
    """A fresh mock KMS (in memory) for this test, stopped afterwards."""
    with KmsServer() as server:
        yield server


@pytest.fixture(scope="session")
def tkms_server_session() -> Iterator[KmsServer]:
    """One mock KMS (in memory) for the whole session."""
    with KmsServer() as server:
        yield server


@pytest.fixture
def tkms_kms_client(tkms_server: KmsServer):
    """`tencentcloud.kms.v20190118.kms_client.KmsClient` for `tkms_server`, over plain HTTP."""
    try:
        from tencentcloud.common import credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.kms.v20190118 import kms_client
    except ImportError:
        pytest.skip("tkms_kms_client needs the Tencent Cloud SDK: pip install tencentcloud-sdk-python-kms")
    http = HttpProfile(endpoint=tkms_server.host, protocol="http", reqTimeout=30)
    profile = ClientProfile(httpProfile=http)
    cred = credential.Credential(tkms_server.secret_id, tkms_server.secret_key)
    return kms_client.KmsClient(cred, tkms_server.region, profile)


@pytest.fixture
def tkms_env(tkms_server: KmsServer, monkeypatch: pytest.MonkeyPatch) -> KmsServer:
    """Points code that reads the environment (the SDKs, tccli, `tkms`) at `tkms_server`;
    the previous values are restored after the test."""
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", tkms_server.secret_id)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", tkms_server.secret_key)
    monkeypatch.setenv("TENCENTCLOUD_REGION", tkms_server.region)
    monkeypatch.setenv("TKMS_ENDPOINT", tkms_server.endpoint)
    monkeypatch.delenv("TENCENTCLOUD_TOKEN", raising=False)
    return tkms_server

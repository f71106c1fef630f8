"""The pytest plugin: registered by installing the package, `tkms_env` for code that reads the
environment, and `tkms_kms_client` skipping with the package to install when the SDK is missing."""

import os

import pytest

import tkms

ENV_NAMES = ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENTCLOUD_REGION", "TKMS_ENDPOINT")


def app_client_from_environment():
    """Code under test: builds its KMS client from the environment only, like a real service."""
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.kms.v20190118 import kms_client

    endpoint = os.environ["TKMS_ENDPOINT"]
    scheme, host = endpoint.split("://", 1)
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=host, protocol=scheme, reqTimeout=30))
    cred = credential.EnvironmentVariableCredential().get_credential()
    return kms_client.KmsClient(cred, os.environ["TENCENTCLOUD_REGION"], profile)


def test_tkms_env_serves_code_that_reads_the_environment(tkms_env):
    from tencentcloud.kms.v20190118 import models

    assert os.environ["TKMS_ENDPOINT"] == tkms_env.endpoint
    client = app_client_from_environment()
    request = models.CreateKeyRequest()
    request.Alias = "from-env"
    key_id = client.CreateKey(request).KeyId
    # tkms.encrypt without arguments reads TKMS_ENDPOINT and TENCENTCLOUD_* as the CLI does.
    sealed = tkms.encrypt(b"via env", key="from-env")
    assert tkms.inspect(sealed)["wrapped_keys"][0]["kms_key_id"] == key_id
    assert tkms.decrypt(sealed) == b"via env"
    assert [r["identity"] for r in tkms_env.audit(action="CreateKey")] == ["root"]


def test_tkms_env_restores_the_environment(pytester):
    pytester.makepyfile(
        """
        import os
        BEFORE = {n: os.environ.get(n) for n in %r}

        def test_inside(tkms_env):
            assert os.environ["TKMS_ENDPOINT"] == tkms_env.endpoint
            assert os.environ["TENCENTCLOUD_SECRET_ID"] == tkms_env.secret_id

        def test_after():
            assert {n: os.environ.get(n) for n in %r} == BEFORE
        """ % (ENV_NAMES, ENV_NAMES)
    )
    # Previous values, set and unset, come back.
    os.environ["TKMS_ENDPOINT"] = "http://example.invalid:1"
    os.environ.pop("TENCENTCLOUD_SECRET_ID", None)
    try:
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    finally:
        del os.environ["TKMS_ENDPOINT"]
    result.assert_outcomes(passed=2)


def test_plugin_is_registered_by_the_entry_point(pytester):
    pytester.makepyfile(
        """
        def test_fixtures(tkms_server, tkms_server_session):
            assert tkms_server.endpoint.startswith("http://127.0.0.1:")
            assert tkms_server is not tkms_server_session
            assert tkms_server.now() > 0
        """
    )
    # A subprocess without this suite's conftest: only the entry point can provide the fixtures.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_kms_client_skips_naming_the_package_without_the_sdk(pytester):
    pytester.makeconftest(
        """
        import sys
        sys.modules["tencentcloud.kms"] = None  # as if tencentcloud-sdk-python-kms were missing
        sys.modules["tencentcloud.kms.v20190118"] = None
        """
    )
    pytester.makepyfile(
        """
        def test_needs_sdk(tkms_kms_client):
            raise AssertionError("must be skipped")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*pip install tencentcloud-sdk-python-kms*"])

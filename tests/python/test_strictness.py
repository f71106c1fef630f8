"""The strictness of the real service, seen from the official SDK: UnsupportedRegion,
UnknownParameter, TokenExpired (docs/kms-api.md §4.8, §5.2, §6)."""

import os
import pathlib
import shlex
import subprocess
import tempfile

import pytest
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from conftest import REGION, REPO, SECRET_ID, SECRET_KEY, Server, call, create_key, make_client


def code_of(fn, *args, **kwargs):
    with pytest.raises(TencentCloudSDKException) as e:
        fn(*args, **kwargs)
    return e.value.get_code()


def common(server, region=REGION, **profile):
    http = HttpProfile(endpoint=server.host, protocol="http", reqMethod=profile.pop("reqMethod", "POST"))
    return CommonClient("kms", "2019-01-18", credential.Credential(SECRET_ID, SECRET_KEY), region,
                        profile=ClientProfile(httpProfile=http, **profile))


def test_regions_listed_work_and_a_typo_is_unsupported(server):
    regions = call(make_client(server), "GetRegions").Regions
    for region in ["ap-guangzhou", "ap-taipei", "ap-shanghai-fsi", "ap-shenzhen-fsi"]:
        assert region in regions
    create_key(make_client(server, region="ap-taipei"))
    typo = make_client(server, region="ap-guangzou")
    assert code_of(call, typo, "ListKeys") == "UnsupportedRegion"
    assert code_of(call, typo, "GetRegions") == "UnsupportedRegion"


@pytest.mark.parametrize("profile", [{}, {"reqMethod": "GET"}, {"signMethod": "HmacSHA256"}],
                         ids=["tc3-post", "tc3-get", "v1"])
def test_unknown_parameters_are_refused_in_every_encoding(server, profile):
    client = common(server, **profile)
    ok = client.call_json("GenerateRandom", {"NumberOfBytes": 8})
    assert ok["Response"]["Plaintext"]
    assert code_of(client.call_json, "GenerateRandom", {"NumberOfBytes": 8, "Extra": "1"}) == "UnknownParameter"
    key_id = create_key(make_client(server)).KeyId
    tags = {"Alias": "strict-" + key_id[:8], "Tags": [{"TagKey": "a", "TagValue": "b", "Oops": "c"}]}
    assert code_of(client.call_json, "CreateKey", tags) == "UnknownParameter"
    # Documented optional fields are not unknown.
    client.call_json("DescribeKey", {"KeyId": key_id, "MemberAccount": {"MemberUin": 1}})


def test_an_expired_import_token_is_token_expired(server, kms):
    key_id = create_key(kms, Type=2).KeyId
    params = call(kms, "GetParametersForImport", KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                  WrappingKeySpec="RSA_2048")
    now = server.control("/_tkms/clock")
    server.advance(params.ParametersValidTo - now["Now"] + 1)
    assert code_of(call, kms, "ImportKeyMaterial", KeyId=key_id, ImportToken=params.ImportToken,
                   EncryptedKeyMaterial="AAAA") == "ResourceUnavailable.TokenExpired"


def test_serve_regions_extends_the_list_and_refuses_bad_names():
    with tempfile.TemporaryDirectory(prefix="tkms-regions-") as data_dir:
        server = Server(pathlib.Path(data_dir), extra_args=["--regions", "ap-newcity,eu-paris"])
        try:
            regions = call(make_client(server), "GetRegions").Regions
            assert regions[-2:] == ["ap-newcity", "eu-paris"]
            create_key(make_client(server, region="eu-paris"))
            assert code_of(call, make_client(server, region="eu-rome"), "ListKeys") == "UnsupportedRegion"
        finally:
            server.stop()
    cmd = shlex.split(os.environ.get("TKMS_SERVE_CMD", str(REPO / "target/debug/tkms") + " serve"))
    out = subprocess.run(cmd + ["--in-memory", "--listen", "127.0.0.1:0", "--regions", "Bad_Region"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Bad_Region" in out.stderr, out.stderr

"""The strictness of the real service, seen from the official SDK: UnsupportedRegion,
UnknownParameter, TokenExpired (docs/kms-api.md §4.8, §5.2, §6)."""

import pytest
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from conftest import REGION, SECRET_ID, SECRET_KEY, call, create_key, make_client


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

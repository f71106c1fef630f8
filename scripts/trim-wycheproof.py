#!/usr/bin/env python3
"""Copies the Wycheproof ML-KEM-768 / ML-DSA-65 vectors mock-hsm tests use, trimmed to a few
of each kind, into mock-hsm/tests/vectors/ (see the README there).

usage: scripts/trim-wycheproof.py WYCHEPROOF_CHECKOUT

The test keeps every vector it is given; trimming keeps one vector per distinct
(result, flags) pair so each kind of valid and invalid input stays covered.
"""
import json
import pathlib
import shutil
import sys

OUT = pathlib.Path(__file__).resolve().parent.parent / "mock-hsm/tests/vectors"


def load(src, name):
    return json.loads((src / "testvectors_v1" / name).read_text())


def dump(name, data):
    (OUT / name).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def one_per_kind(groups, keep_test):
    seen, out = set(), []
    for group in groups:
        tests = []
        for t in group["tests"]:
            kind = (t["result"], tuple(sorted(t["flags"])))
            if keep_test(t) and kind not in seen:
                seen.add(kind)
                tests.append(t)
        if tests:
            out.append(dict(group, tests=tests))
    return out


def main():
    src = pathlib.Path(sys.argv[1])
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "LICENSE", OUT / "LICENSE-wycheproof")
    # Decapsulation with a given dk: small enough to keep whole.
    dump("mlkem_768_semi_expanded_decaps_test.json",
         load(src, "mlkem_768_semi_expanded_decaps_test.json"))
    # Verification: pure ML-DSA with the empty context (what PostQuantumCryptoVerify does).
    verify = load(src, "mldsa_65_verify_test.json")
    verify["testGroups"] = one_per_kind(verify["testGroups"], lambda t: "ctx" not in t)
    verify["numberOfTests"] = sum(len(g["tests"]) for g in verify["testGroups"])
    dump("mldsa_65_verify_test.json", verify)
    # Key generation from the seed ξ, one vector per source, with one signature each.
    sign = load(src, "mldsa_65_sign_seed_test.json")
    seen, groups = set(), []
    for g in sign["testGroups"]:
        source = g["source"]["name"]
        tests = [t for t in g["tests"] if "ctx" not in t and "Internal" not in t["flags"]
                 and "msg" in t]
        if source in seen or not tests or g.get("publicKey") is None:
            continue
        seen.add(source)
        groups.append(dict(g, tests=tests[:1]))
    # The invalid seed lengths (no key can be made).
    groups += [g for g in sign["testGroups"] if g.get("publicKey") is None][:3]
    sign["testGroups"] = groups
    sign["numberOfTests"] = sum(len(g["tests"]) for g in groups)
    dump("mldsa_65_sign_seed_test.json", sign)


if __name__ == "__main__":
    main()

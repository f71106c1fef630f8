//! CLI behaviour pinned as data: every `tests/cmd/*.trycmd` case runs the real `tkms` binary.
//! Cases with a `<name>.in/` directory run in a private copy of it (a sandbox); the embedded key
//! store lives in `tkms-data/` inside that sandbox (TKMS_DATA_DIR is relative to it).

#[test]
fn cli_cases() {
    trycmd::TestCases::new()
        .env("TKMS_DATA_DIR", "tkms-data")
        .env("TENCENTCLOUD_REGION", "ap-guangzhou")
        .case("tests/cmd/*.trycmd");
}

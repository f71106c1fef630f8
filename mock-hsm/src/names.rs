//! Names a configuration or a request may use, in one place: the KMS actions (docs/kms-api.md
//! §2, docs/cam.md), and the nearest valid name for an error message about a typo.

/// Every action of the KMS API 2019-01-18 (docs/kms-api.md §2).
pub(crate) const ACTIONS: &[&str] = &[
    "ArchiveKey",
    "AsymmetricRsaDecrypt",
    "AsymmetricSm2Decrypt",
    "BindCloudResource",
    "CancelDataKeyDeletion",
    "CancelKeyArchive",
    "CancelKeyDeletion",
    "CreateKey",
    "CreateWhiteBoxKey",
    "Decrypt",
    "DeleteImportedKeyMaterial",
    "DeleteWhiteBoxKey",
    "DescribeDataKey",
    "DescribeDataKeys",
    "DescribeKey",
    "DescribeKeys",
    "DescribeWhiteBoxDecryptKey",
    "DescribeWhiteBoxDeviceFingerprints",
    "DescribeWhiteBoxKey",
    "DescribeWhiteBoxKeyDetails",
    "DescribeWhiteBoxServiceStatus",
    "DisableDataKey",
    "DisableDataKeys",
    "DisableKey",
    "DisableKeyRotation",
    "DisableKeys",
    "DisableWhiteBoxKey",
    "DisableWhiteBoxKeys",
    "EnableDataKey",
    "EnableDataKeys",
    "EnableKey",
    "EnableKeyRotation",
    "EnableKeys",
    "EnableWhiteBoxKey",
    "EnableWhiteBoxKeys",
    "Encrypt",
    "EncryptByWhiteBox",
    "GenerateDataKey",
    "GenerateRandom",
    "GetDataKeyCiphertextBlob",
    "GetDataKeyPlaintext",
    "GetKeyRotationStatus",
    "GetParametersForImport",
    "GetPublicKey",
    "GetRegions",
    "GetServiceStatus",
    "ImportDataKey",
    "ImportKeyMaterial",
    "ListAlgorithms",
    "ListDataKeyDetail",
    "ListDataKeys",
    "ListKeyDetail",
    "ListKeys",
    "OverwriteWhiteBoxDeviceFingerprints",
    "PostQuantumCryptoDecrypt",
    "PostQuantumCryptoEncrypt",
    "PostQuantumCryptoSign",
    "PostQuantumCryptoVerify",
    "ReEncrypt",
    "RotateKey",
    "ScheduleDataKeyDeletion",
    "ScheduleKeyDeletion",
    "SignByAsymmetricKey",
    "UnbindCloudResource",
    "UpdateAlias",
    "UpdateDataKeyDescription",
    "UpdateDataKeyName",
    "UpdateKeyDescription",
    "VerifyByAsymmetricKey",
];

/// True for an action of the API (exact, case-sensitive: CAM compares action names so). Only
/// the server asks.
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) fn is_known_action(action: &str) -> bool {
    ACTIONS.binary_search(&action).is_ok()
}

/// The candidate closest to `name` by edit distance (ignoring case, so `encrypt` finds
/// `Encrypt`); `None` only when there is no candidate.
pub(crate) fn nearest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    candidates
        .into_iter()
        .min_by_key(|c| edit_distance(&name, &c.to_ascii_lowercase()))
}

/// Levenshtein distance over bytes (names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_the_69_actions_sorted_for_binary_search() {
        assert_eq!(ACTIONS.len(), 69);
        assert!(ACTIONS.windows(2).all(|w| w[0] < w[1]));
        assert!(
            is_known_action("Encrypt") && !is_known_action("encrypt") && !is_known_action("Nope")
        );
    }

    /// docs/serve.md lists every action once, in this order, with one of the families.
    #[test]
    fn serve_md_lists_every_action_with_its_family() {
        const FAMILIES: &[&str] = &[
            "lifecycle",
            "rotation",
            "symmetric",
            "asymmetric",
            "byok",
            "info",
            "datakeys",
            "whitebox",
            "postquantum",
            "bindings",
        ];
        let doc = include_str!("../../docs/serve.md");
        let table = doc
            .split("<!-- actions:begin -->")
            .nth(1)
            .and_then(|rest| rest.split("<!-- actions:end -->").next())
            .expect("docs/serve.md has the actions table");
        let rows: Vec<(&str, &str)> = table
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line
                    .trim()
                    .trim_matches('|')
                    .split('|')
                    .map(str::trim)
                    .collect();
                match cells[..] {
                    [action, family] if action != "Action" && !action.starts_with("---") => {
                        Some((action, family))
                    }
                    _ => None,
                }
            })
            .collect();
        let actions: Vec<&str> = rows.iter().map(|(a, _)| *a).collect();
        assert_eq!(actions, ACTIONS);
        for (action, family) in rows {
            assert!(FAMILIES.contains(&family), "{action}: family {family:?}");
        }
    }

    #[test]
    fn nearest_finds_typos_and_case_slips() {
        assert_eq!(nearest("Encrpyt", ACTIONS.iter().copied()), Some("Encrypt"));
        assert_eq!(nearest("encrypt", ACTIONS.iter().copied()), Some("Encrypt"));
        assert_eq!(
            nearest("GenerateDatakey", ACTIONS.iter().copied()),
            Some("GenerateDataKey")
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(nearest("x", []), None);
    }
}

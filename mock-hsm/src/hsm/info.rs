//! Service information: the regions GetRegions reports and the symmetric algorithm
//! ListAlgorithms names.

use super::rules::past_deletion_date;
use super::{Hsm, HsmError, Scope};
use crate::material::Algorithm;

/// Every region where Tencent Cloud offers KMS (docs/kms-api.md §6): GetRegions reports these
/// (with `tkms serve --regions` and the default region), and a call naming another region is
/// UnsupportedRegion.
pub const REGIONS: &[&str] = &[
    "ap-guangzhou",
    "ap-shanghai",
    "ap-beijing",
    "ap-chengdu",
    "ap-chongqing",
    "ap-nanjing",
    "ap-hongkong",
    "ap-singapore",
    "ap-bangkok",
    "ap-jakarta",
    "ap-seoul",
    "ap-tokyo",
    "ap-mumbai",
    "na-siliconvalley",
    "na-ashburn",
    "eu-frankfurt",
    "sa-saopaulo",
    "ap-taipei",
    "ap-shanghai-fsi",
    "ap-shenzhen-fsi",
    "ap-beijing-fsi",
];

impl Hsm {
    /// The regions GetRegions reports and calls may name: the default region first when the
    /// table lacks it, the table, then the configured extra regions.
    pub(crate) fn regions(&self) -> &[String] {
        &self.regions
    }

    /// UnsupportedRegion for a call naming a region not in [`Hsm::regions`] (an empty region
    /// is the default one).
    pub(crate) fn check_region(&self, region: &str) -> Result<(), HsmError> {
        if region.is_empty() || self.regions.iter().any(|r| r == region) {
            Ok(())
        } else {
            Err(HsmError::UnsupportedRegion)
        }
    }

    /// How many CMKs `scope` holds, in any state until their deletion date (GetServiceStatus's
    /// `CmkUserCount`; the mock sets no CMK limit, docs/serve.md). A read only: keys past their
    /// date are not counted, and destroying them is left to the maintenance tick.
    pub(crate) fn cmk_count(&self, scope: Scope<'_>) -> Result<u64, HsmError> {
        let now = self.now();
        let keys = self
            .store
            .read(|tx| Ok::<_, HsmError>(tx.keys_in_scope(scope.uin, scope.region)?))?;
        let live = keys
            .iter()
            .filter(|k| !past_deletion_date(k.key_state, k.deletion_date, now));
        Ok(live.count() as u64)
    }

    /// The algorithm new ENCRYPT_DECRYPT CMKs get in `scope`'s region.
    pub(crate) fn symmetric_algorithm(&self, scope: Scope<'_>) -> Algorithm {
        self.symmetric.algorithm_for(scope.region)
    }
}

/// The region list of an HSM: the default region (when the table lacks it), [`REGIONS`], then
/// `extra` not already named.
pub(super) fn region_list(default_region: &str, extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if !REGIONS.contains(&default_region) {
        out.push(default_region.to_owned());
    }
    out.extend(REGIONS.iter().map(|r| (*r).to_owned()));
    for region in extra {
        if !out.contains(region) {
            out.push(region.clone());
        }
    }
    out
}

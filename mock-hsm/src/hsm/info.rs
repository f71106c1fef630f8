//! Service information: the regions GetRegions reports and the symmetric algorithm
//! ListAlgorithms names.

use super::{Hsm, Scope};
use crate::material::Algorithm;

/// Regions GetRegions reports.
pub(crate) const REGIONS: &[&str] = &[
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
];

impl Hsm {
    /// The regions GetRegions reports: the table, with the default region first when the table
    /// lacks it.
    pub(crate) fn regions(&self) -> Vec<String> {
        let mut out: Vec<String> = REGIONS.iter().map(|r| (*r).to_owned()).collect();
        if !out.iter().any(|r| r == self.default_region()) {
            out.insert(0, self.default_region().to_owned());
        }
        out
    }

    /// The algorithm new ENCRYPT_DECRYPT CMKs get in `scope`'s region.
    pub(crate) fn symmetric_algorithm(&self, scope: Scope<'_>) -> Algorithm {
        self.symmetric.algorithm_for(scope.region)
    }
}

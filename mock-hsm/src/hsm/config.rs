//! How an [`Hsm`](super::Hsm) opens: storage, root key, clock, default region, and which
//! symmetric algorithm new CMKs get (SM4 in mainland-China regions by default).

use std::sync::Arc;

use crate::clock::{Clock, MockClock, SystemClock};
use crate::material::Algorithm;
use crate::store::{RootKeySource, Storage};

/// Mainland-China regions, whose symmetric CMKs are SM4 (KeyMetadata.Type 4) by default.
pub const SM_REGIONS: &[&str] = &[
    "ap-guangzhou",
    "ap-shanghai",
    "ap-beijing",
    "ap-chengdu",
    "ap-chongqing",
    "ap-nanjing",
    "ap-shenzhen-fsi",
    "ap-shanghai-fsi",
    "ap-beijing-fsi",
];

/// Which symmetric algorithm new ENCRYPT_DECRYPT CMKs get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SymmetricPolicy {
    /// SM4 in [`SM_REGIONS`], AES-256 elsewhere (the default).
    #[default]
    ByRegion,
    /// Always AES-256.
    AlwaysAes256,
    /// Always SM4.
    AlwaysSm4,
}

impl SymmetricPolicy {
    pub(crate) fn algorithm_for(self, region: &str) -> Algorithm {
        match self {
            Self::AlwaysAes256 => Algorithm::Aes256,
            Self::AlwaysSm4 => Algorithm::Sm4,
            Self::ByRegion if SM_REGIONS.contains(&region) => Algorithm::Sm4,
            Self::ByRegion => Algorithm::Aes256,
        }
    }
}

/// How to open an [`Hsm`](crate::Hsm).
#[derive(Clone)]
pub struct HsmConfig {
    /// Data directory or memory.
    pub storage: Storage,
    /// The storage root key.
    pub root_key: RootKeySource,
    /// The source of time.
    pub clock: Arc<dyn Clock>,
    /// The same clock when it is a [`MockClock`] (test controls move it).
    pub mock_clock: Option<Arc<MockClock>>,
    /// Region used when a call names none.
    pub default_region: String,
    /// Regions served beyond [`REGIONS`](super::REGIONS) (`tkms serve --regions`).
    pub extra_regions: Vec<String>,
    /// Symmetric algorithm choice.
    pub symmetric: SymmetricPolicy,
    /// A seed file applied at open (existing keys are never overwritten).
    pub seed_file: Option<std::path::PathBuf>,
    /// Most hosted data keys one account may keep in one region (GetServiceStatus
    /// `DataKeyLimit`; past it `LimitExceeded.DataKeyLimitExceeded`).
    pub data_key_limit: u64,
}

impl core::fmt::Debug for HsmConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HsmConfig")
            .field("storage", &self.storage)
            .field("root_key", &self.root_key)
            .field("mock_clock", &self.mock_clock.is_some())
            .field("default_region", &self.default_region)
            .field("extra_regions", &self.extra_regions)
            .field("symmetric", &self.symmetric)
            .field("seed_file", &self.seed_file)
            .field("data_key_limit", &self.data_key_limit)
            .finish()
    }
}

impl HsmConfig {
    /// A store in `dir`, wall clock, region ap-guangzhou.
    pub fn directory(dir: impl Into<std::path::PathBuf>) -> Self {
        Self::new(Storage::Directory(dir.into()))
    }

    /// An in-memory store, wall clock, region ap-guangzhou.
    pub fn in_memory() -> Self {
        Self::new(Storage::InMemory)
    }

    fn new(storage: Storage) -> Self {
        Self {
            storage,
            root_key: RootKeySource::Default,
            clock: Arc::new(SystemClock),
            mock_clock: None,
            default_region: "ap-guangzhou".into(),
            extra_regions: Vec::new(),
            symmetric: SymmetricPolicy::ByRegion,
            seed_file: None,
            data_key_limit: super::datakeys::DEFAULT_DATA_KEY_LIMIT,
        }
    }

    /// Sets the hosted data key limit per account and region.
    pub fn with_data_key_limit(mut self, limit: u64) -> Self {
        self.data_key_limit = limit;
        self
    }

    /// Applies this seed file at open.
    pub fn with_seed_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.seed_file = Some(path.into());
        self
    }

    /// Uses a fresh [`MockClock`] (reachable through [`Hsm::mock_clock`](crate::Hsm::mock_clock)).
    pub fn with_mock_clock(mut self) -> Self {
        let clock = Arc::new(MockClock::new());
        self.clock = clock.clone();
        self.mock_clock = Some(clock);
        self
    }

    /// Sets the default region.
    pub fn with_default_region(mut self, region: impl Into<String>) -> Self {
        self.default_region = region.into();
        self
    }

    /// Serves these regions too, each checked by [`check_region_name`].
    pub fn with_regions(mut self, regions: &[String]) -> Result<Self, String> {
        for region in regions {
            check_region_name(region)?;
        }
        self.extra_regions = regions.to_vec();
        Ok(self)
    }

    /// Sets the symmetric algorithm policy.
    pub fn with_symmetric(mut self, policy: SymmetricPolicy) -> Self {
        self.symmetric = policy;
        self
    }

    /// Sets the root key source.
    pub fn with_root_key(mut self, source: RootKeySource) -> Self {
        self.root_key = source;
        self
    }
}

/// The shape of a Tencent Cloud region name: `<area>-<city>` with optional `-<suffix>` parts,
/// lower-case letters and digits, at most 32 characters (`ap-guangzhou`, `ap-shanghai-fsi`).
pub fn check_region_name(name: &str) -> Result<(), String> {
    let mut parts = name.split('-');
    let area_ok = parts
        .next()
        .is_some_and(|a| (2..=4).contains(&a.len()) && a.bytes().all(|b| b.is_ascii_lowercase()));
    let rest: Vec<&str> = parts.collect();
    let rest_ok = !rest.is_empty()
        && rest[0]
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase())
        && rest.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if area_ok && rest_ok && name.len() <= 32 {
        Ok(())
    } else {
        Err(format!(
            "region {name:?} is not a region name such as ap-guangzhou or ap-shanghai-fsi"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::check_region_name;

    #[test]
    fn region_names_have_the_tencent_shape() {
        for good in [
            "ap-guangzhou",
            "ap-shanghai-fsi",
            "na-siliconvalley",
            "me-riyadh",
            "ap-xx-2",
        ] {
            assert_eq!(check_region_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "ap",
            "ap-",
            "AP-guangzhou",
            "ap_guangzhou",
            "ap-1x",
            "ap--x",
            "a-b",
            "ap-guangzhou ",
            &format!("ap-{}", "x".repeat(40)),
        ] {
            assert!(check_region_name(bad).is_err(), "{bad:?}");
        }
    }
}

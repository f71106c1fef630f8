//! Seed files (docs/seed-format.md): CMKs with fixed ids, aliases, usages, states, rotation
//! settings and, optionally, fixed material per version, so CI gets deterministic keys and
//! golden ciphertexts. Existing keys are never overwritten. Export writes the same format;
//! key material only with [`ExportOptions::danger_include_key_material`].

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::api::ApiError;
use crate::hsm::{Hsm, HsmError, KeyState, KeyUsage, Origin, check_alias, is_valid_key_id};
use crate::inprocess::DEFAULT_ACCOUNT_UIN;
use crate::material::{Algorithm, Material};
use crate::store::{KeyRow, OpenError};

const DAY: u64 = 86_400;
/// The seed format version this build reads and writes.
const SEED_VERSION: u32 = 1;

/// Options for [`Hsm::export_seed`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// Include every version's key material (base64) in the export. Anyone holding the file can
    /// decrypt everything the keys ever protected: for test fixtures only.
    pub danger_include_key_material: bool,
}

/// What applying a seed did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Keys created.
    pub created: Vec<String>,
    /// Keys left alone because a key with that id already exists.
    pub skipped: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    version: u32,
    #[serde(default)]
    keys: Vec<SeedKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedKey {
    key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account_uin: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    alias: String,
    #[serde(default)]
    description: String,
    #[serde(default = "default_usage")]
    key_usage: String,
    /// Symmetric keys only: `AES_256` or `SM4` (default: the region's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    algorithm: Option<String>,
    #[serde(default = "default_origin")]
    origin: String,
    #[serde(default = "default_state")]
    state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    create_time: Option<u64>,
    #[serde(default, skip_serializing_if = "is_zero")]
    deletion_date: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    valid_to: u64,
    #[serde(default)]
    rotation_enabled: bool,
    #[serde(default = "default_rotate_days")]
    rotate_days: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    last_rotate_time: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_rotate_time: Option<u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    versions: Vec<SeedVersion>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedVersion {
    version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created: Option<u64>,
    /// Base64: raw key (AES-256 32 bytes, SM4 16 bytes), PKCS#8 DER (RSA, ECC) or the 32-byte
    /// SM2 private scalar. Absent: generated at seeding time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    material: Option<Zeroizing<String>>,
}

fn default_usage() -> String {
    KeyUsage::EncryptDecrypt.to_string()
}
fn default_origin() -> String {
    Origin::TencentKms.to_string()
}
fn default_state() -> String {
    KeyState::Enabled.to_string()
}
fn default_rotate_days() -> u64 {
    365
}
fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn seed_err(key: &str, message: impl core::fmt::Display) -> OpenError {
    OpenError::Seed(format!("key {key}: {message}"))
}

/// A validated seed key, ready to insert.
struct Prepared {
    row: KeyRow,
    versions: Vec<(u32, u64, Material)>,
    tags: Vec<(String, String)>,
}

impl Hsm {
    /// Applies a TOML seed (docs/seed-format.md) in one transaction: every key is created, or,
    /// on any error, none. Keys whose KeyId already exists are skipped, never overwritten.
    pub fn apply_seed(&self, toml_text: &str) -> Result<SeedReport, OpenError> {
        let file: SeedFile =
            toml::from_str(toml_text).map_err(|e| OpenError::Seed(e.to_string()))?;
        if file.version != SEED_VERSION {
            return Err(OpenError::Seed(format!(
                "unsupported seed version {} (this build reads {SEED_VERSION})",
                file.version
            )));
        }
        let now = self.now();
        let prepared = file
            .keys
            .into_iter()
            .map(|k| self.prepare(k, now))
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen = std::collections::HashSet::new();
        for p in &prepared {
            if !seen.insert(p.row.key_id.clone()) {
                return Err(seed_err(&p.row.key_id, "appears twice in the seed"));
            }
        }
        self.store
            .write(|tx| {
                let mut report = SeedReport::default();
                for p in &prepared {
                    if tx.key_by_id(&p.row.key_id)?.is_some() {
                        report.skipped.push(p.row.key_id.clone());
                        continue;
                    }
                    if tx.alias_taken(
                        p.row.account_uin,
                        &p.row.region,
                        &p.row.alias,
                        &p.row.key_id,
                    )? {
                        return Err(seed_err(
                            &p.row.key_id,
                            format!("alias {} is already used by another key", p.row.alias),
                        ));
                    }
                    tx.insert_key(&p.row)?;
                    for (version, created, material) in &p.versions {
                        tx.insert_version(&p.row.key_id, *version, *created, material)?;
                    }
                    for (k, v) in &p.tags {
                        tx.insert_tag(&p.row.key_id, k, v)?;
                    }
                    report.created.push(p.row.key_id.clone());
                }
                Ok(report)
            })
            .inspect(|_| self.store.clear_cache())
    }

    fn prepare(&self, k: SeedKey, now: u64) -> Result<Prepared, OpenError> {
        let id = k.key_id.clone();
        if !is_valid_key_id(&id) {
            return Err(seed_err(&id, "key_id must be a lower-case UUID"));
        }
        check_alias(&k.alias).map_err(|e| seed_err(&id, e))?;
        let region = k.region.unwrap_or_else(|| self.default_region.clone());
        let Some(usage) = KeyUsage::parse(&k.key_usage) else {
            return Err(seed_err(&id, format!("unknown key_usage {}", k.key_usage)));
        };
        let algorithm = match usage.fixed_algorithm() {
            Some(fixed) => {
                if k.algorithm.as_deref().is_some_and(|a| a != fixed.name()) {
                    return Err(seed_err(
                        &id,
                        format!("{} keys are {}", k.key_usage, fixed.name()),
                    ));
                }
                fixed
            }
            None => match k.algorithm.as_deref() {
                None => self.symmetric.algorithm_for(&region),
                Some("AES_256") => Algorithm::Aes256,
                Some("SM4") => Algorithm::Sm4,
                Some(other) => {
                    return Err(seed_err(
                        &id,
                        format!("symmetric algorithm must be AES_256 or SM4, not {other}"),
                    ));
                }
            },
        };
        let Some(origin) = Origin::parse(&k.origin) else {
            return Err(seed_err(
                &id,
                format!("origin must be TENCENT_KMS or EXTERNAL, not {}", k.origin),
            ));
        };
        let external = match origin {
            Origin::TencentKms => false,
            Origin::External if usage == KeyUsage::EncryptDecrypt => true,
            Origin::External => {
                return Err(seed_err(&id, "only ENCRYPT_DECRYPT keys can be EXTERNAL"));
            }
        };
        let Some(state) = KeyState::parse(&k.state) else {
            return Err(seed_err(&id, format!("unknown state {}", k.state)));
        };
        if state == KeyState::PendingImport && (!external || !k.versions.is_empty()) {
            return Err(seed_err(
                &id,
                "PendingImport keys must be EXTERNAL and have no versions",
            ));
        }
        if state == KeyState::PendingDelete && k.deletion_date == 0 {
            return Err(seed_err(&id, "PendingDelete keys need a deletion_date"));
        }
        if !(7..=365).contains(&k.rotate_days) {
            return Err(seed_err(&id, "rotate_days must be 7 to 365"));
        }
        // Times are bounded like the mock clock, so schedule arithmetic on them cannot wrap.
        let times = [k.create_time, k.next_rotate_time]
            .into_iter()
            .flatten()
            .chain([k.deletion_date, k.valid_to, k.last_rotate_time])
            .chain(k.versions.iter().filter_map(|v| v.created));
        if times.into_iter().any(|t| t > crate::clock::MAX_TIME) {
            return Err(seed_err(
                &id,
                format!(
                    "times must be Unix seconds no later than {} (9999-12-31)",
                    crate::clock::MAX_TIME
                ),
            ));
        }
        if k.rotation_enabled && (external || usage != KeyUsage::EncryptDecrypt) {
            return Err(seed_err(
                &id,
                "only TENCENT_KMS ENCRYPT_DECRYPT keys rotate",
            ));
        }
        let create_time = k.create_time.unwrap_or(now);
        let mut versions = Vec::new();
        let mut specs = k.versions;
        if specs.is_empty() && state != KeyState::PendingImport {
            specs.push(SeedVersion {
                version: 1,
                created: None,
                material: None,
            });
        }
        specs.sort_by_key(|v| v.version);
        for (i, v) in specs.iter().enumerate() {
            if v.version as usize != i + 1 {
                return Err(seed_err(
                    &id,
                    "versions must be numbered 1, 2, 3... without gaps",
                ));
            }
            let material = match &v.material {
                Some(text) => {
                    let bytes = Zeroizing::new(
                        B64.decode(text.trim())
                            .map_err(|_| seed_err(&id, "material is not base64"))?,
                    );
                    let material = Material::new(bytes);
                    material.validate(algorithm).map_err(|_| {
                        seed_err(
                            &id,
                            format!(
                                "material of version {} is not valid {} key material",
                                v.version,
                                algorithm.name()
                            ),
                        )
                    })?;
                    material
                }
                None => Material::generate(algorithm)
                    .map_err(|_| seed_err(&id, "key generation failed"))?,
            };
            versions.push((v.version, v.created.unwrap_or(create_time), material));
        }
        if external && versions.len() > 1 {
            return Err(seed_err(&id, "EXTERNAL keys have one version"));
        }
        let import_fingerprint = if external {
            versions
                .first()
                .map(|(_, _, m)| self.store.fingerprint(m.expose_secret()))
        } else {
            None
        };
        let anchor = if k.last_rotate_time > 0 {
            k.last_rotate_time
        } else {
            create_time
        };
        let row = KeyRow {
            key_id: id,
            account_uin: k.account_uin.unwrap_or(DEFAULT_ACCOUNT_UIN),
            region,
            alias: k.alias,
            description: k.description,
            key_usage: usage,
            algorithm,
            origin,
            key_state: state,
            create_time,
            deletion_date: k.deletion_date,
            valid_to: k.valid_to,
            rotation_enabled: k.rotation_enabled,
            rotate_days: k.rotate_days,
            last_rotate_time: k.last_rotate_time,
            next_rotate_time: k.next_rotate_time.unwrap_or(anchor + k.rotate_days * DAY),
            current_version: versions.len() as u32,
            import_fingerprint,
        };
        Ok(Prepared {
            row,
            versions,
            tags: k.tags.into_iter().collect(),
        })
    }

    /// Reads and applies a seed file.
    pub fn apply_seed_file(&self, path: &std::path::Path) -> Result<SeedReport, OpenError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| OpenError::Seed(format!("{}: {e}", path.display())))?;
        self.apply_seed(&text)
    }

    /// Exports every key (all accounts and regions) in the seed format. Without
    /// `danger_include_key_material` the versions carry no material, so seeding from the export
    /// recreates the keys with fresh material.
    pub fn export_seed(&self, options: ExportOptions) -> Result<Zeroizing<String>, ApiError> {
        let file = self
            .store
            .read(|tx| {
                let mut keys = Vec::new();
                for row in tx.all_keys()? {
                    let mut versions = Vec::new();
                    for (version, created) in tx.versions(&row.key_id)? {
                        let material = if options.danger_include_key_material {
                            tx.material(&row.key_id, version)?
                                .map(|m| Zeroizing::new(B64.encode(m.expose_secret())))
                        } else {
                            None
                        };
                        versions.push(SeedVersion {
                            version,
                            created: Some(created),
                            material,
                        });
                    }
                    let tags = tx.tags(&row.key_id)?.into_iter().collect();
                    keys.push(SeedKey {
                        algorithm: (row.key_usage == KeyUsage::EncryptDecrypt)
                            .then(|| row.algorithm.name().to_owned()),
                        key_id: row.key_id,
                        account_uin: Some(row.account_uin),
                        region: Some(row.region),
                        alias: row.alias,
                        description: row.description,
                        key_usage: row.key_usage.to_string(),
                        origin: row.origin.to_string(),
                        state: row.key_state.to_string(),
                        create_time: Some(row.create_time),
                        deletion_date: row.deletion_date,
                        valid_to: row.valid_to,
                        rotation_enabled: row.rotation_enabled,
                        rotate_days: row.rotate_days,
                        last_rotate_time: row.last_rotate_time,
                        next_rotate_time: Some(row.next_rotate_time),
                        tags,
                        versions,
                    });
                }
                Ok::<_, HsmError>(SeedFile {
                    version: SEED_VERSION,
                    keys,
                })
            })
            .map_err(ApiError::from)?;
        toml::to_string(&file)
            .map(Zeroizing::new)
            .map_err(|e| ApiError::new("InternalError", format!("export failed: {e}")))
    }
}

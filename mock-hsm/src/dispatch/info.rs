//! Service information on the wire: ListAlgorithms, GetServiceStatus, GetRegions (none of them
//! has parameters).

use serde::Serialize;

use super::CallError;
use super::messages::{AlgorithmInfo, ListAlgorithmsResp, RegionsResp, ServiceStatusResp};
use crate::hsm::{Hsm, KeyUsage, Scope};

pub(super) fn list_algorithms(hsm: &Hsm, scope: Scope<'_>) -> Result<impl Serialize, CallError> {
    let info = |key_usage: KeyUsage, algorithm| AlgorithmInfo {
        key_usage: key_usage.as_str(),
        algorithm,
    };
    Ok(ListAlgorithmsResp {
        symmetric_algorithms: vec![info(
            KeyUsage::EncryptDecrypt,
            hsm.symmetric_algorithm(scope).name(),
        )],
        asymmetric_algorithms: vec![
            info(KeyUsage::DecryptSm2, "SM2"),
            info(KeyUsage::DecryptRsa2048, "RSA_2048"),
            info(KeyUsage::EncryptKyber, "Kyber_AES"),
        ],
        asymmetric_sign_verify_algorithms: vec![
            info(KeyUsage::SignSm2, "SM2"),
            info(KeyUsage::SignRsa2048, "RSA_2048"),
            info(KeyUsage::SignEcc, "ECC"),
            info(KeyUsage::SignEcdsa384, "ECDSA384_SHA384"),
            info(KeyUsage::SignRsa3072, "RSA_3072"),
            info(KeyUsage::SignDilithium, "Dilithium"),
        ],
    })
}

pub(super) fn service_status(hsm: &Hsm, scope: Scope<'_>) -> Result<impl Serialize, CallError> {
    Ok(ServiceStatusResp {
        service_enabled: true,
        invalid_type: 1,
        user_level: 0,
        pro_expire_time: 0,
        pro_renew_flag: 0,
        pro_resource_id: "",
        exclusive_v_s_m_enabled: false,
        exclusive_hsm_enabled: false,
        subscription_info: "",
        cmk_user_count: hsm.cmk_count(scope)?,
        is_allowed_data_key_hosted: true,
        data_key_limit: hsm.data_key_limit(),
        // Every hosted data key of the mock is free (no purchase): the free quota is the limit.
        free_data_key_limit: hsm.data_key_limit(),
        data_key_used_count: hsm.data_key_count(scope)?,
        exclusive_hsm_list: [],
        is_allowed_sync: false,
        sync_task_list: [],
    })
}

pub(super) fn regions(hsm: &Hsm) -> Result<impl Serialize, CallError> {
    Ok(RegionsResp {
        regions: hsm.regions().to_vec(),
    })
}

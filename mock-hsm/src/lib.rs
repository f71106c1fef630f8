//! An offline Tencent Cloud KMS (skeleton).

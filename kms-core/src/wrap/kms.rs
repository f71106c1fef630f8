//! Wrapping through a KMS CMK.

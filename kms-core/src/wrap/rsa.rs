//! RSA-2048 OAEP-SHA256 wrapping with local keys.

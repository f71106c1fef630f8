//! SM2 public-key encryption wrapping with local keys.

//! Which backend [`Sm4Gcm::new`](crate::Sm4Gcm::new) may use: the fastest the CPU has, but the
//! table-based [`Backend::Soft`] (not constant-time) only when the user opted in with
//! [`ALLOW_TABLE_ENV`]. Both settings are read once per process, here and nowhere else.

use crate::gcm::Backend;
use std::fmt;
use std::sync::OnceLock;

/// The one setting that lets SM4 run on the table-based `Soft` backend: `1` allows it, unset or
/// `0` refuses SM4 on a CPU that has no constant-time backend.
pub const ALLOW_TABLE_ENV: &str = "TKMS_SM4_ALLOW_TABLE";

/// Diagnostic setting: forces one backend by its [`Backend::name`] instead of the fastest (tests
/// use `soft` to act as a CPU without AES-NI). It never grants the opt-in by itself.
pub const FORCE_BACKEND_ENV: &str = "TKMS_SM4_BACKEND";

/// SM4 is not available under this process's settings. The message names the setting to change.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refused {
    /// Only the table-based backend is available (or forced) and [`ALLOW_TABLE_ENV`] is not `1`.
    TableBackendNotAllowed,
    /// A setting holds a value this crate does not know.
    BadSetting {
        /// The environment variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// [`FORCE_BACKEND_ENV`] names a backend this CPU lacks.
    ForcedBackendMissing(Backend),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::TableBackendNotAllowed => write!(
                f,
                "SM4 refused: only the table-based SM4 backend is available here (no AES-NI \
                 and PCLMULQDQ, or {FORCE_BACKEND_ENV}=soft), and it is not constant-time: \
                 cache timing can leak key bits. Set {ALLOW_TABLE_ENV}=1 to use it anyway"
            ),
            Refused::BadSetting { name, value } => {
                write!(f, "{name}={value:?} is not a valid setting")?;
                if *name == ALLOW_TABLE_ENV {
                    f.write_str(" (use 1 or 0)")
                } else {
                    let names: Vec<&str> = Backend::ALL.iter().map(|b| b.name()).collect();
                    write!(f, " (use one of {})", names.join(", "))
                }
            }
            Refused::ForcedBackendMissing(b) => write!(
                f,
                "{FORCE_BACKEND_ENV}={} names a backend this CPU lacks",
                b.name()
            ),
        }
    }
}

impl std::error::Error for Refused {}

/// The backend `Sm4Gcm::new` uses in this process, and whether it needed the opt-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selection {
    /// The backend every `Sm4Gcm::new` of this process uses.
    pub backend: Backend,
    /// True when `backend` is table-based and runs only because [`ALLOW_TABLE_ENV`] is `1`:
    /// front ends must then warn (docs/sm4.md, "Constant-time guarantee").
    pub opted_in: bool,
}

/// The backend `Sm4Gcm::new` uses in this process, or why SM4 is refused; the environment is
/// read on the first call only.
pub fn selection() -> Result<Selection, Refused> {
    static SELECTION: OnceLock<Result<Selection, Refused>> = OnceLock::new();
    SELECTION
        .get_or_init(|| {
            let allow = std::env::var(ALLOW_TABLE_ENV).ok();
            let force = std::env::var(FORCE_BACKEND_ENV).ok();
            select(allow.as_deref(), force.as_deref(), Backend::available)
        })
        .clone()
}

/// The rule itself, on given setting values and CPU, so it can be tested without the process
/// environment.
pub(crate) fn select(
    allow_table: Option<&str>,
    force: Option<&str>,
    available: impl Fn(Backend) -> bool,
) -> Result<Selection, Refused> {
    let allowed = match allow_table {
        None | Some("" | "0") => false,
        Some("1") => true,
        Some(other) => return Err(bad(ALLOW_TABLE_ENV, other)),
    };
    let backend = match force {
        None | Some("") => Backend::ALL
            .into_iter()
            .find(|b| available(*b))
            .unwrap_or(Backend::Soft),
        Some(name) => {
            let forced = Backend::from_name(name).ok_or_else(|| bad(FORCE_BACKEND_ENV, name))?;
            if !available(forced) {
                return Err(Refused::ForcedBackendMissing(forced));
            }
            forced
        }
    };
    if backend.is_constant_time() {
        Ok(Selection {
            backend,
            opted_in: false,
        })
    } else if allowed {
        Ok(Selection {
            backend,
            opted_in: true,
        })
    } else {
        Err(Refused::TableBackendNotAllowed)
    }
}

fn bad(name: &'static str, value: &str) -> Refused {
    Refused::BadSetting {
        name,
        value: value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soft_only(b: Backend) -> bool {
        b == Backend::Soft
    }

    fn all(_: Backend) -> bool {
        true
    }

    #[test]
    fn table_backend_is_refused_without_the_opt_in() {
        for allow in [None, Some(""), Some("0")] {
            assert_eq!(
                select(allow, None, soft_only),
                Err(Refused::TableBackendNotAllowed)
            );
            assert_eq!(
                select(allow, Some("soft"), all),
                Err(Refused::TableBackendNotAllowed),
                "forcing soft is not an opt-in"
            );
        }
        let msg = Refused::TableBackendNotAllowed.to_string();
        assert!(msg.contains("TKMS_SM4_ALLOW_TABLE=1"), "{msg}");
    }

    #[test]
    fn table_backend_runs_with_the_opt_in_and_says_so() {
        let expected = Ok(Selection {
            backend: Backend::Soft,
            opted_in: true,
        });
        assert_eq!(select(Some("1"), None, soft_only), expected);
        assert_eq!(select(Some("1"), Some("soft"), all), expected);
    }

    #[test]
    fn constant_time_backends_need_no_opt_in() {
        for allow in [None, Some("1")] {
            assert_eq!(
                select(allow, None, all),
                Ok(Selection {
                    backend: Backend::Gfni512,
                    opted_in: false
                })
            );
            assert_eq!(
                select(allow, None, |b| matches!(b, Backend::AesNi | Backend::Soft)),
                Ok(Selection {
                    backend: Backend::AesNi,
                    opted_in: false
                })
            );
        }
    }

    #[test]
    fn bad_settings_are_refused_by_name() {
        let err = select(Some("yes"), None, all).unwrap_err();
        assert_eq!(
            err.to_string(),
            "TKMS_SM4_ALLOW_TABLE=\"yes\" is not a valid setting (use 1 or 0)"
        );
        let err = select(None, Some("sse"), all).unwrap_err();
        assert_eq!(
            err.to_string(),
            "TKMS_SM4_BACKEND=\"sse\" is not a valid setting \
             (use one of gfni512, gfni256, vaes-avx2, aesni, soft)"
        );
        assert_eq!(
            select(None, Some("gfni512"), soft_only),
            Err(Refused::ForcedBackendMissing(Backend::Gfni512))
        );
    }

    #[test]
    fn names_round_trip() {
        for b in Backend::ALL {
            assert_eq!(Backend::from_name(b.name()), Some(b));
            assert_eq!(b.is_constant_time(), b != Backend::Soft);
        }
    }
}

//! Why the TLS handshake with the KMS endpoint failed, in words a user can act on: the
//! certificate's issuer is not trusted, it names another host, or it has expired
//! (docs/cli.md, "HTTPS endpoints and private CAs").

use std::error::Error;

use rustls::CertificateError;

/// How every certificate refusal's message starts (the CLI keys its hint on it).
pub const TLS_CERTIFICATE_REFUSED: &str = "the TLS certificate of the KMS endpoint was refused";

/// What is wrong with the server's certificate, if that is why `err` happened.
pub(crate) fn certificate_problem(err: &(dyn Error + 'static)) -> Option<String> {
    match find_rustls(err)? {
        rustls::Error::InvalidCertificate(problem) => Some(describe(problem)),
        _ => None,
    }
}

/// The rustls error behind `err`, through sources and the io::Errors hyper nests (whose
/// `source` skips the error they wrap).
fn find_rustls<'a>(err: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(found) = err.downcast_ref::<rustls::Error>() {
        return Some(found);
    }
    if let Some(inner) = err
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        && let Some(found) = find_rustls(inner)
    {
        return Some(found);
    }
    err.source().and_then(find_rustls)
}

fn describe(problem: &CertificateError) -> String {
    match problem {
        CertificateError::UnknownIssuer => {
            "its issuer is unknown (not a trusted certificate authority)".to_owned()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "it was issued for another host name".to_owned()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "it has expired".to_owned()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "it is not valid yet (check the clock)".to_owned()
        }
        other => format!("it is invalid: {other:?}"),
    }
}

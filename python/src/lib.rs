//! `tkms._native`, the one native module of the Python package `tkms` (docs/python.md): the
//! command line, the envelope operations and the test server, each a thin call into the Rust
//! crates with the GIL released while Rust works. The Python API around it lives in `tkms/`.

use std::path::PathBuf;
use std::sync::Mutex;

use kms_core::Suite;
use kms_core::http::Credentials;
use mock_hsm::server::{ServiceConfig, TestServer};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tkms::library::{DecryptOptions, EncryptOptions, KeySource, KmsTarget};
use zeroize::Zeroizing;

/// Runs the `tkms` command line (`argv[0]` first) and returns its exit code. Output goes to
/// the process's standard streams, as the binary's does.
#[pyfunction]
fn run(py: Python<'_>, argv: Vec<String>) -> u8 {
    py.detach(move || tkms::run(argv))
}

/// A recipient or identity as Python passes it: PEM/DER bytes or a path.
#[derive(FromPyObject)]
enum KeyArg {
    Bytes(Vec<u8>),
    Path(PathBuf),
}

impl From<KeyArg> for KeySource {
    fn from(key: KeyArg) -> Self {
        match key {
            KeyArg::Bytes(bytes) => KeySource::Bytes(Zeroizing::new(bytes)),
            KeyArg::Path(path) => KeySource::Path(path),
        }
    }
}

fn target(
    endpoint: Option<String>,
    credentials: Option<(String, String)>,
    data_dir: Option<PathBuf>,
) -> KmsTarget {
    KmsTarget {
        endpoint,
        credentials: credentials
            .map(|(id, key)| Credentials::new(id, Zeroizing::new(key).as_str())),
        data_dir,
    }
}

fn encrypt_options(
    key: Option<String>,
    context: Vec<(String, String)>,
    suite: Option<String>,
    recipients: Vec<KeyArg>,
) -> PyResult<EncryptOptions> {
    let suite = suite
        .map(|name| {
            Suite::from_name(&name).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "unknown suite {name:?}: expected \"aes256gcm\" or \"sm4gcm\""
                ))
            })
        })
        .transpose()?;
    Ok(EncryptOptions {
        key,
        context,
        suite,
        recipients: recipients.into_iter().map(KeySource::from).collect(),
    })
}

/// The Python exception for `err`: the class in `tkms._errors` for its exit code, with the
/// message, hint, exit code, and the Tencent code and RequestId of a KMS refusal.
fn to_py_err(py: Python<'_>, err: &tkms::Error) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let errors = py.import("tkms._errors")?;
        let class = errors.getattr("error_class")?.call1((err.exit_code(),))?;
        let exception = class.call1((err.message(),))?;
        exception.setattr("exit_code", err.exit_code())?;
        exception.setattr("hint", err.hint())?;
        exception.setattr("code", err.kms_code())?;
        exception.setattr("request_id", err.request_id())?;
        Ok(PyErr::from_value(exception))
    };
    build().unwrap_or_else(|e| e)
}

#[pyfunction]
#[pyo3(signature = (data, key, context, suite, recipients, endpoint, credentials, data_dir))]
#[expect(
    clippy::too_many_arguments,
    reason = "the keyword arguments of tkms.encrypt"
)]
fn encrypt<'py>(
    py: Python<'py>,
    data: &[u8],
    key: Option<String>,
    context: Vec<(String, String)>,
    suite: Option<String>,
    recipients: Vec<KeyArg>,
    endpoint: Option<String>,
    credentials: Option<(String, String)>,
    data_dir: Option<PathBuf>,
) -> PyResult<Bound<'py, PyBytes>> {
    let options = encrypt_options(key, context, suite, recipients)?;
    let kms = target(endpoint, credentials, data_dir);
    let envelope = py
        .detach(|| tkms::library::encrypt(data, options, &kms))
        .map_err(|e| to_py_err(py, &e))?;
    Ok(PyBytes::new(py, &envelope))
}

#[pyfunction]
#[pyo3(signature = (src, dst, force, key, context, suite, recipients, endpoint, credentials, data_dir))]
#[expect(
    clippy::too_many_arguments,
    reason = "the keyword arguments of tkms.encrypt_file"
)]
fn encrypt_file(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    force: bool,
    key: Option<String>,
    context: Vec<(String, String)>,
    suite: Option<String>,
    recipients: Vec<KeyArg>,
    endpoint: Option<String>,
    credentials: Option<(String, String)>,
    data_dir: Option<PathBuf>,
) -> PyResult<()> {
    let options = encrypt_options(key, context, suite, recipients)?;
    let kms = target(endpoint, credentials, data_dir);
    py.detach(|| tkms::library::encrypt_file(&src, &dst, force, options, &kms))
        .map_err(|e| to_py_err(py, &e))
}

fn decrypt_options(context: Vec<(String, String)>, identities: Vec<KeyArg>) -> DecryptOptions {
    DecryptOptions {
        context,
        identities: identities.into_iter().map(KeySource::from).collect(),
    }
}

#[pyfunction]
#[pyo3(signature = (data, context, identities, endpoint, credentials, data_dir))]
fn decrypt<'py>(
    py: Python<'py>,
    data: &[u8],
    context: Vec<(String, String)>,
    identities: Vec<KeyArg>,
    endpoint: Option<String>,
    credentials: Option<(String, String)>,
    data_dir: Option<PathBuf>,
) -> PyResult<Bound<'py, PyBytes>> {
    let options = decrypt_options(context, identities);
    let kms = target(endpoint, credentials, data_dir);
    let plaintext = py
        .detach(|| tkms::library::decrypt(data, options, &kms))
        .map_err(|e| to_py_err(py, &e))?;
    Ok(PyBytes::new(py, &plaintext))
}

#[pyfunction]
#[pyo3(signature = (src, dst, force, context, identities, endpoint, credentials, data_dir))]
#[expect(
    clippy::too_many_arguments,
    reason = "the keyword arguments of tkms.decrypt_file"
)]
fn decrypt_file(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    force: bool,
    context: Vec<(String, String)>,
    identities: Vec<KeyArg>,
    endpoint: Option<String>,
    credentials: Option<(String, String)>,
    data_dir: Option<PathBuf>,
) -> PyResult<()> {
    let options = decrypt_options(context, identities);
    let kms = target(endpoint, credentials, data_dir);
    py.detach(|| tkms::library::decrypt_file(&src, &dst, force, options, &kms))
        .map_err(|e| to_py_err(py, &e))
}

/// The header as `tkms inspect --output json` prints it (a JSON text).
#[pyfunction]
fn inspect(py: Python<'_>, data: &[u8]) -> PyResult<String> {
    py.detach(|| tkms::library::inspect(data))
        .map(|header| header.to_string())
        .map_err(|e| to_py_err(py, &e))
}

/// [`inspect`] of a file.
#[pyfunction]
fn inspect_file(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    py.detach(|| tkms::library::inspect_file(&path))
        .map(|header| header.to_string())
        .map_err(|e| to_py_err(py, &e))
}

/// A running `tkms serve --test-controls` on a free loopback port, on Rust threads of its own.
#[pyclass(frozen)]
struct Server {
    #[pyo3(get)]
    endpoint: String,
    #[pyo3(get)]
    host: String,
    #[pyo3(get)]
    secret_id: String,
    #[pyo3(get)]
    secret_key: String,
    #[pyo3(get)]
    region: String,
    running: Mutex<Option<TestServer>>,
}

#[pymethods]
impl Server {
    #[new]
    #[pyo3(signature = (data_dir, seeds, config, region, regions))]
    fn start(
        py: Python<'_>,
        data_dir: Option<PathBuf>,
        seeds: Vec<PathBuf>,
        config: Option<PathBuf>,
        region: String,
        regions: Vec<String>,
    ) -> PyResult<Self> {
        let service = ServiceConfig {
            data_dir,
            region,
            config,
            regions,
            ..ServiceConfig::default()
        };
        let server = py
            .detach(|| TestServer::start_service(&service, &seeds))
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start the tkms server: {e}")))?;
        Ok(Self {
            endpoint: server.endpoint().to_owned(),
            host: server.addr().to_string(),
            secret_id: server.secret_id().to_owned(),
            secret_key: server.secret_key().to_owned(),
            region: server.region().to_owned(),
            running: Mutex::new(Some(server)),
        })
    }

    /// Stops serving, joins the server's threads and releases the port; idempotent.
    fn stop(&self, py: Python<'_>) {
        let server = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        py.detach(move || drop(server));
    }

    /// Whether the server still runs.
    #[getter]
    fn running(&self) -> bool {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some()
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(encrypt, m)?)?;
    m.add_function(wrap_pyfunction!(encrypt_file, m)?)?;
    m.add_function(wrap_pyfunction!(decrypt, m)?)?;
    m.add_function(wrap_pyfunction!(decrypt_file, m)?)?;
    m.add_function(wrap_pyfunction!(inspect, m)?)?;
    m.add_function(wrap_pyfunction!(inspect_file, m)?)?;
    m.add_class::<Server>()?;
    Ok(())
}

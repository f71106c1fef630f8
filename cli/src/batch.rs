//! `tkms encrypt` and `tkms decrypt` of several files in one invocation (docs/cli.md).
//!
//! The key is resolved once and one data-key cache serves every file, so N files cost one
//! GenerateDataKey (encrypt) or one Decrypt (decrypt) while the cache's default limits hold
//! (docs/caching.md). Each file is all-or-nothing (a temporary file renamed on success); the
//! first failure stops the run with an error naming that file, and the files before it are
//! complete.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use kms_core::cache::{CacheLimits, DataKeyCache};

use crate::args::{DecryptArgs, EncryptArgs, KmsArgs};
use crate::crypt::{Opener, Sealer, encrypt_request, identities};
use crate::error::{CliError, CliResult, Exit};
use crate::io::{Sink, Source, open_input, progress};

/// The suffix `tkms encrypt` adds and `tkms decrypt` removes.
const SUFFIX: &str = ".tkms";

/// Pairs each input with its output, refusing before any work what cannot be done: `-o`,
/// standard input, a missing --out-dir, a name that cannot be made, two inputs writing one
/// output.
fn plan(
    inputs: &[PathBuf],
    out: Option<&PathBuf>,
    out_dir: Option<&Path>,
    output_name: impl Fn(&Path) -> CliResult<OsString>,
) -> CliResult<Vec<(PathBuf, PathBuf)>> {
    if out.is_some() {
        return Err(
            CliError::usage("-o names one output, but several files were given").with_hint(
                "use --out-dir DIR, or no option to write each output next to its input",
            ),
        );
    }
    if inputs.is_empty() {
        return Err(CliError::usage("--out-dir needs at least one FILE"));
    }
    if let Some(dir) = out_dir.filter(|d| !d.is_dir()) {
        return Err(CliError::new(
            Exit::Io,
            format!("--out-dir `{}` is not a directory", dir.display()),
        )
        .with_hint("create it first"));
    }
    let mut seen = HashSet::new();
    let mut pairs = Vec::with_capacity(inputs.len());
    for input in inputs {
        if input == Path::new("-") {
            return Err(CliError::usage(
                "standard input (`-`) cannot be one of several files",
            ));
        }
        let name = output_name(input)?;
        let output = match out_dir {
            Some(dir) => dir.join(&name),
            None => input.with_file_name(&name),
        };
        if !seen.insert(output.clone()) {
            return Err(CliError::usage(format!(
                "two inputs would both write `{}`",
                output.display()
            )));
        }
        pairs.push((input.clone(), output));
    }
    Ok(pairs)
}

fn file_name(input: &Path) -> CliResult<&std::ffi::OsStr> {
    input
        .file_name()
        .ok_or_else(|| CliError::usage(format!("`{}` does not name a file", input.display())))
}

/// The cache for one invocation: the documented defaults (at most 60 s and 1,000 files per
/// data key).
fn cache() -> CliResult<DataKeyCache> {
    DataKeyCache::new(CacheLimits::default())
        .map_err(|e| CliError::new(Exit::General, format!("cannot set up the key cache: {e}")))
}

/// `tkms encrypt FILE FILE...`: each FILE to FILE.tkms (or DIR/NAME.tkms).
pub(crate) fn encrypt_files(args: &EncryptArgs, kms_args: &KmsArgs) -> CliResult<()> {
    let pairs = plan(
        &args.inputs,
        args.output.out.as_ref(),
        args.out_dir.as_deref(),
        |input| {
            let mut name = file_name(input)?.to_owned();
            name.push(SUFFIX);
            Ok(name)
        },
    )?;
    let sealer = Sealer::new(encrypt_request(args)?, kms_args)?;
    let cache = cache()?;
    each_file(
        &pairs,
        args.output.force,
        "encrypting",
        |source, out, bar| sealer.seal(Some(&cache), source, out, bar),
    )
}

/// `tkms decrypt NAME.tkms...`: each to NAME (or DIR/NAME).
pub(crate) fn decrypt_files(args: &DecryptArgs, kms_args: &KmsArgs) -> CliResult<()> {
    let pairs = plan(
        &args.inputs,
        args.output.out.as_ref(),
        args.out_dir.as_deref(),
        |input| {
            let name = file_name(input)?;
            match name.to_str().and_then(|n| n.strip_suffix(SUFFIX)) {
                Some(stem) if !stem.is_empty() => Ok(stem.into()),
                _ => Err(CliError::usage(format!(
                    "`{}` does not end in {SUFFIX}, so its output cannot be named",
                    input.display()
                ))
                .with_hint("decrypt it on its own with -o OUT")),
            }
        },
    )?;
    let mut opener = Opener::new(identities(args)?, &args.context, kms_args);
    let cache = cache()?;
    each_file(
        &pairs,
        args.output.force,
        "decrypting",
        |source, out, bar| opener.open(Some(&cache), source, out, bar),
    )
}

/// Runs `work` from each input into its output, committing each output before the next file
/// starts; stops at the first failure.
fn each_file(
    pairs: &[(PathBuf, PathBuf)],
    force: bool,
    verb: &str,
    mut work: impl FnMut(Source<'_>, (Sink, Option<&Path>), &ProgressBar) -> CliResult<Sink>,
) -> CliResult<()> {
    for (input_path, out_path) in pairs {
        let mut input = open_input(Some(input_path))?;
        let sink = Sink::open(Some(out_path), force)?;
        let bar = progress(input.len, verb);
        let sink = work(input.source(Some(input_path)), (sink, Some(out_path)), &bar)?;
        bar.finish_and_clear();
        sink.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plus_tkms(input: &Path) -> CliResult<OsString> {
        let mut name = file_name(input)?.to_owned();
        name.push(SUFFIX);
        Ok(name)
    }

    #[test]
    fn plans_refuse_what_cannot_be_done_before_any_work() {
        let files = [PathBuf::from("a/x"), PathBuf::from("b/y")];
        let pairs = plan(&files, None, None, plus_tkms).unwrap();
        assert_eq!(pairs[0].1, PathBuf::from("a/x.tkms"));
        assert_eq!(pairs[1].1, PathBuf::from("b/y.tkms"));
        let out = PathBuf::from("o");
        assert_eq!(
            plan(&files, Some(&out), None, plus_tkms)
                .unwrap_err()
                .exit(),
            Exit::Usage
        );
        let same = [PathBuf::from("a/x"), PathBuf::from("b/x")];
        let dir = std::env::temp_dir();
        let err = plan(&same, None, Some(&dir), plus_tkms).unwrap_err();
        assert!(err.to_string().contains("both write"), "{err}");
        let stdin = [PathBuf::from("a"), PathBuf::from("-")];
        assert_eq!(
            plan(&stdin, None, None, plus_tkms).unwrap_err().exit(),
            Exit::Usage
        );
        let missing = Path::new("/nonexistent/tkms-out-dir");
        assert_eq!(
            plan(&files, None, Some(missing), plus_tkms)
                .unwrap_err()
                .exit(),
            Exit::Io
        );
    }
}

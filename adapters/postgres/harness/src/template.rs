//! `initdb`'s output, made once per process and copied for every cluster: `initdb` bootstraps a
//! catalog with a second or more of CPU, a copy takes milliseconds. Every cluster is initialised
//! with the same options, and a cluster's own settings go into its copy's `postgresql.conf`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::cluster::{Cluster, SUPERUSER, base_dir};
use crate::error::Error;
use crate::process::{self, ExitHook};

/// The template's data directory, and what removes it when the process exits.
#[derive(Debug)]
struct Template {
    data: PathBuf,
    _remover: ExitHook,
}

/// Makes `cluster`'s data directory (which must not exist yet) a copy of the template's, owners
/// and modes kept.
pub(crate) fn copy_to(cluster: &Cluster, data: &Path) -> Result<(), Error> {
    let template = template(cluster)?;
    let mut copy = Command::new("cp");
    copy.arg("-a").arg("--").arg(template).arg(data);
    process::run(copy).map(drop)
}

/// The template, made by the first call in this process (every later call reports its failure).
fn template(cluster: &Cluster) -> Result<&'static Path, Error> {
    static TEMPLATE: OnceLock<Result<Template, String>> = OnceLock::new();
    let template = TEMPLATE.get_or_init(|| make(cluster).map_err(|e| e.to_string()));
    match template {
        Ok(template) => Ok(&template.data),
        Err(message) => Err(Error::Shared {
            message: format!("initdb of the template cluster: {message}"),
        }),
    }
}

/// Runs `initdb` into a new directory that an exit hook removes when the process exits, however
/// it exits.
fn make(cluster: &Cluster) -> Result<Template, Error> {
    let prefix = format!("leasehold-pg-template-{}-", std::process::id());
    let dir = tempfile::Builder::new()
        .prefix(&prefix)
        .tempdir_in(base_dir(&cluster.run_as))
        .map_err(Error::io("create a temporary directory"))?;
    cluster.run_as.own(dir.path())?;
    let dir = dir.keep();
    let args = [OsStr::new("-rf"), OsStr::new("--"), dir.as_os_str()];
    let remover = ExitHook::arm(Path::new("rm"), &args)?;
    let data = dir.join("data");
    let mut initdb = cluster.run_as.command(&cluster.bins.program("initdb"));
    initdb.current_dir(&dir).arg("-D").arg(&data);
    initdb.args([
        "-U",
        SUPERUSER,
        "--auth=trust",
        "--no-sync",
        "-E",
        "UTF8",
        "--locale=C",
    ]);
    process::run(initdb)?;
    Ok(Template {
        data,
        _remover: remover,
    })
}

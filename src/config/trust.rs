//! Records of project configs the user has reviewed and trusted.
//!
//! A record lives in `$XDG_DATA_HOME/fence/trusted/` and holds the exact content of the
//! project file and of every file it extends. A project config applies only while all of
//! them still match byte for byte.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::host_env::HostEnv;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Record {
    path: PathBuf,
    files: Vec<TrustedFile>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct TrustedFile {
    path: PathBuf,
    content: String,
}

fn store_dir(host: &HostEnv) -> Result<PathBuf> {
    host.data_home
        .as_ref()
        .map(|d| d.join("fence").join("trusted"))
        .ok_or_else(|| {
            Error::Config(
                "cannot locate the trust store: neither $XDG_DATA_HOME nor $HOME is set".into(),
            )
        })
}

/// FNV-1a: a stable file name for a path (the record itself stores the full path).
fn record_name(path: &Path) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in path.as_os_str().as_encoded_bytes() {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}.json")
}

fn record_path(host: &HostEnv, path: &Path) -> Result<PathBuf> {
    Ok(store_dir(host)?.join(record_name(path)))
}

fn read_record(host: &HostEnv, path: &Path) -> Option<Record> {
    let text = std::fs::read_to_string(record_path(host, path).ok()?).ok()?;
    serde_json::from_str::<Record>(&text)
        .ok()
        .filter(|r| r.path == path)
}

/// Whether a record exists for `path` (trusted once, possibly changed since).
pub fn has_record(host: &HostEnv, path: &Path) -> bool {
    read_record(host, path).is_some()
}

/// Whether `path` was trusted with exactly these files and contents.
pub fn is_trusted(host: &HostEnv, path: &Path, files: &[(PathBuf, String)]) -> Result<bool> {
    Ok(read_record(host, path).is_some_and(|r| {
        r.files.len() == files.len()
            && r.files
                .iter()
                .zip(files)
                .all(|(t, (p, c))| &t.path == p && &t.content == c)
    }))
}

/// Records `files` as the trusted content of `path`.
pub fn record(host: &HostEnv, path: &Path, files: &[(PathBuf, String)]) -> Result<PathBuf> {
    let dir = store_dir(host)?;
    create_private_dir(&dir)?;
    let record = Record {
        path: path.to_path_buf(),
        files: files
            .iter()
            .map(|(p, c)| TrustedFile {
                path: p.clone(),
                content: c.clone(),
            })
            .collect(),
    };
    let target = dir.join(record_name(path));
    let tmp = dir.join(format!(".{}.{}", record_name(path), std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(
            serde_json::to_string_pretty(&record)
                .expect("record serializes")
                .as_bytes(),
        )?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(format!("cannot write trust record {}", target.display()), e)
    })?;
    Ok(target)
}

/// Removes the record for `path`; false if there was none.
pub fn revoke(host: &HostEnv, path: &Path) -> Result<bool> {
    if read_record(host, path).is_none() {
        return Ok(false);
    }
    let file = record_path(host, path)?;
    std::fs::remove_file(&file)
        .map(|()| true)
        .map_err(|e| Error::io(format!("cannot remove {}", file.display()), e))
}

/// Every trusted project config, with whether all its files still match.
pub fn list(host: &HostEnv) -> Result<Vec<(PathBuf, bool)>> {
    let dir = store_dir(host)?;
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("cannot list {}", dir.display()), e)),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let Ok(record) = serde_json::from_str::<Record>(&text) else {
            continue;
        };
        let current = record
            .files
            .iter()
            .all(|f| std::fs::read_to_string(&f.path).is_ok_and(|c| c == f.content));
        out.push((record.path, current));
    }
    out.sort();
    Ok(out)
}

fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_names_are_stable() {
        assert_eq!(
            record_name(Path::new("/a/fence.json")),
            record_name(Path::new("/a/fence.json"))
        );
        assert_ne!(
            record_name(Path::new("/a/fence.json")),
            record_name(Path::new("/b/fence.json"))
        );
        assert_eq!(record_name(Path::new("")), "cbf29ce484222325.json");
    }

    #[test]
    fn trust_round_trip() {
        let data = std::env::temp_dir().join(format!("fence-trust-test-{}", std::process::id()));
        let host = HostEnv::new("/".into(), None, None, Some(data.clone().into()));
        let path = Path::new("/p/fence.json");
        let files = vec![(path.to_path_buf(), "{}".to_string())];
        assert!(!is_trusted(&host, path, &files).unwrap());
        record(&host, path, &files).unwrap();
        assert!(is_trusted(&host, path, &files).unwrap());
        let changed = vec![(path.to_path_buf(), "{ }".to_string())];
        assert!(!is_trusted(&host, path, &changed).unwrap());
        assert!(has_record(&host, path));
        assert!(revoke(&host, path).unwrap());
        assert!(!revoke(&host, path).unwrap());
        std::fs::remove_dir_all(&data).unwrap();
    }
}

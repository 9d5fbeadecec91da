//! Records of project configs the user has reviewed and trusted.
//!
//! A record lives in `$XDG_DATA_HOME/fence/trusted/` and holds, for the project file and
//! every file it extends, the exact content and the file's identity: device, inode and
//! owner. A project config applies only while all of them still match, so a record copied
//! to another path, or kept while the file is replaced by another one (even with the same
//! content), does not apply.
//!
//! The store is read only from a directory the user owns that others cannot write, and
//! only records that are regular files owned by the user and not writable by others count:
//! anything else there was not written by `fence trust`.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::read::{self, ConfigFile};
use crate::error::{Error, Result};
use crate::host_env::HostEnv;
use crate::output;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Record {
    path: PathBuf,
    files: Vec<TrustedFile>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct TrustedFile {
    path: PathBuf,
    content: String,
    dev: u64,
    ino: u64,
    uid: u32,
}

/// Whether a project config may apply as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustState {
    Trusted,
    /// A record exists but the files differ from it: how, and the files as trusted (their
    /// recorded content), to tell what the change grants.
    Changed {
        why: String,
        trusted: Vec<ConfigFile>,
    },
    Untrusted,
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

/// The store directory, if it exists; an error if others could have written to it or
/// to its parent (`fence/`, where a rename could swap it).
fn checked_store_dir(host: &HostEnv) -> Result<Option<PathBuf>> {
    let dir = store_dir(host)?;
    for d in [dir.parent().unwrap_or(&dir), &dir] {
        match std::fs::symlink_metadata(d) {
            Ok(meta) => check_store_dir(d, &meta)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::io(
                    format!("cannot read the trust store {}", output::path(d)),
                    e,
                ));
            }
        }
    }
    Ok(Some(dir))
}

fn check_store_dir(dir: &Path, meta: &std::fs::Metadata) -> Result<()> {
    let uid = read::current_uid();
    let problem = if !meta.is_dir() {
        Some("it is not a directory".to_string())
    } else if meta.uid() != uid {
        Some(format!(
            "it is owned by uid {}, not by you (uid {uid})",
            meta.uid()
        ))
    } else if meta.mode() & 0o022 != 0 {
        Some(format!(
            "it is writable by others (mode {:o})",
            meta.mode() & 0o7777
        ))
    } else {
        None
    };
    match problem {
        Some(why) => Err(Error::Config(format!(
            "trust store {} is not safe to use: {why}; fix it (chmod 700, owned by you) or \
             remove it and trust your project configs again",
            output::path(dir)
        ))),
        None => Ok(()),
    }
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

/// Reads one record file: a regular file (not a symlink) owned by the user, not writable
/// by others, bounded in size, well-formed. `Err` says why it does not count.
fn read_record_file(file: &Path) -> std::result::Result<Record, String> {
    let read = read::read_bounded_nofollow(file, "trust record").map_err(|e| e.to_string())?;
    let uid = read::current_uid();
    if read.meta.uid() != uid {
        return Err(format!(
            "owned by uid {}, not by you (uid {uid})",
            read.meta.uid()
        ));
    }
    if read.meta.mode() & 0o022 != 0 {
        return Err(format!(
            "writable by others (mode {:o})",
            read.meta.mode() & 0o7777
        ));
    }
    serde_json::from_str::<Record>(&read.text)
        .map_err(|e| format!("not a record of this fence version ({e})"))
}

fn read_record(host: &HostEnv, path: &Path) -> Result<Option<Record>> {
    let Some(dir) = checked_store_dir(host)? else {
        return Ok(None);
    };
    Ok(read_record_file(&dir.join(record_name(path)))
        .ok()
        .filter(|r| r.path == path))
}

/// How `files` (the project file first, then what it extends) compare with the record.
fn compare(record: &Record, files: &[ConfigFile]) -> TrustState {
    let changed = |why: String| TrustState::Changed {
        why,
        trusted: record
            .files
            .iter()
            .map(|t| ConfigFile {
                path: t.path.clone(),
                text: t.content.clone(),
                dev: t.dev,
                ino: t.ino,
                uid: t.uid,
            })
            .collect(),
    };
    if record.files.len() != files.len()
        || record
            .files
            .iter()
            .zip(files)
            .any(|(t, f)| t.path != f.path)
    {
        return changed("the files it extends changed".into());
    }
    for (t, f) in record.files.iter().zip(files) {
        let shown = output::path(&f.path);
        if t.content != f.text {
            return changed(format!("{shown} changed"));
        }
        if (t.dev, t.ino, t.uid) != (f.dev, f.ino, f.uid) {
            return changed(format!(
                "{shown} is another file now (a different inode or owner), though with the \
                 same content"
            ));
        }
    }
    TrustState::Trusted
}

/// Whether `path` was trusted with exactly these files, contents and identities.
pub fn check(host: &HostEnv, path: &Path, files: &[ConfigFile]) -> Result<TrustState> {
    Ok(match read_record(host, path)? {
        None => TrustState::Untrusted,
        Some(record) => compare(&record, files),
    })
}

/// Records `files` as the trusted content of `path`.
pub fn record(host: &HostEnv, path: &Path, files: &[ConfigFile]) -> Result<PathBuf> {
    let dir = store_dir(host)?;
    create_private_dir(&dir)?;
    checked_store_dir(host)?;
    let record = Record {
        path: path.to_path_buf(),
        files: files
            .iter()
            .map(|f| TrustedFile {
                path: f.path.clone(),
                content: f.text.clone(),
                dev: f.dev,
                ino: f.ino,
                uid: f.uid,
            })
            .collect(),
    };
    let target = dir.join(record_name(path));
    let tmp = dir.join(format!(".{}.{}", record_name(path), std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
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
        Error::io(
            format!("cannot write trust record {}", output::path(&target)),
            e,
        )
    })?;
    Ok(target)
}

/// Removes the record for `path`; false if there was none.
pub fn revoke(host: &HostEnv, path: &Path) -> Result<bool> {
    let Some(dir) = checked_store_dir(host)? else {
        return Ok(false);
    };
    let file = dir.join(record_name(path));
    match std::fs::symlink_metadata(&file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        _ => {}
    }
    // A record for another path under this name (a hash collision) is left alone.
    if read_record_file(&file).is_ok_and(|r| r.path != path) {
        return Ok(false);
    }
    std::fs::remove_file(&file)
        .map(|()| true)
        .map_err(|e| Error::io(format!("cannot remove {}", output::path(&file)), e))
}

/// One entry of `fence trust --list`.
#[derive(Debug, PartialEq, Eq)]
pub enum Listed {
    /// A record and whether all its files still match it.
    Record { path: PathBuf, current: bool },
    /// A file in the store that does not count, and why.
    Ignored { file: PathBuf, why: String },
}

/// Every trusted project config, with whether all its files still match, and the files
/// in the store that were ignored.
pub fn list(host: &HostEnv) -> Result<Vec<Listed>> {
    let Some(dir) = checked_store_dir(host)? else {
        return Ok(Vec::new());
    };
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| Error::io(format!("cannot list {}", output::path(&dir)), e))?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let file = entry.path();
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let record = match read_record_file(&file) {
            Ok(r) => r,
            Err(why) => {
                out.push(Listed::Ignored { file, why });
                continue;
            }
        };
        let files: Option<Vec<ConfigFile>> = record
            .files
            .iter()
            .map(|f| {
                read::read_bounded(&f.path, "config")
                    .ok()
                    .map(|r| ConfigFile::new(f.path.clone(), r))
            })
            .collect();
        let current = files.is_some_and(|files| compare(&record, &files) == TrustState::Trusted);
        out.push(Listed::Record {
            path: record.path,
            current,
        });
    }
    out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    Ok(out)
}

fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(format!("cannot create {}", output::path(dir)), e))
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

    fn file(path: &str, text: &str, ino: u64) -> ConfigFile {
        ConfigFile {
            path: path.into(),
            text: text.into(),
            dev: 1,
            ino,
            uid: read::current_uid(),
        }
    }

    #[test]
    fn trust_round_trip_binds_content_and_identity() {
        let data = std::env::temp_dir().join(format!("fence-trust-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let host = HostEnv::new("/".into(), None, None, Some(data.clone().into()));
        let path = Path::new("/p/fence.json");
        let files = vec![file("/p/fence.json", "{}", 7)];
        assert_eq!(check(&host, path, &files).unwrap(), TrustState::Untrusted);
        record(&host, path, &files).unwrap();
        assert_eq!(check(&host, path, &files).unwrap(), TrustState::Trusted);
        let cases = [
            (vec![file("/p/fence.json", "{ }", 7)], "changed"),
            (vec![file("/p/fence.json", "{}", 8)], "another file"),
            (
                vec![ConfigFile {
                    uid: 12345,
                    ..file("/p/fence.json", "{}", 7)
                }],
                "another file",
            ),
            (
                vec![file("/p/fence.json", "{}", 7), file("/p/x.json", "{}", 9)],
                "extends",
            ),
        ];
        for (other, needle) in cases {
            match check(&host, path, &other).unwrap() {
                TrustState::Changed { why, trusted } => {
                    assert!(why.contains(needle), "{why}");
                    // The files as trusted come back, to compare what they grant.
                    assert_eq!(trusted, files);
                }
                s => panic!("{other:?}: {s:?}"),
            }
        }
        // The same record does not apply to another path.
        let elsewhere = Path::new("/q/fence.json");
        let moved = vec![file("/q/fence.json", "{}", 7)];
        assert_eq!(
            check(&host, elsewhere, &moved).unwrap(),
            TrustState::Untrusted
        );
        let store = data.join("fence/trusted");
        std::fs::copy(
            store.join(record_name(path)),
            store.join(record_name(elsewhere)),
        )
        .unwrap();
        assert_eq!(
            check(&host, elsewhere, &moved).unwrap(),
            TrustState::Untrusted
        );

        // Records that are not private regular files do not count; a store others can
        // write is refused.
        use std::os::unix::fs::PermissionsExt;
        let rec = store.join(record_name(path));
        std::fs::set_permissions(&rec, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(check(&host, path, &files).unwrap(), TrustState::Untrusted);
        std::fs::set_permissions(&rec, std::fs::Permissions::from_mode(0o600)).unwrap();
        let real = store.join("real.json");
        std::fs::rename(&rec, &real).unwrap();
        std::os::unix::fs::symlink(&real, &rec).unwrap();
        assert_eq!(check(&host, path, &files).unwrap(), TrustState::Untrusted);
        std::fs::remove_file(&rec).unwrap();
        std::fs::rename(&real, &rec).unwrap();
        assert_eq!(check(&host, path, &files).unwrap(), TrustState::Trusted);
        std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = check(&host, path, &files).unwrap_err().to_string();
        assert!(err.contains("writable by others"), "{err}");
        std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o700)).unwrap();
        let parent = data.join("fence");
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o757)).unwrap();
        let err = check(&host, path, &files).unwrap_err().to_string();
        assert!(err.contains("writable by others"), "{err}");
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(check(&host, path, &files).unwrap(), TrustState::Trusted);

        assert!(revoke(&host, path).unwrap());
        assert!(!revoke(&host, path).unwrap());
        std::fs::remove_dir_all(&data).unwrap();
    }
}

//! The environment the sandboxed command gets: the caller's, minus dynamic-loader
//! variables, plus `FENCE_SANDBOX=1`.

use std::ffi::OsString;

/// Variables whose name starts with one of these are removed: they make the dynamic loader
/// run or trace code of the caller's choosing (LD_PRELOAD, LD_AUDIT, DYLD_INSERT_LIBRARIES…).
const STRIPPED_PREFIXES: [&[u8]; 2] = [b"LD_", b"DYLD_"];

/// Returns the sandbox environment and the names that were removed.
pub fn sandbox_env(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> (Vec<(OsString, OsString)>, Vec<String>) {
    let mut kept = Vec::new();
    let mut removed = Vec::new();
    for (name, value) in vars {
        let bytes = name.as_encoded_bytes();
        if STRIPPED_PREFIXES.iter().any(|p| bytes.starts_with(p)) {
            removed.push(name.to_string_lossy().into_owned());
        } else if name != "FENCE_SANDBOX" {
            kept.push((name, value));
        }
    }
    kept.push(("FENCE_SANDBOX".into(), "1".into()));
    (kept, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_loader_variables_and_marks_the_sandbox() {
        let vars = [
            ("PATH", "/usr/bin"),
            ("LD_PRELOAD", "/x.so"),
            ("LD_LIBRARY_PATH", "/l"),
            ("DYLD_INSERT_LIBRARIES", "y"),
            ("OLD_LD_X", "kept"),
            ("FENCE_SANDBOX", "0"),
        ];
        let (kept, removed) = sandbox_env(vars.iter().map(|(k, v)| (k.into(), v.into())));
        let kept: Vec<(String, String)> = kept
            .into_iter()
            .map(|(k, v)| (k.into_string().unwrap(), v.into_string().unwrap()))
            .collect();
        assert_eq!(
            kept,
            [
                ("PATH", "/usr/bin"),
                ("OLD_LD_X", "kept"),
                ("FENCE_SANDBOX", "1")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(
            removed,
            ["LD_PRELOAD", "LD_LIBRARY_PATH", "DYLD_INSERT_LIBRARIES"]
        );
    }
}

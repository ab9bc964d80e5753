//! What the tests that replay Rust results in the browser twin share
//! (`committer_traces`, `group_messages_match_js`): hex for the JSON lines,
//! a scratch file per process, and one run of `tests/browser/e2ee_traces.mjs`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Lower-case hex, as the JS side reads bytes.
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// `name` in this process's scratch directory for `test` (created).
pub fn scratch(test: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sfu-e2ee-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

/// Removes `file` and, once the other test is done with it too, the directory.
pub fn clean(file: &Path) {
    let _ = std::fs::remove_file(file);
    if let Some(dir) = file.parent() {
        let _ = std::fs::remove_dir(dir);
    }
}

/// Writes `lines` to `path`, one per line.
pub fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").expect("write lines");
}

/// Runs the JS replay on the lines in `file`: (exit success, stdout + stderr).
pub fn replay(file: &Path) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser/e2ee_traces.mjs");
    let out = std::process::Command::new("node")
        .arg(&script)
        .arg(file)
        .output()
        .expect("node (v20) must be on PATH");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

//! Build facts for `busbar --version` and the `busbar_build_info` metric:
//! the git revision, the target triple and the enabled cargo features.
//!
//! The revision comes from `BUSBAR_REVISION` when the builder sets it (a
//! Docker build without `.git`), else from `git rev-parse`, else it is
//! `unknown` (a source tarball).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=BUSBAR_REVISION");
    let revision = match std::env::var("BUSBAR_REVISION") {
        Ok(r) if !r.trim().is_empty() => r.trim().to_string(),
        _ => git_revision().unwrap_or_else(|| "unknown".into()),
    };
    println!("cargo:rustc-env=BUSBAR_REVISION={revision}");
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=BUSBAR_TARGET={target}");
    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_").map(str::to_string))
        .filter(|f| f != "DEFAULT")
        .map(|f| f.to_ascii_lowercase().replace('_', "-"))
        .collect();
    features.sort();
    let features = if features.is_empty() {
        "none".to_string()
    } else {
        features.join(",")
    };
    println!("cargo:rustc-env=BUSBAR_FEATURES={features}");
}

/// The commit checked out, when this is a git work tree with git installed.
/// Asks to be rerun when HEAD moves (a commit, a checkout).
fn git_revision() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
    };
    let revision = git(&["rev-parse", "--short=12", "HEAD"])?;
    let mut watch = vec!["HEAD".to_string(), "packed-refs".to_string()];
    watch.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for path in watch {
        // A path that does not exist would rerun this script at every build.
        match git(&["rev-parse", "--git-path", &path]) {
            Some(p) if std::path::Path::new(&p).exists() => {
                println!("cargo:rerun-if-changed={p}")
            }
            _ => {}
        }
    }
    Some(revision)
}

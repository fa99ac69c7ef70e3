//! What this binary is: version, git revision, target and cargo features,
//! set by `build.rs`. `busbar --version` prints them and the
//! `busbar_build_info` metric carries them as labels.

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// A 12-digit commit id, or `unknown` when built outside a git work tree
/// without `BUSBAR_REVISION`.
pub const REVISION: &str = env!("BUSBAR_REVISION");
pub const TARGET: &str = env!("BUSBAR_TARGET");
/// Enabled cargo features, comma-separated, or `none`.
pub const FEATURES: &str = env!("BUSBAR_FEATURES");

/// `busbar -V`: `0.1.0 (4b87892a1c3d)`.
pub const SHORT: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("BUSBAR_REVISION"),
    ")"
);

/// `busbar --version`: one fact a line after the version.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nrevision: ",
    env!("BUSBAR_REVISION"),
    "\ntarget: ",
    env!("BUSBAR_TARGET"),
    "\nfeatures: ",
    env!("BUSBAR_FEATURES"),
);

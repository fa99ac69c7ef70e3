//! Secret values in the configuration: API keys, passwords, OAuth client
//! secrets and connection parameters. Each is written as a plain string,
//! `{file: PATH}` (a mounted Kubernetes Secret) or `{env: NAME}`, so that
//! the secret itself need not sit in the configuration file.
//!
//! A [`SecretValue`] is what the file says; [`SecretValue::resolve`] reads
//! the file or variable (at start and at every reload, so a rotated
//! Secret is picked up by the next reload) and keeps the value as a
//! [`Secret`]. Neither ever prints a value: `Debug` and `Display` say
//! `<redacted>`, so a secret cannot reach logs, `validate` output or a
//! dead-letter record by way of a formatted configuration.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// A secret's value. `Debug` and `Display` print `<redacted>`; the value
/// is only reachable through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Written in the configuration itself.
    Plain(Secret),
    /// A file's content, trailing newlines trimmed (`kubectl create secret
    /// --from-file` keeps the newline an editor or `echo` adds).
    File(PathBuf),
    /// An environment variable of the busbar process.
    Env(String),
}

/// A secret as configured, with its value once [`resolve`](Self::resolve)d.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretValue {
    source: SecretSource,
    value: Option<Secret>,
}

impl SecretValue {
    pub fn plain(value: impl Into<String>) -> SecretValue {
        let s = Secret::new(value);
        SecretValue {
            source: SecretSource::Plain(s.clone()),
            value: Some(s),
        }
    }

    pub fn source(&self) -> &SecretSource {
        &self.source
    }

    /// The value read by the last [`resolve`](Self::resolve).
    pub fn value(&self) -> Option<&Secret> {
        self.value.as_ref()
    }

    /// Read the file or variable. The error names the file or variable,
    /// never a value.
    pub fn resolve(&mut self) -> Result<(), String> {
        let value = match &self.source {
            SecretSource::Plain(s) => s.clone(),
            SecretSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!("cannot read the secret file `{}`: {e}", path.display())
                })?;
                let trimmed = text.trim_end_matches(['\n', '\r']);
                if trimmed.is_empty() {
                    return Err(format!("the secret file `{}` is empty", path.display()));
                }
                Secret::new(trimmed)
            }
            SecretSource::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Secret::new(v),
                Ok(_) => return Err(format!("the environment variable `{name}` is empty")),
                Err(std::env::VarError::NotPresent) => {
                    return Err(format!("the environment variable `{name}` is not set"))
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(format!("the environment variable `{name}` is not UTF-8"))
                }
            },
        };
        self.value = Some(value);
        Ok(())
    }
}

impl<'de> Deserialize<'de> for SecretValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Plain(String),
            File { file: PathBuf },
            Env { env: String },
        }
        // serde's untagged error names no variant; say what is accepted,
        // and never echo the value (it may be a secret).
        let mut raw = yaml_serde::Value::deserialize(d)?;
        // An unquoted numeric key (`value: 12345`) is its text.
        if let yaml_serde::Value::Number(n) = &raw {
            raw = yaml_serde::Value::String(n.to_string());
        }
        let keys_ok = match &raw {
            yaml_serde::Value::Mapping(m) => m.len() == 1,
            _ => true,
        };
        let parsed = keys_ok
            .then(|| yaml_serde::from_value::<Raw>(raw).ok())
            .flatten();
        match parsed {
            Some(Raw::Plain(s)) => Ok(SecretValue::plain(s)),
            Some(Raw::File { file }) => Ok(SecretValue {
                source: SecretSource::File(file),
                value: None,
            }),
            Some(Raw::Env { env }) => Ok(SecretValue {
                source: SecretSource::Env(env),
                value: None,
            }),
            None => Err(serde::de::Error::custom(
                "expected a secret: a string, `{file: PATH}` or `{env: NAME}`",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<SecretValue, String> {
        yaml_serde::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let mut s = parse("hunter2-distinctive").unwrap();
        s.resolve().unwrap();
        let shown = format!("{s:?} {:?} {}", s.value(), s.value().unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert_eq!(s.value().unwrap().expose(), "hunter2-distinctive");
    }

    #[test]
    fn a_file_is_read_with_its_trailing_newline_trimmed_and_reread() {
        let path = std::env::temp_dir().join(format!("busbar-secret-{}", std::process::id()));
        std::fs::write(&path, "k3y\r\n\n").unwrap();
        let mut s = parse(&format!("{{file: '{}'}}", path.display())).unwrap();
        assert_eq!(s.value(), None);
        s.resolve().unwrap();
        assert_eq!(s.value().unwrap().expose(), "k3y");
        std::fs::write(&path, "rotated").unwrap();
        s.resolve().unwrap();
        assert_eq!(s.value().unwrap().expose(), "rotated");
        std::fs::write(&path, "\n").unwrap();
        let e = s.resolve().unwrap_err();
        assert!(e.contains("is empty") && e.contains(&path.display().to_string()));
        std::fs::remove_file(&path).unwrap();
        let e = s.resolve().unwrap_err();
        assert!(e.starts_with("cannot read the secret file `"), "{e}");
    }

    #[test]
    fn an_env_var_is_named_when_missing() {
        let mut s = parse("{env: BUSBAR_TEST_SURELY_UNSET_SECRET}").unwrap();
        assert_eq!(
            s.resolve().unwrap_err(),
            "the environment variable `BUSBAR_TEST_SURELY_UNSET_SECRET` is not set"
        );
        let mut s = parse("{env: PATH}").unwrap();
        s.resolve().unwrap();
        assert!(!s.value().unwrap().expose().is_empty());
    }

    #[test]
    fn other_shapes_are_rejected_without_echoing_them() {
        for bad in ["{file: a, env: b}", "{path: x}", "[1]", "{file: [1]}"] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("expected a secret"), "{bad}: {e}");
        }
    }
}

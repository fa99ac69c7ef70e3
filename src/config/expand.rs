//! `${VAR}` and `${VAR:-default}` in the configuration file, replaced by
//! environment variables in the text before it is parsed, as Vector and
//! Loki (`-config.expand-env`) do: one ConfigMap serves every environment,
//! and a SASL password can come from a Secret through the Deployment's
//! `env:` without moving the whole file into a Secret.
//!
//! The text is expanded rather than the parsed values so that a reference
//! works anywhere a scalar does (a number, a list item, a map key) and so
//! that parse errors keep pointing at the file's own lines: a value may not
//! hold a line break, which would shift every later line (and could add
//! keys). `$$` writes a literal `$`; any other `$` is left alone, so JSONPath
//! such as `$.detail` needs no escaping. Full-line comments are not
//! expanded, so a commented-out `${VAR}` needs no variable.
//!
//! Values taken from the environment may be secrets: [`Redactor::redact`]
//! puts the reference back in place of each of them in any text about the
//! configuration (validate's report, a failed reload's log line).

use super::Problem;

/// The values that came from the environment, to take out of messages
/// again. `Debug` prints the variables' names only.
#[derive(Default, Clone)]
pub struct Redactor {
    /// (variable, value) for each reference the environment filled in.
    from_env: Vec<(String, String)>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.from_env.iter().map(|(name, _)| name))
            .finish()
    }
}

/// Values shorter than this are not redacted: replacing every `1` or `on`
/// in a message would garble it, and such a value is no secret.
const REDACT_MIN_LEN: usize = 4;

impl Redactor {
    /// `text` with every value taken from the environment replaced by its
    /// `${NAME}`, longest value first so that one value inside another is
    /// not half replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut values: Vec<&(String, String)> = self
            .from_env
            .iter()
            .filter(|(_, v)| v.len() >= REDACT_MIN_LEN)
            .collect();
        values.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        let mut out = text.to_string();
        for (name, value) in values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), &format!("${{{name}}}"));
            }
        }
        out
    }
}

/// Expand `text` (the file `file`), reading variables through `lookup`.
/// Every reference that cannot be expanded is a problem at `FILE:LINE:COLUMN`
/// naming the variable, all of them reported at once.
pub fn expand(
    text: &str,
    file: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(String, Redactor), Vec<Problem>> {
    let mut out = String::with_capacity(text.len());
    let mut redactor = Redactor::default();
    let mut problems = Vec::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') || !line.contains('$') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let column = line.len() - rest.len() + at + 1;
            let here = || format!("{file}:{}:{column}", i + 1);
            let after = &rest[at + 1..];
            if let Some(after) = after.strip_prefix('$') {
                out.push('$');
                rest = after;
                continue;
            }
            let Some(body) = after.strip_prefix('{') else {
                out.push('$');
                rest = after;
                continue;
            };
            let Some(end) = body.find('}') else {
                problems.push(Problem {
                    at: here(),
                    message: "`${` without a closing `}`; write `$${` for a literal `${`".into(),
                });
                out.push_str(&rest[at..]);
                rest = "";
                break;
            };
            rest = &body[end + 1..];
            let (name, default) = match body[..end].split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (&body[..end], None),
            };
            if !valid_name(name) {
                problems.push(Problem {
                    at: here(),
                    message: format!(
                        "`${{{}}}` is not a variable reference (a name of letters, digits and `_`, then an optional `:-default`); write `$${{` for a literal `${{`",
                        &body[..end]
                    ),
                });
                continue;
            }
            match (lookup(name), default) {
                // `:-` as in the shell: the default also replaces an empty value.
                (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
                (Some(v), _) if v.contains(['\n', '\r']) => problems.push(Problem {
                    at: here(),
                    message: format!(
                        "the environment variable `{name}` holds a line break, which would change the file's structure; read it with `{{env: {name}}}` where a secret value is accepted"
                    ),
                }),
                (Some(v), _) => {
                    out.push_str(&v);
                    redactor.from_env.push((name.to_string(), v));
                }
                (None, Some(d)) => out.push_str(d),
                (None, None) => problems.push(Problem {
                    at: here(),
                    message: format!(
                        "the environment variable `{name}` is not set (`${{{name}:-default}}` gives a default)"
                    ),
                }),
            }
        }
        out.push_str(rest);
    }
    if problems.is_empty() {
        Ok((out, redactor))
    } else {
        Err(problems)
    }
}

/// A POSIX shell variable name: a letter or `_`, then letters, digits, `_`.
fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "BROKERS" => Some("kafka-0:9092,kafka-1:9092".into()),
            "PASSWORD" => Some("s3cr3t-value".into()),
            "EMPTY" => Some(String::new()),
            "MULTI" => Some("a\nb".into()),
            _ => None,
        }
    }

    fn ok(text: &str) -> String {
        expand(text, "t.yaml", env).unwrap().0
    }

    fn problems(text: &str) -> Vec<String> {
        expand(text, "t.yaml", env)
            .unwrap_err()
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn references_defaults_and_literal_dollars() {
        assert_eq!(
            ok("brokers: ${BROKERS}\npassword: \"${PASSWORD}\"\n"),
            "brokers: kafka-0:9092,kafka-1:9092\npassword: \"s3cr3t-value\"\n"
        );
        assert_eq!(ok("a: ${UNSET:-x y}"), "a: x y");
        assert_eq!(ok("a: ${UNSET:-}"), "a: ");
        assert_eq!(ok("a: ${EMPTY:-fallback}"), "a: fallback");
        assert_eq!(ok("a: ${EMPTY}"), "a: ");
        assert_eq!(ok("a: ${BROKERS:-unused}"), "a: kafka-0:9092,kafka-1:9092");
        assert_eq!(
            ok("price: $$5, ref: $${PASSWORD}"),
            "price: $5, ref: ${PASSWORD}"
        );
        // JSONPath and a lone `$` need no escaping.
        assert_eq!(
            ok("input_path: $.detail\nx: $ 1 $"),
            "input_path: $.detail\nx: $ 1 $"
        );
    }

    #[test]
    fn full_line_comments_are_left_alone() {
        assert_eq!(
            ok("  # password: ${NOT_SET}\na: 1 # ${BROKERS}\n"),
            "  # password: ${NOT_SET}\na: 1 # kafka-0:9092,kafka-1:9092\n"
        );
    }

    #[test]
    fn every_bad_reference_is_reported_with_its_line_and_column() {
        assert_eq!(
            problems("a: 1\nb: ${NOT_SET}\nc: x ${ALSO_UNSET} ${1BAD}\nd: ${MULTI}\ne: ${OPEN"),
            [
                "config: `t.yaml:2:4`: the environment variable `NOT_SET` is not set (`${NOT_SET:-default}` gives a default)",
                "config: `t.yaml:3:6`: the environment variable `ALSO_UNSET` is not set (`${ALSO_UNSET:-default}` gives a default)",
                "config: `t.yaml:3:20`: `${1BAD}` is not a variable reference (a name of letters, digits and `_`, then an optional `:-default`); write `$${` for a literal `${`",
                "config: `t.yaml:4:4`: the environment variable `MULTI` holds a line break, which would change the file's structure; read it with `{env: MULTI}` where a secret value is accepted",
                "config: `t.yaml:5:4`: `${` without a closing `}`; write `$${` for a literal `${`",
            ]
        );
    }

    #[test]
    fn values_from_the_environment_are_redacted() {
        let (_, r) = expand("p: ${PASSWORD}\nq: ${UNSET:-defaultvalue}\n", "t.yaml", env).unwrap();
        assert_eq!(format!("{r:?}"), "[\"PASSWORD\"]");
        assert_eq!(
            r.redact("invalid type: string \"s3cr3t-value\", defaultvalue"),
            "invalid type: string \"${PASSWORD}\", defaultvalue"
        );
    }
}

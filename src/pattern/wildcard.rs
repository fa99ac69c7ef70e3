//! The `wildcard` operator's little language: `*` matches any run of bytes,
//! `\*` is a literal star, `\\` a literal backslash.
//!
//! This module owns the syntax check (with event-ruler's exact error texts and
//! positions, semantics §1.6.2-1.6.3) and a simple reference matcher. The
//! engine compiles [`Glob`]s into its automaton itself; [`glob_matches`] exists
//! for the naive reference matcher and for tests.
//!
//! Positions in errors: event-ruler's `WildcardParser` parses the value with
//! the surrounding JSON quotes (`"` + value + `"`) as UTF-8 bytes, so a
//! position is the 0-based byte offset in the decoded pattern string plus one.

/// A parsed wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    /// The pattern string as written (decoded from JSON, escapes still in it).
    pub text: String,
    /// The pattern with escapes resolved: literal UTF-8 bytes and stars.
    pub tokens: Vec<GlobTok>,
}

/// One element of a [`Glob`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobTok {
    /// One literal byte of the UTF-8 pattern.
    Byte(u8),
    /// `*`: any (possibly empty) sequence of bytes.
    Star,
}

/// Parse a decoded wildcard pattern string.
///
/// Errors are event-ruler's reason texts: `Invalid escape character at pos <n>`
/// for a backslash followed by anything but `*` or `\` (or by nothing), and
/// `Consecutive wildcard characters at pos <n>` for an unescaped `**`.
pub fn parse_wildcard(s: &str) -> Result<Glob, String> {
    let bytes = s.as_bytes();
    let mut tokens = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'*' => {
                if bytes.get(i + 1) == Some(&b'*') {
                    return Err(format!("Consecutive wildcard characters at pos {}", i + 1));
                }
                tokens.push(GlobTok::Star);
                i += 1;
            }
            b'\\' => match bytes.get(i + 1) {
                Some(&next) if next == b'*' || next == b'\\' => {
                    tokens.push(GlobTok::Byte(next));
                    i += 2;
                }
                _ => return Err(format!("Invalid escape character at pos {}", i + 1)),
            },
            b => {
                tokens.push(GlobTok::Byte(b));
                i += 1;
            }
        }
    }
    Ok(Glob {
        text: s.to_string(),
        tokens,
    })
}

/// Does `s` match the whole of `g`? Byte-wise, case-sensitive, anchored at
/// both ends.
///
/// The classic two-pointer algorithm: on a mismatch, resume after the most
/// recent star with the star absorbing one more byte. Backtracking to older
/// stars is never needed (a later star can absorb whatever an earlier one
/// could), so this is O(|g| × |s|) in the worst case with no recursion.
pub fn glob_matches(g: &Glob, s: &[u8]) -> bool {
    let p = &g.tokens;
    let (mut pi, mut si) = (0usize, 0usize);
    // (token index after the star, input index the star's match ends at)
    let mut resume: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(GlobTok::Star) => {
                pi += 1;
                resume = Some((pi, si));
            }
            Some(GlobTok::Byte(b)) if *b == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match resume {
                Some((rp, rs)) => {
                    pi = rp;
                    si = rs + 1;
                    resume = Some((rp, rs + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|t| *t == GlobTok::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(s: &str) -> Glob {
        match parse_wildcard(s) {
            Ok(g) => g,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    fn m(p: &str, s: &str) -> bool {
        glob_matches(&glob(p), s.as_bytes())
    }

    #[test]
    fn tokens_resolve_escapes() {
        use GlobTok::*;
        assert_eq!(glob("a*b").tokens, vec![Byte(b'a'), Star, Byte(b'b')]);
        assert_eq!(
            glob(r"a\*b").tokens,
            vec![Byte(b'a'), Byte(b'*'), Byte(b'b')]
        );
        assert_eq!(
            glob(r"a\\b").tokens,
            vec![Byte(b'a'), Byte(b'\\'), Byte(b'b')]
        );
        // `\**`: an escaped star, then a wildcard — legal.
        assert_eq!(glob(r"\**").tokens, vec![Byte(b'*'), Star]);
        assert_eq!(glob("é").tokens, vec![Byte(0xc3), Byte(0xa9)]);
        assert_eq!(glob(r"a\*b").text, r"a\*b");
        assert!(glob("").tokens.is_empty());
    }

    #[test]
    fn consecutive_stars_rejected_with_position() {
        assert_eq!(
            parse_wildcard("arn:aws:events:us-east-1:**:event-bus/*"),
            Err("Consecutive wildcard characters at pos 26".to_string())
        );
        assert_eq!(
            parse_wildcard("**"),
            Err("Consecutive wildcard characters at pos 1".to_string())
        );
        assert_eq!(
            parse_wildcard("a***"),
            Err("Consecutive wildcard characters at pos 2".to_string())
        );
        // Positions count UTF-8 bytes: `é` is two.
        assert_eq!(
            parse_wildcard("é**"),
            Err("Consecutive wildcard characters at pos 3".to_string())
        );
        // An escaped star followed by a star is not "consecutive".
        assert!(parse_wildcard(r"\**").is_ok());
        // ...but an escaped backslash followed by two stars is.
        assert_eq!(
            parse_wildcard(r"\\**"),
            Err("Consecutive wildcard characters at pos 3".to_string())
        );
    }

    #[test]
    fn bad_escapes_rejected_with_position() {
        assert_eq!(
            parse_wildcard(r"a\b"),
            Err("Invalid escape character at pos 2".to_string())
        );
        assert_eq!(
            parse_wildcard("a\\"),
            Err("Invalid escape character at pos 2".to_string())
        );
        assert_eq!(
            parse_wildcard("\\"),
            Err("Invalid escape character at pos 1".to_string())
        );
        assert_eq!(
            parse_wildcard(r"ab\n"),
            Err("Invalid escape character at pos 3".to_string())
        );
        // The first problem wins, whichever kind it is.
        assert_eq!(
            parse_wildcard(r"a\x**"),
            Err("Invalid escape character at pos 2".to_string())
        );
    }

    #[test]
    fn matching_examples_from_the_semantics() {
        assert!(m(
            "/Users/*/doc.txt",
            "/Users/ls_user/dir/dir/dir/dir/dir/doc.txt"
        ));
        assert!(!m(
            "/Users/*/doc.txt",
            "/Users/ls_user/dir/notmatchingdoc.txt"
        ));
        assert!(m(
            "arn:aws:events:us-east-1:*:event-bus/*",
            "arn:aws:events:us-east-1:123456789012:event-bus/myEventBus"
        ));
        assert!(!m("", "x"));
        assert!(m("", ""));
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("a*b*c", "abc"));
        assert!(m("a*b*c", "aXbYc"));
        assert!(!m("a*b*c", "aXbY"));
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(!m("abc", "ABC"));
        assert!(m(r"a\*b", "a*b"));
        assert!(!m(r"a\*b", "aXb"));
        assert!(m(r"a\\b", r"a\b"));
        assert!(m("*.png", "x.png"));
        assert!(!m("*.png", "x.PNG"));
        assert!(m("*aa", "aaa"));
        assert!(m("a*aaa", "aaaa"));
        assert!(!m("a*aaa", "aaa"));
        assert!(m("*a*", "bab"));
        assert!(m("x*é", "xyzé"));
        assert!(!m("x*é", "xyze"));
    }

    #[test]
    fn matching_needs_the_latest_star_only() {
        // The star must retry after a partial match of the tail.
        assert!(m("*abab", "abaabab"));
        assert!(m("a*b*ab", "aXbabab"));
        assert!(m("*ab*ba", "abba"));
        assert!(!m("*ab*ba", "aba")); // would need the two literals to overlap
        assert!(m("*ab*ba", "abxba"));
    }
}

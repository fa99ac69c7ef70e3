//! What `equals-ignore-case` (and its `prefix`, `suffix` and `anything-but`
//! forms) accepts: the pattern is folded, character by character; the event
//! never is.
//!
//! For each character `c` of the pattern value, the event's text at that
//! point must be exactly `lower(c)` or `upper(c)`: the full (possibly
//! multi-character) lower- and upper-case mappings of that one character.
//! This is event-ruler's rule (its equals-ignore-case parser takes Java's
//! `String.toLowerCase(Locale.ROOT)` and `toUpperCase(Locale.ROOT)` of each
//! one-character string), so:
//!
//! - `"straße"` accepts `"STRASSE"` (upper of `ß` is `SS`) and `"straße"`,
//!   but not `"strasse"` (`ss` is neither mapping of `ß`);
//! - `"σ"` accepts `"σ"` and `"Σ"`, not `"ς"`; `"ẞ"` accepts `"ß"`;
//! - `"ǅ"` accepts `"ǆ"` and `"Ǆ"` but not itself: a title-case letter is
//!   neither its own lower nor its own upper case.
//!
//! The mappings are the Rust standard library's `char::to_lowercase` and
//! `char::to_uppercase`, Unicode's default full mappings (`SpecialCasing`
//! included). For a one-character string these are Java's `Locale.ROOT`
//! results: Java's only context-dependent rule outside the Lithuanian,
//! Turkish and Azeri locales is the final sigma, which needs a cased letter
//! before the `Σ`, so `"Σ".toLowerCase(Locale.ROOT)` is `"σ"`, as here. The
//! two may differ on characters that the JDK's Unicode version predates.
//!
//! One deliberate departure: Java strings are UTF-16, and event-ruler maps
//! each half of a surrogate pair on its own, which turns it into `?`; a
//! character outside the Basic Multilingual Plane therefore never matches
//! itself there (`"🚀"` accepts `"??"`). busbar maps such a character as the
//! one code point it is, under the same rule, so `"🚀"` accepts `"🚀"` and
//! `"𐐀"` (Deseret) accepts `"𐐨"`.

/// The texts character `c` of an ignore-case pattern accepts at its place
/// in the value: its full lower-case mapping and its full upper-case
/// mapping (the same text twice for a character without case).
pub fn case_forms(c: char) -> [String; 2] {
    [c.to_lowercase().collect(), c.to_uppercase().collect()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forms(c: char) -> [&'static str; 2] {
        let [l, u] = case_forms(c);
        [l.leak(), u.leak()]
    }

    /// The mappings the rule relies on, checked against Java's
    /// `Locale.ROOT` results for one-character strings.
    #[test]
    fn one_character_mappings() {
        assert_eq!(forms('a'), ["a", "A"]);
        assert_eq!(forms('ß'), ["ß", "SS"]);
        assert_eq!(forms('ẞ'), ["ß", "ẞ"]);
        assert_eq!(forms('Σ'), ["σ", "Σ"]);
        assert_eq!(forms('ς'), ["ς", "Σ"]);
        assert_eq!(forms('ſ'), ["ſ", "S"]);
        assert_eq!(forms('ı'), ["ı", "I"]);
        assert_eq!(forms('İ'), ["i\u{307}", "İ"]);
        assert_eq!(forms('ﬁ'), ["ﬁ", "FI"]);
        assert_eq!(forms('ŉ'), ["ŉ", "\u{2bc}N"]);
        assert_eq!(forms('ǅ'), ["ǆ", "Ǆ"]);
        assert_eq!(forms('ǰ'), ["ǰ", "J\u{30c}"]);
        assert_eq!(forms('ΐ'), ["ΐ", "\u{399}\u{308}\u{301}"]);
        assert_eq!(forms('K'), ["k", "K"]);
        assert_eq!(forms('\u{212a}'), ["k", "\u{212a}"]);
        assert_eq!(forms('1'), ["1", "1"]);
        assert_eq!(forms('🚀'), ["🚀", "🚀"]);
        assert_eq!(forms('𐐀'), ["𐐨", "𐐀"]);
    }
}

//! JSON number literals: their text and, when the text names a double
//! exactly, that double.
//!
//! This module owns the rule that decides when a number is compared by value
//! and when only by its text. event-ruler (≥ 1.8) keeps both forms of a pattern
//! number; its numeric form exists only when the literal's decimal value is
//! exactly the value of the shortest round-trip decimal of the nearest double
//! (semantics §1.3.3-1.3.4, §1.8.5). So `300`, `3e2` and `300.0` are all the
//! double 300, while `12345678901234567890` (which rounds) is matched by text
//! only, and as a `numeric` bound is rejected ("Cannot compare number : …").
//!
//! The comparison is done on normalised decimal strings (sign, significant
//! digits, exponent), so it is exact: no floating-point arithmetic is used to
//! decide representability.
//!
//! "Shortest round-trip" is Java's `Double.toString`, as specified since
//! JDK 19: the shortest decimal that reads back as the same double, except
//! that it never has fewer than two significant digits, so a subnormal whose
//! shortest form has one digit is printed as the nearest two-digit decimal
//! (`Double.MIN_VALUE` is `4.9E-324`, and `5e-324` is not representable).
//! JDK 17's older algorithm also prints `4.9E-324` there; its other known
//! deviations (JDK-4511638: a few values printed with a superfluous 17th or
//! 18th digit) are not reproduced.

/// A number literal from a pattern or an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    /// The literal exactly as written in the JSON text (e.g. `3.0e2`).
    pub text: String,
    /// The double this literal denotes, present only when the literal is
    /// *exactly representable*: its decimal value equals the decimal value of
    /// the shortest round-trip form of the nearest double. `None` for literals
    /// that would round (`12345678901234567890`, `0.30000000000000001`), for
    /// out-of-range ones (`1e400`) and for text that is not a JSON number.
    pub value: Option<f64>,
}

impl Number {
    /// Build a [`Number`] from JSON number text, deciding representability.
    ///
    /// ```
    /// use busbar::pattern::Number;
    /// assert_eq!(Number::from_text("3e2").value, Some(300.0));
    /// assert_eq!(Number::from_text("12345678901234567890").value, None);
    /// ```
    pub fn from_text(text: &str) -> Number {
        Number {
            text: text.to_string(),
            value: representable_value(text),
        }
    }
}

/// The nearest double of already-valid JSON number bytes (the engine's hot
/// path: no allocation). Returns `None` when the text is not a number Rust can
/// read or when the result is not finite (`1e400`).
pub fn parse_f64(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?;
    let x: f64 = s.parse().ok()?;
    if x.is_finite() {
        Some(x)
    } else {
        None
    }
}

/// A decimal number in normal form: `(-1)^negative × 0.digits × 10^exp`,
/// with no leading or trailing zeros in `digits`. Zero has empty `digits`.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    exp: i64,
}

/// Exponents beyond this magnitude cannot belong to a finite non-zero double
/// (whose decimal exponents lie within about ±330); clamping keeps the
/// arithmetic free of overflow for absurd literals like `1e99999999999999999999`.
const EXP_CLAMP: i64 = 1 << 40;

/// Parse JSON number grammar (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`),
/// also accepting what `format!("{:e}")` prints (which is a subset), into
/// normal form. `None` when the text is not such a number.
fn normalise(text: &str) -> Option<Decimal> {
    let b = text.as_bytes();
    let mut i = 0;
    let negative = b.first() == Some(&b'-');
    if negative {
        i += 1;
    }
    let mut digits: Vec<u8> = Vec::with_capacity(b.len());
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        digits.push(b[i]);
        i += 1;
    }
    if i == int_start {
        return None;
    }
    let mut frac_len: i64 = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            digits.push(b[i]);
            i += 1;
        }
        if i == frac_start {
            return None;
        }
        frac_len = (i - frac_start) as i64;
    }
    let mut exp: i64 = 0;
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        let mut exp_negative = false;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            exp_negative = b[i] == b'-';
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            exp = (exp * 10 + i64::from(b[i] - b'0')).min(EXP_CLAMP);
            i += 1;
        }
        if i == exp_start {
            return None;
        }
        if exp_negative {
            exp = -exp;
        }
    }
    if i != b.len() {
        return None;
    }
    // value = 0.DIGITS × 10^(int_len + exp), with int_len = digits - frac_len.
    let int_len = digits.len() as i64 - frac_len;
    let lead = digits.iter().take_while(|&&d| d == b'0').count();
    let trail = digits[lead..]
        .iter()
        .rev()
        .take_while(|&&d| d == b'0')
        .count();
    let significant = digits[lead..digits.len() - trail].to_vec();
    if significant.is_empty() {
        return Some(Decimal {
            negative,
            digits: Vec::new(),
            exp: 0,
        });
    }
    Some(Decimal {
        negative,
        digits: significant,
        exp: int_len - lead as i64 + exp,
    })
}

/// The double a literal denotes, when it denotes one exactly (see [`Number::value`]).
fn representable_value(text: &str) -> Option<f64> {
    let literal = normalise(text)?;
    let x: f64 = text.parse().ok()?;
    if !x.is_finite() {
        return None;
    }
    let mut shortest = normalise(&format!("{x:e}"))?;
    if shortest.digits.len() == 1 && x != 0.0 && x.abs() < f64::MIN_POSITIVE {
        // Java's Double.toString never prints a single significant digit:
        // when the shortest decimal has one, it prints the two-digit decimal
        // closest to the double. For normal doubles that is the same value
        // (`3e2` → `300.0`); for subnormals, whose precision is a few bits, it
        // is not: Double.MIN_VALUE prints as 4.9E-324, not 5E-324, so
        // event-ruler rejects a `5e-324` bound (semantics §1.8.5).
        shortest = normalise(&format!("{x:.1e}"))?;
    }
    let same = if literal.digits.is_empty() || shortest.digits.is_empty() {
        // Zero: only a literal zero is exactly zero (`1e-400` parses to 0.0
        // but is not zero). The sign of zero does not change its value.
        literal.digits.is_empty() && shortest.digits.is_empty()
    } else {
        literal == shortest
    };
    if same {
        Some(x)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> Option<f64> {
        Number::from_text(s).value
    }

    #[test]
    fn representable_literals() {
        assert_eq!(value("300"), Some(300.0));
        assert_eq!(value("300.0"), Some(300.0));
        assert_eq!(value("3e2"), Some(300.0));
        assert_eq!(value("3.0e2"), Some(300.0));
        assert_eq!(value("3E+2"), Some(300.0));
        assert_eq!(value("0.10"), Some(0.1));
        assert_eq!(value("0.1"), Some(0.1));
        assert_eq!(value("0"), Some(0.0));
        assert_eq!(value("0.000"), Some(0.0));
        assert_eq!(value("0e999999999999999999999"), Some(0.0));
        assert_eq!(value("123456789012"), Some(123456789012.0));
        assert_eq!(value("123456789012.0"), Some(123456789012.0));
        assert_eq!(value("1.7976931348623157e308"), Some(f64::MAX));
        assert_eq!(value("-1.7976931348623157e308"), Some(-f64::MAX));
        assert_eq!(value("301.8"), Some(301.8));
        assert_eq!(value("5e9"), Some(5e9));
        assert_eq!(value("1e300"), Some(1e300));
        assert_eq!(value("-5.5"), Some(-5.5));
        assert_eq!(value("9007199254740992"), Some(9007199254740992.0));
        assert_eq!(value("0.30000000000000004"), Some(0.30000000000000004));
    }

    #[test]
    fn negative_zero_is_representable() {
        let v = value("-0");
        assert_eq!(v, Some(0.0));
        assert!(v.is_some_and(|x| x.is_sign_negative()));
        assert_eq!(value("-0.0e5"), Some(0.0));
    }

    #[test]
    fn unrepresentable_literals() {
        assert_eq!(value("12345678901234567890"), None);
        assert_eq!(value("1.2345678901234567890e19"), None);
        assert_eq!(value("0.30000000000000001"), None);
        assert_eq!(value("9007199254740993"), None);
        assert_eq!(value("1e400"), None);
        assert_eq!(value("-1e400"), None);
        assert_eq!(value("1e-400"), None);
        assert_eq!(value("1e99999999999999999999"), None);
        assert_eq!(value("1.7976931348623159e308"), None);
    }

    #[test]
    fn subnormals_follow_java_double_to_string() {
        // Java prints Double.MIN_VALUE as 4.9E-324 (two digits at least).
        assert_eq!(value("5e-324"), None);
        assert_eq!(value("4.9e-324"), Some(5e-324));
        assert_eq!(value("4.9E-324"), Some(f64::from_bits(1)));
        assert_eq!(value("-4.9e-324"), Some(-f64::from_bits(1)));
        // 2 × MIN_VALUE = 9.88…e-324: shortest `1e-323`, Java `9.9E-324`.
        assert_eq!(value("1e-323"), None);
        assert_eq!(value("9.9e-324"), Some(f64::from_bits(2)));
        // Subnormals whose shortest form has several digits are unaffected.
        assert_eq!(value("1.5e-323"), Some(f64::from_bits(3)));
        assert_eq!(value("2.2250738585072014e-308"), Some(f64::MIN_POSITIVE));
        assert_eq!(value("1e-310"), Some(1e-310));
    }

    #[test]
    fn non_numbers_have_no_value() {
        for s in [
            "", "-", "abc", "1.", ".5", "1e", "1e+", "NaN", "inf", "+1", "1 ", "0x10",
        ] {
            assert_eq!(value(s), None, "{s:?}");
        }
        assert_eq!(Number::from_text("abc").text, "abc");
    }

    #[test]
    fn text_is_kept_verbatim() {
        let n = Number::from_text("3.0e2");
        assert_eq!(n.text, "3.0e2");
        assert_eq!(n.value, Some(300.0));
    }

    #[test]
    fn parse_f64_hot_path() {
        assert_eq!(parse_f64(b"300"), Some(300.0));
        assert_eq!(parse_f64(b"3e2"), Some(300.0));
        assert_eq!(parse_f64(b"-0"), Some(-0.0));
        assert_eq!(parse_f64(b"0.30000000000000001"), Some(0.3));
        assert_eq!(
            parse_f64(b"12345678901234567890"),
            Some(1.2345678901234567e19)
        );
        assert_eq!(parse_f64(b"1e400"), None);
        assert_eq!(parse_f64(b"-1e400"), None);
        assert_eq!(parse_f64(b"\xff"), None);
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
    }

    #[test]
    fn normal_form() {
        let d = normalise("120.50e1").expect("number");
        assert_eq!(d.digits, b"1205".to_vec());
        assert_eq!(d.exp, 4); // 0.1205 × 10^4 = 1205
        let d = normalise("0.00120").expect("number");
        assert_eq!(d.digits, b"12".to_vec());
        assert_eq!(d.exp, -2); // 0.12 × 10^-2
        assert_eq!(normalise("1e2"), normalise("100"));
    }
}

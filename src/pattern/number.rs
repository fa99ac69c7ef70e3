//! JSON number literals: their text and, when the text names a double
//! exactly, that double.
//!
//! This module owns the rule that decides when a number is compared by value
//! and when only by its text, for pattern numbers and event numbers alike.
//! event-ruler (≥ 1.8) keeps both forms of a number; its numeric form exists
//! only when the literal's decimal value is exactly the value of the shortest
//! round-trip decimal of the nearest double (semantics §1.3.3-1.3.4, §1.8.5).
//! So `300`, `3e2` and `300.0` are all the double 300, while
//! `12345678901234567890` (which rounds) is text: as a pattern it matches only
//! that spelling and as a `numeric` bound it is rejected ("Cannot compare
//! number : …"); in an event, numeric operators never match it and a numeric
//! `anything-but` never excludes it.
//!
//! The comparison is done on decimal digits read in place (sign, significant
//! digits, exponent), so it is exact and allocates nothing: no floating-point
//! arithmetic is used to decide representability. The shortest round-trip
//! decimal is printed with `zmij` (Schubfach): the digits of Rust's `{}`,
//! except where two shortest decimals are equally near the double
//! (`246619880394268.125`): there Java, like `zmij`, keeps the even last
//! digit (`…268.12`) and Rust's `{}` rounds up (`…268.13`). event-ruler is
//! Java, so Java's choice decides. A property test holds `zmij` to that
//! definition, built from Rust's own formatting.
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
            value: exact_value(text.as_bytes()),
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

/// Exponents beyond this magnitude cannot belong to a finite non-zero double
/// (whose decimal exponents lie within about ±330); clamping keeps the
/// arithmetic free of overflow for absurd literals like `1e99999999999999999999`.
const EXP_CLAMP: i64 = 1 << 40;

/// A number literal read in place, as `(-1)^negative × 0.d₁d₂…dₙ × 10^exp`
/// with `d₁ … dₙ` its significant digits (no leading or trailing zeros).
/// Reading it allocates nothing: events are classified with it per leaf.
#[derive(Debug, Clone, Copy)]
struct Decimal<'a> {
    /// Integer and fraction digits as written, with the `.` between them.
    mantissa: &'a [u8],
    /// Digits of `mantissa` before the first significant one.
    lead: usize,
    /// Number of significant digits; 0 for zero.
    sig: usize,
    /// Decimal exponent of the `0.d₁d₂…` form; 0 for zero.
    exp: i64,
}

impl Decimal<'_> {
    /// The significant digits, in order.
    fn digits(&self) -> impl Iterator<Item = u8> + '_ {
        self.mantissa
            .iter()
            .copied()
            .filter(u8::is_ascii_digit)
            .skip(self.lead)
            .take(self.sig)
    }

    /// Same value, sign aside (zero equals zero whatever its sign).
    fn same_magnitude(&self, other: &Decimal<'_>) -> bool {
        self.sig == other.sig && self.exp == other.exp && self.digits().eq(other.digits())
    }
}

/// Reads JSON number grammar (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`),
/// also accepting what the float formatters print (a subset, and leading
/// zeros). `None` when the text is not such a number.
fn decimal(b: &[u8]) -> Option<Decimal<'_>> {
    let mut i = usize::from(b.first() == Some(&b'-'));
    let start = i;
    // Position among the digits (the `.` not counted) of the first and
    // last non-zero digit, and the number of integer digits.
    let (mut n, mut first, mut last) = (0usize, None, 0usize);
    let mut int_len = None;
    while let Some(&c) = b.get(i) {
        match c {
            b'0'..=b'9' => {
                if c != b'0' {
                    first.get_or_insert(n);
                    last = n;
                }
                n += 1;
            }
            b'.' if int_len.is_none() && n > 0 => int_len = Some(n),
            _ => break,
        }
        i += 1;
    }
    let mantissa = &b[start..i];
    let int_len = match int_len {
        Some(k) if k == n => return None, // `1.` has no fraction digits
        Some(k) => k,
        None if n == 0 => return None,
        None => n,
    };
    let mut exp: i64 = 0;
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        let negative = b.get(i) == Some(&b'-');
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let exp_start = i;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            exp = (exp * 10 + i64::from(c - b'0')).min(EXP_CLAMP);
            i += 1;
        }
        if i == exp_start {
            return None;
        }
        if negative {
            exp = -exp;
        }
    }
    if i != b.len() {
        return None;
    }
    Some(match first {
        None => Decimal {
            mantissa,
            lead: n,
            sig: 0,
            exp: 0,
        },
        Some(first) => Decimal {
            mantissa,
            lead: first,
            sig: last - first + 1,
            exp: int_len as i64 - first as i64 + exp,
        },
    })
}

/// The double a number literal denotes when it denotes one exactly (see
/// [`Number::value`]); `None` when it is text to busbar. No allocation, and
/// most literals are decided from their digit count alone:
///
/// - at most 15 significant digits, well inside the range of normal doubles:
///   exact. Two decimals of 15 digits are further apart than a double's
///   precision (2⁻⁵² relative), so the double nearest such a literal has no
///   shorter or nearer 15-digit decimal than the literal itself
///   (`DBL_DIG`);
/// - more than 17 significant digits: never exact, since 17 always suffice
///   for the shortest round-trip decimal;
/// - otherwise (16-17 digits, extreme exponents): the shortest round-trip
///   decimal of the double is printed and compared digit by digit.
pub fn exact_value(text: &[u8]) -> Option<f64> {
    let d = decimal(text)?;
    match exactness(&d) {
        Exactness::Never => None,
        Exactness::Certain => parse_f64(text),
        Exactness::Check => parse_f64(text).filter(|&x| is_shortest(&d, x)),
    }
}

/// Whether a number literal is compared by value (see [`exact_value`]);
/// the engine's per-leaf question, answered without converting the
/// literal to a double unless it has 16 or 17 significant digits.
#[inline]
pub fn is_exact(text: &[u8]) -> bool {
    let Some(d) = decimal(text) else {
        return false;
    };
    match exactness(&d) {
        Exactness::Never => false,
        Exactness::Certain => true,
        Exactness::Check => parse_f64(text).is_some_and(|x| is_shortest(&d, x)),
    }
}

/// What the digit count alone says about a literal.
enum Exactness {
    Never,
    Certain,
    Check,
}

#[inline]
fn exactness(d: &Decimal<'_>) -> Exactness {
    if d.sig > 17 {
        Exactness::Never
    } else if d.sig == 0 || (d.sig <= 15 && (-300..=300).contains(&d.exp)) {
        Exactness::Certain
    } else {
        Exactness::Check
    }
}

/// Whether `d`, which reads as the finite double `x`, has the value of the
/// shortest round-trip decimal of `x` (as Java prints it).
fn is_shortest(d: &Decimal<'_>, x: f64) -> bool {
    if x == 0.0 {
        return false; // `1e-400`: not zero, yet it reads as zero
    }
    let mut buf = zmij::Buffer::new();
    let printed = buf.format_finite(x.abs());
    let Some(shortest) = decimal(printed.as_bytes()) else {
        return false;
    };
    if shortest.sig == 1 && x.abs() < f64::MIN_POSITIVE {
        // Java's Double.toString never prints a single significant digit:
        // when the shortest decimal has one, it prints the two-digit
        // decimal closest to the double. For normal doubles that is the
        // same value (`3e2` → `300.0`); for subnormals, whose precision is a
        // few bits, it is not: Double.MIN_VALUE prints as 4.9E-324, not
        // 5E-324, so `5e-324` is text (semantics §1.8.5).
        let mut two = StackText::default();
        if std::fmt::write(&mut two, format_args!("{:.1e}", x.abs())).is_err() {
            return false;
        }
        return decimal(two.text()).is_some_and(|t| t.same_magnitude(d));
    }
    shortest.same_magnitude(d)
}

/// A small stack buffer for `{:.1e}` of a double (at most 8 bytes:
/// `4.9e-324`), so the subnormal case allocates nothing either.
#[derive(Default)]
struct StackText {
    buf: [u8; 32],
    len: usize,
}

impl StackText {
    fn text(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
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
    fn decimals_are_read_in_place() {
        let d = decimal(b"120.50e1").expect("number");
        assert_eq!(d.digits().collect::<Vec<u8>>(), b"1205".to_vec());
        assert_eq!(d.exp, 4); // 0.1205 × 10^4 = 1205
        let d = decimal(b"-0.00120").expect("number");
        assert_eq!(d.digits().collect::<Vec<u8>>(), b"12".to_vec());
        assert_eq!(d.exp, -2); // 0.12 × 10^-2
        let zero = decimal(b"-0.000e7").expect("number");
        assert_eq!((zero.sig, zero.exp), (0, 0));
        for (a, b) in [
            ("1e2", "100"),
            ("1.0", "10e-1"),
            ("0.3", "3E-1"),
            ("0", "-0.0"),
        ] {
            let (a, b) = (
                decimal(a.as_bytes()).unwrap(),
                decimal(b.as_bytes()).unwrap(),
            );
            assert!(a.same_magnitude(&b));
        }
        for s in ["1.2.3", "1e", "-", ".5", "1.", "1e+", "1x", "--1"] {
            assert!(decimal(s.as_bytes()).is_none(), "{s}");
        }
    }

    /// The event rule (issue examples): only literals whose value is the
    /// shortest round-trip decimal of their double are numbers.
    #[test]
    fn event_literals_follow_the_same_rule() {
        for s in [
            "1.0", "1", "1e0", "10e-1", "0.3", "-0", "300", "3e2", "1e21",
        ] {
            assert!(is_exact(s.as_bytes()), "{s}");
        }
        assert!(is_exact(b"1000000000000000000000"));
        assert!(is_exact(b"-122.42916360922355"));
        assert!(is_exact(b"0.30000000000000004"));
        // A tie between two shortest decimals: Java keeps the even digit.
        assert!(is_exact(b"246619880394268.12"));
        assert!(!is_exact(b"246619880394268.13"));
        for s in [
            "0.30000000000000001",
            "1000000000000000000001",
            "999999999999999999999",
            "5e-324",
            "1e400",
            "-122.422003528252475",
            "1e-400",
        ] {
            assert!(!is_exact(s.as_bytes()), "{s}");
            assert_eq!(exact_value(s.as_bytes()), None, "{s}");
        }
        assert_eq!(exact_value(b"10e-1"), Some(1.0));
    }

    /// A slow oracle built from Rust's formatting: the length of the
    /// shortest round-trip decimal from `{:e}`, its digits from exact
    /// rounding to that length (ties to even, as Java), with Java's
    /// two-digit floor for subnormals; compared as exact decimals.
    fn oracle(text: &str) -> Option<f64> {
        let literal = decimal(text.as_bytes())?;
        let x: f64 = text.parse().ok().filter(|x: &f64| x.is_finite())?;
        let n = decimal(format!("{:e}", x.abs()).as_bytes())?.sig.max(1);
        let n = if x != 0.0 && x.abs() < f64::MIN_POSITIVE {
            n.max(2)
        } else {
            n
        };
        let shortest = format!("{:.*e}", n - 1, x.abs());
        let shortest = decimal(shortest.as_bytes())?;
        let zero = literal.sig == 0 || shortest.sig == 0;
        let same = if zero {
            literal.sig == 0 && shortest.sig == 0
        } else {
            literal.same_magnitude(&shortest)
        };
        same.then_some(x)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// The printer busbar uses agrees with Rust's `{}` on every double,
        /// and the digit-count shortcuts agree with the full comparison.
        #[test]
        fn shortcuts_agree_with_rust_formatting(bits in proptest::prelude::any::<u64>()) {
            let x = f64::from_bits(bits);
            proptest::prop_assume!(x.is_finite());
            let text = format!("{x:e}");
            proptest::prop_assert_eq!(exact_value(text.as_bytes()), oracle(&text), "{}", text);
            proptest::prop_assert_eq!(is_exact(text.as_bytes()), oracle(&text).is_some());
        }

        /// Literals of 1-20 digits, at any exponent, with and without a
        /// nudge of their last digit: both paths agree with the oracle.
        #[test]
        fn literals_agree_with_the_oracle(
            digits in "[1-9][0-9]{0,19}",
            point in 0usize..21,
            exp in proptest::prop_oneof![-30i32..30, -330i32..330],
            negative in proptest::prelude::any::<bool>(),
        ) {
            let point = point.min(digits.len());
            let (int, frac) = digits.split_at(point);
            let int = if int.is_empty() { "0" } else { int };
            let sign = if negative { "-" } else { "" };
            let text = if frac.is_empty() {
                format!("{sign}{int}e{exp}")
            } else {
                format!("{sign}{int}.{frac}e{exp}")
            };
            proptest::prop_assert_eq!(exact_value(text.as_bytes()), oracle(&text), "{}", text);
            proptest::prop_assert_eq!(is_exact(text.as_bytes()), oracle(&text).is_some(), "{}", text);
        }
    }
}

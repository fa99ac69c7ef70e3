//! Deciding a number's segment without converting it exactly.
//!
//! Converting every coordinate of a citylots event with `str::parse::<f64>`
//! was the largest cost of numeric rules (measured with perf: ~35% of the
//! time in `dec2flt` and `from_utf8`). A number's first 19 significant digits
//! times an exact power of ten give a double within 4e-16 (relative) of the
//! true value; when no segment boundary lies within 1e-15 of it, the exact
//! double falls in the same segment, and we never need it. Only numbers that
//! land next to a boundary, have huge exponents or more than 19 digits before
//! the point take the exact path.

/// Exact powers of ten representable as doubles.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Relative distance from a boundary under which the exact value is needed.
pub(crate) const MARGIN: f64 = 1e-15;

/// The value of the eight ASCII digits at `i`, if those bytes are all digits.
#[inline]
fn eight_digits(text: &[u8], i: usize) -> Option<u64> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let x = u64::from_le_bytes(text.get(i..i + 8)?.try_into().ok()?);
    let y = x ^ (0x30 * ONES);
    // A byte is a digit iff (c ^ 0x30) < 10 (no carries between bytes:
    // (y & 0x7f) + 0x76 <= 0xf5).
    if ((y & (0x7f * ONES)).wrapping_add(0x76 * ONES) | y) & (0x80 * ONES) != 0 {
        return None;
    }
    // Pairwise combine: 8 digits → 4 × 2 → 2 × 4 → 1 × 8 (first digit is
    // the lowest byte).
    let y = (y.wrapping_mul(10) + (y >> 8)) & 0x00ff_00ff_00ff_00ff;
    let y = (y.wrapping_mul(100) + (y >> 16)) & 0x0000_ffff_0000_ffff;
    let y = (y.wrapping_mul(10_000) + (y >> 32)) & 0xffff_ffff;
    Some(y)
}

/// A coarser first look, for the common shape `-ddd.dddddddd…`: the
/// integer part and eight fraction digits, the rest skipped unread. Returns
/// the value and a bound on its absolute error (the skipped digits, plus
/// [`MARGIN`] relative for the conversion), or `None` for any other shape.
/// Coordinates carry 13-17 fraction digits and lie far from the rules'
/// boundaries, so the first eight decide their segment and the other digits
/// need not be multiplied in (callgrind: ~40% of the numeric leaf cost).
#[inline]
pub(crate) fn coarse(text: &[u8]) -> Option<(f64, f64)> {
    let neg = text.first() == Some(&b'-');
    let mut i = usize::from(neg);
    let mut int: u64 = 0;
    let start = i;
    while let Some(&c) = text.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        // Up to 9 integer digits keep `int * 1e8 + frac` below 2^63, and
        // its conversion to a double within MARGIN.
        if i - start == 9 {
            return None;
        }
        int = int * 10 + u64::from(c - b'0');
        i += 1;
    }
    if i == start || text.get(i) != Some(&b'.') {
        return None;
    }
    let frac = eight_digits(text, i + 1)?;
    i += 9;
    let rest = i;
    while let Some(c) = text.get(i) {
        if !c.is_ascii_digit() {
            return None;
        }
        i += 1;
    }
    let v = (int * 100_000_000 + frac) as f64 / 1e8;
    let skipped = if i > rest { 1e-8 } else { 0.0 };
    let err = skipped + v * MARGIN;
    Some((if neg { -v } else { v }, err))
}

/// An approximation of valid JSON number text, relative error below 4e-16,
/// or `None` when the text is outside the cheap path.
#[inline]
pub(crate) fn approx(text: &[u8]) -> Option<f64> {
    let mut i = 0;
    let neg = text.first() == Some(&b'-');
    if neg {
        i = 1;
    }
    let mut mant: u64 = 0;
    let mut digits = 0u32;
    let mut exp: i32 = 0;
    while let Some(&c) = text.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        if digits < 19 {
            mant = mant * 10 + u64::from(c - b'0');
            if mant != 0 {
                digits += 1;
            }
        } else {
            exp += 1;
        }
        i += 1;
    }
    if text.get(i) == Some(&b'.') {
        i += 1;
        // Eight fraction digits at a time while they all count (coordinates
        // carry 13-17 of them; perf showed this loop as the hot spot).
        while mant != 0 && digits + 8 <= 19 {
            let Some(x) = eight_digits(text, i) else {
                break;
            };
            mant = mant * 100_000_000 + x;
            digits += 8;
            exp -= 8;
            i += 8;
        }
        while let Some(&c) = text.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            if digits < 19 {
                mant = mant * 10 + u64::from(c - b'0');
                exp -= 1;
                if mant != 0 {
                    digits += 1;
                }
            }
            i += 1;
        }
    }
    if let Some(b'e' | b'E') = text.get(i) {
        i += 1;
        let eneg = text.get(i) == Some(&b'-');
        if let Some(b'+' | b'-') = text.get(i) {
            i += 1;
        }
        let mut e: i32 = 0;
        while let Some(&c) = text.get(i) {
            if !c.is_ascii_digit() || e > 10_000 {
                return None;
            }
            e = e * 10 + i32::from(c - b'0');
            i += 1;
        }
        exp += if eneg { -e } else { e };
    }
    if i != text.len() {
        return None;
    }
    let m = mant as f64;
    let v = if mant == 0 {
        0.0
    } else if (0..=22).contains(&exp) {
        m * POW10[exp as usize]
    } else if (-22..0).contains(&exp) {
        m / POW10[(-exp) as usize]
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_to_the_exact_value() {
        for t in [
            "-122.422003528252475",
            "37.808480096967251",
            "0",
            "-0.0",
            "1e2",
            "123456789012345678901234",
            "0.000001",
            "5E-3",
            "17976931348623157e-22",
        ] {
            let exact: f64 = t.parse().unwrap();
            let a = approx(t.as_bytes());
            match a {
                Some(a) => assert!(
                    (a - exact).abs() <= exact.abs() * 4e-16,
                    "{t}: {a} vs {exact}"
                ),
                None => assert!(t.len() > 20, "{t} should take the cheap path"),
            }
        }
        assert_eq!(approx(b"1e400"), None);
        assert_eq!(eight_digits(b"12345678", 0), Some(12_345_678));
        assert_eq!(eight_digits(b"00000009x", 0), Some(9));
        assert_eq!(eight_digits(b"1234567x", 0), None);
        assert_eq!(eight_digits(b"1234567", 0), None);
    }

    /// 20,000 pseudo-random decimals `[-]int.fraction` (xorshift from
    /// `seed`): integer part below `int_limit`, 1-19 fraction digits taken
    /// from the state shifted right by `frac_shift`; with their fraction
    /// digit counts.
    fn decimals(seed: u64, int_limit: u64, frac_shift: u32) -> Vec<(String, usize)> {
        let mut state = seed;
        (0..20_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let int = state % int_limit;
                let frac = state >> frac_shift;
                let places = 1 + (state % 19) as usize;
                let f = format!("{frac:019}");
                let sign = if state & 1 == 1 { "-" } else { "" };
                (format!("{sign}{int}.{}", &f[..places]), places)
            })
            .collect()
    }

    #[test]
    fn coarse_values_are_within_their_error_bound() {
        for (t, places) in decimals(0x2545_f491_4f6c_dd1d, 1_000_000, 11) {
            let exact: f64 = t.parse().unwrap();
            match coarse(t.as_bytes()) {
                Some((v, err)) => {
                    assert!(places >= 8, "{t}");
                    assert!((v - exact).abs() <= err, "{t}: {v} ± {err} vs {exact}");
                }
                None => assert!(places < 8, "{t} should take the coarse path"),
            }
        }
        for t in [
            "1e5",
            "1.5e5",
            "12345678.123456789e1",
            "-0",
            "0",
            "1234567890.12345678",
            "123456789012345678901234567890.12345678",
            "-.5",
        ] {
            assert_eq!(coarse(t.as_bytes()), None, "{t}");
        }
        assert_eq!(
            coarse(b"-122.42916360922355").map(|c| c.0),
            Some(-122.42916360)
        );
    }

    #[test]
    fn chunked_fractions_agree_with_exact_parsing() {
        for (t, _) in decimals(0x9e37_79b9_7f4a_7c15, 1000, 20) {
            let exact: f64 = t.parse().unwrap();
            let a = approx(t.as_bytes()).unwrap();
            assert!(
                (a - exact).abs() <= exact.abs() * 4e-16,
                "{t}: {a} vs {exact}"
            );
        }
    }
}

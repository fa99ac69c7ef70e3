//! IP addresses and CIDR networks, read the way event-ruler reads them.
//!
//! This module owns three things (semantics §1.9):
//! - [`parse_ip`]: an address literal → [`Ip`], allocation-free because the
//!   engine runs it on event values;
//! - [`parse_cidr`] / [`ip_literal`]: the `cidr` operator and the quirk that
//!   turns an exact string matcher that *looks like* an address into a
//!   single-address range, with event-ruler's reason texts;
//! - [`IpRange::v4_span`] / [`IpRange::v6_span`] / [`IpRange::contains`]:
//!   which addresses of each family a range matches.
//!
//! Why the cross-family rule is odd: event-ruler compares addresses as
//! upper-case hex strings, 8 digits for IPv4 and 32 for IPv6, in a byte trie,
//! so an IPv4 address is compared against an IPv6 range as if it were the
//! 32-bit prefix of an IPv6 address that sorts before every address sharing
//! that prefix (a shorter string sorts first). `::/0` therefore matches every
//! IPv4 address but `0.0.0.0`, and an IPv4 range matches the IPv6 addresses
//! whose top 32 bits fall in `[lo, hi)`. We reproduce that rather than invent
//! a cleaner rule, because rules written against EventBridge depend on it.
//!
//! What counts as an address literal: event-ruler first requires the text to
//! match `[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+` or `[0-9a-fA-F:]*:[0-9a-fA-F:]*`
//! (whole string) and only then asks Java's `InetAddress`; [`looks_like_ip`]
//! is that gate. An IPv4-mapped IPv6 address (`::ffff:0a00:0001`) is an IPv4
//! address to Java, and so to us.

use super::IpRange;

/// An IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ip {
    /// An IPv4 address (also what an IPv4-mapped IPv6 address becomes).
    V4(u32),
    /// An IPv6 address.
    V6(u128),
}

/// Parse an IPv4 or IPv6 address literal. No allocation.
///
/// As the JDK's `InetAddress` reads a literal (its `IPAddressUtil`):
/// IPv4 is exactly four dot-separated decimal parts, each ≤ 255, with any
/// number of leading zeros (`10.0.0.0001` is 10.0.0.1), the whole at most
/// [`MAX_V4_CHARS`] characters. IPv6 is the RFC 4291 text forms — up to
/// eight groups of hex digits in either case, each group limited by its
/// value (≤ `0xffff`), not by its digit count (`2001:00db8::1`), one `::`,
/// an optional dotted IPv4 tail. An IPv4-mapped IPv6 address
/// (`::ffff:a.b.c.d`, or the same in hex groups) gives [`Ip::V4`]. No
/// whitespace, no zone ids, no brackets.
///
/// This does not apply event-ruler's regex gate (see [`looks_like_ip`]), so it
/// accepts dotted IPv4 tails that event-ruler never treats as addresses; use
/// [`parse_event_ip`] to read an event value the way event-ruler does.
pub fn parse_ip(s: &[u8]) -> Option<Ip> {
    if s.contains(&b':') {
        parse_v6(s)
    } else {
        parse_v4(s).map(Ip::V4)
    }
}

/// Read an event's string value as an address exactly when event-ruler would:
/// [`looks_like_ip`] and then [`parse_ip`]. No allocation.
///
/// So `"::ffff:10.0.0.1"` (dots fail the IPv6 regex) is not an address here,
/// while `"::ffff:a00:1"` is 10.0.0.1.
pub fn parse_event_ip(s: &[u8]) -> Option<Ip> {
    if looks_like_ip(s) {
        parse_ip(s)
    } else {
        None
    }
}

/// event-ruler's gate before it parses an address (`Constants.IPv4_REGEX` /
/// `IPv6_REGEX`, matched against the whole string): four dot-separated runs of
/// ASCII digits, or only hex digits and colons with at least one colon.
pub fn looks_like_ip(s: &[u8]) -> bool {
    looks_like_v4(s) || looks_like_v6(s)
}

fn looks_like_v4(s: &[u8]) -> bool {
    let mut parts = 0;
    for part in s.split(|&b| b == b'.') {
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return false;
        }
        parts += 1;
    }
    parts == 4
}

fn looks_like_v6(s: &[u8]) -> bool {
    s.contains(&b':') && s.iter().all(|&b| b == b':' || b.is_ascii_hexdigit())
}

/// The longest IPv4 literal the JDK reads (`IPAddressUtil`'s check on the
/// text's length): leading zeros may pad the parts only up to it, so
/// `0.0.0.0255` is an address and `010.000.000.0001` is not.
pub const MAX_V4_CHARS: usize = 15;

fn parse_v4(s: &[u8]) -> Option<u32> {
    if s.len() > MAX_V4_CHARS {
        return None;
    }
    let mut addr = 0u32;
    let mut i = 0;
    for part in 0..4 {
        if part > 0 {
            if s.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut octet = 0u32;
        while let Some(&b) = s.get(i) {
            if !b.is_ascii_digit() {
                break;
            }
            octet = octet * 10 + u32::from(b - b'0');
            if octet > 255 {
                return None;
            }
            i += 1;
        }
        if i == start || octet > 255 {
            return None;
        }
        addr = (addr << 8) | octet;
    }
    if i == s.len() {
        Some(addr)
    } else {
        None
    }
}

/// Groups of an IPv6 address being read: those before `::` and those after.
struct Groups {
    head: [u16; 8],
    head_len: usize,
    tail: [u16; 8],
    tail_len: usize,
    gap: bool,
}

impl Groups {
    fn push(&mut self, g: u16) -> Option<()> {
        if self.head_len + self.tail_len >= 8 {
            return None;
        }
        if self.gap {
            self.tail[self.tail_len] = g;
            self.tail_len += 1;
        } else {
            self.head[self.head_len] = g;
            self.head_len += 1;
        }
        Some(())
    }
}

fn parse_v6(s: &[u8]) -> Option<Ip> {
    let mut groups = Groups {
        head: [0; 8],
        head_len: 0,
        tail: [0; 8],
        tail_len: 0,
        gap: false,
    };
    let mut i = 0;
    if s.starts_with(b"::") {
        groups.gap = true;
        i = 2;
    } else if s.first() == Some(&b':') {
        return None;
    }
    while i < s.len() {
        let seg_end = s[i..]
            .iter()
            .position(|&b| b == b':')
            .map_or(s.len(), |p| i + p);
        let seg = &s[i..seg_end];
        if seg.contains(&b'.') {
            // A dotted IPv4 tail: only as the very last segment.
            if seg_end != s.len() {
                return None;
            }
            let v4 = parse_v4(seg)?;
            groups.push((v4 >> 16) as u16)?;
            groups.push(v4 as u16)?;
            break;
        }
        if seg.is_empty() {
            return None;
        }
        let mut g = 0u32;
        for &b in seg {
            g = (g << 4) | (b as char).to_digit(16)?;
            if g > 0xffff {
                return None;
            }
        }
        groups.push(g as u16)?;
        i = seg_end;
        if i == s.len() {
            break;
        }
        // s[i] is ':'
        i += 1;
        if s.get(i) == Some(&b':') {
            if groups.gap {
                return None;
            }
            groups.gap = true;
            i += 1;
        } else if i == s.len() {
            return None; // a single trailing colon
        }
    }
    let total = groups.head_len + groups.tail_len;
    if (groups.gap && total > 7) || (!groups.gap && total != 8) {
        return None;
    }
    let mut addr = 0u128;
    for (k, g) in groups.head[..groups.head_len].iter().enumerate() {
        addr |= u128::from(*g) << (112 - 16 * k);
    }
    for (k, g) in groups.tail[..groups.tail_len].iter().rev().enumerate() {
        addr |= u128::from(*g) << (16 * k);
    }
    if addr >> 32 == 0xffff {
        // ::ffff:a.b.c.d — Java's InetAddress hands back an Inet4Address.
        Some(Ip::V4(addr as u32))
    } else {
        Some(Ip::V6(addr))
    }
}

/// `Integer.parseInt` as Java does it for ASCII text: an optional sign, at
/// least one digit, nothing else, within `i32`.
fn java_parse_int(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    let (negative, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(d - b'0');
        if v > i64::from(i32::MAX) + 1 {
            return None;
        }
    }
    let v = if negative { -v } else { v };
    i32::try_from(v).ok()
}

/// Parse the value of a `cidr` operator. The error is EventBridge's reason
/// text (semantics §1.9.3-1.9.6):
///
/// - not exactly two `/`-separated parts (Java `split`, which drops trailing
///   empty parts, so `10.0.0.0/24/` is accepted and `10.0.0.0/` is not) →
///   `Malformed CIDR, one '/' required`;
/// - mask not an `int` → `Malformed CIDR, mask bits must be an integer`;
///   negative → `Malformed CIDR, mask bits must not be negative`;
/// - address failing event-ruler's regex gate → `Nonstandard IP address: <addr>`;
///   passing it but not parsing → `Invalid IP address: <addr>`;
/// - IPv4 (including IPv4-mapped IPv6) mask ≥ 32 → `IPv4 mask bits must be < 32`;
///   IPv6 mask ≥ 128 → `IPv6 mask bits must be < 128`.
///
/// Host bits are ignored: `10.0.0.77/24` is `10.0.0.0/24`.
pub fn parse_cidr(s: &str) -> Result<IpRange, String> {
    let mut parts: Vec<&str> = s.split('/').collect();
    if parts.len() > 1 {
        while parts.last() == Some(&"") {
            parts.pop();
        }
    }
    let [addr, mask] = parts[..] else {
        return Err("Malformed CIDR, one '/' required".to_string());
    };
    let Some(mask) = java_parse_int(mask) else {
        return Err("Malformed CIDR, mask bits must be an integer".to_string());
    };
    if mask < 0 {
        return Err("Malformed CIDR, mask bits must not be negative".to_string());
    }
    let mask = mask as u32;
    if !looks_like_ip(addr.as_bytes()) {
        return Err(format!("Nonstandard IP address: {addr}"));
    }
    match parse_ip(addr.as_bytes()) {
        None => Err(format!("Invalid IP address: {addr}")),
        Some(Ip::V4(a)) => {
            if mask > 31 {
                return Err("IPv4 mask bits must be < 32".to_string());
            }
            let net = u32::MAX.checked_shl(32 - mask).unwrap_or(0);
            Ok(IpRange {
                v6: false,
                lo: u128::from(a & net),
                hi: u128::from(a | !net),
            })
        }
        Some(Ip::V6(a)) => {
            if mask > 127 {
                return Err("IPv6 mask bits must be < 128".to_string());
            }
            let net = u128::MAX.checked_shl(128 - mask).unwrap_or(0);
            Ok(IpRange {
                v6: true,
                lo: a & net,
                hi: a | !net,
            })
        }
    }
}

/// §1.9.7: an exact string matcher that looks like an address literal (the
/// regex gate, [`looks_like_ip`]) and parses as one becomes a single-address
/// range; anything else (`"08:23"`, `"10.0.0.256"`) stays a plain string.
pub fn ip_literal(s: &str) -> Option<IpRange> {
    match parse_event_ip(s.as_bytes())? {
        Ip::V4(a) => Some(IpRange {
            v6: false,
            lo: u128::from(a),
            hi: u128::from(a),
        }),
        Ip::V6(a) => Some(IpRange {
            v6: true,
            lo: a,
            hi: a,
        }),
    }
}

impl IpRange {
    /// The inclusive range of IPv4 addresses this range matches, or `None`
    /// when it matches none.
    ///
    /// An IPv4 range: itself. An IPv6 range `[lo, hi]`: the IPv4 addresses
    /// `s` with `top32(lo) < s <= top32(hi)` (event-ruler's hex-string
    /// comparison, see the module docs).
    pub fn v4_span(&self) -> Option<(u32, u32)> {
        if !self.v6 {
            return Some((self.lo as u32, self.hi as u32));
        }
        let lo = (self.lo >> 96) as u32;
        let hi = (self.hi >> 96) as u32;
        let first = lo.checked_add(1)?;
        if first <= hi {
            Some((first, hi))
        } else {
            None
        }
    }

    /// The inclusive range of IPv6 addresses this range matches, or `None`
    /// when it matches none.
    ///
    /// An IPv6 range: itself. An IPv4 range `[lo, hi]`: the IPv6 addresses `t`
    /// with `lo <= top32(t) < hi`, i.e. `[lo << 96, (hi << 96) - 1]`, empty
    /// for a single IPv4 address.
    pub fn v6_span(&self) -> Option<(u128, u128)> {
        if self.v6 {
            return Some((self.lo, self.hi));
        }
        if self.lo < self.hi {
            Some((self.lo << 96, (self.hi << 96) - 1))
        } else {
            None
        }
    }

    /// Does this range match `ip`? Membership in the span of `ip`'s family.
    pub fn contains(&self, ip: Ip) -> bool {
        match ip {
            Ip::V4(a) => self.v4_span().is_some_and(|(lo, hi)| lo <= a && a <= hi),
            Ip::V6(a) => self.v6_span().is_some_and(|(lo, hi)| lo <= a && a <= hi),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> u32 {
        match parse_ip(s.as_bytes()) {
            Some(Ip::V4(a)) => a,
            other => panic!("{s:?} gave {other:?}"),
        }
    }

    fn v6(s: &str) -> u128 {
        match parse_ip(s.as_bytes()) {
            Some(Ip::V6(a)) => a,
            other => panic!("{s:?} gave {other:?}"),
        }
    }

    fn cidr(s: &str) -> IpRange {
        match parse_cidr(s) {
            Ok(r) => r,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    fn ip(s: &str) -> Ip {
        match parse_ip(s.as_bytes()) {
            Some(ip) => ip,
            None => panic!("{s:?} is not an address"),
        }
    }

    fn err(s: &str) -> String {
        match parse_cidr(s) {
            Ok(r) => panic!("{s:?} accepted as {r:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn ipv4_literals() {
        assert_eq!(v4("10.0.0.1"), 0x0a00_0001);
        assert_eq!(v4("10.0.0.01"), 0x0a00_0001);
        assert_eq!(v4("010.000.000.001"), 0x0a00_0001);
        // Any number of leading zeros, within 15 characters (the JDK).
        assert_eq!(v4("10.0.0.0001"), 0x0a00_0001);
        assert_eq!(v4("0.0.0.0255"), 255);
        assert_eq!(v4("0000.0.0.00001"), 1);
        assert_eq!(v4("255.255.255.255"), u32::MAX);
        assert_eq!(v4("0.0.0.0"), 0);
        for bad in [
            "10.0.0.256",
            " 10.0.0.1",
            "10.0.0.1 ",
            "10.0.0",
            "10.0.0.0.1",
            "10..0.1",
            "010.000.000.0001",
            "0.0.0.0256",
            "10.0.0.00000000000000000000001",
            "10.0.0.-1",
            "",
            "a.b.c.d",
            "10.0.0.1.",
        ] {
            assert_eq!(parse_ip(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn ipv6_literals() {
        assert_eq!(v6("::"), 0);
        assert_eq!(v6("::1"), 1);
        assert_eq!(v6("1::"), 1 << 112);
        assert_eq!(
            v6("2001:db8::ff00:42:8329"),
            0x2001_0db8_0000_0000_0000_ff00_0042_8329
        );
        assert_eq!(
            v6("2001:DB8:1234:1A00::1"),
            v6("2001:0db8:1234:1a00:0000:0000:0000:0001")
        );
        assert_eq!(
            v6("0011:2233:4455:6677:8899:aabb:ccdd:eeff"),
            0x0011_2233_4455_6677_8899_aabb_ccdd_eeff
        );
        assert_eq!(v6("1:2:3:4:5:6:7::"), v6("1:2:3:4:5:6:7:0"));
        // A group is limited by its value, not its digits (the JDK).
        assert_eq!(v6("2001:00db8::1"), v6("2001:db8::1"));
        assert_eq!(v6("0000000000ffff::"), 0xffff << 112);
        assert_eq!(v6("::1.2.3.0004"), 0x0102_0304);
        assert_eq!(v6("::2:3:4:5:6:7:8"), v6("0:2:3:4:5:6:7:8"));
        // IPv4-compatible (not mapped) stays IPv6.
        assert_eq!(v6("::1.2.3.4"), 0x0102_0304);
        assert_eq!(v6("1:2:3:4:5:6:1.2.3.4"), v6("1:2:3:4:5:6:102:304"));
        for bad in [
            ":",
            ":::",
            "1:2",
            "1:2:3:4:5:6:7:8:9",
            "1::2:3:4:5:6:7:8",
            "1::2::3",
            ":1::",
            "1::2:",
            "12345::",
            "10000::",
            "000010000::",
            "::1.2.3.0000000000004",
            "g::",
            "::1.2.3",
            "::1.2.3.4:5",
            "1:2:3:4:5:6:7:1.2.3.4",
            "::1 ",
            "fe80::1%eth0",
            "[::1]",
        ] {
            assert_eq!(parse_ip(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn ipv4_mapped_ipv6_is_ipv4() {
        assert_eq!(parse_ip(b"::ffff:10.0.0.1"), Some(Ip::V4(0x0a00_0001)));
        assert_eq!(parse_ip(b"::FFFF:a00:1"), Some(Ip::V4(0x0a00_0001)));
        assert_eq!(
            parse_ip(b"0:0:0:0:0:ffff:0a00:95b7"),
            Some(Ip::V4(0x0a00_95b7))
        );
        // event-ruler's regex gate rejects the dotted form in events.
        assert_eq!(parse_event_ip(b"::ffff:10.0.0.1"), None);
        assert_eq!(parse_event_ip(b"::ffff:a00:1"), Some(Ip::V4(0x0a00_0001)));
        assert_eq!(parse_event_ip(b"10.0.0.01"), Some(Ip::V4(0x0a00_0001)));
        assert_eq!(parse_event_ip(b"10.0.0.256"), None);
    }

    #[test]
    fn regex_gate() {
        assert!(looks_like_ip(b"10.0.0.1"));
        assert!(looks_like_ip(b"999.999.999.999"));
        assert!(looks_like_ip(b"08:23"));
        assert!(looks_like_ip(b":"));
        assert!(looks_like_ip(b"::"));
        assert!(!looks_like_ip(b"::ffff:1.2.3.4"));
        assert!(!looks_like_ip(b"10.0.0"));
        assert!(!looks_like_ip(b"xx.11.xx.1"));
        assert!(!looks_like_ip(b"abcdef"));
        assert!(!looks_like_ip(b""));
    }

    // §1.9.1
    #[test]
    fn ipv4_cidr_membership() {
        let r = cidr("10.0.0.0/24");
        assert_eq!(
            r,
            IpRange {
                v6: false,
                lo: 0x0a00_0000,
                hi: 0x0a00_00ff
            }
        );
        assert!(r.contains(ip("10.0.0.255")));
        assert!(r.contains(ip("10.0.0.0")));
        assert!(!r.contains(ip("10.0.1.0")));
        assert!(parse_ip(b"10.0.0.256").is_none());
        assert!(parse_ip(b" 10.0.0.1").is_none());
    }

    // §1.9.2
    #[test]
    fn ipv6_cidr_membership() {
        let r = cidr("2001:db8:1234:1a00::/64");
        assert!(r.v6);
        assert!(r.contains(ip("2001:0db8:1234:1a00:0000:0000:0000:0000")));
        assert!(r.contains(ip("2001:DB8:1234:1A00::1")));
        assert!(r.contains(ip("2001:db8:1234:1a00:ffff:ffff:ffff:ffff")));
        assert!(!r.contains(ip("2001:0db8:123f:1a01:0000:0000:0000:0000")));
    }

    // §1.9.3
    #[test]
    fn host_bits_ignored_and_slash_zero() {
        assert_eq!(cidr("10.0.0.77/24"), cidr("10.0.0.0/24"));
        assert_eq!(cidr("54.240.196.171/24").lo, 0x36f0_c400);
        assert_eq!(
            cidr("0.0.0.0/0"),
            IpRange {
                v6: false,
                lo: 0,
                hi: u32::MAX as u128
            }
        );
        assert_eq!(cidr("10.1.2.3/0"), cidr("0.0.0.0/0"));
        assert_eq!(
            cidr("::/0"),
            IpRange {
                v6: true,
                lo: 0,
                hi: u128::MAX
            }
        );
        assert_eq!(cidr("13.32.0.0/15").hi, 0x0d21_ffff);
        assert_eq!(
            cidr("2400:6500:FF00::36FB:1F80/122").hi,
            0x2400_6500_ff00_0000_0000_0000_36fb_1fbf
        );
        assert_eq!(cidr("10.0.0.0/31").hi, 0x0a00_0001);
    }

    #[test]
    fn cross_family_quirk() {
        // An IPv6 range and IPv4 addresses: top32(lo) < s <= top32(hi).
        let all6 = cidr("::/0");
        assert_eq!(all6.v4_span(), Some((1, u32::MAX)));
        assert!(all6.contains(ip("10.0.0.1")));
        assert!(all6.contains(ip("255.255.255.255")));
        assert!(!all6.contains(ip("0.0.0.0")));
        let doc = cidr("2001:db8::/32");
        assert_eq!(doc.v4_span(), None);
        assert!(!doc.contains(ip("32.1.13.184"))); // 0x20010db8
        let wide = cidr("2000::/3");
        assert_eq!(wide.v4_span(), Some((0x2000_0001, 0x3fff_ffff)));
        assert!(wide.contains(ip("32.1.13.184")));
        assert!(!wide.contains(ip("32.0.0.0")));
        assert!(wide.contains(ip("63.255.255.255")));
        // An IPv6 range whose top32(lo) is all ones matches no IPv4 address.
        assert_eq!(cidr("ffff:ffff::/32").v4_span(), None);

        // An IPv4 range and IPv6 addresses: lo <= top32(t) < hi.
        let net = cidr("10.0.0.0/8");
        assert_eq!(
            net.v6_span(),
            Some((0x0a00_0000u128 << 96, (0x0aff_ffffu128 << 96) - 1))
        );
        assert!(net.contains(Ip::V6(0x0a00_0000u128 << 96)));
        assert!(net.contains(Ip::V6((0x0aff_fffeu128 << 96) | 5)));
        assert!(!net.contains(Ip::V6(0x0aff_ffffu128 << 96)));
        assert!(!net.contains(Ip::V6(1)));
        // A single IPv4 address matches no IPv6 address.
        let one = ip_literal("10.0.0.1").expect("literal");
        assert_eq!(one.v6_span(), None);
        assert!(!one.contains(Ip::V6(0x0a00_0001u128 << 96)));
    }

    // §1.9.4
    #[test]
    fn ipv4_mapped_cidr_is_ipv4() {
        assert_eq!(err("::ffff:0a00:95b7/64"), "IPv4 mask bits must be < 32");
        let r = cidr("::ffff:0a00:0000/24");
        assert_eq!(
            r,
            IpRange {
                v6: false,
                lo: 0x0a00_0000,
                hi: 0x0a00_00ff
            }
        );
        // The dotted form fails event-ruler's regex gate before any parsing.
        assert_eq!(
            err("::ffff:10.0.149.183/64"),
            "Nonstandard IP address: ::ffff:10.0.149.183"
        );
    }

    // §1.9.5
    #[test]
    fn mask_limits() {
        assert_eq!(err("10.0.0.0/32"), "IPv4 mask bits must be < 32");
        assert_eq!(err("192.168.0.1/33"), "IPv4 mask bits must be < 32");
        assert_eq!(err("::1/128"), "IPv6 mask bits must be < 128");
        assert_eq!(
            err("2400:6500:FF00::36FB:1F80/222"),
            "IPv6 mask bits must be < 128"
        );
        assert!(parse_cidr("::1/127").is_ok());
    }

    // §1.9.6
    #[test]
    fn malformed_cidrs() {
        assert_eq!(err("10.0.0.0"), "Malformed CIDR, one '/' required");
        assert_eq!(err("foo"), "Malformed CIDR, one '/' required");
        assert_eq!(err("foo/bar/baz"), "Malformed CIDR, one '/' required");
        assert_eq!(err("10.0.0.0/"), "Malformed CIDR, one '/' required");
        assert_eq!(err("10.0.0.0//24"), "Malformed CIDR, one '/' required");
        assert_eq!(err("/"), "Malformed CIDR, one '/' required");
        assert_eq!(err(""), "Malformed CIDR, one '/' required");
        assert_eq!(
            err("10.0.0.0/foo"),
            "Malformed CIDR, mask bits must be an integer"
        );
        assert_eq!(
            err("10.0.0.0/ 8"),
            "Malformed CIDR, mask bits must be an integer"
        );
        assert_eq!(
            err("10.0.0.0/8.0"),
            "Malformed CIDR, mask bits must be an integer"
        );
        assert_eq!(
            err("10.0.0.0/-"),
            "Malformed CIDR, mask bits must be an integer"
        );
        assert_eq!(
            err("10.0.0.0/99999999999"),
            "Malformed CIDR, mask bits must be an integer"
        );
        assert_eq!(
            err("192.168.0.1/-3424"),
            "Malformed CIDR, mask bits must not be negative"
        );
        assert_eq!(err("xx.11.xx/8"), "Nonstandard IP address: xx.11.xx");
        assert_eq!(
            err("xxxx:db8:1234:1a00::/64"),
            "Nonstandard IP address: xxxx:db8:1234:1a00::"
        );
        assert_eq!(err("snorkle/3"), "Nonstandard IP address: snorkle");
        assert_eq!(
            err("10.10.10.10.10/3"),
            "Nonstandard IP address: 10.10.10.10.10"
        );
        assert_eq!(err("2.1.0.-1/3"), "Nonstandard IP address: 2.1.0.-1");
        assert_eq!(err("/24"), "Nonstandard IP address: ");
        // Passes the regex gate, fails to parse.
        assert_eq!(err("10.0.0.256/24"), "Invalid IP address: 10.0.0.256");
        assert_eq!(
            err("2400:6500:3:3:3:3:3:3:3:3FF00::36FB:1F80/122"),
            "Invalid IP address: 2400:6500:3:3:3:3:3:3:3:3FF00::36FB:1F80"
        );
        // Order of checks: the mask is judged before the address.
        assert_eq!(
            err("junk/x"),
            "Malformed CIDR, mask bits must be an integer"
        );
        assert_eq!(
            err("junk/-1"),
            "Malformed CIDR, mask bits must not be negative"
        );
        assert_eq!(err("junk/99"), "Nonstandard IP address: junk");
    }

    #[test]
    fn java_split_and_parse_int_quirks() {
        // Trailing empty parts are dropped by Java's split.
        assert_eq!(cidr("10.0.0.0/24/"), cidr("10.0.0.0/24"));
        assert_eq!(cidr("10.0.0.0/+24"), cidr("10.0.0.0/24"));
        assert_eq!(cidr("10.0.0.0/-0"), cidr("10.0.0.0/0"));
        assert_eq!(cidr("10.0.0.0/008"), cidr("10.0.0.0/8"));
    }

    // §1.9.7
    #[test]
    fn ip_literals_become_single_address_ranges() {
        let r = ip_literal("2001:db8::1").expect("literal");
        assert!(r.contains(ip("2001:0db8:0000:0000:0000:0000:0000:0001")));
        assert!(!r.contains(ip("2001:db8::2")));
        let r = ip_literal("10.0.0.1").expect("literal");
        assert_eq!(
            r,
            IpRange {
                v6: false,
                lo: 0x0a00_0001,
                hi: 0x0a00_0001
            }
        );
        assert!(r.contains(ip("10.0.0.01")));
        assert!(!r.contains(ip("10.0.0.2")));
        assert_eq!(ip_literal("08:23"), None);
        assert_eq!(ip_literal("10.0.0.256"), None);
        assert_eq!(ip_literal("::ffff:10.0.0.1"), None);
        assert_eq!(ip_literal("hello"), None);
        assert_eq!(ip_literal(""), None);
        assert_eq!(
            ip_literal("::ffff:a00:1"),
            Some(IpRange {
                v6: false,
                lo: 0x0a00_0001,
                hi: 0x0a00_0001
            })
        );
        // A single IPv6 address does match the IPv4 addresses strictly inside
        // its top 32 bits' span — none.
        let r = ip_literal("::1").expect("literal");
        assert_eq!(r.v4_span(), None);
    }
}

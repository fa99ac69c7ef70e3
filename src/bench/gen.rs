//! The citylots-like event generator: a splitmix64 PRNG, the model of blocks,
//! lots, condominium units and towers, and the byte-exact JSON writer.
//!
//! Everything is integer arithmetic (coordinates are fixed-point, 10⁻¹⁵
//! degree units, formatted by hand), so the same `(count, seed)` gives the
//! same bytes on every platform. The stream is a pure function of the seed:
//! `citylots(n, s)` is a prefix of `citylots(m, s)` for `n < m`, and the mix
//! of lots does not drift along the file (blocks are visited in a permuted
//! order, not sorted), so 20,000 events measure the same mix as 200,000.

use super::streets;

/// splitmix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number
/// generators", 2014). Small, fast, and good enough for test data.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n == 0`), by multiply-high (Lemire).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `num / den`.
    pub(crate) fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
}

/// Fixed-point units per degree.
const UNIT: u64 = 1_000_000_000_000_000;

/// Longitude bands, as magnitudes of the (negative) longitude, with weights
/// in percent: 30% west of -122.4647, 40% between -122.4647 and -122.416,
/// 20% up to -122.4063, 10% east of that. This reproduces the fractions
/// event-ruler's numeric rules see on the real file (about 70% of lots west
/// of -122.416, about 60% between -122.4647 and -122.4063).
const X_BANDS: &[(u64, u64, u64)] = &[
    (122_464_700_000_000_000, 122_512_000_000_000_000, 30),
    (122_416_000_000_000_000, 122_464_700_000_000_000, 40),
    (122_406_300_000_000_000, 122_416_000_000_000_000, 20),
    (122_360_000_000_000_000, 122_406_300_000_000_000, 10),
];
const Y_SOUTH: u64 = 37_708_500_000_000_000;
const Y_NORTH: u64 = 37_809_500_000_000_000;
/// Half extent of a block around its centre.
const BLOCK_HALF_W: u64 = 1_200_000_000_000;
const BLOCK_HALF_H: u64 = 450_000_000_000;
/// Vertex jitter, ± units (about 20 cm).
const JITTER: u64 = 2_000_000_000;

/// Block numbers run `0001`..=`7600`; they are visited in a permuted order.
const BLOCKS: u64 = 7600;
const BLOCK_STRIDE: u64 = 2617; // prime, coprime with 7600

/// Shared survey corners: a few lots in every thousand start their ring at
/// one of these exact coordinates, so `numeric` `=` rules have something to
/// match (the real data shares vertices between adjacent lots). The first is
/// the first vertex of the first lot of the real file.
pub(crate) const ANCHORS: &[(&str, &str)] = &[
    ("-122.422003528252475", "37.808480096967251"),
    ("-122.42916360922355", "37.76284403232127"),
    ("-122.47277307448076", "37.73439178240811"),
    ("-122.39876543210987", "37.78123456789012"),
];
/// One regular lot in this many starts on an anchor.
const ANCHOR_ONE_IN: u64 = 250;

/// Large condominium buildings: every unit is an event with the parent's
/// `MAPBLKLOT` and polygon and its own `BLKLOT`, as in the real file (where
/// one `MAPBLKLOT` carries 655 units). `(block, parent lot, street, type,
/// from, to, weight)`.
type TowerSpec = (
    &'static str,
    u32,
    &'static str,
    Option<&'static str>,
    u32,
    u32,
    u64,
);
const TOWERS: &[TowerSpec] = &[
    ("3745", 12, "FOLSOM", Some("ST"), 425, 425, 12),
    ("2607", 117, "MARKET", Some("ST"), 3880, 3890, 4),
    ("2607", 218, "MARKET", Some("ST"), 3950, 3950, 2),
    ("1430", 22, "CLEMENT", Some("ST"), 441, 441, 2),
    ("3708", 41, "MISSION", Some("ST"), 301, 301, 5),
    ("0331", 8, "POST", Some("ST"), 333, 333, 3),
    ("3767", 305, "KING", Some("ST"), 200, 200, 3),
];
/// Tower units per 10,000 events.
const TOWER_PER_10K: u64 = 150;

/// Vacated-street parcels: odd `MAPBLKLOT`s that are no block/lot number.
const VACATED: &[&str] = &["VACSTWIL", "VACSTJES", "VACSTCLE", "VACSTMIN"];
/// Vacated-street parcels per 10,000 events.
const VACATED_PER_10K: u64 = 20;

/// Regular lots per 1,000 that head a small condominium group.
const CONDO_PER_1K: u64 = 40;
/// Regular lots per 10,000 that are a `MultiPolygon` (real file: ~5.6).
const MULTI_PER_10K: u64 = 12;
/// Polygons per 1,000 that have a hole (a second ring).
const HOLE_PER_1K: u64 = 5;

/// The numbers of one lot's `properties` object.
struct Props<'a> {
    mapblklot: &'a str,
    blklot: &'a str,
    block_num: &'a str,
    lot_num: &'a str,
    from: u32,
    to: u32,
    street: &'a str,
    st_type: Option<&'a str>,
}

/// A city block being emitted lot by lot.
struct Block {
    num: String,
    x: u64,
    y: u64,
    streets: Vec<usize>,
    next_addr: Vec<u32>,
    lots_left: u64,
    next_lot: u32,
    next_unit: u32,
}

/// A condominium group whose remaining units are emitted next.
struct Condo {
    mapblklot: String,
    block_num: String,
    street: usize,
    from: u32,
    to: u32,
    units_left: u64,
    next_unit: u32,
    geometry: Vec<u8>,
}

struct Tower {
    mapblklot: String,
    spec: TowerSpec,
    geometry: Vec<u8>,
    next_unit: u32,
}

pub(crate) struct Generator {
    rng: SplitMix64,
    streets: Vec<(String, Option<&'static str>, u32)>,
    street_cum: Vec<u64>,
    unknown: usize,
    towers: Vec<Tower>,
    tower_cum: Vec<u64>,
    blocks_started: u64,
    block_offset: u64,
    block: Option<Block>,
    condo: Option<Condo>,
    emitted: u64,
    scratch: Vec<u8>,
    name_buf: String,
    blklot_buf: String,
    lot_buf: String,
}

fn cumulative(weights: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut acc = 0;
    weights
        .map(|w| {
            acc += w;
            acc
        })
        .collect()
}

fn pick(rng: &mut SplitMix64, cum: &[u64]) -> usize {
    let total = cum.last().copied().unwrap_or(0);
    let r = rng.below(total);
    cum.partition_point(|&c| c <= r)
}

/// Magnitude in units of a decimal text such as `-122.4220035` (sign and
/// digits beyond the 15th decimal ignored).
fn parse_units(s: &str) -> u64 {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut v: u64 = 0;
    for b in int.bytes().filter(u8::is_ascii_digit) {
        v = v * 10 + u64::from(b - b'0');
    }
    let mut f: u64 = 0;
    let mut n = 0;
    for b in frac.bytes().filter(u8::is_ascii_digit).take(15) {
        f = f * 10 + u64::from(b - b'0');
        n += 1;
    }
    for _ in n..15 {
        f *= 10;
    }
    v * UNIT + f
}

fn push_u64(out: &mut Vec<u8>, v: u64) {
    crate::envelope::push_digits(out, v, 0);
}

/// `units` (10⁻¹⁵ degrees) with `decimals` decimals, truncated, never
/// ending in `0` (like the shortest round-trip text of the real file).
fn push_fixed(out: &mut Vec<u8>, negative: bool, units: u64, decimals: usize) {
    if negative {
        out.push(b'-');
    }
    push_u64(out, units / UNIT);
    out.push(b'.');
    let mut frac = units % UNIT;
    let mut digits = [b'0'; 15];
    for d in digits.iter_mut().rev() {
        *d = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    let end = decimals.clamp(1, 15);
    // Shortest round-trip text never ends in 0: nudge the last digit instead
    // of dropping it, so every number keeps its 15-17 significant digits.
    if digits[end - 1] == b'0' {
        digits[end - 1] = b'1';
    }
    out.extend_from_slice(&digits[..end]);
}

/// How a ring starts: at an anchor (exact text) or at a computed vertex.
#[derive(Clone, Copy)]
enum Start {
    Anchor(usize),
    Computed,
}

/// Number of positions in a ring, closing repeat included (4..=30); the
/// mix gives about 900 bytes per event on average.
fn ring_len(rng: &mut SplitMix64) -> u64 {
    match rng.below(100) {
        0..=4 => 4,
        5..=26 => 5,
        27..=36 => rng.range(6, 11),
        _ => rng.range(12, 30),
    }
}

impl Generator {
    pub(crate) fn new(seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let streets = streets::table();
        let street_cum = cumulative(streets.iter().map(|s| u64::from(s.2)));
        let unknown = streets.iter().position(|s| s.0 == "UNKNOWN").unwrap_or(0);
        let block_offset = rng.below(BLOCKS);
        let mut g = Generator {
            rng,
            streets,
            street_cum,
            unknown,
            towers: Vec::new(),
            tower_cum: cumulative(TOWERS.iter().map(|t| t.6)),
            blocks_started: 0,
            block_offset,
            block: None,
            condo: None,
            emitted: 0,
            scratch: Vec::with_capacity(2048),
            name_buf: String::new(),
            blklot_buf: String::new(),
            lot_buf: String::new(),
        };
        // Tower polygons come from their own stream so that adding a tower
        // does not shift every other event.
        let mut trng = SplitMix64::new(seed ^ 0x7047_6572_5f74_6f77);
        for &spec in TOWERS {
            let (x, y) = Self::place(&mut trng);
            let mut geometry = Vec::new();
            Self::polygon(&mut trng, &mut geometry, x, y, Start::Computed, false);
            g.towers.push(Tower {
                mapblklot: format!("{}{:03}", spec.0, spec.1),
                spec,
                geometry,
                next_unit: 0,
            });
        }
        g
    }

    /// A random block centre.
    fn place(rng: &mut SplitMix64) -> (u64, u64) {
        let mut r = rng.below(100);
        let mut band = X_BANDS[0];
        for &b in X_BANDS {
            band = b;
            if r < b.2 {
                break;
            }
            r -= b.2;
        }
        let x = rng.range(band.0, band.1 - 1);
        let y = rng.range(Y_SOUTH, Y_NORTH);
        (x, y)
    }

    /// Appends one event (no newline).
    pub(crate) fn next_event(&mut self, out: &mut Vec<u8>) {
        let n = self.emitted;
        self.emitted += 1;
        if n == 0 {
            return self.first(out);
        }
        if self.condo.is_some() {
            return self.condo_unit(out);
        }
        let r = self.rng.below(10_000);
        if r < TOWER_PER_10K {
            self.tower_unit(out)
        } else if r < TOWER_PER_10K + VACATED_PER_10K {
            self.vacated(out)
        } else {
            self.regular(out)
        }
    }

    /// The first lot of the real file: block 0001, lot 001, no address.
    fn first(&mut self, out: &mut Vec<u8>) {
        let mut geometry = std::mem::take(&mut self.scratch);
        geometry.clear();
        let (x, y) = (parse_units(ANCHORS[0].0), parse_units(ANCHORS[0].1));
        Self::polygon(&mut self.rng, &mut geometry, x, y, Start::Anchor(0), false);
        let p = Props {
            mapblklot: "0001001",
            blklot: "0001001",
            block_num: "0001",
            lot_num: "001",
            from: 0,
            to: 0,
            street: "UNKNOWN",
            st_type: None,
        };
        write_event(out, &p, &geometry);
        self.scratch = geometry;
    }

    fn tower_unit(&mut self, out: &mut Vec<u8>) {
        let i = pick(&mut self.rng, &self.tower_cum);
        let t = &mut self.towers[i];
        let (block, lot, street, st_type, from, to, _) = t.spec;
        let span = 999 - lot;
        let unit = lot + 1 + t.next_unit % span;
        t.next_unit += 1;
        self.lot_buf.clear();
        push_lot(&mut self.lot_buf, unit);
        self.blklot_buf.clear();
        self.blklot_buf.push_str(block);
        self.blklot_buf.push_str(&self.lot_buf);
        let p = Props {
            mapblklot: &t.mapblklot,
            blklot: &self.blklot_buf,
            block_num: block,
            lot_num: &self.lot_buf,
            from,
            to,
            street,
            st_type,
        };
        write_event(out, &p, &t.geometry);
    }

    fn vacated(&mut self, out: &mut Vec<u8>) {
        let code = VACATED[self.rng.below(VACATED.len() as u64) as usize];
        let mut geometry = std::mem::take(&mut self.scratch);
        geometry.clear();
        let (x, y) = Self::place(&mut self.rng);
        // A vacated street is a long thin strip.
        let (w, h) = if self.rng.chance(1, 2) {
            (
                self.rng.range(1_500_000_000_000, 2_500_000_000_000),
                150_000_000_000,
            )
        } else {
            (
                150_000_000_000,
                self.rng.range(900_000_000_000, 1_500_000_000_000),
            )
        };
        geometry.extend_from_slice(br#"{"type":"Polygon","coordinates":["#);
        let len = self.rng.range(5, 9);
        Self::ring(
            &mut self.rng,
            &mut geometry,
            x,
            y,
            w,
            h,
            len,
            Start::Computed,
        );
        geometry.extend_from_slice(b"]}");
        let p = Props {
            mapblklot: code,
            blklot: code,
            block_num: "VACST",
            lot_num: &code[5..],
            from: 0,
            to: 0,
            street: "UNKNOWN",
            st_type: None,
        };
        write_event(out, &p, &geometry);
        self.scratch = geometry;
    }

    fn new_block(&mut self) -> Block {
        let k = self.blocks_started;
        self.blocks_started += 1;
        let num = 1 + (k * BLOCK_STRIDE + self.block_offset) % BLOCKS;
        let pass = k / BLOCKS;
        let mut name = format!("{num:04}");
        if pass > 0 {
            name.push(char::from(b'A' + ((pass - 1) % 26) as u8));
        } else if self.rng.chance(2, 100) {
            name.push(char::from(b'A' + self.rng.below(3) as u8));
        }
        let (x, y) = Self::place(&mut self.rng);
        let n_streets = self.rng.range(1, 4) as usize;
        let mut streets = Vec::with_capacity(n_streets);
        let mut next_addr = Vec::with_capacity(n_streets);
        for _ in 0..n_streets {
            streets.push(pick(&mut self.rng, &self.street_cum));
            // A side of a street: a hundred-block and a parity.
            let hundred = if self.rng.chance(1, 5) {
                self.rng.range(20, 80)
            } else {
                self.rng.range(0, 19)
            };
            next_addr.push((hundred * 100 + self.rng.below(2)) as u32);
        }
        Block {
            num: name,
            x,
            y,
            streets,
            next_addr,
            lots_left: self.rng.range(4, 48),
            next_lot: 1,
            next_unit: 100,
        }
    }

    fn regular(&mut self, out: &mut Vec<u8>) {
        let mut block = match self.block.take() {
            Some(b) if b.lots_left > 0 => b,
            _ => self.new_block(),
        };
        block.lots_left -= 1;
        let lot = block.next_lot;
        block.next_lot += if self.rng.chance(1, 8) { 2 } else { 1 };
        if block.next_lot > 999 {
            block.next_lot = 1;
        }
        // Most lots face one of the block's streets; a third (corner lots,
        // odd addresses) carry any street of the city.
        let s = if self.rng.chance(1, 3) {
            None
        } else if self.rng.chance(1, 2) {
            Some(0)
        } else {
            Some(self.rng.below(block.streets.len() as u64) as usize)
        };
        let street = match s {
            Some(s) => block.streets[s],
            None => pick(&mut self.rng, &self.street_cum),
        };
        let (from, to) = if street == self.unknown {
            (0, 0)
        } else {
            let from = match s {
                Some(s) => {
                    let from = block.next_addr[s];
                    block.next_addr[s] += 2 * self.rng.range(1, 12) as u32;
                    from
                }
                None => (self.rng.range(0, 39) * 100 + self.rng.range(0, 98)) as u32,
            };
            let to = if self.rng.chance(3, 10) {
                from + 2 * self.rng.range(1, 10) as u32
            } else {
                from
            };
            (from, to)
        };

        self.lot_buf.clear();
        push_lot(&mut self.lot_buf, lot);
        if self.rng.chance(1, 200) {
            self.lot_buf
                .push(char::from(b'A' + self.rng.below(4) as u8));
        }
        self.name_buf.clear();
        self.name_buf.push_str(&block.num);
        self.name_buf.push_str(&self.lot_buf);

        // Geometry: somewhere in the block, or on a shared survey corner.
        let mut geometry = std::mem::take(&mut self.scratch);
        geometry.clear();
        let start = if self.rng.chance(1, ANCHOR_ONE_IN) {
            Start::Anchor(self.rng.below(ANCHORS.len() as u64) as usize)
        } else {
            Start::Computed
        };
        let (x, y) = match start {
            Start::Anchor(a) => (parse_units(ANCHORS[a].0), parse_units(ANCHORS[a].1)),
            Start::Computed => (
                block.x + self.rng.below(2 * BLOCK_HALF_W) - BLOCK_HALF_W,
                block.y + self.rng.below(2 * BLOCK_HALF_H) - BLOCK_HALF_H,
            ),
        };
        let multi = self.rng.chance(MULTI_PER_10K, 10_000);
        Self::polygon(&mut self.rng, &mut geometry, x, y, start, multi);

        let st_type = if street == self.unknown {
            None
        } else {
            self.streets[street].1
        };
        if self.rng.chance(CONDO_PER_1K, 1000) {
            // The parent lot becomes a group of units sharing its polygon.
            let units = if self.rng.chance(1, 10) {
                self.rng.range(8, 40)
            } else {
                self.rng.range(2, 5)
            };
            let condo = Condo {
                mapblklot: self.name_buf.clone(),
                block_num: block.num.clone(),
                street,
                from,
                to,
                units_left: units,
                next_unit: block.next_unit,
                geometry,
            };
            block.next_unit += units as u32;
            self.block = Some(block);
            self.condo = Some(condo);
            return self.condo_unit(out);
        }
        let p = Props {
            mapblklot: &self.name_buf,
            blklot: &self.name_buf,
            block_num: &block.num,
            lot_num: &self.lot_buf,
            from,
            to,
            street: &self.streets[street].0,
            st_type,
        };
        write_event(out, &p, &geometry);
        self.scratch = geometry;
        self.block = Some(block);
    }

    fn condo_unit(&mut self, out: &mut Vec<u8>) {
        let Some(mut c) = self.condo.take() else {
            return self.regular(out);
        };
        self.lot_buf.clear();
        push_lot(&mut self.lot_buf, c.next_unit % 1000);
        c.next_unit += 1;
        self.blklot_buf.clear();
        self.blklot_buf.push_str(&c.block_num);
        self.blklot_buf.push_str(&self.lot_buf);
        let st_type = if c.street == self.unknown {
            None
        } else {
            self.streets[c.street].1
        };
        let p = Props {
            mapblklot: &c.mapblklot,
            blklot: &self.blklot_buf,
            block_num: &c.block_num,
            lot_num: &self.lot_buf,
            from: c.from,
            to: c.to,
            street: &self.streets[c.street].0,
            st_type,
        };
        write_event(out, &p, &c.geometry);
        c.units_left -= 1;
        if c.units_left > 0 {
            self.condo = Some(c);
        } else {
            self.scratch = c.geometry;
        }
    }

    /// `{"type":"Polygon",...}` or `{"type":"MultiPolygon",...}` whose
    /// first ring starts at `(x, y)`.
    fn polygon(rng: &mut SplitMix64, out: &mut Vec<u8>, x: u64, y: u64, start: Start, multi: bool) {
        let w = rng.range(60_000_000_000, 400_000_000_000);
        let h = rng.range(60_000_000_000, 400_000_000_000);
        if multi {
            out.extend_from_slice(br#"{"type":"MultiPolygon","coordinates":["#);
            let parts = rng.range(2, 3);
            for p in 0..parts {
                if p > 0 {
                    out.push(b',');
                }
                out.push(b'[');
                // Parts side by side, eastwards.
                let px = x - p * (w + 30_000_000_000);
                let len = rng.range(4, 12);
                let st = if p == 0 { start } else { Start::Computed };
                Self::ring(rng, out, px, y, w, h, len, st);
                out.push(b']');
            }
            out.extend_from_slice(b"]}");
        } else {
            out.extend_from_slice(br#"{"type":"Polygon","coordinates":["#);
            let len = ring_len(rng);
            Self::ring(rng, out, x, y, w, h, len, start);
            if rng.chance(HOLE_PER_1K, 1000) {
                out.push(b',');
                Self::ring(
                    rng,
                    out,
                    x - w / 4,
                    y + h / 4,
                    w / 2,
                    h / 2,
                    5,
                    Start::Computed,
                );
            }
            out.extend_from_slice(b"]}");
        }
    }

    /// One closed ring of `len` positions (the last repeats the first) on
    /// the outline of a `w` × `h` box whose south-west corner is the
    /// start: north, east, south, west, with extra vertices along the edges.
    #[allow(clippy::too_many_arguments)]
    fn ring(
        rng: &mut SplitMix64,
        out: &mut Vec<u8>,
        x: u64,
        y: u64,
        w: u64,
        h: u64,
        len: u64,
        start: Start,
    ) {
        let vertices = len.max(4) - 1;
        let perimeter = 2 * (w + h);
        let corners = [0, h, h + w, 2 * h + w];
        let mut pos: Vec<u64> = if vertices == 3 {
            corners[..3].to_vec()
        } else {
            let mut p = corners.to_vec();
            for _ in 4..vertices {
                p.push(rng.range(1, perimeter - 1));
            }
            p.sort_unstable();
            p
        };
        pos.dedup();
        out.push(b'[');
        let mut first: (u64, usize, u64, usize) = (x, 14, y, 15);
        for (i, &d) in pos.iter().enumerate() {
            let (mut vx, mut vy) = if d < h {
                (x, y + d)
            } else if d < h + w {
                (x - (d - h), y + h)
            } else if d < 2 * h + w {
                (x - w, y + h - (d - h - w))
            } else {
                (x - w + (d - 2 * h - w), y)
            };
            if i > 0 {
                out.push(b',');
                vx = vx + rng.below(2 * JITTER + 1) - JITTER;
                vy = vy + rng.below(2 * JITTER + 1) - JITTER;
            }
            let xd = rng.range(12, 14) as usize;
            let yd = rng.range(13, 15) as usize;
            if i == 0 {
                first = (vx, xd, vy, yd);
                push_vertex(out, start, first);
            } else {
                push_vertex(out, Start::Computed, (vx, xd, vy, yd));
            }
        }
        out.push(b',');
        push_vertex(out, start, first);
        out.push(b']');
    }
}

fn push_vertex(out: &mut Vec<u8>, start: Start, (x, xd, y, yd): (u64, usize, u64, usize)) {
    out.push(b'[');
    match start {
        Start::Anchor(a) => {
            out.extend_from_slice(ANCHORS[a].0.as_bytes());
            out.push(b',');
            out.extend_from_slice(ANCHORS[a].1.as_bytes());
        }
        Start::Computed => {
            push_fixed(out, true, x, xd);
            out.push(b',');
            push_fixed(out, false, y, yd);
        }
    }
    out.extend_from_slice(b",0.0]");
}

/// Zero-padded three-digit lot number.
fn push_lot(s: &mut String, lot: u32) {
    let lot = lot % 1000;
    s.push(char::from(b'0' + (lot / 100) as u8));
    s.push(char::from(b'0' + (lot / 10 % 10) as u8));
    s.push(char::from(b'0' + (lot % 10) as u8));
}

fn push_str_field(out: &mut Vec<u8>, key: &str, value: &str) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":\"");
    out.extend_from_slice(value.as_bytes());
    out.push(b'"');
}

fn push_num_field(out: &mut Vec<u8>, key: &str, value: u32) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":\"");
    push_u64(out, u64::from(value));
    out.push(b'"');
}

/// One feature, compact, keys in the real file's order. No value needs
/// escaping (the street names are plain ASCII without `"` or `\`).
fn write_event(out: &mut Vec<u8>, p: &Props<'_>, geometry: &[u8]) {
    out.extend_from_slice(br#"{"type":"Feature","properties":{"#);
    push_str_field(out, "MAPBLKLOT", p.mapblklot);
    out.push(b',');
    push_str_field(out, "BLKLOT", p.blklot);
    out.push(b',');
    push_str_field(out, "BLOCK_NUM", p.block_num);
    out.push(b',');
    push_str_field(out, "LOT_NUM", p.lot_num);
    out.push(b',');
    push_num_field(out, "FROM_ST", p.from);
    out.push(b',');
    push_num_field(out, "TO_ST", p.to);
    out.push(b',');
    push_str_field(out, "STREET", p.street);
    out.push(b',');
    match p.st_type {
        Some(t) => push_str_field(out, "ST_TYPE", t),
        None => out.extend_from_slice(br#""ST_TYPE":null"#),
    }
    out.push(b',');
    let odd_even = if p.from % 2 == 1 { "O" } else { "E" };
    push_str_field(out, "ODD_EVEN", odd_even);
    out.extend_from_slice(br#"},"geometry":"#);
    out.extend_from_slice(geometry);
    out.push(b'}');
}

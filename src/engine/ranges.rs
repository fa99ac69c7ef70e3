//! Ordered ranges: numeric intervals and IP networks of one path, compiled
//! into sorted boundary points.
//!
//! The boundaries cut the key space into `2m + 1` segments (each point, and
//! the open gaps between them). Every segment knows the fields it satisfies
//! and the anything-but matchers it excludes, so a lookup is one binary search
//! whatever the number of rules.

/// Keys that can be ordered totally (f64 here never holds NaN).
pub(crate) trait Key: Copy + PartialOrd {}
impl Key for f64 {}
impl Key for u32 {}
impl Key for u128 {}

/// One end of an interval. `None` is unbounded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bound<K> {
    pub value: Option<K>,
    pub inclusive: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Item<K> {
    /// An interval that satisfies a field.
    Field {
        lo: Bound<K>,
        hi: Bound<K>,
        field: u32,
    },
    /// A point excluded by an anything-but matcher.
    Exclude { at: K, ab: u32 },
}

#[derive(Debug, Clone)]
pub(crate) struct Segments<K> {
    points: Vec<K>,
    field_at: Vec<u32>,
    fields: Vec<u32>,
    excl_at: Vec<u32>,
    excls: Vec<u32>,
}

impl<K: Key> Segments<K> {
    pub(crate) fn build(items: &[Item<K>]) -> Segments<K> {
        let mut points: Vec<K> = Vec::new();
        for it in items {
            match *it {
                Item::Field { lo, hi, .. } => {
                    points.extend(lo.value);
                    points.extend(hi.value);
                }
                Item::Exclude { at, .. } => points.push(at),
            }
        }
        points.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        points.dedup_by(|a, b| a == b);
        let nseg = 2 * points.len() + 1;
        let mut per_field: Vec<Vec<u32>> = vec![Vec::new(); nseg];
        let mut per_excl: Vec<Vec<u32>> = vec![Vec::new(); nseg];
        let idx = |k: K| points.partition_point(|p| *p < k);
        for it in items {
            match *it {
                Item::Field { lo, hi, field } => {
                    let first = match lo.value {
                        None => 0,
                        Some(v) => 2 * idx(v) + if lo.inclusive { 1 } else { 2 },
                    };
                    let last = match hi.value {
                        None => nseg - 1,
                        Some(v) => 2 * idx(v) + usize::from(hi.inclusive),
                    };
                    for seg in per_field.iter_mut().take(last + 1).skip(first) {
                        seg.push(field);
                    }
                }
                Item::Exclude { at, ab } => per_excl[2 * idx(at) + 1].push(ab),
            }
        }
        let flatten = |lists: Vec<Vec<u32>>| {
            let mut at = Vec::with_capacity(lists.len() + 1);
            let mut all = Vec::new();
            for l in lists {
                at.push(all.len() as u32);
                all.extend(l);
            }
            at.push(all.len() as u32);
            (at, all)
        };
        let (field_at, fields) = flatten(per_field);
        let (excl_at, excls) = flatten(per_excl);
        Segments {
            points,
            field_at,
            fields,
            excl_at,
            excls,
        }
    }

    /// The segment holding `k`.
    #[inline]
    pub(crate) fn segment(&self, k: K) -> usize {
        let i = self.points.partition_point(|p| *p < k);
        if i < self.points.len() && self.points[i] == k {
            2 * i + 1
        } else {
            2 * i
        }
    }

    #[inline]
    pub(crate) fn fields(&self, seg: usize) -> &[u32] {
        &self.fields[self.field_at[seg] as usize..self.field_at[seg + 1] as usize]
    }

    #[inline]
    pub(crate) fn excluded(&self, seg: usize) -> &[u32] {
        &self.excls[self.excl_at[seg] as usize..self.excl_at[seg + 1] as usize]
    }
}

impl Segments<f64> {
    /// The segment of an approximate value `v` (see [`super::approx`]), or
    /// `None` when a boundary is so close that only the exact value can tell.
    #[inline]
    pub(crate) fn segment_near(&self, v: f64) -> Option<usize> {
        self.segment_within(v, v.abs() * super::approx::MARGIN)
    }

    /// The segment of `v` known to within `margin` (absolute), or `None`
    /// when a boundary lies that close.
    #[inline]
    pub(crate) fn segment_within(&self, v: f64, margin: f64) -> Option<usize> {
        // A few boundaries (the usual rule set): count them in one pass the
        // compiler vectorises, no dependent branches of a binary search.
        let i = if self.points.len() <= 16 {
            self.points.iter().filter(|p| **p < v).count()
        } else {
            self.points.partition_point(|p| *p < v)
        };
        if i < self.points.len() && self.points[i] - v <= margin {
            return None;
        }
        if i > 0 && v - self.points[i - 1] <= margin {
            return None;
        }
        Some(2 * i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: f64, inclusive: bool) -> Bound<f64> {
        Bound {
            value: Some(v),
            inclusive,
        }
    }
    const OPEN: Bound<f64> = Bound {
        value: None,
        inclusive: false,
    };

    #[test]
    fn intervals_and_points() {
        let s = Segments::build(&[
            Item::Field {
                lo: b(0.0, false),
                hi: b(5.0, true),
                field: 1,
            },
            Item::Field {
                lo: OPEN,
                hi: b(0.0, true),
                field: 2,
            },
            Item::Field {
                lo: b(5.0, true),
                hi: b(5.0, true),
                field: 3,
            },
            Item::Exclude { at: 3.0, ab: 9 },
        ]);
        let f = |v: f64| s.fields(s.segment(v)).to_vec();
        assert_eq!(f(-1.0), vec![2]);
        assert_eq!(f(0.0), vec![2]);
        assert_eq!(f(0.5), vec![1]);
        assert_eq!(f(3.0), vec![1]);
        assert_eq!(f(5.0), vec![1, 3]);
        assert_eq!(f(5.000001), Vec::<u32>::new());
        assert_eq!(s.excluded(s.segment(3.0)), &[9]);
        assert!(s.excluded(s.segment(3.5)).is_empty());
    }
}

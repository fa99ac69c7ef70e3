//! Array consistency (§1.13) without a cartesian product.
//!
//! A sub-rule with fields f1..fk matches when one occurrence can be chosen for
//! every positively satisfied field such that no two chosen occurrences sit in
//! different elements of the same event array, and every field satisfied by
//! absence (`exists:false`) has no occurrence consistent with that choice.
//!
//! Instead of enumerating choices, this walks the recorded occurrences of one
//! sub-rule in document order, which is also the order of the array tree, and
//! computes for every array element the set of achievable
//! `(P, O)` bit-mask pairs: P = fields positively satisfied by the choice, O =
//! fields with an occurrence consistent with it. Objects combine children by
//! OR (different arrays are chosen independently); an array either pins one
//! element (a choice with P ≠ 0 inside it) or stays unpinned, in which case
//! every occurrence under it is consistent (O = all of them). Dominated pairs
//! (fewer P bits and more O bits than another) are dropped, so families stay
//! tiny and a 10,000-element array with a two-field rule costs a linear pass.

use crate::flatten::ArrayPos;

/// One recorded occurrence (or positive hit) of a sub-rule's field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub subrule: u32,
    pub p: u64,
    pub o: u64,
    pub mem_start: u32,
    pub mem_len: u32,
}

type Family = Vec<(u64, u64)>;

/// Whether the masks satisfy a sub-rule whose fields `req` need a positive
/// match and whose fields `negok` may instead be absent.
#[inline]
pub(crate) fn goal(p: u64, o: u64, req: u64, negok: u64) -> bool {
    req & !p == 0 && negok & !p & o == 0
}

/// Runs the search over `entries` (all of one sub-rule, in document order).
/// `pool` recycles the family vectors, so steady state does not allocate.
pub(crate) fn satisfiable(
    entries: &[Entry],
    mem: &[ArrayPos],
    req: u64,
    negok: u64,
    pool: &mut Vec<Family>,
) -> bool {
    let fam = element(entries, mem, 0, pool);
    let ok = fam.iter().any(|&(p, o)| goal(p, o, req, negok));
    pool.push(fam);
    ok
}

fn take(pool: &mut Vec<Family>) -> Family {
    let mut f = pool.pop().unwrap_or_default();
    f.clear();
    f
}

#[inline]
fn pos(e: &Entry, mem: &[ArrayPos], depth: usize) -> ArrayPos {
    mem[e.mem_start as usize + depth]
}

/// Family of one array element (or the event root at depth 0): every entry
/// shares the first `depth` array positions.
fn element(entries: &[Entry], mem: &[ArrayPos], depth: usize, pool: &mut Vec<Family>) -> Family {
    let mut base = (0u64, 0u64);
    for e in entries.iter().filter(|e| e.mem_len as usize == depth) {
        base.0 |= e.p;
        base.1 |= e.o;
    }
    let mut fam = take(pool);
    fam.push(base);
    let mut i = 0;
    while i < entries.len() {
        if entries[i].mem_len as usize == depth {
            i += 1;
            continue;
        }
        // The subtree of one array is contiguous in document order.
        let array = pos(&entries[i], mem, depth).array;
        let mut j = i + 1;
        while j < entries.len()
            && entries[j].mem_len as usize > depth
            && pos(&entries[j], mem, depth).array == array
        {
            j += 1;
        }
        let arr = array_family(&entries[i..j], mem, depth, pool);
        let mut out = take(pool);
        for &(p1, o1) in &fam {
            for &(p2, o2) in &arr {
                add_pruned(&mut out, (p1 | p2, o1 | o2));
            }
        }
        pool.push(arr);
        pool.push(std::mem::replace(&mut fam, out));
        i = j;
    }
    fam
}

fn array_family(group: &[Entry], mem: &[ArrayPos], depth: usize, pool: &mut Vec<Family>) -> Family {
    let o_all = group.iter().fold(0, |o, e| o | e.o);
    let mut out = take(pool);
    out.push((0, o_all));
    let mut i = 0;
    while i < group.len() {
        let index = pos(&group[i], mem, depth).index;
        let mut j = i + 1;
        while j < group.len() && pos(&group[j], mem, depth).index == index {
            j += 1;
        }
        let fe = element(&group[i..j], mem, depth + 1, pool);
        for &(p, o) in &fe {
            if p != 0 {
                add_pruned(&mut out, (p, o));
            }
        }
        pool.push(fe);
        i = j;
    }
    out
}

/// `a` is at least as good as `b`: more positives, fewer conflicting occurrences.
#[inline]
fn dominates(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 & b.0 == b.0 && a.1 & b.1 == a.1
}

fn add_pruned(f: &mut Family, x: (u64, u64)) {
    if f.iter().any(|&y| dominates(y, x)) {
        return;
    }
    f.retain(|&y| !dominates(x, y));
    f.push(x);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (array, index) pairs of one entry, outermost first.
    type Mem<'a> = &'a [(u32, u32)];
    /// (p, o, membership) of one entry.
    type Spec<'a> = (u64, u64, Mem<'a>);

    /// Builds entries from (p, o, [(array, index)...]).
    fn run(spec: &[Spec<'_>], req: u64, negok: u64) -> bool {
        let mut mem = Vec::new();
        let entries: Vec<Entry> = spec
            .iter()
            .map(|(p, o, m)| {
                let start = mem.len() as u32;
                mem.extend(m.iter().map(|&(array, index)| ArrayPos { array, index }));
                Entry {
                    subrule: 0,
                    p: *p,
                    o: *o,
                    mem_start: start,
                    mem_len: m.len() as u32,
                }
            })
            .collect();
        satisfiable(&entries, &mem, req, negok, &mut Vec::new())
    }

    #[test]
    fn fields_in_different_elements_do_not_match() {
        // a:[{b:x,c:n},{b:n,c:y}] with b=bit0, c=bit1
        assert!(!run(&[(1, 0, &[(0, 0)]), (2, 0, &[(0, 1)])], 3, 0));
        assert!(run(&[(1, 0, &[(0, 1)]), (2, 0, &[(0, 1)])], 3, 0));
        // one field outside the array
        assert!(run(&[(1, 0, &[]), (2, 0, &[(0, 3)])], 3, 0));
    }

    #[test]
    fn absence_is_scoped_to_the_chosen_element() {
        // b:[x] (bit0, positive), c exists:false (bit1): a:[{b:x,c:1},{b:y}]
        assert!(!run(&[(1, 0, &[(0, 0)]), (0, 2, &[(0, 0)])], 1, 2));
        // a:[{b:x},{b:y,c:1}]
        assert!(run(&[(1, 0, &[(0, 0)]), (0, 2, &[(0, 1)])], 1, 2));
        // c in an array no positive pins: it counts.
        assert!(!run(&[(1, 0, &[]), (0, 2, &[(5, 1)])], 1, 2));
    }

    #[test]
    fn long_arrays_stay_linear() {
        let n = 10_000u32;
        let mut owned = Vec::new();
        for i in 0..n {
            owned.push((1u64, 0u64, vec![(0u32, i)]));
            owned.push((2, 0, vec![(0, (i + 1) % n)]));
        }
        owned.sort_by_key(|s| s.2.clone());
        let spec: Vec<Spec<'_>> = owned
            .iter()
            .map(|(p, o, m)| (*p, *o, m.as_slice()))
            .collect();
        assert!(run(&spec, 3, 0));
        let only_b: Vec<_> = spec.iter().filter(|s| s.0 == 1).cloned().collect();
        assert!(!run(&only_b, 3, 0));
    }
}

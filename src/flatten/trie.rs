//! The byte trie of dotted paths a rule set mentions.
//!
//! Paths are matched on the *joined* key text (`a.b` is reached both by
//! `{"a":{"b":..}}` and by `{"a.b":..}`, as EventBridge joins them), so the
//! trie is over bytes, and descending into an object walks a `.` edge first.
//! A key that falls off the trie means no rule can use anything below it and
//! the scanner skips its value.

/// Dense id of a path, in the order paths were inserted.
pub type PathId = u32;

/// Node index inside a [`PathTrie`]; the root is 0.
pub(crate) type NodeId = u32;

const NO_PATH: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node {
    /// Sorted by byte.
    edges: Vec<(u8, NodeId)>,
    path: u32,
}

/// See [`PathTrie::gate`]: a node keys are walked from, and the one byte a
/// key may start with to walk on from it (or any).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gate {
    pub(crate) node: NodeId,
    first: u32,
}

impl Gate {
    const ANY: u32 = 256;

    /// Whether a walk from the gate's node could take `key` anywhere (an
    /// empty key stays at the node, so it passes).
    #[inline(always)]
    pub(crate) fn admits(&self, key: &[u8]) -> bool {
        match key.first() {
            Some(&b) => self.first == Gate::ANY || self.first == u32::from(b),
            None => true,
        }
    }
}

/// A node of the walking form (see [`PathTrie::finish`]).
#[derive(Debug, Clone, Copy, Default)]
struct Walk {
    /// How many nodes follow this one in a chain of only children: nodes
    /// `id + 1 ..= id + run`, reached over the bytes `label[id + 1 ..]`.
    run: u32,
    /// This node's edges in [`PathTrie::edges`], when it has several.
    edge_start: u32,
    edge_len: u32,
    path: u32,
}

/// See the module docs.
///
/// Built with [`insert`](Self::insert), then [`finish`](Self::finish)ed into
/// the form the scanner walks: nodes numbered in depth-first order, so that
/// an only child is always the next node and a chain of only children (most
/// of a path's bytes: `properties.` has one child per byte) is a run of
/// consecutive ids whose bytes can be compared with a key's in one go. The
/// byte-at-a-time walk over per-node edge lists it replaces was a chain of
/// dependent loads per key byte, a third of the scanner's time on the
/// citylots properties (perf).
#[derive(Debug, Clone)]
pub struct PathTrie {
    nodes: Vec<Node>,
    paths: u32,
    /// Walking form, indexed by depth-first id.
    walk: Vec<Walk>,
    /// The byte on the edge into each node (0 for the root).
    label: Vec<u8>,
    edges: Vec<(u8, NodeId)>,
    finished: bool,
}

impl Default for PathTrie {
    fn default() -> Self {
        Self::new()
    }
}

impl PathTrie {
    pub fn new() -> Self {
        let mut t = PathTrie {
            nodes: vec![Node {
                edges: Vec::new(),
                path: NO_PATH,
            }],
            paths: 0,
            walk: Vec::new(),
            label: Vec::new(),
            edges: Vec::new(),
            finished: false,
        };
        t.finish();
        t
    }

    /// Adds a dotted path (idempotent) and returns its id. Call
    /// [`finish`](Self::finish) before walking the trie again.
    pub fn insert(&mut self, path: &str) -> PathId {
        let mut node: usize = 0;
        for &b in path.as_bytes() {
            node = match self.nodes[node].edges.binary_search_by_key(&b, |e| e.0) {
                Ok(i) => self.nodes[node].edges[i].1 as usize,
                Err(i) => {
                    let id = self.nodes.len();
                    self.nodes.push(Node {
                        edges: Vec::new(),
                        path: NO_PATH,
                    });
                    self.nodes[node].edges.insert(i, (b, id as NodeId));
                    self.finished = false;
                    id
                }
            };
        }
        if self.nodes[node].path == NO_PATH {
            self.nodes[node].path = self.paths;
            self.paths += 1;
            self.finished = false;
        }
        self.nodes[node].path
    }

    /// Builds the walking form from the inserted paths.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        let n = self.nodes.len();
        // Depth-first preorder ids; children in byte order, pushed reversed.
        let mut order: Vec<(usize, u8)> = Vec::with_capacity(n);
        let mut stack = vec![(0usize, 0u8)];
        while let Some((node, byte)) = stack.pop() {
            order.push((node, byte));
            for &(b, child) in self.nodes[node].edges.iter().rev() {
                stack.push((child as usize, b));
            }
        }
        let mut id = vec![0u32; n];
        for (new, &(old, _)) in order.iter().enumerate() {
            id[old] = new as NodeId;
        }
        self.label = order.iter().map(|&(_, b)| b).collect();
        self.edges.clear();
        self.walk = vec![Walk::default(); n];
        for (new, &(old, _)) in order.iter().enumerate().rev() {
            let node = &self.nodes[old];
            let w = &mut self.walk[new];
            w.path = node.path;
            if node.edges.len() == 1 {
                debug_assert_eq!(id[node.edges[0].1 as usize] as usize, new + 1);
                let next = self.walk.get(new + 1).map_or(0, |w| w.run);
                self.walk[new].run = 1 + next;
            } else {
                w.edge_start = self.edges.len() as u32;
                w.edge_len = node.edges.len() as u32;
                self.edges
                    .extend(node.edges.iter().map(|&(b, c)| (b, id[c as usize])));
            }
        }
        self.finished = true;
    }

    /// Whether [`finish`](Self::finish) ran after the last new path.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Number of distinct paths.
    pub fn len(&self) -> usize {
        self.paths as usize
    }

    pub fn is_empty(&self) -> bool {
        self.paths == 0
    }

    #[inline]
    pub(crate) fn step(&self, node: NodeId, b: u8) -> Option<NodeId> {
        debug_assert!(self.finished, "PathTrie::finish not called");
        let w = self.walk[node as usize];
        if w.run > 0 {
            return (self.label[node as usize + 1] == b).then_some(node + 1);
        }
        let start = w.edge_start as usize;
        self.edges[start..start + w.edge_len as usize]
            .iter()
            .find(|e| e.0 == b)
            .map(|e| e.1)
    }

    /// Walks `bytes` from `node`.
    #[inline(always)]
    pub(crate) fn walk(&self, node: NodeId, bytes: &[u8]) -> Option<NodeId> {
        debug_assert!(self.finished, "PathTrie::finish not called");
        let mut node = node as usize;
        let mut i = 0;
        while i < bytes.len() {
            let w = self.walk[node];
            if w.run > 0 {
                // Most keys an event holds are on no rule path and differ
                // at their first byte: one compare rejects them.
                if self.label.get(node + 1) != Some(&bytes[i]) {
                    return None;
                }
                let k = (w.run as usize).min(bytes.len() - i);
                // A plain loop: keys are short, and a slice `!=` called
                // `bcmp` for each (callgrind).
                let label = &self.label[node + 1..node + 1 + k];
                if bytes[i..i + k].iter().zip(label).any(|(a, b)| a != b) {
                    return None;
                }
                node += k;
                i += k;
            } else {
                let start = w.edge_start as usize;
                node = self.edges[start..start + w.edge_len as usize]
                    .iter()
                    .find(|e| e.0 == bytes[i])?
                    .1 as usize;
                i += 1;
            }
        }
        Some(node as NodeId)
    }

    /// The byte a key must start with to walk on from `node`, when only
    /// one does: taken once per object, before its members, it turns away
    /// most keys (on no rule path, they differ at their first byte) by one
    /// compare instead of a walk that loads the node first (callgrind).
    #[inline]
    pub(crate) fn gate(&self, node: NodeId) -> Gate {
        debug_assert!(self.finished, "PathTrie::finish not called");
        let first = if self.walk[node as usize].run > 0 {
            u32::from(self.label[node as usize + 1])
        } else {
            Gate::ANY
        };
        Gate { node, first }
    }

    /// [`walk`](Self::walk)s `key` from the gate's node, if the gate
    /// admits it.
    #[inline(always)]
    pub(crate) fn walk_gated(&self, gate: Gate, key: &[u8]) -> Option<NodeId> {
        if gate.admits(key) {
            self.walk(gate.node, key)
        } else {
            None
        }
    }

    /// The path that ends at `node`, if any.
    #[inline]
    pub(crate) fn path_at(&self, node: NodeId) -> Option<PathId> {
        let p = self.walk[node as usize].path;
        (p != NO_PATH).then_some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_paths_share_nodes() {
        let mut t = PathTrie::new();
        let ab = t.insert("a.b");
        let a = t.insert("a");
        assert_eq!(t.insert("a.b"), ab);
        assert_ne!(a, ab);
        t.finish();
        let n = t.walk(0, b"a").unwrap();
        assert_eq!(t.path_at(n), Some(a));
        let n = t.walk(n, b".b").unwrap();
        assert_eq!(t.path_at(n), Some(ab));
        assert!(t.walk(0, b"ab").is_none());
        assert_eq!(t.len(), 2);
    }

    /// The walking form agrees with a walk over the inserted paths' bytes,
    /// for keys that end anywhere: inside a run, at a branch, past a leaf.
    #[test]
    fn walks_agree_with_the_paths() {
        let paths = [
            "properties.STREET",
            "properties.ST_TYPE",
            "properties.MAPBLKLOT",
            "geometry.type",
            "geometry.coordinates",
            "g",
            "a.b.c.d",
            "a.bc",
            "x",
        ];
        let mut t = PathTrie::new();
        let ids: Vec<PathId> = paths.iter().map(|p| t.insert(p)).collect();
        t.finish();
        for (p, id) in paths.iter().zip(&ids) {
            assert_eq!(
                t.walk(0, p.as_bytes()).and_then(|n| t.path_at(n)),
                Some(*id),
                "{p}"
            );
            // Byte by byte, and split at every point, the same node.
            let whole = t.walk(0, p.as_bytes());
            let mut n = Some(0);
            for &b in p.as_bytes() {
                n = n.and_then(|n| t.step(n, b));
            }
            assert_eq!(n, whole, "{p}");
            for k in 0..p.len() {
                let mid = t.walk(0, &p.as_bytes()[..k]).expect("prefix");
                assert_eq!(
                    t.path_at(mid).is_some(),
                    paths.contains(&&p[..k]),
                    "{p} at {k}"
                );
                assert_eq!(t.walk(mid, &p.as_bytes()[k..]), whole, "{p} split at {k}");
            }
        }
        for miss in [
            "propertiesX",
            "properties.STREETS",
            "geometry.typ_",
            "a.b.d",
            "y",
            "gx",
        ] {
            assert_eq!(
                t.walk(0, miss.as_bytes()).and_then(|n| t.path_at(n)),
                None,
                "{miss}"
            );
        }
        assert_eq!(t.walk(0, b"geometry.typ").and_then(|n| t.path_at(n)), None);
        // A gate admits exactly the first byte of the keys that walk on
        // from a node with one child, and every key at a branch.
        for run in [&b"properties.S"[..], b"a.b.", b"geometry.t"] {
            let node = t.walk(0, run).unwrap();
            let gate = t.gate(node);
            for b in 0..=255u8 {
                assert_eq!(gate.admits(&[b]), t.step(node, b).is_some(), "{run:?} {b}");
                assert_eq!(gate.admits(&[b, b'x']), t.step(node, b).is_some());
            }
            assert!(gate.admits(b""));
        }
        for branch in [&b""[..], b"a.b", b"geometry.", b"properties."] {
            let gate = t.gate(t.walk(0, branch).unwrap());
            assert!((0..=255u8).all(|b| gate.admits(&[b])));
        }
        assert!(t.step(t.walk(0, b"a").unwrap(), b'.').is_some());
        assert!(t.step(t.walk(0, b"x").unwrap(), b'.').is_none());
    }
}

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
    /// Sorted by byte. Nodes have few children (key names diverge early), so
    /// a linear scan beats a table here and keeps the trie small.
    edges: Vec<(u8, NodeId)>,
    path: u32,
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct PathTrie {
    nodes: Vec<Node>,
    paths: u32,
}

impl Default for PathTrie {
    fn default() -> Self {
        Self::new()
    }
}

impl PathTrie {
    pub fn new() -> Self {
        PathTrie {
            nodes: vec![Node {
                edges: Vec::new(),
                path: NO_PATH,
            }],
            paths: 0,
        }
    }

    /// Adds a dotted path (idempotent) and returns its id.
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
                    id
                }
            };
        }
        if self.nodes[node].path == NO_PATH {
            self.nodes[node].path = self.paths;
            self.paths += 1;
        }
        self.nodes[node].path
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
        let edges = &self.nodes[node as usize].edges;
        edges.iter().find(|e| e.0 == b).map(|e| e.1)
    }

    /// Walks `bytes` from `node`.
    #[inline]
    pub(crate) fn walk(&self, mut node: NodeId, bytes: &[u8]) -> Option<NodeId> {
        for &b in bytes {
            node = self.step(node, b)?;
        }
        Some(node)
    }

    /// The path that ends at `node`, if any.
    #[inline]
    pub(crate) fn path_at(&self, node: NodeId) -> Option<PathId> {
        let p = self.nodes[node as usize].path;
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
        let n = t.walk(0, b"a").unwrap();
        assert_eq!(t.path_at(n), Some(a));
        let n = t.walk(n, b".b").unwrap();
        assert_eq!(t.path_at(n), Some(ab));
        assert!(t.walk(0, b"ab").is_none());
        assert_eq!(t.len(), 2);
    }
}

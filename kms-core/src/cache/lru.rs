//! A small least-recently-used map: capacity is at most a few thousand entries, so eviction
//! scans instead of keeping a linked list.

use std::collections::HashMap;
use std::hash::Hash;

struct Slot<V> {
    value: V,
    last_used: u64,
}

pub(super) struct Lru<K, V> {
    map: HashMap<K, Slot<V>>,
    capacity: usize,
    tick: u64,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            capacity,
            tick: 0,
        }
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// The value for `key`, marked as just used.
    pub(super) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let tick = self.next_tick();
        let slot = self.map.get_mut(key)?;
        slot.last_used = tick;
        Some(&mut slot.value)
    }

    /// Inserts `value`; returns how many entries left (the one it replaced, and the least
    /// recently used one when the map was full).
    pub(super) fn insert(&mut self, key: K, value: V) -> u64 {
        let tick = self.next_tick();
        let mut dropped = 0;
        if !self.map.contains_key(&key) && self.map.len() >= self.capacity {
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, slot)| slot.last_used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.map.remove(&oldest);
                dropped += 1;
            }
        }
        let slot = Slot {
            value,
            last_used: tick,
        };
        if self.map.insert(key, slot).is_some() {
            dropped += 1;
        }
        dropped
    }

    /// The value for `key`, leaving its recency alone.
    #[cfg(test)]
    pub(super) fn peek(&self, key: &K) -> Option<&V> {
        self.map.get(key).map(|slot| &slot.value)
    }

    pub(super) fn remove(&mut self, key: &K) -> bool {
        self.map.remove(key).is_some()
    }

    /// Keeps the entries `keep` accepts; returns how many left.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) -> u64 {
        let before = self.map.len();
        self.map.retain(|_, slot| keep(&slot.value));
        (before - self.map.len()) as u64
    }

    pub(super) fn clear(&mut self) -> u64 {
        let n = self.map.len() as u64;
        self.map.clear();
        n
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used() {
        let mut lru = Lru::new(2);
        assert_eq!(lru.insert("a", 1), 0);
        assert_eq!(lru.insert("b", 2), 0);
        assert!(lru.get_mut(&"a").is_some());
        assert_eq!(lru.insert("c", 3), 1);
        assert!(lru.get_mut(&"b").is_none(), "b was least recently used");
        assert_eq!(lru.get_mut(&"a"), Some(&mut 1));
        assert_eq!(lru.insert("a", 4), 1, "replacing counts as one entry gone");
        assert_eq!(lru.len(), 2);
        assert_eq!(lru.retain(|v| *v > 3), 1);
        assert_eq!(lru.clear(), 1);
    }
}

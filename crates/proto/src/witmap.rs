//! An ordered string→string map that encodes as a msgpack/JSON map.
//!
//! wasmcloud-core encodes its "WitMap" fields (`traceContext`, link `values`,
//! `env_values`) as maps in vector order. Keeping the order we decoded in is what lets
//! every vector re-encode to exactly the bytes it came from.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Ordered string pairs, encoded as a map. Lookups see the last value of a repeated key,
/// as a `HashMap`-based decoder (0.82) would.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct WitMap(pub Vec<(String, String)>);

impl WitMap {
    /// An empty map.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The value of `key`, if present (the last one wins).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Set `key` to `value`, replacing an existing entry in place.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for WitMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl Serialize for WitMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for WitMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = WitMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of strings to strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<WitMap, A::Error> {
                // Cap the pre-allocation: the size hint comes from untrusted bytes.
                let mut out = Vec::with_capacity(a.size_hint().unwrap_or(0).min(64));
                while let Some((k, v)) = a.next_entry::<String, String>()? {
                    out.push((k, v));
                }
                Ok(WitMap(out))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<WitMap, E> {
                // A nil where a map belongs (JSON `null`, msgpack `c0`): read as empty.
                Ok(WitMap::new())
            }
        }
        d.deserialize_any(V)
    }
}

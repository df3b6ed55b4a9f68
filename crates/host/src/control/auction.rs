//! Auction bidding rules (pure): a host bids only when its labels satisfy every constraint.
//!
//! 0.82 ignored constraints and always bid (CONVENTIONS.md "Host and provider behaviour":
//! Lattice matches them against the host's labels, built-in `hostcore.*` ones included).
//! A constraint `k=v` holds when the host has label `k` with exactly the value `v`; no
//! constraints means every host qualifies.

use lattice_control::types::{ConstraintMap, LabelMap};

/// Whether a host with `labels` satisfies every constraint.
pub fn satisfies(labels: &LabelMap, constraints: &ConstraintMap) -> bool {
    constraints.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The first constraint the labels do not satisfy (for logs): `(key, wanted, found)`.
pub fn first_unmet<'a>(
    labels: &'a LabelMap,
    constraints: &'a ConstraintMap,
) -> Option<(&'a str, &'a str, Option<&'a str>)> {
    constraints
        .iter()
        .find(|(k, v)| labels.get(*k) != Some(*v))
        .map(|(k, v)| (k.as_str(), v.as_str(), labels.get(k).map(String::as_str)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> LabelMap {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn constraints_match_labels_exactly() {
        let labels = map(&[("hostcore.os", "linux"), ("zone", "eu")]);
        assert!(satisfies(&labels, &map(&[])));
        assert!(satisfies(&labels, &map(&[("zone", "eu")])));
        assert!(satisfies(&labels, &map(&[("zone", "eu"), ("hostcore.os", "linux")])));
        assert!(!satisfies(&labels, &map(&[("zone", "us")])));
        assert!(!satisfies(&labels, &map(&[("zone", "EU")])));
        assert!(!satisfies(&labels, &map(&[("gpu", "yes")])));
        assert!(!satisfies(&map(&[]), &map(&[("zone", "eu")])));
        assert_eq!(first_unmet(&labels, &map(&[("zone", "us")])), Some(("zone", "us", Some("eu"))));
        assert_eq!(first_unmet(&labels, &map(&[("gpu", "1")])), Some(("gpu", "1", None)));
        assert_eq!(first_unmet(&labels, &map(&[("zone", "eu")])), None);
    }
}

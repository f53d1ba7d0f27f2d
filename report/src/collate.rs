//! What several steps of the report do alike: group things by a key in the
//! order they first come, and cut a ranked list to `--min-bytes` and
//! `--top`.

use std::collections::HashMap;
use std::hash::Hash;

/// `items` grouped by `key`: the groups in the order of their first member,
/// each group's members in their order.
pub fn group_in_order<T, K: Eq + Hash>(
    items: impl IntoIterator<Item = T>,
    mut key: impl FnMut(&T) -> K,
) -> Vec<Vec<T>> {
    let mut index: HashMap<K, usize> = HashMap::new();
    let mut groups: Vec<Vec<T>> = Vec::new();
    for item in items {
        let k = key(&item);
        match index.get(&k) {
            Some(&i) => groups[i].push(item),
            None => {
                index.insert(k, groups.len());
                groups.push(vec![item]);
            }
        }
    }
    groups
}

/// `--min-bytes` and `--top`: which of a ranked list of sites are shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cut {
    pub top: Option<usize>,
    pub min_bytes: u64,
}

impl Cut {
    /// The items of `ranked` (biggest first) whose `bytes` reach
    /// `min_bytes`, at most `top` of them.
    pub fn apply<T>(
        self,
        ranked: impl IntoIterator<Item = T>,
        bytes: impl Fn(&T) -> u64,
    ) -> Vec<T> {
        ranked
            .into_iter()
            .filter(|t| bytes(t) >= self.min_bytes)
            .take(self.top.unwrap_or(usize::MAX))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{group_in_order, Cut};

    #[test]
    fn groups_keep_the_order_of_first_members() {
        let groups = group_in_order(["b1", "a1", "b2", "c1", "a2"], |s| s.as_bytes()[0]);
        assert_eq!(groups, [vec!["b1", "b2"], vec!["a1", "a2"], vec!["c1"]]);
        assert!(group_in_order(Vec::<u8>::new(), |&x| x).is_empty());
    }

    #[test]
    fn cut_by_bytes_then_count() {
        let ranked = [500u64, 300, 300, 100, 20];
        let all = Cut::default().apply(ranked, |&b| b);
        assert_eq!(all, ranked);
        let cut = Cut {
            top: None,
            min_bytes: 300,
        };
        assert_eq!(cut.apply(ranked, |&b| b), [500, 300, 300]);
        let cut = Cut {
            top: Some(2),
            min_bytes: 100,
        };
        assert_eq!(cut.apply(ranked, |&b| b), [500, 300]);
        let cut = Cut {
            top: Some(0),
            min_bytes: 0,
        };
        assert!(cut.apply(ranked, |&b| b).is_empty());
    }
}

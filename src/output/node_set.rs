//! Many nodes in few words: `n1-n30, n32` for a list of names, and what is
//! said alike of several nodes said once (`n1-n30: done`).

/// A name split into its text and the number it ends with (`web12` ->
/// `("web", 12)`); none for a name without one, or with a leading zero
/// (`n01` and `n1` are not neighbours).
fn numbered(name: &str) -> Option<(&str, u64)> {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, number) = name.split_at(name.len() - digits);
    if number.is_empty() || (number.starts_with('0') && number.len() > 1) {
        return None;
    }
    Some((stem, number.parse().ok()?))
}

/// The names in their order, runs of three or more consecutive numbers with
/// the same stem written as ranges: `n1-n4, n6, n7, web2`.
pub fn compact<S: AsRef<str>>(names: &[S]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < names.len() {
        let first = names[i].as_ref();
        let mut last = i;
        if let Some((stem, start)) = numbered(first) {
            while let Some(next) = names.get(last + 1) {
                match numbered(next.as_ref()) {
                    Some((s, n))
                        if s == stem && Some(n) == start.checked_add((last + 1 - i) as u64) =>
                    {
                        last += 1
                    }
                    _ => break,
                }
            }
        }
        if last - i >= 2 {
            parts.push(format!("{first}-{}", names[last].as_ref()));
        } else {
            parts.extend(names[i..=last].iter().map(|n| n.as_ref().to_string()));
        }
        i = last + 1;
    }
    parts.join(", ")
}

/// The names in natural order (`n2` before `n10`, names without a number
/// by their text), compacted: `db1, n1-n3, n10`.
pub fn compact_set<S: AsRef<str>>(names: &[S]) -> String {
    let mut names: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    names.sort_by_key(|name| match numbered(name) {
        Some((stem, number)) => (stem, number, ""),
        None => (*name, 0, *name),
    });
    compact(&names)
}

/// `NAMES: message` lines, one per distinct message, in the order the
/// messages first appear; `items` are (node, message) pairs.
pub fn grouped<N: AsRef<str>, M: AsRef<str>>(items: &[(N, M)]) -> Vec<String> {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (node, message) in items {
        let (node, message) = (node.as_ref(), message.as_ref());
        match groups.iter_mut().find(|(said, _)| *said == message) {
            Some((_, nodes)) => nodes.push(node),
            None => groups.push((message, vec![node])),
        }
    }
    groups
        .into_iter()
        .map(|(message, nodes)| format!("{}: {message}", compact(&nodes)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_three_or_more_become_ranges() {
        let names: Vec<String> = (1..=30).map(|i| format!("n{i}")).collect();
        assert_eq!(compact(&names), "n1-n30");
        assert_eq!(
            compact(&["n1", "n2", "n3", "n4", "n6", "n7", "web2"]),
            "n1-n4, n6, n7, web2"
        );
        assert_eq!(compact(&["n3", "n2", "n1"]), "n3, n2, n1");
        assert_eq!(compact(&["a1", "b2", "b3", "b4"]), "a1, b2-b4");
    }

    #[test]
    fn names_without_a_plain_number_stay_whole() {
        assert_eq!(
            compact(&["db", "web", "n09", "n10", "n11"]),
            "db, web, n09, n10, n11"
        );
        assert_eq!(
            compact(&["10.0.0.1", "10.0.0.2", "10.0.0.3"]),
            "10.0.0.1-10.0.0.3"
        );
        assert_eq!(compact::<&str>(&[]), "");
    }

    #[test]
    fn a_set_is_said_in_natural_order() {
        assert_eq!(compact_set(&["n3", "n1", "n2", "n5"]), "n1-n3, n5");
        assert_eq!(compact_set(&["n10", "n9", "web"]), "n9, n10, web");
        assert_eq!(
            compact_set(&["web1", "web2", "web3", "db1"]),
            "db1, web1-web3"
        );
        assert_eq!(compact_set::<&str>(&[]), "");
    }

    #[test]
    fn the_same_message_is_said_once_for_all_its_nodes() {
        let items = [
            ("n1", "done"),
            ("n2", "failed: disk full"),
            ("n3", "done"),
            ("n4", "done"),
            ("n5", "done"),
        ];
        assert_eq!(
            grouped(&items),
            ["n1, n3-n5: done", "n2: failed: disk full"]
        );
    }
}

//! Line-oriented files that filesync shares with their owner (a crontab, an
//! authorized_keys file): filesync's lines are recognised by a predicate, and
//! only those are ever removed or replaced. Pure.

/// `existing` without the lines `ours` recognises, then `new` appended.
pub fn replace(existing: &str, ours: impl Fn(&str) -> bool, new: &[String]) -> String {
    let mut out = String::with_capacity(existing.len());
    let kept = existing.lines().filter(|line| !ours(line));
    for line in kept.chain(new.iter().map(String::as_str)) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_recognised_lines_are_replaced_and_every_line_ends_with_a_newline() {
        let ours = |line: &str| line.ends_with("#mine");
        assert_eq!(
            super::replace("a\nb #mine\nc", ours, &["d #mine".into()]),
            "a\nc\nd #mine\n"
        );
        assert_eq!(super::replace("", ours, &[]), "");
    }
}

//! Pure edits of a crontab: filesync's lines carry a tag comment so that they can
//! be added, replaced and removed without touching any other line.

/// The crontab with every line tagged `tag` removed and `lines` appended.
/// `lines` must already end with the tag (see `render::crontab_lines`).
pub fn with_lines(existing: &str, tag: &str, lines: &[String]) -> String {
    crate::plan::lines::replace(existing, |line| is_tagged(line, tag), lines)
}

/// The crontab with every line tagged `tag` removed; other lines unchanged.
pub fn without(existing: &str, tag: &str) -> String {
    with_lines(existing, tag, &[])
}

/// The lines of `existing` tagged `tag`.
pub fn tagged<'a>(existing: &'a str, tag: &str) -> Vec<&'a str> {
    existing
        .lines()
        .filter(|line| is_tagged(line, tag))
        .collect()
}

fn is_tagged(line: &str, tag: &str) -> bool {
    line.trim_end().ends_with(&format!("# {tag}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: &str = "filesync:/var/www/webroot/lsyncd";

    #[test]
    fn adding_keeps_other_lines_and_replaces_old_tagged_ones() {
        let existing = format!(
            "MAILTO=ops\n0 3 * * * /backup.sh\n* * * * * old # {TAG}\n*/5 * * * * other # filesync:/srv/lsyncd\n"
        );
        let lines = vec![format!("* * * * * new # {TAG}")];
        assert_eq!(
            with_lines(&existing, TAG, &lines),
            format!("MAILTO=ops\n0 3 * * * /backup.sh\n*/5 * * * * other # filesync:/srv/lsyncd\n* * * * * new # {TAG}\n")
        );
    }

    #[test]
    fn removing_touches_only_tagged_lines() {
        let existing = format!("0 3 * * * /backup.sh # {TAG}-not\n@reboot x # {TAG}\n");
        assert_eq!(
            without(&existing, TAG),
            format!("0 3 * * * /backup.sh # {TAG}-not\n")
        );
        assert_eq!(tagged(&existing, TAG), [format!("@reboot x # {TAG}")]);
    }

    #[test]
    fn an_empty_crontab_gets_just_the_lines() {
        assert_eq!(with_lines("", TAG, &["a".into()]), "a\n");
        assert_eq!(without("", TAG), "");
    }
}

//! Pure edits of an authorized_keys file: filesync's entries end with a comment
//! `<tag>:<pusher>` so that they can be replaced and removed without touching any
//! other key.

/// The comment that marks the entry of `pusher` for the installation `tag`.
pub fn comment(tag: &str, pusher: &str) -> String {
    format!("{tag}:{pusher}")
}

/// An entry whose options and comment are rendered and whose key is to come:
/// `{options} {key} {tag}:{pusher}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryTemplate {
    options: String,
    comment: String,
}

impl EntryTemplate {
    /// The entry of installation `tag` that admits `pusher` with `options`.
    pub fn new(options: String, tag: &str, pusher: &str) -> EntryTemplate {
        EntryTemplate {
            options,
            comment: comment(tag, pusher),
        }
    }

    /// The whole entry with `key` (`type base64`, already checked).
    pub fn with_key(&self, key: &str) -> String {
        format!("{} {key} {}", self.options, self.comment)
    }
}

/// The file with every entry of installation `tag` replaced by `entries`.
pub fn with_entries(existing: &str, tag: &str, entries: &[String]) -> String {
    crate::plan::lines::replace(existing, |line| pusher_of(line, tag).is_some(), entries)
}

/// The file without the entries of installation `tag`.
pub fn without(existing: &str, tag: &str) -> String {
    with_entries(existing, tag, &[])
}

/// The entries of installation `tag`, keyed by the pusher they admit.
pub fn entries<'a>(existing: &'a str, tag: &str) -> Vec<(&'a str, &'a str)> {
    existing
        .lines()
        .filter_map(|line| pusher_of(line, tag).map(|pusher| (pusher, line)))
        .collect()
}

/// The public key an entry admits, `type base64`: the two fields before its
/// comment (the options before them may hold quoted spaces, the comment none).
pub fn key_of(entry: &str) -> Option<String> {
    let fields: Vec<&str> = entry.split_whitespace().collect();
    let [.., kind, blob, _comment] = fields.as_slice() else {
        return None;
    };
    Some(format!("{kind} {blob}"))
}

/// A public key as `type base64`, checked so that nothing else can ride along
/// into an authorized_keys line.
pub fn public_key(text: &str) -> anyhow::Result<String> {
    let mut fields = text.split_whitespace();
    let (Some(kind), Some(blob)) = (fields.next(), fields.next()) else {
        anyhow::bail!("not an SSH public key: {text:?}");
    };
    let kind_ok = kind
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-@.".contains(c));
    let blob_ok = blob
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c));
    if !kind_ok || !blob_ok {
        anyhow::bail!("not an SSH public key: {text:?}");
    }
    Ok(format!("{kind} {blob}"))
}

fn pusher_of<'a>(line: &'a str, tag: &str) -> Option<&'a str> {
    let last = line.trim_end().rsplit(' ').next()?;
    last.strip_prefix(tag)?.strip_prefix(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: &str = "filesync:/var/www/webroot/lsyncd";

    #[test]
    fn entries_are_found_by_their_tagged_comment() {
        let file = format!(
            "ssh-ed25519 AAAA admin@laptop\nrestrict ssh-ed25519 BBBB {TAG}:n2\nssh-ed25519 CCCC {TAG}x:n3\n"
        );
        assert_eq!(
            entries(&file, TAG),
            [("n2", format!("restrict ssh-ed25519 BBBB {TAG}:n2").as_str())]
        );
    }

    #[test]
    fn the_key_of_an_entry_is_read_past_options_with_quoted_spaces() {
        let entry = format!(
            "restrict,from=\"10.0.0.2\",command=\"env TZ=UTC0 rsync --server --daemon .\" \
             ssh-ed25519 BBBB {TAG}:n2"
        );
        assert_eq!(key_of(&entry).as_deref(), Some("ssh-ed25519 BBBB"));
        assert_eq!(key_of(&format!("{TAG}:n2")), None);
    }

    #[test]
    fn replacing_keeps_the_users_own_keys() {
        let file = format!("ssh-ed25519 AAAA admin@laptop\nrestrict ssh-ed25519 OLD {TAG}:n2\n");
        let new = vec![format!("restrict ssh-ed25519 NEW {TAG}:n3")];
        assert_eq!(
            with_entries(&file, TAG, &new),
            format!("ssh-ed25519 AAAA admin@laptop\nrestrict ssh-ed25519 NEW {TAG}:n3\n")
        );
        assert_eq!(without(&file, TAG), "ssh-ed25519 AAAA admin@laptop\n");
    }

    #[test]
    fn public_keys_with_extra_options_are_refused() {
        assert!(public_key("ssh-ed25519 AAAA\" command=\"sh").is_err());
        assert!(public_key("ssh-ed25519").is_err());
        assert_eq!(
            public_key("ssh-ed25519 AAAA c").unwrap(),
            "ssh-ed25519 AAAA"
        );
    }
}

//! Escaping of values for the languages filesync writes: Lua strings (lsyncd.conf),
//! POSIX shell words (scripts and remote commands), crontab command fields and
//! authorized_keys option values.
//!
//! Every function here is pure. Callers never splice a user-controlled value into
//! a config file or a command line except through one of these.

use thiserror::Error;

/// A value that cannot be written safely in the requested language.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EscapeError {
    #[error("value contains a NUL byte, which no shell or config file can carry")]
    Nul,
    #[error("value contains a line break, which a crontab line cannot carry")]
    LineBreak,
    #[error("value ends with a backslash, which would escape the closing quote")]
    TrailingBackslash,
}

/// A double-quoted Lua string literal that evaluates to exactly `value`.
pub fn lua_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Decimal escapes are the portable way to write other control bytes in Lua 5.1+.
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\{:03}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One POSIX shell word that expands to exactly `value`.
pub fn shell_word(value: &str) -> Result<String, EscapeError> {
    shlex::try_quote(value)
        .map(|quoted| quoted.into_owned())
        .map_err(|_| EscapeError::Nul)
}

/// A crontab command field: cron turns an unescaped `%` into a newline, and a
/// line break would end the entry, so `%` is escaped and line breaks are refused.
pub fn crontab_command(value: &str) -> Result<String, EscapeError> {
    if value.contains(['\n', '\r']) {
        return Err(EscapeError::LineBreak);
    }
    if value.contains('\0') {
        return Err(EscapeError::Nul);
    }
    Ok(value.replace('%', "\\%"))
}

/// The inside of a double-quoted authorized_keys option value (`command="..."`,
/// `from="..."`). sshd's parser turns `\"` into `"` and keeps every other
/// character, backslashes included; so quotes get a backslash, and a value that
/// ends in a backslash (it would escape the closing quote) or holds a line break
/// is refused.
pub fn authorized_keys_option(value: &str) -> Result<String, EscapeError> {
    if value.contains(['\n', '\r']) {
        return Err(EscapeError::LineBreak);
    }
    if value.contains('\0') {
        return Err(EscapeError::Nul);
    }
    if value.ends_with('\\') {
        return Err(EscapeError::TrailingBackslash);
    }
    Ok(value.replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lua_string_escapes_quotes_backslashes_and_control_bytes() {
        assert_eq!(lua_string("plain"), "\"plain\"");
        assert_eq!(lua_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(lua_string("x\ny\u{1}"), "\"x\\ny\\001\"");
        assert_eq!(lua_string("]]--"), "\"]]--\"");
    }

    #[test]
    fn shell_word_quotes_everything_the_shell_would_interpret() {
        assert_eq!(shell_word("/var/www").unwrap(), "/var/www");
        assert_eq!(shell_word("a b").unwrap(), "'a b'");
        assert_eq!(shell_word("$(rm -rf /)").unwrap(), "'$(rm -rf /)'");
        assert_eq!(shell_word("").unwrap(), "''");
        assert_eq!(shell_word("a\0b"), Err(EscapeError::Nul));
    }

    #[test]
    fn crontab_command_escapes_percent_and_refuses_line_breaks() {
        assert_eq!(crontab_command("/a/100%/b").unwrap(), "/a/100\\%/b");
        assert_eq!(crontab_command("a\nb"), Err(EscapeError::LineBreak));
    }

    #[test]
    fn authorized_keys_option_escapes_quotes() {
        assert_eq!(
            authorized_keys_option("rrsync '/a \"b\"'").unwrap(),
            "rrsync '/a \\\"b\\\"'"
        );
        // A backslash before a quote stays a backslash: `\\"` reads back as `\"`.
        assert_eq!(authorized_keys_option("a\\\"b").unwrap(), "a\\\\\"b");
        assert_eq!(authorized_keys_option("a\nb"), Err(EscapeError::LineBreak));
        assert_eq!(
            authorized_keys_option("a\\"),
            Err(EscapeError::TrailingBackslash)
        );
    }

    /// Proves the quoting against a real POSIX shell, not against our own idea of it.
    #[test]
    fn shell_words_read_back_exactly_in_sh() {
        let hostile = [
            "it's",
            "a \"b\" c",
            "$(id) `id` ${HOME}",
            "back\\slash\\",
            "100% * ? [x] ~ # ; & | < >",
            "'\"'\"",
            "trailing space ",
            "-n",
        ];
        for value in hostile {
            let script = format!("printf '%s' {}", shell_word(value).unwrap());
            let output = std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&output.stdout), value, "{script}");
        }
    }
}

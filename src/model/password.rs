//! The shared password of a two-environment link: where it may come from (a
//! password file, `FILESYNC_PASSWORD`, or generated), what makes it usable, and
//! the contents of the two files that hold it on nodes. A `Password` never
//! prints itself (`Debug` is redacted, no `Display`, no `Serialize`), so it cannot
//! slip into a plan, a log, the state file or JSON output. Reading the password
//! file and the system's random source are the only I/O.

use crate::error::{Error, Result};
use crate::model::peer_link::AUTH_USER;
use std::fmt;
use std::io::Read as _;
use std::path::Path;

/// rsync reads at most this much of a password file; longer ones would be cut.
const MAX_LEN: usize = 256;
/// Length of a generated password (alphanumeric: ~190 bits).
const GENERATED_LEN: usize = 32;

#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The content of a file that holds the password (`Password::secrets_file`,
/// `Password::password_file`): carried by a plan, never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    pub fn new(content: String) -> Secret {
        Secret(content)
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

fn invalid(origin: &str, reason: &str) -> Error {
    Error::InvalidLink {
        setting: format!("password ({origin})"),
        reason: reason.to_string(),
        hint: "put the password alone on one line of a file only you can read \
               (chmod 600 FILE) and give --password-file FILE, or set FILESYNC_PASSWORD; \
               with neither, filesync generates one"
            .to_string(),
    }
}

impl Password {
    /// A password from the text of a file or variable: one line (a final line
    /// break is allowed), not empty, no control characters, at most 256 bytes.
    pub fn parse(text: &str, origin: &str) -> Result<Password> {
        let line = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(text);
        if line.contains('\n') {
            return Err(invalid(origin, "it has several lines; it must be one line"));
        }
        if line.is_empty() {
            return Err(invalid(origin, "it is empty"));
        }
        if line.chars().any(char::is_control) {
            return Err(invalid(origin, "it contains a control character"));
        }
        if line.len() > MAX_LEN {
            return Err(invalid(
                origin,
                &format!("it is longer than {MAX_LEN} bytes"),
            ));
        }
        Ok(Password(line.to_string()))
    }

    /// Reads a password file: it must exist and be readable by its owner only.
    pub fn from_file(path: &Path) -> Result<Password> {
        let origin = path.display().to_string();
        let meta = std::fs::metadata(path)
            .map_err(|err| invalid(&origin, &format!("cannot read it: {err}")))?;
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
        check_mode(mode).map_err(|reason| invalid(&origin, &reason))?;
        let text = std::fs::read_to_string(path)
            .map_err(|err| invalid(&origin, &format!("cannot read it: {err}")))?;
        Password::parse(&text, &origin)
    }

    /// A new random password (letters and digits, from the system's random source).
    pub fn generate() -> Result<Password> {
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
        let mut out = String::with_capacity(GENERATED_LEN);
        let mut random = std::fs::File::open("/dev/urandom")
            .map_err(|err| Error::Other(anyhow::anyhow!("opening /dev/urandom: {err}")))?;
        let mut byte = [0u8; 1];
        while out.len() < GENERATED_LEN {
            random
                .read_exact(&mut byte)
                .map_err(|err| Error::Other(anyhow::anyhow!("reading /dev/urandom: {err}")))?;
            // Rejection sampling keeps every character equally likely.
            let limit = 256 - 256 % ALPHABET.len();
            if usize::from(byte[0]) < limit {
                out.push(char::from(ALPHABET[usize::from(byte[0]) % ALPHABET.len()]));
            }
        }
        Ok(Password(out))
    }

    /// The password itself, for the one place that shows a generated one.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// The receiving side's secrets file (`etc/rsyncd.secrets`): `user:password`.
    pub fn secrets_file(&self) -> String {
        format!("{AUTH_USER}:{}\n", self.0)
    }

    /// The sending side's password file (`etc/rsyncd.pass`), for `--password-file`.
    pub fn password_file(&self) -> String {
        format!("{}\n", self.0)
    }

    /// The password in a node's password file, as read back over SSH.
    pub fn from_node_file(text: &str) -> Option<Password> {
        Password::parse(text, "node").ok()
    }
}

/// A password file must not be readable or writable by anyone but its owner.
fn check_mode(mode: u32) -> std::result::Result<(), String> {
    if mode & 0o077 != 0 {
        return Err(format!(
            "its mode is {:o}: others can read or change it; run chmod 600 on it",
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn one_line_with_an_optional_line_break_is_a_password() {
        let password = Password::parse("s3cret pass\n", "test").unwrap();
        assert_eq!(password.reveal(), "s3cret pass");
        assert_eq!(password.secrets_file(), "filesync:s3cret pass\n");
        assert_eq!(password.password_file(), "s3cret pass\n");
        assert_eq!(Password::parse("x\r\n", "t").unwrap().reveal(), "x");
    }

    #[test]
    fn empty_multi_line_and_control_characters_are_refused() {
        for (text, why) in [
            ("", "empty"),
            ("\n", "empty"),
            ("one\ntwo\n", "several lines"),
            ("a\tb", "control character"),
        ] {
            let err = Password::parse(text, "FILESYNC_PASSWORD").unwrap_err();
            assert!(err.to_string().contains(why), "{text:?}: {err}");
            assert!(err.to_string().contains("FILESYNC_PASSWORD"));
            assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput);
        }
        assert!(Password::parse(&"x".repeat(257), "t").is_err());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let password = Password::parse("hunter2", "t").unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
    }

    #[test]
    fn password_files_must_exist_be_private_and_hold_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pass");
        let missing = Password::from_file(&path).unwrap_err().to_string();
        assert!(missing.contains("cannot read it"), "{missing}");

        std::fs::write(&path, "hunter2\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let open = Password::from_file(&path).unwrap_err().to_string();
        assert!(open.contains("chmod 600") && open.contains("644"), "{open}");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(Password::from_file(&path).unwrap().reveal(), "hunter2");

        std::fs::write(&path, "one\ntwo\n").unwrap();
        let lines = Password::from_file(&path).unwrap_err().to_string();
        assert!(lines.contains("several lines"), "{lines}");
    }

    #[test]
    fn generated_passwords_are_long_alphanumeric_and_different() {
        let a = Password::generate().unwrap();
        let b = Password::generate().unwrap();
        assert_eq!(a.reveal().len(), GENERATED_LEN);
        assert!(a.reveal().chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}

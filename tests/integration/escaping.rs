//! Every value a user controls reaches lsyncd.conf as a Lua string and remote
//! commands as shell words. Both are checked here against the real
//! interpreters (lsyncd's own Lua, `sh`), over a table of hostile values and a
//! few hundred generated ones: each must read back exactly, whatever it holds.

use filesync::render::escape::{lua_string, shell_word};
use std::process::Command;

const HOSTILE: &[&str] = &[
    "/ROOT/a\"b'c]]--%d $(id) \\e",
    "]]..os.execute('id')..[[",
    "\"); os.execute(\"id\"); --",
    "a\nb\rc\td",
    "$(id) `id` ${HOME} $((1+1))",
    "100% * ? [x] ~ # ; & | < >",
    "trailing backslash\\",
    "'\"'\"",
    "☃ snow é ü \u{7f} \u{1b}[31m",
    "-n",
    "",
];

fn values() -> Vec<String> {
    let mut values: Vec<String> = HOSTILE.iter().map(|v| v.to_string()).collect();
    values.extend(crate::support::generated::strings(
        300,
        "ab /\\'\"$`%;&|<>()[]{}*?~#!\n\r\t-=.,:é☃\u{1}\u{7f}",
        23,
    ));
    values
}

#[test]
fn lua_strings_read_back_exactly_in_lsyncd_s_own_lua() {
    let values = values();
    let mut script = String::new();
    for value in &values {
        script.push_str(&format!(
            "io.stdout:write({}, \"\\0\")\n",
            lua_string(value)
        ));
    }
    script.push_str("os.exit(0)\n");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("values.lua");
    std::fs::write(&config, script).unwrap();
    // lsyncd runs its configuration file as Lua before anything else.
    let output = Command::new("lsyncd")
        .arg("-nodaemon")
        .arg(&config)
        .output()
        .expect("lsyncd is installed (scripts/install-deps)");
    assert!(
        output.status.success(),
        "lsyncd rejected the strings: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .split('\0')
        .map(str::to_string)
        .collect();
    assert_eq!(read.len(), values.len() + 1);
    for (value, back) in values.iter().zip(&read) {
        assert_eq!(back, value, "lua_string({value:?}) = {}", lua_string(value));
    }
}

#[test]
fn shell_words_read_back_exactly_in_sh() {
    let values = values();
    let script: String = values
        .iter()
        .map(|value| format!("printf '%s\\0' {}\n", shell_word(value).unwrap()))
        .collect();
    let output = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    assert!(output.status.success());
    let read: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .split('\0')
        .map(str::to_string)
        .collect();
    for (value, back) in values.iter().zip(&read) {
        assert_eq!(back, value, "shell_word({value:?})");
    }
    assert_eq!(read.len(), values.len() + 1);
}

//! A node in memory, for unit tests of what filesync runs on nodes (`apply`,
//! uninstall, verify's walk) without SSH. It keeps what is uploaded to it
//! (`remote::write_file`, `create_file`, `set_crontab`; `remove_file` takes a
//! file away), answers every other script from the replies it was given, and
//! records every script it ran, in order. It runs no shell: a test asserts the
//! scripts by comparing them with what `remote` renders.

use super::{Node, ScriptError, Streaming};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A file written to the node: its content and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub content: String,
    pub mode: u32,
}

pub struct FakeNode {
    name: String,
    /// (a fragment of the script, what it prints or, `Err`, its stderr when
    /// it fails): the first whose fragment the script holds answers it; a
    /// script no reply matches prints nothing and succeeds.
    replies: Vec<(String, Result<String, String>)>,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    files: BTreeMap<String, File>,
    crontab: Option<String>,
    ran: Vec<String>,
}

impl FakeNode {
    pub fn new(name: &str) -> FakeNode {
        FakeNode {
            name: name.to_string(),
            replies: Vec::new(),
            held: Mutex::default(),
        }
    }

    /// Scripts holding `fragment` print `stdout`.
    pub fn answer(mut self, fragment: &str, stdout: &str) -> FakeNode {
        self.replies
            .push((fragment.to_string(), Ok(stdout.to_string())));
        self
    }

    /// Scripts holding `fragment` fail, printing `stderr`.
    pub fn fail(mut self, fragment: &str, stderr: &str) -> FakeNode {
        self.replies
            .push((fragment.to_string(), Err(stderr.to_string())));
        self
    }

    /// A file the node already has.
    pub fn with_file(self, path: &str, content: &str, mode: u32) -> FakeNode {
        let file = File {
            content: content.to_string(),
            mode,
        };
        self.held().files.insert(path.to_string(), file);
        self
    }

    pub fn file(&self, path: &str) -> Option<File> {
        self.held().files.get(path).cloned()
    }

    /// The crontab last installed, if any was.
    pub fn crontab(&self) -> Option<String> {
        self.held().crontab.clone()
    }

    /// Every script run, in order.
    pub fn ran(&self) -> Vec<String> {
        self.held().ran.clone()
    }

    /// Where `script` was run first, if it was.
    pub fn position(&self, script: &str) -> Option<usize> {
        self.held().ran.iter().position(|ran| ran == script)
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap()
    }

    fn execute(&self, script: &str, stdin: Option<&[u8]>) -> anyhow::Result<String> {
        self.held().ran.push(script.to_string());
        if let Some((_, reply)) = self
            .replies
            .iter()
            .find(|(fragment, _)| script.contains(fragment.as_str()))
        {
            return reply.clone().map_err(|stderr| {
                ScriptError {
                    code: Some(1),
                    stderr,
                }
                .into()
            });
        }
        if let Some(stdin) = stdin {
            self.receive(script, stdin)?;
        } else if let Some(path) = script.strip_prefix("rm -f ") {
            self.held().files.remove(&unquote(path));
        }
        Ok(String::new())
    }

    /// An upload: framed stdin (the byte count on a line, then the content)
    /// to a file (`mv -f "$tmp" PATH`, `chmod MODE "$tmp"`) or the crontab.
    fn receive(&self, script: &str, stdin: &[u8]) -> anyhow::Result<()> {
        let text = String::from_utf8(stdin.to_vec())?;
        let (size, content) = text.split_once('\n').unwrap_or((&text, ""));
        anyhow::ensure!(size.parse::<usize>()? == content.len(), "incomplete upload");
        let after = |prefix: &str| {
            script
                .lines()
                .find_map(|line| line.strip_prefix(prefix))
                .map(str::to_string)
        };
        let mut held = self.held();
        if script.contains("crontab \"$tmp\"") {
            held.crontab = Some(content.to_string());
            return Ok(());
        }
        let path = unquote(&after("mv -f \"$tmp\" ").expect("an upload names its file"));
        let created_only = script.starts_with("if [ -e ");
        if created_only && held.files.contains_key(&path) {
            return Ok(());
        }
        let mode = after("chmod ")
            .and_then(|rest| u32::from_str_radix(rest.split(' ').next()?, 8).ok())
            .expect("an upload sets its mode");
        let file = File {
            content: content.to_string(),
            mode,
        };
        held.files.insert(path, file);
        Ok(())
    }
}

/// The one word a shell reads in `text` (`shell_word`'s quoting undone).
fn unquote(text: &str) -> String {
    let words = shlex::split(text.trim()).expect("a quoted word");
    assert_eq!(words.len(), 1, "one word: {text:?}");
    words[0].clone()
}

impl Node for FakeNode {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, script: &str, stdin: Option<&[u8]>) -> anyhow::Result<String> {
        self.execute(script, stdin)
    }

    async fn stream(&self, script: &str) -> anyhow::Result<Streaming<'_>> {
        let (stdout, exited) = match self.execute(script, None) {
            Ok(stdout) => (stdout, Ok(())),
            Err(err) => (String::new(), Err(err)),
        };
        Ok(Streaming {
            stdout: Box::new(std::io::Cursor::new(stdout.into_bytes())),
            exited: Box::pin(async move { exited }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::remote;

    #[tokio::test]
    async fn uploads_are_kept_and_other_scripts_answered_from_the_replies() {
        let node = FakeNode::new("n1")
            .answer("date +%s", "1700000000\n")
            .fail("false", "no");
        let (script, stdin) = remote::write_file("/a dir/f", 0o640, b"hello\n").unwrap();
        node.run(&script, stdin.as_deref()).await.unwrap();
        let (script, stdin) = remote::create_file("/a dir/f", 0o644, b"other").unwrap();
        node.run(&script, stdin.as_deref()).await.unwrap();
        assert_eq!(
            node.file("/a dir/f"),
            Some(File {
                content: "hello\n".into(),
                mode: 0o640
            })
        );
        let (script, stdin) = remote::set_crontab(b"* * * * * x\n").unwrap();
        node.run(&script, stdin.as_deref()).await.unwrap();
        assert_eq!(node.crontab().as_deref(), Some("* * * * * x\n"));
        node.run(&remote::remove_file("/a dir/f").unwrap(), None)
            .await
            .unwrap();
        assert_eq!(node.file("/a dir/f"), None);
        assert_eq!(node.run("date +%s", None).await.unwrap(), "1700000000\n");
        assert!(node.run("false", None).await.is_err());
        assert_eq!(node.ran().len(), 6);
    }
}

//! Tokens → targets from websockify's TokenFile format: `token: host:port` lines (or
//! `token: unix_socket:/path`), `#` comments and blank lines ignored; the path is one file or a
//! directory whose files are all read. The files are re-read on lookup whenever one of them (or the
//! directory's list of files) has changed, so tokens can be added and removed without a restart.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::target::Target;

/// What identifies one version of a file (or directory): if any of it changes, we re-read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    mtime: (i64, i64),
    ctime: (i64, i64),
    len: u64,
    ino: u64,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let m = fs::metadata(path).ok()?;
        Some(Stamp {
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            len: m.len(),
            ino: m.ino(),
        })
    }
}

#[derive(Default)]
struct Cache {
    /// `None` until the first load.
    root: Option<Option<Stamp>>,
    files: Vec<(PathBuf, Option<Stamp>)>,
    map: HashMap<String, Target>,
}

/// A token file (or directory of token files), re-read when it changes.
pub struct TokenFile {
    path: PathBuf,
    cache: Mutex<Cache>,
}

impl TokenFile {
    /// Opens and reads the token source once; fails when the path cannot be read at all, so a
    /// typo in `--token-file` is reported at start-up.
    pub fn open(path: PathBuf) -> anyhow::Result<TokenFile> {
        let meta =
            fs::metadata(&path).map_err(|e| anyhow::anyhow!("cannot read --token-file {}: {e}", path.display()))?;
        if meta.is_dir() {
            fs::read_dir(&path).map_err(|e| anyhow::anyhow!("cannot list --token-file {}: {e}", path.display()))?;
        }
        let tf = TokenFile { path, cache: Mutex::new(Cache::default()) };
        let n = tf.refresh_locked(&mut tf.cache.lock().expect("token cache lock"));
        tracing::info!(path = %tf.path.display(), tokens = n, "token file loaded");
        Ok(tf)
    }

    /// The target of `token`, reading the files again first if they changed.
    pub fn lookup(&self, token: &str) -> Option<Target> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if self.changed(&cache) {
            let n = self.refresh_locked(&mut cache);
            tracing::info!(path = %self.path.display(), tokens = n, "token file changed; reloaded");
        }
        cache.map.get(token).cloned()
    }

    fn changed(&self, cache: &Cache) -> bool {
        let Some(root) = cache.root else { return true };
        if Stamp::of(&self.path) != root {
            return true;
        }
        // A directory's own stamp changes when files are added, removed or renamed; rewriting a
        // file in place changes only that file's stamp.
        cache.files.iter().any(|(p, stamp)| Stamp::of(p) != *stamp)
    }

    /// Reads everything again; returns the number of tokens.
    fn refresh_locked(&self, cache: &mut Cache) -> usize {
        cache.root = Some(Stamp::of(&self.path));
        cache.files.clear();
        cache.map.clear();
        let files = match fs::metadata(&self.path) {
            Ok(m) if m.is_dir() => match fs::read_dir(&self.path) {
                Ok(rd) => {
                    let mut files: Vec<PathBuf> = rd
                        .filter_map(|e| e.ok())
                        .filter(|e| {
                            let name = e.file_name();
                            let name = name.to_string_lossy();
                            // Editors' swap and backup files are not token files.
                            !name.starts_with('.') && !name.ends_with('~')
                        })
                        .map(|e| e.path())
                        .filter(|p| p.is_file())
                        .collect();
                    files.sort();
                    files
                }
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), "cannot list token directory: {e}");
                    Vec::new()
                }
            },
            Ok(_) => vec![self.path.clone()],
            Err(e) => {
                tracing::warn!(path = %self.path.display(), "cannot read token file: {e}; no token is valid until it is back");
                Vec::new()
            }
        };
        for file in files {
            // Stamp before reading: a write that lands while we read is seen on the next lookup.
            let stamp = Stamp::of(&file);
            match fs::read(&file) {
                Ok(bytes) => parse_into(&String::from_utf8_lossy(&bytes), &file, &mut cache.map),
                Err(e) => tracing::warn!(path = %file.display(), "cannot read token file: {e}"),
            }
            cache.files.push((file, stamp));
        }
        cache.map.len()
    }
}

/// Adds the tokens of one file's text to `map` (a later line wins), warning about bad lines.
fn parse_into(text: &str, file: &Path, map: &mut HashMap<String, Target>) {
    for (i, line) in text.lines().enumerate() {
        match parse_line(line) {
            Ok(Some((token, target))) => {
                map.insert(token.to_owned(), target);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(path = %file.display(), line = i + 1, "ignoring token line: {e}"),
        }
    }
}

/// One line: `Ok(None)` for blank and comment lines.
fn parse_line(line: &str) -> Result<Option<(&str, Target)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    // The token ends at the first colon followed by whitespace: "token: host:port".
    let sep = line
        .as_bytes()
        .windows(2)
        .position(|w| w[0] == b':' && w[1].is_ascii_whitespace())
        .ok_or_else(|| "expected `token: host:port`".to_owned())?;
    let token = line[..sep].trim();
    if token.is_empty() {
        return Err("empty token".to_owned());
    }
    let target = Target::parse(&line[sep + 1..]).map_err(|e| e.to_string())?;
    Ok(Some((token, target)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Target {
        Target::Tcp { host: host.into(), port }
    }

    #[test]
    fn parses_lines() {
        assert_eq!(parse_line("abc: host:5900"), Ok(Some(("abc", tcp("host", 5900)))));
        assert_eq!(parse_line("  abc:\t10.1.2.3:5901  "), Ok(Some(("abc", tcp("10.1.2.3", 5901)))));
        assert_eq!(parse_line("t: [::1]:5900"), Ok(Some(("t", tcp("::1", 5900)))));
        assert_eq!(parse_line("u: unix_socket:/run/vnc.sock"), Ok(Some(("u", Target::Unix("/run/vnc.sock".into())))));
        assert_eq!(parse_line("# a: b:1"), Ok(None));
        assert_eq!(parse_line("   "), Ok(None));
        assert!(parse_line("abc host:5900").is_err());
        assert!(parse_line("abc:host:5900").is_err());
        assert!(parse_line(": host:5900").is_err());
        assert!(parse_line("abc: host").is_err());
    }

    #[test]
    fn reloads_file_and_directory_on_change() {
        let dir = std::env::temp_dir().join(format!("oxvnc-tokens-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a.conf");
        fs::write(&file, "# comment\none: h1:5901\nbad line\n").unwrap();

        let single = TokenFile::open(file.clone()).unwrap();
        assert_eq!(single.lookup("one"), Some(tcp("h1", 5901)));
        assert_eq!(single.lookup("two"), None);
        fs::write(&file, "one: h1:5901\ntwo: h2:5902\n").unwrap();
        assert_eq!(single.lookup("two"), Some(tcp("h2", 5902)));

        let whole = TokenFile::open(dir.clone()).unwrap();
        assert_eq!(whole.lookup("two"), Some(tcp("h2", 5902)));
        fs::write(dir.join("b.conf"), "three: unix_socket:/x\n").unwrap();
        fs::write(dir.join(".b.conf.swp"), "four: h4:1\n").unwrap();
        assert_eq!(whole.lookup("three"), Some(Target::Unix("/x".into())));
        assert_eq!(whole.lookup("four"), None);
        fs::remove_file(dir.join("b.conf")).unwrap();
        assert_eq!(whole.lookup("three"), None);

        fs::remove_file(&file).unwrap();
        assert_eq!(single.lookup("one"), None, "a deleted token file revokes its tokens");
        fs::write(&file, "one: h9:5909\n").unwrap();
        assert_eq!(single.lookup("one"), Some(tcp("h9", 5909)));
        fs::remove_dir_all(&dir).unwrap();
    }
}

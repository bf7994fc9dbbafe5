//! Tokens → Unix sockets in one directory, as websockify's UnixDomainSocketDirectory plugin: the
//! token `vm1` reaches the socket `DIR/vm1` (QEMU's `-vnc unix:DIR/vm1`, a libvirt VNC socket).
//! A token is only ever one plain file name inside the directory: no path separators, `.` or
//! `..`, so a token cannot point anywhere else. Looked up on every handshake, so sockets that
//! appear or go are seen at once. [`FileNameDir`] is the same for websockify's TokenFileName
//! plugin: a file per token, holding its target.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use super::target::Target;
use super::token_redis::LookupError;

pub struct SocketDir {
    pub dir: PathBuf,
}

impl SocketDir {
    /// Checks that `dir` is a directory that can be listed, so a typo is reported at start-up.
    pub fn open(dir: PathBuf) -> anyhow::Result<SocketDir> {
        check_dir(&dir, "--token-socket-dir")?;
        Ok(SocketDir { dir })
    }

    /// The socket named `token` in the directory, if the token is a plain file name and that
    /// file is a socket (a symbolic link to one counts: the directory's owner put it there).
    pub fn lookup(&self, token: &str) -> Option<Target> {
        if !plain_name(token) {
            return None;
        }
        let path = self.dir.join(token);
        let meta = std::fs::metadata(&path).ok()?;
        meta.file_type().is_socket().then_some(Target::Unix(path))
    }
}

/// Tokens → files in one directory, as websockify's TokenFileName plugin: the token `vm1` reads
/// the file `DIR/vm1`, whose content is the target (`host:port` or `unix_socket:/path`). Read on
/// every handshake, so files added, changed or removed count at once.
pub struct FileNameDir {
    pub dir: PathBuf,
}

/// The most of a token's file that is read; a target is a few dozen bytes.
const MAX_TARGET_FILE: u64 = 4096;

impl FileNameDir {
    /// Checks that `dir` is a directory that can be listed, so a typo is reported at start-up.
    pub fn open(dir: PathBuf) -> anyhow::Result<FileNameDir> {
        check_dir(&dir, "--token-dir")?;
        Ok(FileNameDir { dir })
    }

    /// The target in the file named `token`; `None` when the token is no plain file name or no
    /// such regular file exists (a symbolic link to one counts).
    pub fn lookup(&self, token: &str) -> Result<Option<Target>, LookupError> {
        use std::io::Read;
        if !plain_name(token) {
            return Ok(None);
        }
        let path = self.dir.join(token);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LookupError::Unavailable(format!("{}: {e}", path.display()))),
        };
        match file.metadata() {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Ok(None),
            Err(e) => return Err(LookupError::Unavailable(format!("{}: {e}", path.display()))),
        }
        let mut text = Vec::new();
        file.take(MAX_TARGET_FILE + 1)
            .read_to_end(&mut text)
            .map_err(|e| LookupError::Unavailable(format!("{}: {e}", path.display())))?;
        if text.len() as u64 > MAX_TARGET_FILE {
            return Err(LookupError::BadValue("the file is longer than a target".into()));
        }
        let text = std::str::from_utf8(&text).map_err(|_| LookupError::BadValue("the file is not text".into()))?;
        Target::parse(text.trim()).map(Some).map_err(|e| LookupError::BadValue(e.to_string()))
    }
}

/// That `dir`, given with `option`, is a directory that can be listed.
fn check_dir(dir: &Path, option: &str) -> anyhow::Result<()> {
    let meta = std::fs::metadata(dir).map_err(|e| anyhow::anyhow!("cannot read {option} {}: {e}", dir.display()))?;
    if !meta.is_dir() {
        anyhow::bail!("{option} {} is not a directory", dir.display());
    }
    std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("cannot list {option} {}: {e}", dir.display()))?;
    Ok(())
}

/// One file name: not empty, not `.` or `..`, no `/` and no NUL.
fn plain_name(token: &str) -> bool {
    !token.is_empty() && token != "." && token != ".." && !token.contains(['/', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sockets_named_by_a_plain_file_name_are_found() {
        let dir = std::env::temp_dir().join(format!("oxvnc-socket-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let _vm1 = std::os::unix::net::UnixListener::bind(dir.join("vm1")).unwrap();
        let _nested = std::os::unix::net::UnixListener::bind(dir.join("sub").join("vm2")).unwrap();
        std::fs::write(dir.join("notes"), "not a socket").unwrap();
        std::os::unix::fs::symlink(dir.join("vm1"), dir.join("alias")).unwrap();
        let sockets = SocketDir::open(dir.clone()).unwrap();
        assert_eq!(sockets.lookup("vm1"), Some(Target::Unix(dir.join("vm1"))));
        assert_eq!(sockets.lookup("alias"), Some(Target::Unix(dir.join("alias"))));
        for bad in ["", ".", "..", "sub", "sub/vm2", "../vm1", "/tmp/vm1", "notes", "missing", "vm1\0"] {
            assert_eq!(sockets.lookup(bad), None, "{bad:?}");
        }
        assert!(SocketDir::open(dir.join("notes")).is_err());
        assert!(SocketDir::open(dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn files_named_by_the_token_hold_the_target() {
        let dir = std::env::temp_dir().join(format!("oxvnc-token-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("vm1"), "10.0.0.5:5901\n").unwrap();
        std::fs::write(dir.join("vm2"), "unix_socket:/run/vm2.sock").unwrap();
        std::fs::write(dir.join("sub").join("vm3"), "10.0.0.7:5900").unwrap();
        std::fs::write(dir.join("junk"), "no port here").unwrap();
        std::fs::write(dir.join("huge"), "1".repeat(10_000)).unwrap();
        std::os::unix::fs::symlink(dir.join("vm1"), dir.join("alias")).unwrap();
        let files = FileNameDir::open(dir.clone()).unwrap();
        let tcp = |h: &str, p| Some(Target::Tcp { host: h.into(), port: p });
        assert_eq!(files.lookup("vm1").unwrap(), tcp("10.0.0.5", 5901));
        assert_eq!(files.lookup("alias").unwrap(), tcp("10.0.0.5", 5901));
        assert_eq!(files.lookup("vm2").unwrap(), Some(Target::Unix("/run/vm2.sock".into())));
        for unknown in ["", ".", "..", "sub", "sub/vm3", "../vm1", "missing", "vm1\0"] {
            assert_eq!(files.lookup(unknown).unwrap(), None, "{unknown:?}");
        }
        for bad in ["junk", "huge"] {
            assert!(matches!(files.lookup(bad), Err(LookupError::BadValue(_))), "{bad}");
        }
        assert!(FileNameDir::open(dir.join("vm1")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

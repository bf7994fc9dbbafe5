//! Tokens → Unix sockets in one directory, as websockify's UnixDomainSocketDirectory plugin: the
//! token `vm1` reaches the socket `DIR/vm1` (QEMU's `-vnc unix:DIR/vm1`, a libvirt VNC socket).
//! A token is only ever one plain file name inside the directory: no path separators, `.` or
//! `..`, so a token cannot point anywhere else. Looked up on every handshake, so sockets that
//! appear or go are seen at once.

use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

use super::target::Target;

pub struct SocketDir {
    pub dir: PathBuf,
}

impl SocketDir {
    /// Checks that `dir` is a directory that can be listed, so a typo is reported at start-up.
    pub fn open(dir: PathBuf) -> anyhow::Result<SocketDir> {
        let meta = std::fs::metadata(&dir)
            .map_err(|e| anyhow::anyhow!("cannot read --token-socket-dir {}: {e}", dir.display()))?;
        if !meta.is_dir() {
            anyhow::bail!("--token-socket-dir {} is not a directory", dir.display());
        }
        std::fs::read_dir(&dir)
            .map_err(|e| anyhow::anyhow!("cannot list --token-socket-dir {}: {e}", dir.display()))?;
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
}

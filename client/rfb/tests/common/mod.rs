//! Shared by the integration tests and the benchmark: where the recordings are, which of them
//! the engine can decode, and replaying a server stream through a [`Connection`].
#![allow(dead_code)]

use std::path::PathBuf;

use oxvnc_rfb::{Config, Connection, Encoding, Error, Event};

/// The recordings directory: `$OXVNC_RECORDINGS`, else `<workspace>/../shared/recordings`.
/// `None` (with a note) only when it is missing and `OXVNC_SKIP_RECORDINGS=1`; missing otherwise
/// is a failure, so a CI without them cannot pass by testing nothing.
pub fn recordings_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("OXVNC_RECORDINGS") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/recordings"),
    };
    if dir.join("recordings.json").is_file() {
        return Some(dir);
    }
    if std::env::var("OXVNC_SKIP_RECORDINGS").as_deref() == Ok("1") {
        eprintln!("note: no recordings at {} and OXVNC_SKIP_RECORDINGS=1: skipped", dir.display());
        return None;
    }
    panic!(
        "the session recordings are not at {} (no recordings.json there): set OXVNC_RECORDINGS to \
         the directory holding NAME.rfbrec, NAME.final.png and recordings.json, or set \
         OXVNC_SKIP_RECORDINGS=1 to skip the recording tests",
        dir.display()
    );
}

/// Names of every `NAME.rfbrec` in `dir`, sorted.
pub fn recording_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".rfbrec").map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// The encoding numbers of `encodings` that the engine does not decode: non-negative numbers it
/// has no decoder for. Pseudo-encodings (negative) never block a replay: those that carry data
/// are decoded, the others (compression and quality levels) only steer the server.
pub fn undecodable(encodings: &[i32]) -> Vec<i32> {
    encodings
        .iter()
        .copied()
        .filter(|&n| {
            let e = Encoding::from_number(n);
            !e.is_pseudo() && !Encoding::PIXEL.contains(&e)
        })
        .collect()
}

/// Whether the server may have sent lossy (JPEG) data: Tight with a quality level.
pub fn lossy(encodings: &[i32]) -> bool {
    encodings.contains(&7) && encodings.iter().any(|n| (-32..=-23).contains(n) || (-768..=-513).contains(n))
}

/// What a replay left behind.
pub struct Outcome {
    pub connection: Connection,
    pub updates: usize,
    pub output: Vec<u8>,
}

/// Where a replay failed.
#[derive(Debug)]
pub struct Failure {
    /// Index of the chunk whose `receive` failed.
    pub chunk: usize,
    /// Its first and one-past-last byte in the server stream.
    pub range: (usize, usize),
    pub error: Error,
}

/// Feeds `chunks` to a fresh connection in order, draining events and output after each.
pub fn replay<'a>(config: Config, chunks: impl IntoIterator<Item = &'a [u8]>) -> Result<Outcome, Failure> {
    let mut connection = Connection::new(config);
    let (mut updates, mut output, mut pos) = (0, Vec::new(), 0);
    for (i, chunk) in chunks.into_iter().enumerate() {
        let result = connection.receive(chunk);
        output.extend(connection.take_output());
        while let Some(e) = connection.poll_event() {
            match e {
                Event::UpdateComplete => updates += 1,
                Event::Disconnected(error) => {
                    return Err(Failure { chunk: i, range: (pos, pos + chunk.len()), error });
                }
                _ => {}
            }
        }
        if let Err(error) = result {
            return Err(Failure { chunk: i, range: (pos, pos + chunk.len()), error });
        }
        pos += chunk.len();
    }
    Ok(Outcome { connection, updates, output })
}

/// Splits `data` into consecutive chunks whose sizes `size(offset)` picks (clamped to 1..=rest).
pub fn split<'a>(data: &'a [u8], mut size: impl FnMut(usize) -> usize + 'a) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= data.len() {
            return None;
        }
        let n = size(pos).clamp(1, data.len() - pos);
        pos += n;
        Some(&data[pos - n..pos])
    })
}

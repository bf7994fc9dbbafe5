//! A long-lived zlib stream as RFB servers use them (ZRLE, Zlib, Tight): the server compresses
//! each rectangle's data with a sync flush, so one stream spans the whole connection and its
//! window carries over from one rectangle to the next.
//!
//! The stream is inflated as raw deflate after checking the 2-byte zlib header here: the zlib
//! trailer's Adler-32 is only checked when a stream ends, which an RFB server's never does, and
//! computing it anyway costs a fifth of the decode time.

use flate2::{Decompress, FlushDecompress, Status};

use crate::error::Error;

pub(crate) struct ZStream {
    zlib: Decompress,
    /// The zlib header, as far as it has arrived (it precedes the deflate data).
    header: [u8; 2],
    header_len: usize,
    /// After the deflate stream ended: how many bytes of its Adler-32 trailer may still follow.
    trailer_left: Option<usize>,
}

impl Default for ZStream {
    fn default() -> ZStream {
        ZStream { zlib: Decompress::new(false), header: [0; 2], header_len: 0, trailer_left: None }
    }
}

impl std::fmt::Debug for ZStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZStream")
            .field("total_in", &self.zlib.total_in())
            .field("total_out", &self.zlib.total_out())
            .finish()
    }
}

/// The most compressed bytes accepted for a block that inflates to at most `inflated` bytes.
/// Deflate expands incompressible data by a few bytes per 64 KiB stored block (and fixed-Huffman
/// literals by at most 9/8); half again plus 64 KiB is far beyond any real encoder.
pub(crate) fn max_compressed(inflated: usize) -> usize {
    inflated + inflated / 2 + 64 * 1024
}

impl ZStream {
    /// Starts the stream afresh (a new zlib header follows).
    pub fn reset(&mut self) {
        *self = ZStream::default();
    }

    /// Inflates all of `data` (one block's share of the stream) into `out` from its start,
    /// growing it as needed, and fails rather than producing more than `limit` bytes (`what`
    /// names the block in that error). Returns the number of bytes produced.
    pub fn inflate(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
        what: &'static str,
    ) -> Result<usize, Error> {
        let cap = limit.saturating_add(1);
        let (mut pos, mut filled) = (0, 0);
        while self.header_len < 2 && pos < data.len() {
            self.header[self.header_len] = data[pos];
            self.header_len += 1;
            pos += 1;
            if self.header_len == 2 {
                check_zlib_header(self.header)?;
            }
        }
        if let Some(left) = self.trailer_left {
            return self.after_end(data.len() - pos, left).map(|()| 0);
        }
        loop {
            // Invariant: filled < cap, so a full buffer can always grow.
            if filled == out.len() {
                let grow = (out.len() * 2).max(64 * 1024).min(cap);
                out.resize(grow, 0);
            }
            let end = out.len().min(cap);
            let (in0, out0) = (self.zlib.total_in(), self.zlib.total_out());
            let status = self
                .zlib
                .decompress(&data[pos..], &mut out[filled..end], FlushDecompress::None)
                .map_err(|e| Error::Zlib(e.to_string()))?;
            let used = (self.zlib.total_in() - in0) as usize;
            let made = (self.zlib.total_out() - out0) as usize;
            pos += used;
            filled += made;
            if filled >= cap {
                return Err(Error::TooLong { what, len: filled as u64, limit: limit as u64 });
            }
            if status == Status::StreamEnd {
                return self.after_end(data.len() - pos, 4).map(|()| filled);
            }
            // Input exhausted with room to spare: everything inflatable so far is out.
            if pos == data.len() && filled < end {
                return Ok(filled);
            }
            if used == 0 && made == 0 {
                return Err(Error::Zlib("the zlib stream stalled".into()));
            }
        }
    }

    /// Accounts for `n` bytes after the end of the deflate stream, of which `left` may still be
    /// its (unchecked) Adler-32 trailer.
    fn after_end(&mut self, n: usize, left: usize) -> Result<(), Error> {
        if n > left {
            return Err(Error::Zlib("data after the end of the zlib stream".into()));
        }
        self.trailer_left = Some(left - n);
        Ok(())
    }
}

/// Checks a zlib header (RFC 1950): deflate, a window of at most 32 KiB, a valid check value and
/// no preset dictionary.
fn check_zlib_header([cmf, flg]: [u8; 2]) -> Result<(), Error> {
    if cmf & 0x0f != 8 || cmf >> 4 > 7 || (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0 || flg & 0x20 != 0 {
        return Err(Error::Zlib(format!("invalid zlib header {cmf:02x} {flg:02x}")));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testing {
    use flate2::{Compress, Compression, FlushCompress};

    pub fn new_stream() -> Compress {
        Compress::new(Compression::default(), true)
    }

    /// Compresses `payload` as a server does (sync flush, so the stream continues).
    pub fn deflate_sync(z: &mut Compress, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(payload.len() / 2 + 64);
        let start = z.total_in();
        loop {
            let used = (z.total_in() - start) as usize;
            out.reserve(4096);
            z.compress_vec(&payload[used..], &mut out, FlushCompress::Sync).unwrap();
            if (z.total_in() - start) as usize == payload.len() && out.len() < out.capacity() {
                break;
            }
        }
        out
    }

    /// [`deflate_sync`] framed with its u32 length, as ZRLE and Zlib rectangles are.
    pub fn compress(z: &mut Compress, payload: &[u8]) -> Vec<u8> {
        let out = deflate_sync(z, payload);
        let mut msg = (out.len() as u32).to_be_bytes().to_vec();
        msg.extend(out);
        msg
    }
}

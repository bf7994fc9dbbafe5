//! Arbitrary server bytes into a `Connection`, split where the input says.
//!
//! Input layout: `[flags, s0, s1, s2]` then the server stream.
//! - `flags` bit 0: credentials in the config (else they are given when asked for);
//!   bits 1–2: pixel format (engine default RGBX, server native, RGB565, BGR233);
//!   bit 3: offer only ZRLE + Hextile + Raw and two pseudo-encodings (else everything);
//!   bits 4–6: chunk sizes (whole, 1, 1..=3, 1..=16, 1..=64, 1..=512, 1..=4096, 1..=65536);
//!   bit 7: call input methods between chunks.
//! - `s0..s2` seed the chunk sizes, so the fuzzer chooses the split points.
//!
//! Seed a corpus with real sessions: four header bytes followed by the start of a recording's
//! server stream (e.g. `printf '\x00\x01\x02\x03'` + the server payloads of
//! `/work/shared/recordings/zrle-text.rfbrec`, concatenated with `oxvnc_rfb::replay`).
//!
//! Checked: no panic, and once `receive` fails the connection is closed for good.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxvnc_rfb::{Config, Connection, Credentials, Encoding, Error, Event, PixelFormat, PixelFormatChoice, State};

fuzz_target!(|input: &[u8]| {
    let Some((header, stream)) = input.split_first_chunk::<4>() else { return };
    let [flags, s0, s1, s2] = *header;
    let password = || Credentials { username: None, password: "fuzz".into() };
    let mut config = Config {
        credentials: (flags & 1 != 0).then(password),
        pixel_format: match (flags >> 1) & 3 {
            0 => PixelFormatChoice::Rgbx32,
            1 => PixelFormatChoice::ServerNative,
            2 => PixelFormatChoice::Custom(PixelFormat::RGB565),
            _ => PixelFormatChoice::Custom(PixelFormat::BGR233),
        },
        ..Config::default()
    };
    if flags & 8 != 0 {
        config.encodings =
            vec![Encoding::Zrle, Encoding::Hextile, Encoding::Raw, Encoding::LastRect, Encoding::DesktopSize];
    }
    let max_chunk = [usize::MAX, 1, 3, 16, 64, 512, 4096, 65536][(flags >> 4 & 7) as usize];
    let inputs = flags & 0x80 != 0;
    // xorshift32, seeded by the fuzzer.
    let mut state = u32::from_le_bytes([s0, s1, s2, 0x5a]) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };

    let mut conn = Connection::new(config);
    let mut pos = 0;
    while pos < stream.len() {
        let n = if max_chunk == usize::MAX { stream.len() } else { 1 + next() as usize % max_chunk };
        let end = stream.len().min(pos + n);
        let result = conn.receive(&stream[pos..end]);
        pos = end;
        if inputs {
            let r = next();
            conn.pointer(r as u16, (r >> 16) as u16, r as u8);
            conn.key(r, r & 1 != 0);
            conn.request_update(true, None);
        }
        let _ = conn.take_output();
        while let Some(event) = conn.poll_event() {
            if let Event::CredentialsRequired { .. } = event {
                let _ = conn.send_credentials(password());
            }
        }
        if let Err(e) = result {
            assert_eq!(conn.state(), State::Closed);
            assert_eq!(conn.error(), Some(&e));
            assert_eq!(conn.receive(b"x"), Err(Error::Closed));
            return;
        }
    }
});

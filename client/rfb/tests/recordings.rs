//! Real sessions recorded from TigerVNC's Xvnc (`/work/shared/recordings`, see its README.md),
//! replayed through the engine:
//!
//! - the recording is intact (SHA-256 and counts of `recordings.json`; rectangles framed
//!   independently of the decoders match its per-encoding counts);
//! - every server record replays with no error, every FramebufferUpdate completes, and the engine
//!   sends byte for byte what the recording client sent;
//! - the final framebuffer equals `NAME.final.png`, the reference client's canvas after the same
//!   replay (pixel for pixel for lossless encodings, mismatches counted and printed);
//! - the final framebuffer is the same however the stream is cut: as recorded, in one piece, byte
//!   by byte (all of it), inside every rectangle header, and at random points (sizes 1..=64 over
//!   the whole stream, and 1..=100000 with several seeds).
//!
//! Recordings in an encoding the engine does not decode yet are skipped with a note.

mod common;

use std::fs;
use std::path::Path;

use common::{Failure, Outcome, lossy, recording_names, recordings_dir, replay, split, undecodable};
use oxvnc_rfb::replay::{self as rec, Framing};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Every recording this file knows; `every_recording_is_tested` fails when the directory holds
/// one that is not listed, so a new recording cannot go untested silently.
const TESTED: &[&str] = &[
    "copyrect+zrle-mixed",
    "copyrect+zrle-text",
    "hextile-mixed",
    "hextile-text",
    "raw-mixed",
    "raw-text",
    "tight-lossless-mixed",
    "tight-lossless-text",
    "tight-mixed",
    "tight-text",
    "zrle-mixed",
    "zrle-text",
];

/// Side of the square in the bottom-right corner where Xvnc drew the pointer.
const POINTER_CORNER: usize = 32;

macro_rules! recording_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(#[test] fn $test() { check_recording($name) })*
    };
}

recording_tests! {
    copyrect_zrle_mixed => "copyrect+zrle-mixed",
    copyrect_zrle_text => "copyrect+zrle-text",
    hextile_mixed => "hextile-mixed",
    hextile_text => "hextile-text",
    raw_mixed => "raw-mixed",
    raw_text => "raw-text",
    tight_lossless_mixed => "tight-lossless-mixed",
    tight_lossless_text => "tight-lossless-text",
    tight_mixed => "tight-mixed",
    tight_text => "tight-text",
    zrle_mixed => "zrle-mixed",
    zrle_text => "zrle-text",
}

#[test]
fn diff_counts_what_differs() {
    let (w, h) = (40, 40);
    let a = vec![7u8; w * h * 4];
    let mut b = a.clone();
    assert_eq!(diff(w, h, &a, &b).total, 0);
    b[3] = 0; // alpha is not compared
    assert_eq!(diff(w, h, &a, &b).total, 0);
    b[0] = 8; // (0, 0)
    let corner = ((h - 1) * w + (w - 1)) * 4;
    b[corner + 2] = 0; // (39, 39), in the pointer corner
    let d = diff(w, h, &a, &b);
    assert_eq!((d.total, d.in_corner), (2, 1));
    assert_eq!(d.first, Some((0, 0, [7, 7, 7, 7], [8, 7, 7, 0]))); // (x, y, got, want)
    assert!(d.psnr.is_finite() && d.psnr > 30.0);
}

#[test]
fn every_recording_is_tested() {
    let Some(dir) = recordings_dir() else { return };
    let found = recording_names(&dir);
    assert!(!found.is_empty(), "no .rfbrec files in {}", dir.display());
    let untested: Vec<&String> = found.iter().filter(|n| !TESTED.contains(&n.as_str())).collect();
    assert!(untested.is_empty(), "recordings without a test in tests/recordings.rs: {untested:?}");
    let missing: Vec<&&str> = TESTED.iter().filter(|n| !found.iter().any(|f| f == *n)).collect();
    assert!(missing.is_empty(), "recordings missing from {}: {missing:?}", dir.display());
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn encoding_name(n: i32) -> String {
    match n {
        0 => "raw".into(),
        1 => "copyrect".into(),
        2 => "rre".into(),
        5 => "hextile".into(),
        7 => "tight".into(),
        16 => "zrle".into(),
        -223 => "desktopsize".into(),
        -224 => "lastrect".into(),
        -239 => "cursor".into(),
        -307 => "desktopname".into(),
        -308 => "extendeddesktopsize".into(),
        n => format!("encoding {n}"),
    }
}

/// Says where a failed replay stopped: chunk, server-stream bytes and the rectangles there.
fn describe(name: &str, how: &str, f: &Failure, framing: &Framing) -> String {
    let (start, end) = f.range;
    let mut at: Vec<String> = Vec::new();
    // The rectangle in progress when the chunk began, and those starting inside it.
    let first = framing.rects.partition_point(|r| r.offset <= start).saturating_sub(1);
    for r in framing.rects[first..].iter().take_while(|r| r.offset < end).take(6) {
        at.push(format!(
            "{} rect {}x{} at ({},{}) header at server byte {} with {} data bytes",
            encoding_name(r.encoding),
            r.rect.w,
            r.rect.h,
            r.rect.x,
            r.rect.y,
            r.offset,
            r.len
        ));
    }
    format!(
        "{name} ({how}): receive of chunk {} (server bytes {start}..{end}) failed: {} [{:?}]; rectangles there: {at:#?}",
        f.chunk, f.error, f.error
    )
}

/// The reference canvas as RGBA.
fn load_png(path: &Path) -> (usize, usize, Vec<u8>) {
    let file = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (w, h) = (info.width as usize, info.height as usize);
    let rgba = match info.color_type {
        png::ColorType::Rgba => buf[..w * h * 4].to_vec(),
        png::ColorType::Rgb => buf[..w * h * 3].chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
        other => panic!("{}: unexpected PNG colour type {other:?}", path.display()),
    };
    (w, h, rgba)
}

/// Pixels whose RGB differ, in the whole frame and in the pointer corner, the first of them,
/// and the PSNR of the RGB channels (infinite when equal).
struct Diff {
    total: usize,
    in_corner: usize,
    first: Option<(usize, usize, [u8; 4], [u8; 4])>,
    psnr: f64,
}

fn diff(w: usize, h: usize, got: &[u8], want: &[u8]) -> Diff {
    let (mut total, mut in_corner, mut first, mut sq) = (0, 0, None, 0u64);
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) * 4;
            let (g, e) = (&got[i..i + 4], &want[i..i + 4]);
            if g[..3] != e[..3] {
                total += 1;
                if x >= w.saturating_sub(POINTER_CORNER) && y >= h.saturating_sub(POINTER_CORNER) {
                    in_corner += 1;
                }
                first.get_or_insert((x, y, g.try_into().unwrap(), e.try_into().unwrap()));
                sq += (0..3).map(|c| (g[c] as i64 - e[c] as i64).pow(2) as u64).sum::<u64>();
            }
        }
    }
    let mse = sq as f64 / (w * h * 3) as f64;
    let psnr = if sq == 0 { f64::INFINITY } else { 10.0 * (255.0f64 * 255.0 / mse).log10() };
    Diff { total, in_corner, first, psnr }
}

/// Checks the rectangles framed from the stream against `recordings.json`'s counts.
fn check_framing(name: &str, framing: &Framing, meta: &Value) {
    let mut rects = std::collections::BTreeMap::<String, (u64, u64)>::new();
    for r in &framing.rects {
        let e = rects.entry(encoding_name(r.encoding)).or_default();
        e.0 += 1;
        e.1 += r.rect.area() as u64;
    }
    for (enc, (count, pixels)) in &rects {
        assert_eq!(meta["rects"][enc].as_u64(), Some(*count), "{name}: {enc} rectangles framed vs recordings.json");
        let want_px = meta["rect_pixels"][enc].as_u64();
        // Pseudo-encodings carry no pixels (recordings.json counts them as 0).
        let got_px = if enc == "lastrect" || enc == "desktopsize" { 0 } else { *pixels };
        assert_eq!(want_px, Some(got_px), "{name}: {enc} pixels framed vs recordings.json");
    }
    assert_eq!(
        meta["rects"].as_object().map(|o| o.len()),
        Some(rects.len()),
        "{name}: encodings framed {:?} vs recordings.json {}",
        rects.keys().collect::<Vec<_>>(),
        meta["rects"]
    );
    assert_eq!(meta["framebuffer_updates"].as_u64(), Some(framing.updates as u64), "{name}: updates");
}

fn check_recording(name: &str) {
    let Some(dir) = recordings_dir() else { return };
    let json: Value = serde_json::from_slice(&fs::read(dir.join("recordings.json")).expect("read recordings.json"))
        .expect("recordings.json is JSON");
    let meta = &json["recordings"][name];
    assert!(meta.is_object(), "{name} is not in recordings.json");
    let path = dir.join(format!("{name}.rfbrec"));
    let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        meta["files"]["rfbrec"]["sha256"].as_str(),
        Some(sha256_hex(&bytes).as_str()),
        "{} differs from the file recordings.json describes",
        path.display()
    );

    let records = rec::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let session = rec::session(&records).unwrap_or_else(|e| panic!("{name}: {e}"));
    let missing = undecodable(&session.encodings);
    if !missing.is_empty() {
        println!(
            "note: {name} skipped: its SetEncodings {:?} includes {missing:?}, which the engine does not decode",
            session.encodings
        );
        return;
    }
    let config = session.config();
    let stream = rec::server_stream(&records);
    assert_eq!(meta["server_bytes"].as_u64(), Some(stream.len() as u64), "{name}: server bytes");
    let framing = rec::rects(&records).unwrap_or_else(|e| panic!("{name}: framing the server stream: {e}"));
    check_framing(name, &framing, meta);

    // As recorded.
    let reference = replay(config.clone(), rec::server_records(&records))
        .unwrap_or_else(|f| panic!("{}", describe(name, "recorded chunks", &f, &framing)));
    assert_eq!(reference.updates, framing.updates, "{name}: updates completed");
    assert!(
        reference.output == rec::client_stream(&records),
        "{name}: the engine's messages differ from the recording client's"
    );
    let fb = reference.connection.framebuffer();
    let (w, h) = (fb.width() as usize, fb.height() as usize);
    assert_eq!((w, h), (session.width as usize, session.height as usize));

    // Against the reference client's final canvas.
    let (pw, ph, want) = load_png(&dir.join(format!("{name}.final.png")));
    assert_eq!((pw, ph), (w, h), "{name}: size of the final PNG");
    let d = diff(w, h, fb.data(), &want);
    println!(
        "{name}: {} server bytes in {} records, {} updates, {} rectangles, {:.1} Mpx; {} pixels differ from \
         the final PNG ({} of them in the {POINTER_CORNER}x{POINTER_CORNER} pointer corner), PSNR {:.1} dB",
        stream.len(),
        rec::server_records(&records).count(),
        reference.updates,
        framing.rects.len(),
        framing.pixels() as f64 / 1e6,
        d.total,
        d.in_corner,
        d.psnr
    );
    if lossy(&session.encodings) {
        assert!(d.psnr >= 45.0, "{name}: PSNR {:.2} dB against the final PNG (first difference {:?})", d.psnr, d.first);
    } else {
        assert_eq!(
            d.total,
            0,
            "{name}: {} pixels differ from the final PNG, {} outside the pointer corner; first (x, y, got, want): {:?}",
            d.total,
            d.total - d.in_corner,
            d.first
        );
    }

    // Whatever the chunking, the same framebuffer.
    let want_hash = sha256_hex(fb.data());
    let check = |how: &str, outcome: Result<Outcome, Failure>| {
        let o = outcome.unwrap_or_else(|f| panic!("{}", describe(name, how, &f, &framing)));
        assert_eq!(o.updates, reference.updates, "{name} ({how}): updates completed");
        assert!(o.output == reference.output, "{name} ({how}): the engine's messages differ");
        let got = sha256_hex(o.connection.framebuffer().data());
        assert_eq!(got, want_hash, "{name} ({how}): final framebuffer differs from the recorded-chunks replay");
    };
    check("one receive", replay(config.clone(), [stream.as_slice()]));

    // Byte by byte over the whole stream: cheap, since a partial unit is only ever appended to.
    check("1-byte chunks", replay(config.clone(), stream.chunks(1)));

    // Cut at a random point inside (or just before) every rectangle header, and elsewhere at random.
    let mut rng = SmallRng::seed_from_u64(0x4ead);
    let mut cuts: Vec<usize> = framing.rects.iter().map(|r| r.offset + rng.random_range(0..=16)).collect();
    cuts.sort_unstable();
    cuts.retain(|&c| c < stream.len());
    cuts.dedup();
    let mut next = 0;
    check(
        "cut inside every rectangle header",
        replay(
            config.clone(),
            split(&stream, move |pos| {
                while next < cuts.len() && cuts[next] <= pos {
                    next += 1;
                }
                cuts.get(next).map_or(usize::MAX, |&c| c - pos)
            }),
        ),
    );

    let mut rng = SmallRng::seed_from_u64(64);
    check(
        "random 1..=64 over the whole stream",
        replay(config.clone(), split(&stream, move |_| rng.random_range(1..=64))),
    );

    for seed in 1..=3u64 {
        let mut rng = SmallRng::seed_from_u64(seed);
        check(
            &format!("random 1..=100000, seed {seed}"),
            replay(config.clone(), split(&stream, move |_| rng.random_range(1..=100_000))),
        );
    }
    println!("{name}: final framebuffer sha256 {want_hash}, identical over 8 chunkings");
}

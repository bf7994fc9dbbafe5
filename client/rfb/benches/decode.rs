//! Decode throughput over the session recordings (`/work/shared/recordings`): every server record
//! of a recording, in its recorded chunks, through a fresh `Connection`.
//!
//! Throughput is in bytes of wire data (the server stream). Megapixels per second are printed
//! too: the pixels are the sum of the areas of the pixel-encoded rectangles (CopyRect included),
//! counted by framing the stream with `replay::rects`, not estimated.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::{recording_names, recordings_dir, replay, undecodable};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oxvnc_rfb::replay as rec;

fn decode(c: &mut Criterion) {
    let Some(dir) = recordings_dir() else { return };
    let mut group = c.benchmark_group("decode");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(6));
    let mut table = Vec::new();
    for name in recording_names(&dir) {
        let bytes = std::fs::read(dir.join(format!("{name}.rfbrec"))).expect("read recording");
        let records = rec::parse(&bytes).expect("valid recording");
        let session = rec::session(&records).expect("recording handshake");
        let missing = undecodable(&session.encodings);
        if !missing.is_empty() {
            println!("note: {name} skipped: encodings {missing:?} are not decoded by the engine");
            continue;
        }
        let framing = rec::rects(&records).expect("framing");
        let server_bytes = rec::server_records(&records).map(<[u8]>::len).sum::<usize>() as u64;
        let pixels = framing.pixels();
        let config = session.config();
        // Once outside the timing: it must decode, and gives a quick single-run figure.
        let start = std::time::Instant::now();
        replay(config.clone(), rec::server_records(&records)).expect("the recording decodes");
        let once = start.elapsed();
        group.throughput(Throughput::Bytes(server_bytes));
        // Time per replay of every batch criterion runs (warm-up included), for the summary.
        let mut per_replay = vec![once];
        group.bench_function(&name, |b| {
            b.iter_custom(|iters| {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    let out = replay(config.clone(), rec::server_records(&records)).expect("decodes");
                    std::hint::black_box(out.connection.framebuffer().data()[0]);
                }
                let t = start.elapsed();
                per_replay.push(t / iters.max(1) as u32);
                t
            })
        });
        per_replay.sort();
        table.push((name, server_bytes, pixels, per_replay[per_replay.len() / 2]));
    }
    group.finish();
    println!("\nMedian time per replay over every batch above (MB = 10^6 bytes of server data):");
    println!("| recording | MB/s | Mpx/s | ms per replay | server MB | Mpx |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, bytes, pixels, t) in table {
        let s = t.as_secs_f64();
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} |",
            bytes as f64 / 1e6 / s,
            pixels as f64 / 1e6 / s,
            s * 1e3,
            bytes as f64 / 1e6,
            pixels as f64 / 1e6
        );
    }
}

criterion_group!(benches, decode);
criterion_main!(benches);

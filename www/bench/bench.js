// The browser side of `cargo xtask bench client`: every recorded session replayed through oxvnc
// (engine + the console's canvas display, as wasm) and through noVNC 1.7 (its RFB object on a
// WebSocket-like channel), the same recorded server → client chunks given to both as WebSocket
// `message` events, back to back in one loop (no network, no timing) or, with
// `delivery: "tasks"`, each in a task of its own as a WebSocket delivers them. A run's clock starts
// after the handshake and the first paint of the client's new canvas (`setup: "untimed"`, see
// `setUp`) and stops when the client's last frame is on its visible canvas. Runs alternate between
// the clients; the first run of each is a warm-up (JIT, wasm tiering) and is not counted.
//
// The driver calls `window.oxvncBench.start(plan)` and polls `window.oxvncBench` for results.

import init, { Replayer, handshake_chunks } from "./pkg/oxvnc_bench.js";
import RFB from "../novnc/core/rfb.js";

const bench = {
    ready: false,
    error: null,
    running: false,
    done: false,
    results: [],
    start,
};
window.oxvncBench = bench;

const stage = document.getElementById("stage");
const log = document.getElementById("log");

try {
    await init();
    bench.ready = true;
    log.textContent = "ready";
} catch (e) {
    bench.error = `loading the oxvnc wasm or noVNC failed: ${e}`;
    log.textContent = bench.error;
}

// ---------------------------------------------------------------------------------------------
// Recordings

/// The server → client payloads of an `.rfbrec` file, each its own ArrayBuffer (as a WebSocket
/// message's data is). Format: ../shared/recordings/FORMAT.md.
function serverChunks(buf) {
    const bytes = new Uint8Array(buf);
    const magic = "RFBREC01";
    for (let i = 0; i < 8; i++) {
        if (bytes[i] !== magic.charCodeAt(i)) throw new Error("not an .rfbrec recording");
    }
    const view = new DataView(buf);
    const chunks = [];
    let pos = 8;
    while (pos < bytes.length) {
        if (pos + 9 > bytes.length) throw new Error(`truncated record header at byte ${pos}`);
        const dir = view.getUint8(pos);
        const len = view.getUint32(pos + 5);
        pos += 9;
        if (pos + len > bytes.length) throw new Error(`truncated record at byte ${pos - 9}`);
        if (dir === 0) {
            chunks.push(buf.slice(pos, pos + len));
        }
        pos += len;
    }
    return chunks;
}

async function fetchBuffer(url) {
    const r = await fetch(url);
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    return r.arrayBuffer();
}

/// The reference picture's RGBA pixels (decoded without colour conversion), or null.
async function referencePixels(url) {
    const r = await fetch(url);
    if (!r.ok) return null;
    const bitmap = await createImageBitmap(await r.blob(), {
        colorSpaceConversion: "none",
        premultiplyAlpha: "none",
    });
    const c = document.createElement("canvas");
    c.width = bitmap.width;
    c.height = bitmap.height;
    const ctx = c.getContext("2d");
    ctx.drawImage(bitmap, 0, 0);
    return ctx.getImageData(0, 0, c.width, c.height);
}

// ---------------------------------------------------------------------------------------------
// The two clients

/// Forces the canvas to have really drawn everything issued so far (Chromium records 2D canvas
/// calls and rasterises them lazily): a one-pixel read-back.
function sync(canvas) {
    canvas.getContext("2d").getImageData(0, 0, 1, 1);
}

/// Resolves after `n` animation frames: Chromium has laid out, painted and composited what changed.
const frames = (n) =>
    new Promise((resolve) => {
        const step = () => (--n <= 0 ? resolve() : requestAnimationFrame(step));
        requestAnimationFrame(step);
    });

/// Before a client's clock starts it is given the handshake (`rec.setup` chunks, up to ServerInit,
/// which sizes its canvas), its canvas is painted black once and the page waits a few animation
/// frames: Chromium's one-time work on a new canvas (its first frames with content take 20-30 ms
/// in headless Chromium, for either client) is part of creating the canvas, which is not timed.
const SETUP_FRAMES = 3;

/// The untimed set-up of a run: `deliver` (how the client takes a chunk) gets the handshake, then
/// the canvas is painted and the frames pass. Nothing with `rec.setup` 0 (`setup: "timed"`).
async function setUp(rec, canvas, deliver) {
    if (!rec.setup) return;
    for (const data of rec.chunks.slice(0, rec.setup)) deliver(data);
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    await frames(SETUP_FRAMES);
}

/// A macrotask boundary without timer clamping (for `delivery: "tasks"`: one chunk per task, as
/// WebSocket messages arrive).
const channel = new MessageChannel();
const nextTask = () =>
    new Promise((resolve) => {
        channel.port1.onmessage = () => resolve();
        channel.port2.postMessage(null);
    });

/// oxvnc: a Replayer (engine + console Display) on a fresh canvas in the page. `perUpdate`: blit
/// at the end of every complete update; otherwise once per animation frame, as the console does.
async function runOxvnc(rec, tasks, perUpdate) {
    const canvas = document.createElement("canvas");
    stage.replaceChildren(canvas);
    const replayer = new Replayer(new Uint8Array(rec.file), canvas);
    replayer.set_blit_per_update(perUpdate);
    let raf = 0;
    let frameError = null;
    const frame = () => {
        raf = 0;
        try {
            replayer.frame();
        } catch (e) {
            frameError = e;
        }
    };
    try {
        await setUp(rec, canvas, (data) => replayer.feed(data));
        const t0 = performance.now();
        for (const data of rec.timed) {
            if (tasks) await nextTask();
            if (frameError) throw frameError;
            const ev = new MessageEvent("message", { data });
            if (replayer.feed(ev.data) && !perUpdate && !raf) raf = requestAnimationFrame(frame);
        }
        if (raf) cancelAnimationFrame(raf);
        raf = 0;
        if (frameError) throw frameError;
        replayer.finish();
        const t1 = performance.now();
        sync(canvas);
        const t2 = performance.now();
        const ms = t2 - t0;
        return {
            ms,
            canvas,
            updates: replayer.updates,
            blits: replayer.blits,
            // Where the time went: engine (copy + decode), blit calls, the final read-back
            // (Chromium rasterising what was issued); the rest is between chunks.
            split: { decode: replayer.decode_ms, blit: replayer.blit_ms, sync: t2 - t1 },
            blitPx: replayer.blit_px,
            damagePx: replayer.damage_px,
        };
    } finally {
        if (raf) cancelAnimationFrame(raf);
        replayer.free();
    }
}

/// A WebSocket-like channel for noVNC's RFB (`new RFB(target, channel)`, noVNC ≥ 1.4): already
/// open, sends go nowhere; the benchmark calls `onmessage` with each recorded chunk.
class ReplayChannel {
    constructor() {
        this.binaryType = "arraybuffer";
        this.protocol = "";
        this.readyState = "open";
        this.onerror = null;
        this.onmessage = null;
        this.onopen = null;
        this.onclose = null;
    }
    send() {}
    close() {
        if (this.readyState === "closed") return;
        this.readyState = "closed";
        setTimeout(() => this.onclose?.(new CloseEvent("close", { code: 1000, wasClean: true })), 0);
    }
}

/// Resolves once noVNC has processed every byte it was given and its render queue is empty:
/// a FramebufferUpdate whose previous frame is still rendering (JPEG images decode
/// asynchronously) makes noVNC stop reading (`_flushing`) until `display.flush()` resolves.
async function novncSettled(rfb) {
    while (rfb._flushing || rfb._display.pending()) {
        await rfb._display.flush();
        // noVNC's own continuation (attached first) runs before this one; let it finish.
        await Promise.resolve();
    }
    if (rfb._rfbConnectionState !== "connected") {
        throw new Error(`noVNC is ${rfb._rfbConnectionState || "not connected"} after the replay`);
    }
    const left = rfb._sock._rQlen - rfb._sock._rQi;
    if (left !== 0) throw new Error(`noVNC left ${left} received bytes unprocessed`);
}

async function runNovnc(rec, tasks) {
    const target = document.createElement("div");
    stage.replaceChildren(target);
    const socket = new ReplayChannel();
    const rfb = new RFB(target, socket, { shared: true });
    rfb.viewOnly = true;
    let failed = null;
    rfb.addEventListener("disconnect", (e) => {
        if (!e.detail.clean) failed = "noVNC disconnected (unclean)";
    });
    const canvas = rfb._canvas;
    try {
        await setUp(rec, canvas, (data) => socket.onmessage(new MessageEvent("message", { data })));
        const t0 = performance.now();
        for (const data of rec.timed) {
            if (tasks) await nextTask();
            socket.onmessage(new MessageEvent("message", { data }));
        }
        await novncSettled(rfb);
        sync(canvas);
        const ms = performance.now() - t0;
        if (failed) throw new Error(failed);
        return { ms, canvas };
    } finally {
        rfb.disconnect();
    }
}

// ---------------------------------------------------------------------------------------------
// Comparing pictures

function pixelsOf(canvas) {
    return canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
}

/// Differing pixels, the largest channel difference and the PSNR (RGB, dB; Infinity when equal).
function compare(a, b) {
    if (!a || !b) return null;
    if (a.width !== b.width || a.height !== b.height) {
        return { sameSize: false, differing: a.width * a.height, maxDiff: 255, psnr: 0 };
    }
    const x = a.data;
    const y = b.data;
    let differing = 0;
    let maxDiff = 0;
    let se = 0;
    for (let i = 0; i < x.length; i += 4) {
        const dr = x[i] - y[i];
        const dg = x[i + 1] - y[i + 1];
        const db = x[i + 2] - y[i + 2];
        const da = x[i + 3] - y[i + 3];
        if (dr | dg | db | da) {
            differing++;
            maxDiff = Math.max(maxDiff, Math.abs(dr), Math.abs(dg), Math.abs(db), Math.abs(da));
            se += dr * dr + dg * dg + db * db;
        }
    }
    const mse = se / ((x.length / 4) * 3);
    const psnr = mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
    return { sameSize: true, differing, maxDiff, psnr };
}

function median(v) {
    const s = [...v].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const idle = () => new Promise((r) => setTimeout(r, 30));

// ---------------------------------------------------------------------------------------------
// The run

/// `plan`: { recordings: [{ name, lossless }], iterations, delivery: "loop" | "tasks",
/// blits: "frame" | "update", setup: "untimed" | "timed" }. Results
/// are appended to `bench.results` one recording at a time; `bench.done` is set at the end.
async function start(plan) {
    if (bench.running) throw new Error("already running");
    bench.running = true;
    try {
        for (const { name, lossless } of plan.recordings) {
            log.textContent = `${name}…`;
            const result = { recording: name, lossless, delivery: plan.delivery, blit_mode: plan.blits, setup: plan.setup };
            try {
                Object.assign(result, await benchOne(name, lossless, plan.iterations, plan.delivery === "tasks", plan.blits === "update", plan.setup !== "timed"));
            } catch (e) {
                result.error = `${e}`;
            }
            bench.results.push(result);
        }
    } catch (e) {
        bench.error = `${e}`;
    } finally {
        bench.done = true;
        bench.running = false;
        log.textContent = "done";
    }
}

async function benchOne(name, lossless, iterations, tasks, perUpdate, untimedSetup) {
    const file = await fetchBuffer(`../recordings/${encodeURIComponent(name)}.rfbrec`);
    const chunks = serverChunks(file);
    const setup = untimedSetup ? handshake_chunks(new Uint8Array(file)) : 0;
    const timed = chunks.slice(setup);
    const total = timed.reduce((n, c) => n + c.byteLength, 0);
    const rec = { file, chunks, setup, timed };
    const reference = await referencePixels(`../recordings/${encodeURIComponent(name)}.final.png`);
    const ox = [];
    const nv = [];
    // Every counted run's final canvas must equal the reference picture (lossless recordings);
    // the worst run of each client is reported.
    const worst = { oxvnc: null, novnc: null };
    const check = (who, canvas) => {
        const c = compare(pixelsOf(canvas), reference);
        if (c && (!worst[who] || c.differing > worst[who].differing)) worst[who] = c;
    };
    let lastOx = null;
    let lastNv = null;
    let updates = 0;
    let blits = 0;
    let blitPx = 0;
    let damagePx = 0;
    const splits = [];
    // Run 0 is the warm-up of both; after it the order alternates.
    for (let i = 0; i <= iterations; i++) {
        const order = i % 2 === 0 ? ["oxvnc", "novnc"] : ["novnc", "oxvnc"];
        for (const who of order) {
            await idle();
            if (who === "oxvnc") {
                const r = await runOxvnc(rec, tasks, perUpdate);
                if (i > 0) ox.push(r.ms);
                if (i > 0) splits.push(r.split);
                updates = r.updates;
                blits = r.blits;
                blitPx = r.blitPx;
                damagePx = r.damagePx;
                if (i > 0) check("oxvnc", r.canvas);
                lastOx = pixelsOf(r.canvas);
            } else {
                const r = await runNovnc(rec, tasks);
                if (i > 0) nv.push(r.ms);
                if (i > 0) check("novnc", r.canvas);
                lastNv = pixelsOf(r.canvas);
            }
        }
        log.textContent = `${name}: ${i}/${iterations}`;
    }
    const between = compare(lastOx, lastNv);
    const oxMs = median(ox);
    const nvMs = median(nv);
    return {
        bytes: total,
        chunks: timed.length,
        setup_chunks: setup,
        updates,
        blits,
        blit_px: blitPx,
        damage_px: damagePx,
        oxvnc_runs: ox,
        oxvnc_split_ms: {
            decode: median(splits.map((s) => s.decode)),
            blit: median(splits.map((s) => s.blit)),
            sync: median(splits.map((s) => s.sync)),
        },
        novnc_runs: nv,
        oxvnc_ms: oxMs,
        novnc_ms: nvMs,
        identical: between.sameSize && between.differing === 0,
        between: { differing: between.differing, max_diff: between.maxDiff, psnr: finite(between.psnr) },
        oxvnc_vs_reference: reference ? summary(worst.oxvnc) : null,
        novnc_vs_reference: reference ? summary(worst.novnc) : null,
    };
}

const finite = (x) => (Number.isFinite(x) ? x : null);
const summary = (c) => c && { differing: c.differing, max_diff: c.maxDiff, psnr: finite(c.psnr) };

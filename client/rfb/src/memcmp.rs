//! A word-at-a-time `memcmp` for the browser build.
//!
//! On `wasm32-unknown-unknown` there is no libc: `memcmp` comes from Rust's compiler-builtins,
//! whose version compares one byte per loop turn, and whose definition is weak so that a program
//! may supply its own. Slice equality calls it, and one caller is hot: zune-jpeg's IDCT asks
//! whether the 63 AC coefficients of each 8x8 block are all zero (252 bytes), which on a desktop
//! image is true for most blocks, so every such block compares all 252 bytes one at a time. In
//! headless Chromium's V8 that was 17.5 % of decoding the `tight-mixed` recording (Node
//! `--cpu-prof` of `oxvnc_bench::decode_only`); comparing eight bytes at a time took the whole
//! replay from 204–222 ms to 169–173 ms (and `tight-text` from 162–165 to 124–125 ms).
//!
//! Native builds use the platform's own (vectorised) `memcmp`; the function is compiled there
//! only for its tests.

/// Compares `n` bytes at `a` and `b` like C's `memcmp`: 0 when equal, else the difference of the
/// first differing bytes taken as unsigned.
///
/// # Safety
/// `a` and `b` must be valid for reads of `n` bytes.
#[cfg_attr(all(target_arch = "wasm32", target_os = "unknown"), unsafe(no_mangle))]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    // SAFETY: every read is of bytes below `n`, which the caller vouches for.
    unsafe {
        while i + 8 <= n {
            let x = a.add(i).cast::<u64>().read_unaligned();
            let y = b.add(i).cast::<u64>().read_unaligned();
            if x != y {
                // The first differing byte is within these eight: the loop below finds it.
                break;
            }
            i += 8;
        }
        while i < n {
            let (x, y) = (*a.add(i), *b.add(i));
            if x != y {
                return i32::from(x) - i32::from(y);
            }
            i += 1;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::memcmp;

    fn sign(v: i32) -> i32 {
        v.signum()
    }

    /// Agrees with slice ordering for every length up to 40, every offset of the first difference
    /// and both directions of it, at unaligned starts.
    #[test]
    fn agrees_with_slice_ordering() {
        let base: Vec<u8> = (0..48u8).map(|i| i.wrapping_mul(37)).collect();
        for start in 0..4 {
            for n in 0..=40 {
                let a = &base[start..start + n];
                assert_eq!(unsafe { memcmp(a.as_ptr(), a.as_ptr(), n) }, 0);
                for at in 0..n {
                    for delta in [1u8, 128, 255] {
                        let mut b = a.to_vec();
                        b[at] = b[at].wrapping_add(delta);
                        let want = a.cmp(&b[..]) as i32;
                        let got = unsafe { memcmp(a.as_ptr(), b.as_ptr(), n) };
                        assert_eq!(sign(got), want, "n {n} at {at} delta {delta}");
                        assert_eq!(got, i32::from(a[at]) - i32::from(b[at]));
                        let back = unsafe { memcmp(b.as_ptr(), a.as_ptr(), n) };
                        assert_eq!(sign(back), -want);
                    }
                }
            }
        }
    }
}

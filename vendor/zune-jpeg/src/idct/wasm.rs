/*
 * Copyright (c) 2023.
 *
 * This software is free software;
 *
 * You can redistribute it or modify it under terms of the MIT, Apache License or Zlib license
 */

#![cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
//! The integer IDCT with WebAssembly SIMD (oxvnc addition): the NEON IDCT (`neon.rs`) on
//! `v128` registers. Like it, a direct translation of the scalar IDCT that gives bit-identical
//! results (tested against `idct_int` in `idct.rs`).

use core::arch::wasm32::*;

use crate::unsafe_utils::{transpose, YmmRegister};

const SCALE_BITS: i32 = 512 + 65536 + (128 << 17);

#[allow(
    clippy::too_many_lines,
    clippy::cast_possible_truncation,
    clippy::similar_names,
    clippy::op_ref,
    unused_assignments,
    clippy::zero_prefixed_literal
)]
pub fn idct_wasm(in_vector: &mut [i32; 64], out_vector: &mut [i16], stride: usize) {
    let mut pos = 0;

    let mut row0 = YmmRegister::load(&in_vector[00..]);
    let mut row1 = YmmRegister::load(&in_vector[08..]);
    let mut row2 = YmmRegister::load(&in_vector[16..]);
    let mut row3 = YmmRegister::load(&in_vector[24..]);
    let mut row4 = YmmRegister::load(&in_vector[32..]);
    let mut row5 = YmmRegister::load(&in_vector[40..]);
    let mut row6 = YmmRegister::load(&in_vector[48..]);
    let mut row7 = YmmRegister::load(&in_vector[56..]);

    // All AC coefficients zero: every sample is the DC term's.
    let row8 = YmmRegister::load(&in_vector[1..]);
    let or_tree = ((row1 | row8) | (row2 | row3)) | ((row4 | row5) | (row6 | row7));

    if or_tree.all_zero() {
        let coeff = ((in_vector[0] + 4 + 1024) >> 3).clamp(0, 255) as i16;
        let value = [coeff; 8];
        for _ in 0..8 {
            out_vector[pos..pos + 8].copy_from_slice(&value);
            pos += stride;
        }
        return;
    }

    macro_rules! dct_pass {
        ($SCALE_BITS:tt,$scale:tt) => {
            // even part
            let p1 = (row2 + row6) * 2217;

            let mut t2 = p1 + row6 * -7567;
            let mut t3 = p1 + row2 * 3135;

            let mut t0 = (row0 + row4).const_shl::<12>();
            let mut t1 = (row0 - row4).const_shl::<12>();

            let x0 = t0 + t3 + $SCALE_BITS;
            let x3 = t0 - t3 + $SCALE_BITS;
            let x1 = t1 + t2 + $SCALE_BITS;
            let x2 = t1 - t2 + $SCALE_BITS;

            let p3 = row7 + row3;
            let p4 = row5 + row1;
            let p1 = row7 + row1;
            let p2 = row5 + row3;
            let p5 = (p3 + p4) * 4816;

            t0 = row7 * 1223;
            t1 = row5 * 8410;
            t2 = row3 * 12586;
            t3 = row1 * 6149;

            let p1 = p5 + p1 * -3685;
            let p2 = p5 + (p2 * -10497);
            let p3 = p3 * -8034;
            let p4 = p4 * -1597;

            t3 += p1 + p4;
            t2 += p2 + p3;
            t1 += p2 + p4;
            t0 += p1 + p3;

            row0 = (x0 + t3).const_shra::<$scale>();
            row1 = (x1 + t2).const_shra::<$scale>();
            row2 = (x2 + t1).const_shra::<$scale>();
            row3 = (x3 + t0).const_shra::<$scale>();

            row4 = (x3 - t0).const_shra::<$scale>();
            row5 = (x2 - t1).const_shra::<$scale>();
            row6 = (x1 - t2).const_shra::<$scale>();
            row7 = (x0 - t3).const_shra::<$scale>();
        };
    }

    // Process rows
    dct_pass!(512, 10);
    transpose(
        &mut row0, &mut row1, &mut row2, &mut row3, &mut row4, &mut row5, &mut row6, &mut row7
    );

    // process columns
    dct_pass!(SCALE_BITS, 17);
    transpose(
        &mut row0, &mut row1, &mut row2, &mut row3, &mut row4, &mut row5, &mut row6, &mut row7
    );

    // Narrow to i16 with saturation, clamp to 0..=255, store a row of eight.
    let zero = i16x8_splat(0);
    let max = i16x8_splat(255);
    for row in [row0, row1, row2, row3, row4, row5, row6, row7] {
        let packed = i16x8_narrow_i32x4(row.mm256.0, row.mm256.1);
        let clamped = i16x8_min(i16x8_max(packed, zero), max);
        let dst = &mut out_vector[pos..pos + 8];
        // SAFETY: `dst` holds eight i16 (16 bytes); v128_store has no alignment requirement.
        unsafe { v128_store(dst.as_mut_ptr().cast(), clamped) };
        pos += stride;
    }
}

/*
 * Copyright (c) 2023.
 *
 * This software is free software;
 *
 * You can redistribute it or modify it under terms of the MIT, Apache License or Zlib license
 */

#![cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
//! YCbCr to RGBA with WebAssembly SIMD (oxvnc addition): the scalar conversion
//! (`scalar::ycbcr_to_rgba_inner_16_scalar`), the same fixed-point arithmetic four pixels per
//! vector, so the results are bit-identical (tested against it in `color_convert.rs`).

use core::arch::wasm32::*;

use crate::color_convert::scalar::{
    CB_CF, CR_CF, C_G_CB_COEF_2, C_G_CR_COEF_1, YUV_PREC, YUV_RND, Y_CF
};

/// R, G and B of four pixels as i32, before clamping.
#[inline]
fn convert4(y: v128, cb: v128, cr: v128) -> (v128, v128, v128) {
    let y0 = i32x4_add(
        i32x4_mul(y, i32x4_splat(i32::from(Y_CF))),
        i32x4_splat(i32::from(YUV_RND))
    );
    let r = i32x4_add(y0, i32x4_mul(cr, i32x4_splat(i32::from(CR_CF))));
    let g = i32x4_add(
        y0,
        i32x4_add(
            i32x4_mul(cr, i32x4_splat(i32::from(C_G_CR_COEF_1))),
            i32x4_mul(cb, i32x4_splat(i32::from(C_G_CB_COEF_2)))
        )
    );
    let b = i32x4_add(y0, i32x4_mul(cb, i32x4_splat(i32::from(CB_CF))));
    let s = YUV_PREC as u32;
    (i32x4_shr(r, s), i32x4_shr(g, s), i32x4_shr(b, s))
}

/// Eight pixels: R, G and B as i16, before clamping.
#[inline]
fn convert8(y: v128, cb: v128, cr: v128) -> (v128, v128, v128) {
    let bias = i16x8_splat(128);
    let (cb, cr) = (i16x8_sub(cb, bias), i16x8_sub(cr, bias));
    let lo = convert4(i32x4_extend_low_i16x8(y), i32x4_extend_low_i16x8(cb), i32x4_extend_low_i16x8(cr));
    let hi = convert4(i32x4_extend_high_i16x8(y), i32x4_extend_high_i16x8(cb), i32x4_extend_high_i16x8(cr));
    (
        i16x8_narrow_i32x4(lo.0, hi.0),
        i16x8_narrow_i32x4(lo.1, hi.1),
        i16x8_narrow_i32x4(lo.2, hi.2)
    )
}

fn load16(v: &[i16; 16]) -> (v128, v128) {
    // SAFETY: `v` holds sixteen i16 (32 bytes); v128_load has no alignment requirement.
    unsafe { (v128_load(v.as_ptr().cast()), v128_load(v[8..].as_ptr().cast())) }
}

/// Converts sixteen pixels to RGBA at `output[*pos..]` and advances `pos` by 64.
pub fn ycbcr_to_rgba_wasm(
    y: &[i16; 16], cb: &[i16; 16], cr: &[i16; 16], output: &mut [u8], pos: &mut usize
) {
    let out: &mut [u8] = output
        .get_mut(*pos..*pos + 64)
        .expect("Slice to small cannot write");
    let (y, cb, cr) = (load16(y), load16(cb), load16(cr));
    let a = convert8(y.0, cb.0, cr.0);
    let b = convert8(y.1, cb.1, cr.1);
    // Clamping to 0..=255 is the unsigned saturation of the narrowing.
    let r = u8x16_narrow_i16x8(a.0, b.0);
    let g = u8x16_narrow_i16x8(a.1, b.1);
    let bl = u8x16_narrow_i16x8(a.2, b.2);
    let alpha = u8x16_splat(255);
    let rg0 = u8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(r, g);
    let rg1 = u8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(r, g);
    let ba0 = u8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(bl, alpha);
    let ba1 = u8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(bl, alpha);
    let px = [
        u16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(rg0, ba0),
        u16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(rg0, ba0),
        u16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(rg1, ba1),
        u16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(rg1, ba1)
    ];
    for (dst, v) in out.chunks_exact_mut(16).zip(px) {
        // SAFETY: `dst` holds sixteen bytes; v128_store has no alignment requirement.
        unsafe { v128_store(dst.as_mut_ptr().cast(), v) };
    }
    *pos += 64;
}

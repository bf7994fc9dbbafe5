/*
 * Copyright (c) 2023.
 *
 * This software is free software;
 *
 * You can redistribute it or modify it under terms of the MIT, Apache License or Zlib license
 */

#![cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
//! The eight-lane i32 register of the vector IDCT (see `unsafe_utils_neon.rs`), for WebAssembly
//! SIMD: two `v128`s of four i32 each. (oxvnc addition.)

use core::arch::wasm32::*;
use core::ops::{Add, AddAssign, BitOr, Mul, Sub};

/// Eight i32 lanes: columns 0-3 in `.0`, 4-7 in `.1`.
#[derive(Clone, Copy)]
pub struct YmmRegister {
    pub(crate) mm256: (v128, v128)
}

impl YmmRegister {
    /// Loads eight i32 from `src`.
    #[inline]
    pub fn load(src: &[i32]) -> Self {
        let src = &src[..8];
        // SAFETY: `src` holds eight i32 (32 bytes); v128_load has no alignment requirement.
        unsafe {
            YmmRegister {
                mm256: (
                    v128_load(src.as_ptr().cast()),
                    v128_load(src[4..].as_ptr().cast())
                )
            }
        }
    }

    #[inline]
    fn map2(self, other: Self, f: impl Fn(v128, v128) -> v128) -> Self {
        YmmRegister {
            mm256: (f(self.mm256.0, other.mm256.0), f(self.mm256.1, other.mm256.1))
        }
    }

    #[inline]
    pub fn all_zero(self) -> bool {
        !v128_any_true(v128_or(self.mm256.0, self.mm256.1))
    }

    #[inline]
    pub fn const_shl<const N: u32>(self) -> Self {
        YmmRegister {
            mm256: (i32x4_shl(self.mm256.0, N), i32x4_shl(self.mm256.1, N))
        }
    }

    #[inline]
    pub fn const_shra<const N: u32>(self) -> Self {
        YmmRegister {
            mm256: (i32x4_shr(self.mm256.0, N), i32x4_shr(self.mm256.1, N))
        }
    }
}

impl<T: Into<Self>> Add<T> for YmmRegister {
    type Output = YmmRegister;

    #[inline]
    fn add(self, rhs: T) -> Self::Output {
        self.map2(rhs.into(), |a, b| i32x4_add(a, b))
    }
}

impl<T: Into<Self>> Sub<T> for YmmRegister {
    type Output = YmmRegister;

    #[inline]
    fn sub(self, rhs: T) -> Self::Output {
        self.map2(rhs.into(), |a, b| i32x4_sub(a, b))
    }
}

impl<T: Into<Self>> AddAssign<T> for YmmRegister {
    #[inline]
    fn add_assign(&mut self, rhs: T) {
        *self = *self + rhs.into();
    }
}

impl<T: Into<Self>> Mul<T> for YmmRegister {
    type Output = YmmRegister;

    #[inline]
    fn mul(self, rhs: T) -> Self::Output {
        self.map2(rhs.into(), |a, b| i32x4_mul(a, b))
    }
}

impl<T: Into<Self>> BitOr<T> for YmmRegister {
    type Output = YmmRegister;

    #[inline]
    fn bitor(self, rhs: T) -> Self::Output {
        self.map2(rhs.into(), |a, b| v128_or(a, b))
    }
}

impl From<i32> for YmmRegister {
    #[inline]
    fn from(val: i32) -> Self {
        let dup = i32x4_splat(val);
        YmmRegister { mm256: (dup, dup) }
    }
}

/// Transposes a 4x4 block of i32 held in four registers.
#[inline]
fn transpose4(v0: &mut v128, v1: &mut v128, v2: &mut v128, v3: &mut v128) {
    // a0 b0 a1 b1 / a2 b2 a3 b3 / c0 d0 c1 d1 / c2 d2 c3 d3
    let t0 = i32x4_shuffle::<0, 4, 1, 5>(*v0, *v1);
    let t1 = i32x4_shuffle::<2, 6, 3, 7>(*v0, *v1);
    let t2 = i32x4_shuffle::<0, 4, 1, 5>(*v2, *v3);
    let t3 = i32x4_shuffle::<2, 6, 3, 7>(*v2, *v3);
    *v0 = i64x2_shuffle::<0, 2>(t0, t2);
    *v1 = i64x2_shuffle::<1, 3>(t0, t2);
    *v2 = i64x2_shuffle::<0, 2>(t1, t3);
    *v3 = i64x2_shuffle::<1, 3>(t1, t3);
}

/// Transposes an 8x8 block of i32 held in eight registers: the four 4x4 quadrants each, the
/// upper right and lower left swapped.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn transpose(
    v0: &mut YmmRegister, v1: &mut YmmRegister, v2: &mut YmmRegister, v3: &mut YmmRegister,
    v4: &mut YmmRegister, v5: &mut YmmRegister, v6: &mut YmmRegister, v7: &mut YmmRegister
) {
    use core::mem::swap;

    swap(&mut v0.mm256.1, &mut v4.mm256.0);
    swap(&mut v1.mm256.1, &mut v5.mm256.0);
    swap(&mut v2.mm256.1, &mut v6.mm256.0);
    swap(&mut v3.mm256.1, &mut v7.mm256.0);

    transpose4(&mut v0.mm256.0, &mut v1.mm256.0, &mut v2.mm256.0, &mut v3.mm256.0);
    transpose4(&mut v0.mm256.1, &mut v1.mm256.1, &mut v2.mm256.1, &mut v3.mm256.1);
    transpose4(&mut v4.mm256.0, &mut v5.mm256.0, &mut v6.mm256.0, &mut v7.mm256.0);
    transpose4(&mut v4.mm256.1, &mut v5.mm256.1, &mut v6.mm256.1, &mut v7.mm256.1);
}

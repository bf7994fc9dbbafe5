#[cfg(all(feature = "x86", any(target_arch = "x86", target_arch = "x86_64")))]
pub use crate::unsafe_utils_avx2::*;
#[cfg(all(feature = "neon", target_arch = "aarch64"))]
pub use crate::unsafe_utils_neon::*;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub use crate::unsafe_utils_wasm::*;

//! VNC authentication (security type 2): DES of the server's 16-byte challenge, keyed by the
//! password with each byte's bits mirrored (the historical VNC quirk).

use des::cipher::generic_array::GenericArray;
use des::cipher::{BlockEncrypt, KeyInit};

/// The 16-byte response to `challenge` for `password` (only its first 8 bytes count).
pub fn vnc_auth_response(password: &str, challenge: &[u8; 16]) -> [u8; 16] {
    let mut key = [0u8; 8];
    for (k, b) in key.iter_mut().zip(password.bytes()) {
        *k = b.reverse_bits();
    }
    let cipher = des::Des::new(GenericArray::from_slice(&key));
    let mut out = *challenge;
    for block in out.chunks_exact_mut(8) {
        cipher.encrypt_block(GenericArray::from_mut_slice(block));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // Computed independently with OpenSSL (legacy provider):
        // `openssl enc -des-ecb -nopad -K 0e86ceceeef64e26` (the mirrored key of "password")
        // over the challenge 00 01 .. 0f.
        let challenge: [u8; 16] = core::array::from_fn(|i| i as u8);
        let r = vnc_auth_response("password", &challenge);
        let expect = [0xb8, 0x66, 0x92, 0x41, 0x25, 0xc8, 0xee, 0xbb, 0x9d, 0xeb, 0xc1, 0xdb, 0x61, 0xc5, 0x38, 0xe2];
        assert_eq!(r, expect);
        // Only 8 bytes of the password count.
        assert_eq!(vnc_auth_response("password-and-more", &challenge), r);
        assert_ne!(vnc_auth_response("passwore", &challenge), r);
    }
}

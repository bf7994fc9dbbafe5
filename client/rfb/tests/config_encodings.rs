//! What SetEncodings offers for a [`Config`]: quality and compression levels, and `lossless`.

use oxvnc_rfb::{Config, Connection, Encoding};

/// The SetEncodings message a fresh connection sends after a no-auth RFB 3.8 handshake.
fn set_encodings(config: Config) -> Vec<i32> {
    let mut c = Connection::new(config);
    let mut server = b"RFB 003.008\n".to_vec();
    server.extend([1, 1]); // security: None
    server.extend([0, 0, 0, 0]); // SecurityResult OK
    server.extend([0, 8, 0, 8]); // ServerInit 8x8
    server.extend([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
    server.extend([0, 0, 0, 1, b'x']);
    c.receive(&server).unwrap();
    let out = c.take_output();
    // ProtocolVersion (12), security type (1), ClientInit (1), SetPixelFormat (20)
    let msg = &out[34..];
    assert_eq!(msg[0], 2, "SetEncodings");
    let n = u16::from_be_bytes([msg[2], msg[3]]) as usize;
    (0..n).map(|i| i32::from_be_bytes(msg[4 + 4 * i..8 + 4 * i].try_into().unwrap())).collect()
}

#[test]
fn default_is_tight_first_and_lossless() {
    let sent = set_encodings(Config::default());
    assert_eq!(sent[0], Encoding::Tight.number());
    assert!(sent.contains(&16) && sent.contains(&6) && sent.contains(&15));
    // TightPNG only where there is a PNG decoder (the `tightpng` feature; not the console).
    assert_eq!(sent.contains(&-260), cfg!(feature = "tightpng"), "{sent:?}");
    assert!(!sent.iter().any(|n| (-32..=-23).contains(n)), "{sent:?}");
    assert!(!sent.iter().any(|n| (-256..=-247).contains(n)), "{sent:?}");
}

#[test]
fn quality_and_compression_levels_are_offered() {
    let config = Config { quality: Some(7), compression: Some(2), ..Config::default() };
    let sent = set_encodings(config.clone());
    assert!(sent.contains(&-25) && sent.contains(&-254), "{sent:?}");
    assert_eq!(config.offered_encodings().len(), Config::default().encodings.len() + 2);
    // out-of-range levels are clamped to 9
    let sent = set_encodings(Config { quality: Some(200), ..Config::default() });
    assert!(sent.contains(&-23));
    // the explicit level replaces one in the list
    let config = Config {
        encodings: vec![Encoding::Tight, Encoding::QualityLevel(1), Encoding::CompressionLevel(1)],
        quality: Some(8),
        ..Config::default()
    };
    assert_eq!(
        config.offered_encodings(),
        vec![Encoding::Tight, Encoding::CompressionLevel(1), Encoding::QualityLevel(8)]
    );
}

#[test]
fn lossless_never_offers_jpeg() {
    let config = Config {
        encodings: vec![Encoding::Tight, Encoding::Jpeg, Encoding::QualityLevel(5), Encoding::Zrle],
        quality: Some(6),
        compression: Some(9),
        lossless: true,
        ..Config::default()
    };
    assert_eq!(config.offered_encodings(), vec![Encoding::Tight, Encoding::Zrle, Encoding::CompressionLevel(9)]);
    let sent = set_encodings(config);
    assert_eq!(sent, vec![7, 16, -247]);
}

//! Encoding and pseudo-encoding numbers (RFC 6143 §7.7, rfbproto).

/// An encoding the client can offer in SetEncodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    Raw,
    CopyRect,
    Rre,
    Hextile,
    Zrle,
    /// zlib-compressed raw pixels (6).
    Zlib,
    /// Tight (7): fill, JPEG, and zlib with copy/palette/gradient filters.
    Tight,
    /// TRLE (15): ZRLE's tiles without the zlib stream.
    Trle,
    /// JPEG (21): each rectangle one JPEG image.
    Jpeg,
    /// TightPNG (-260): Tight with PNG in place of zlib.
    TightPng,
    /// Pseudo: JPEG quality level 0–9 (-32…-23).
    QualityLevel(u8),
    /// Pseudo: compression level 0–9 (-256…-247).
    CompressionLevel(u8),
    /// Pseudo: QEMU extended key events with XT scancodes (-258).
    QemuExtendedKey,
    /// Pseudo: QEMU keyboard LED state (-261).
    QemuLedState,
    /// Pseudo: XVP power actions (-309).
    Xvp,
    /// Pseudo: Fence messages (-312).
    Fence,
    /// Pseudo: continuous updates (-313).
    ContinuousUpdates,
    /// Pseudo: extended mouse buttons, back/forward (-316).
    ExtendedMouseButtons,
    /// Pseudo: extended clipboard, UTF-8 text (0xC0A1E5CE).
    ExtendedClipboard,
    /// Pseudo: VMware cursor (0x574D5664).
    VmwareCursor,
    /// Pseudo: the server may change the framebuffer size.
    DesktopSize,
    /// Pseudo: size changes with screen layout and reasons.
    ExtendedDesktopSize,
    /// Pseudo: the update ends early.
    LastRect,
    /// Pseudo: the cursor shape as RGBA + mask.
    Cursor,
    /// Pseudo: the desktop's name changed.
    DesktopName,
    /// Any other number, passed through to SetEncodings.
    Other(i32),
}

impl Encoding {
    pub const fn number(self) -> i32 {
        match self {
            Encoding::Raw => 0,
            Encoding::CopyRect => 1,
            Encoding::Rre => 2,
            Encoding::Hextile => 5,
            Encoding::Zrle => 16,
            Encoding::Zlib => 6,
            Encoding::Tight => 7,
            Encoding::Trle => 15,
            Encoding::Jpeg => 21,
            Encoding::TightPng => -260,
            Encoding::QualityLevel(q) => -32 + (if q > 9 { 9 } else { q }) as i32,
            Encoding::CompressionLevel(c) => -256 + (if c > 9 { 9 } else { c }) as i32,
            Encoding::QemuExtendedKey => -258,
            Encoding::QemuLedState => -261,
            Encoding::Xvp => -309,
            Encoding::Fence => -312,
            Encoding::ContinuousUpdates => -313,
            Encoding::ExtendedMouseButtons => -316,
            Encoding::ExtendedClipboard => 0xC0A1_E5CE_u32 as i32,
            Encoding::VmwareCursor => 0x574D_5664,
            Encoding::DesktopSize => -223,
            Encoding::LastRect => -224,
            Encoding::Cursor => -239,
            Encoding::DesktopName => -307,
            Encoding::ExtendedDesktopSize => -308,
            Encoding::Other(n) => n,
        }
    }

    pub const fn from_number(n: i32) -> Encoding {
        match n {
            0 => Encoding::Raw,
            1 => Encoding::CopyRect,
            2 => Encoding::Rre,
            5 => Encoding::Hextile,
            16 => Encoding::Zrle,
            6 => Encoding::Zlib,
            7 => Encoding::Tight,
            15 => Encoding::Trle,
            21 => Encoding::Jpeg,
            -260 => Encoding::TightPng,
            -32..=-23 => Encoding::QualityLevel((n + 32) as u8),
            -256..=-247 => Encoding::CompressionLevel((n + 256) as u8),
            -258 => Encoding::QemuExtendedKey,
            -261 => Encoding::QemuLedState,
            -309 => Encoding::Xvp,
            -312 => Encoding::Fence,
            -313 => Encoding::ContinuousUpdates,
            -316 => Encoding::ExtendedMouseButtons,
            0x574D_5664 => Encoding::VmwareCursor,
            n if n == 0xC0A1_E5CE_u32 as i32 => Encoding::ExtendedClipboard,
            -223 => Encoding::DesktopSize,
            -224 => Encoding::LastRect,
            -239 => Encoding::Cursor,
            -307 => Encoding::DesktopName,
            -308 => Encoding::ExtendedDesktopSize,
            n => Encoding::Other(n),
        }
    }

    /// The name used on command lines ([`Encoding::NAMES`]).
    pub fn from_name(name: &str) -> Option<Encoding> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "raw" => Encoding::Raw,
            "copyrect" => Encoding::CopyRect,
            "rre" => Encoding::Rre,
            "hextile" => Encoding::Hextile,
            "zrle" => Encoding::Zrle,
            "zlib" => Encoding::Zlib,
            "trle" => Encoding::Trle,
            "tight" => Encoding::Tight,
            "tightpng" => Encoding::TightPng,
            "jpeg" => Encoding::Jpeg,
            _ => return None,
        })
    }

    /// Names accepted by [`Encoding::from_name`].
    pub const NAMES: &'static [&'static str] =
        &["raw", "copyrect", "rre", "hextile", "zrle", "zlib", "trle", "tight", "tightpng", "jpeg"];

    /// Whether this is a pseudo-encoding (carries no pixels of its own).
    pub fn is_pseudo(self) -> bool {
        use Encoding as E;
        match self {
            E::Raw
            | E::CopyRect
            | E::Rre
            | E::Hextile
            | E::Zrle
            | E::Zlib
            | E::Tight
            | E::Trle
            | E::Jpeg
            | E::TightPng => false,
            E::Other(n) => n < 0,
            _ => true,
        }
    }

    /// The pixel encodings the engine decodes, best first.
    pub const PIXEL: &'static [Encoding] = &[
        Encoding::Tight,
        Encoding::Zrle,
        #[cfg(feature = "tightpng")]
        Encoding::TightPng,
        Encoding::Zlib,
        Encoding::Trle,
        Encoding::Hextile,
        Encoding::Rre,
        Encoding::CopyRect,
        Encoding::Raw,
    ];

    /// The pseudo-encodings the engine always offers.
    pub const PSEUDO: &'static [Encoding] = &[
        Encoding::DesktopSize,
        Encoding::ExtendedDesktopSize,
        Encoding::LastRect,
        Encoding::Cursor,
        Encoding::DesktopName,
        Encoding::QemuExtendedKey,
        Encoding::QemuLedState,
        Encoding::Fence,
        Encoding::ContinuousUpdates,
        Encoding::ExtendedClipboard,
        Encoding::ExtendedMouseButtons,
        Encoding::VmwareCursor,
        Encoding::Xvp,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for e in Encoding::PIXEL.iter().chain(Encoding::PSEUDO) {
            assert_eq!(Encoding::from_number(e.number()), *e);
        }
        for n in [6, 7, 15, 21, -260, -32, -23, -256, -247, -258, -261, -309, -312, -313, -316, 0x574D_5664] {
            assert_eq!(Encoding::from_number(n).number(), n);
            assert!(!matches!(Encoding::from_number(n), Encoding::Other(_)), "{n}");
            assert_eq!(Encoding::from_number(n).is_pseudo(), ![6, 7, 15, 21, -260].contains(&n), "{n}");
        }
        assert_eq!(Encoding::from_number(0xC0A1_E5CE_u32 as i32), Encoding::ExtendedClipboard);
        assert_eq!(Encoding::from_number(-27), Encoding::QualityLevel(5));
        assert_eq!(Encoding::from_number(-250), Encoding::CompressionLevel(6));
        assert_eq!(Encoding::from_number(-22), Encoding::Other(-22));
        assert_eq!(Encoding::from_name(" ZRLE"), Some(Encoding::Zrle));
        assert_eq!(Encoding::from_name("Tight"), Some(Encoding::Tight));
        assert_eq!(Encoding::from_name("tight-png"), None);
        for name in Encoding::NAMES {
            let e = Encoding::from_name(name).unwrap();
            // JPEG (21) is decoded but only offered when asked for: it is always lossy. TightPNG
            // is known by name but neither decoded nor offered without the `tightpng` feature.
            let png_left_out = !cfg!(feature = "tightpng") && e == Encoding::TightPng;
            assert!(Encoding::PIXEL.contains(&e) || e == Encoding::Jpeg || png_left_out, "{name}");
        }
    }
}

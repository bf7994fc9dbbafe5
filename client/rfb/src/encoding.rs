//! Encoding and pseudo-encoding numbers (RFC 6143 §7.7, rfbproto).

/// An encoding the client can offer in SetEncodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    Raw,
    CopyRect,
    Rre,
    Hextile,
    Zrle,
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
            -223 => Encoding::DesktopSize,
            -224 => Encoding::LastRect,
            -239 => Encoding::Cursor,
            -307 => Encoding::DesktopName,
            -308 => Encoding::ExtendedDesktopSize,
            n => Encoding::Other(n),
        }
    }

    /// The name used on command lines (`raw`, `copyrect`, `rre`, `hextile`, `zrle`).
    pub fn from_name(name: &str) -> Option<Encoding> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "raw" => Encoding::Raw,
            "copyrect" => Encoding::CopyRect,
            "rre" => Encoding::Rre,
            "hextile" => Encoding::Hextile,
            "zrle" => Encoding::Zrle,
            _ => return None,
        })
    }

    /// Names accepted by [`Encoding::from_name`].
    pub const NAMES: &'static [&'static str] = &["raw", "copyrect", "rre", "hextile", "zrle"];

    /// Whether this is a pseudo-encoding (carries no pixels of its own).
    pub fn is_pseudo(self) -> bool {
        self.number() < 0
    }

    /// The pixel encodings the engine decodes, best first.
    pub const PIXEL: &'static [Encoding] =
        &[Encoding::Zrle, Encoding::Hextile, Encoding::Rre, Encoding::CopyRect, Encoding::Raw];

    /// The pseudo-encodings the engine always offers.
    pub const PSEUDO: &'static [Encoding] = &[
        Encoding::DesktopSize,
        Encoding::ExtendedDesktopSize,
        Encoding::LastRect,
        Encoding::Cursor,
        Encoding::DesktopName,
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
        assert_eq!(Encoding::from_number(-258), Encoding::Other(-258));
        assert_eq!(Encoding::from_name(" ZRLE"), Some(Encoding::Zrle));
        assert_eq!(Encoding::from_name("tight"), None);
    }
}

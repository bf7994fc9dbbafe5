//! VeNCrypt (security type 19, version 0.2): the server offers sub-types, the client picks one;
//! TLS sub-types then run TLS (see [`crate::tls`]) and an inner authentication inside it.

use crate::connection::Credentials;

/// The RFB security type number of VeNCrypt.
pub const SECURITY_TYPE: u8 = 19;

/// What authentication runs once the sub-type's transport (clear or TLS) is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inner {
    None,
    /// VNC authentication (DES challenge).
    Vnc,
    /// User name and password in the clear (inside TLS for TLSPlain/X509Plain).
    Plain,
}

/// A VeNCrypt sub-type this client supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubType {
    Plain,
    TlsNone,
    TlsVnc,
    TlsPlain,
    X509None,
    X509Vnc,
    X509Plain,
}

impl SubType {
    pub const ALL: [SubType; 7] = [
        SubType::Plain,
        SubType::TlsNone,
        SubType::TlsVnc,
        SubType::TlsPlain,
        SubType::X509None,
        SubType::X509Vnc,
        SubType::X509Plain,
    ];

    pub fn number(self) -> u32 {
        match self {
            SubType::Plain => 256,
            SubType::TlsNone => 257,
            SubType::TlsVnc => 258,
            SubType::TlsPlain => 259,
            SubType::X509None => 260,
            SubType::X509Vnc => 261,
            SubType::X509Plain => 262,
        }
    }

    pub fn from_number(n: u32) -> Option<SubType> {
        SubType::ALL.into_iter().find(|s| s.number() == n)
    }

    pub fn name(self) -> &'static str {
        match self {
            SubType::Plain => "Plain",
            SubType::TlsNone => "TLSNone",
            SubType::TlsVnc => "TLSVnc",
            SubType::TlsPlain => "TLSPlain",
            SubType::X509None => "X509None",
            SubType::X509Vnc => "X509Vnc",
            SubType::X509Plain => "X509Plain",
        }
    }

    /// Runs TLS before the inner authentication.
    pub fn uses_tls(self) -> bool {
        self != SubType::Plain
    }

    /// Anonymous TLS (no certificate in most servers).
    pub fn anonymous(self) -> bool {
        matches!(self, SubType::TlsNone | SubType::TlsVnc | SubType::TlsPlain)
    }

    pub fn inner(self) -> Inner {
        match self {
            SubType::TlsNone | SubType::X509None => Inner::None,
            SubType::TlsVnc | SubType::X509Vnc => Inner::Vnc,
            SubType::Plain | SubType::TlsPlain | SubType::X509Plain => Inner::Plain,
        }
    }

    /// Preference: a certificate-checked TLS session first, anonymous TLS next, and the password
    /// in the clear (Plain) only when nothing else is offered.
    fn rank(self) -> u8 {
        match self {
            SubType::X509None | SubType::X509Vnc | SubType::X509Plain => 0,
            SubType::TlsNone | SubType::TlsVnc | SubType::TlsPlain => 1,
            SubType::Plain => 2,
        }
    }
}

/// Picks the sub-type to use from the server's list (its order breaks ties).
pub fn choose(offered: &[u32]) -> Option<SubType> {
    offered.iter().filter_map(|&n| SubType::from_number(n)).min_by_key(|s| s.rank())
}

/// The Plain authentication message: user name and password lengths, then both.
pub fn plain_message(c: &Credentials) -> Vec<u8> {
    let user = c.username.as_deref().unwrap_or("").as_bytes();
    let pass = c.password.as_bytes();
    let mut m = Vec::with_capacity(8 + user.len() + pass.len());
    m.extend_from_slice(&(user.len() as u32).to_be_bytes());
    m.extend_from_slice(&(pass.len() as u32).to_be_bytes());
    m.extend_from_slice(user);
    m.extend_from_slice(pass);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_certificates_then_anonymous_then_clear() {
        assert_eq!(choose(&[256, 258, 261]), Some(SubType::X509Vnc));
        assert_eq!(choose(&[262, 260]), Some(SubType::X509Plain));
        assert_eq!(choose(&[256, 257]), Some(SubType::TlsNone));
        assert_eq!(choose(&[2, 256]), Some(SubType::Plain));
        assert_eq!(choose(&[1, 2, 30]), None);
        for s in SubType::ALL {
            assert_eq!(SubType::from_number(s.number()), Some(s));
        }
    }

    #[test]
    fn plain_message_layout() {
        let c = Credentials { username: Some("ann".into()), password: "pw".into() };
        assert_eq!(plain_message(&c), b"\0\0\0\x03\0\0\0\x02annpw");
    }
}

//! Tight security (type 16) without tunnelling: the server lists tunnel types (only NOTUNNEL is
//! accepted) and authentication types (None and VNC authentication are supported), each as a
//! 16-byte capability (code, 4-byte vendor, 8-byte name). After ServerInit the server lists its
//! message and encoding capabilities, which are read and ignored.

use crate::error::Error;

/// The RFB security type number of Tight security.
pub const SECURITY_TYPE: u8 = 16;
/// Size of one capability record.
pub const CAPABILITY_LEN: usize = 16;
/// Most tunnel or authentication capabilities accepted in one list.
pub const MAX_CAPABILITIES: u32 = 256;

/// The NOTUNNEL tunnel type.
pub const NO_TUNNEL: u32 = 0;
/// Authentication codes.
pub const AUTH_NONE: u32 = 1;
pub const AUTH_VNC: u32 = 2;

/// One capability: its code and "VENDNAME_____" label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capability {
    pub code: u32,
    pub vendor: [u8; 4],
    pub name: [u8; 8],
}

impl Capability {
    fn label(&self) -> String {
        format!("{} {}/{}", self.code, String::from_utf8_lossy(&self.vendor), String::from_utf8_lossy(&self.name))
    }
}

/// Checks a capability count before its records are waited for.
pub fn check_count(n: u32, what: &'static str) -> Result<usize, Error> {
    if n > MAX_CAPABILITIES {
        return Err(Error::TooLong { what, len: n as u64, limit: MAX_CAPABILITIES as u64 });
    }
    Ok(n as usize)
}

/// Parses `records` (a multiple of 16 bytes).
pub fn parse(records: &[u8]) -> Vec<Capability> {
    records
        .chunks_exact(CAPABILITY_LEN)
        .map(|r| Capability {
            code: u32::from_be_bytes(r[0..4].try_into().expect("4 bytes")),
            vendor: r[4..8].try_into().expect("4 bytes"),
            name: r[8..16].try_into().expect("8 bytes"),
        })
        .collect()
}

/// The tunnel to ask for: NOTUNNEL, or an error naming what the server wants instead.
pub fn choose_tunnel(caps: &[Capability]) -> Result<u32, Error> {
    if caps.iter().any(|c| c.code == NO_TUNNEL && &c.name == b"NOTUNNEL") {
        Ok(NO_TUNNEL)
    } else {
        Err(Error::TightTunnelUnsupported(caps.iter().map(Capability::label).collect()))
    }
}

/// The authentication to use: None if offered, else VNC authentication.
pub fn choose_auth(caps: &[Capability]) -> Result<u32, Error> {
    for code in [AUTH_NONE, AUTH_VNC] {
        if caps.iter().any(|c| c.code == code) {
            return Ok(code);
        }
    }
    Err(Error::NoSupportedTightAuth(caps.iter().map(Capability::label).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(code: u32, vendor: &[u8; 4], name: &[u8; 8]) -> Vec<u8> {
        let mut v = code.to_be_bytes().to_vec();
        v.extend_from_slice(vendor);
        v.extend_from_slice(name);
        v
    }

    #[test]
    fn tunnels_and_auth() {
        let notunnel = parse(&cap(0, b"TGHT", b"NOTUNNEL"));
        assert_eq!(choose_tunnel(&notunnel).unwrap(), NO_TUNNEL);
        let other = parse(&cap(7, b"SICR", b"SCHANNEL"));
        assert!(matches!(
            choose_tunnel(&other),
            Err(Error::TightTunnelUnsupported(v)) if v[0].contains("SCHANNEL")
        ));
        let mut both = cap(2, b"STDV", b"VNCAUTH_");
        both.extend(cap(1, b"STDV", b"NOAUTH__"));
        assert_eq!(choose_auth(&parse(&both)).unwrap(), AUTH_NONE);
        assert_eq!(choose_auth(&parse(&cap(2, b"STDV", b"VNCAUTH_"))).unwrap(), AUTH_VNC);
        assert!(choose_auth(&parse(&cap(129, b"TGHT", b"ULGNAUTH"))).is_err());
        assert!(check_count(MAX_CAPABILITIES + 1, "x").is_err());
    }
}

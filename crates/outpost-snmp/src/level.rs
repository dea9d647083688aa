//! The v3 security level (RFC 3411 `SnmpSecurityLevel`), as a type rather than the two
//! msgFlags bits it travels as or the `-l` word an operator types, so a level is compared
//! and named by what it means, and a flags byte with privacy but no authentication (which
//! no level is) cannot be mistaken for one.

use std::fmt;
use std::str::FromStr;

use crate::error::UsmError;
use crate::message::flags;

/// noAuthNoPriv, authNoPriv or authPriv.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecurityLevel {
    /// Neither authenticated nor encrypted.
    NoAuthNoPriv,
    /// Authenticated (HMAC), in clear.
    AuthNoPriv,
    /// Authenticated and encrypted.
    AuthPriv,
}

impl SecurityLevel {
    /// The level carried by a msgFlags byte (the reportable bit is ignored). Privacy
    /// without authentication is no level: RFC 3412 7.2 step 5 drops such a message.
    pub fn from_flags(msg_flags: u8) -> Result<SecurityLevel, UsmError> {
        let auth = msg_flags & flags::AUTH != 0;
        let private = msg_flags & flags::PRIV != 0;
        match (auth, private) {
            (false, false) => Ok(SecurityLevel::NoAuthNoPriv),
            (true, false) => Ok(SecurityLevel::AuthNoPriv),
            (true, true) => Ok(SecurityLevel::AuthPriv),
            (false, true) => Err(UsmError::PrivWithoutAuth),
        }
    }

    /// The msgFlags bits of this level (without the reportable bit).
    pub fn flags(self) -> u8 {
        match self {
            SecurityLevel::NoAuthNoPriv => 0,
            SecurityLevel::AuthNoPriv => flags::AUTH,
            SecurityLevel::AuthPriv => flags::AUTH | flags::PRIV,
        }
    }

    /// Whether messages at this level carry an HMAC.
    pub fn is_authenticated(self) -> bool {
        self != SecurityLevel::NoAuthNoPriv
    }

    /// Whether messages at this level are encrypted.
    pub fn is_private(self) -> bool {
        self == SecurityLevel::AuthPriv
    }

    /// The name net-snmp uses (`-l`, snmptrapd's output): `noAuthNoPriv`, `authNoPriv`,
    /// `authPriv`.
    pub fn name(self) -> &'static str {
        match self {
            SecurityLevel::NoAuthNoPriv => "noAuthNoPriv",
            SecurityLevel::AuthNoPriv => "authNoPriv",
            SecurityLevel::AuthPriv => "authPriv",
        }
    }
}

impl fmt::Display for SecurityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The text is not one of net-snmp's `-l` spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown security level (noAuthNoPriv, authNoPriv or authPriv)")]
pub struct ParseLevelError;

impl FromStr for SecurityLevel {
    type Err = ParseLevelError;

    /// net-snmp's `-l` spellings, in any case: `noAuthNoPriv`/`noAuth`/`nanp`,
    /// `authNoPriv`/`auth`/`anp`, `authPriv`/`priv`/`ap`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "noauthnopriv" | "noauth" | "nanp" => Ok(SecurityLevel::NoAuthNoPriv),
            "authnopriv" | "auth" | "anp" => Ok(SecurityLevel::AuthNoPriv),
            "authpriv" | "priv" | "ap" => Ok(SecurityLevel::AuthPriv),
            _ => Err(ParseLevelError),
        }
    }
}

impl TryFrom<u8> for SecurityLevel {
    type Error = UsmError;

    fn try_from(msg_flags: u8) -> Result<Self, Self::Error> {
        SecurityLevel::from_flags(msg_flags)
    }
}

impl From<SecurityLevel> for u8 {
    fn from(level: SecurityLevel) -> u8 {
        level.flags()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flags byte maps to the level its two low bits say, and back to those bits;
    /// privacy without authentication is refused, whatever the other bits. Names print
    /// as net-snmp writes them and parse from each of its `-l` spellings.
    #[test]
    fn issue12_security_level_round_trips_the_wire_flags_and_names() {
        for byte in 0..=u8::MAX {
            let bits = byte & (flags::AUTH | flags::PRIV);
            match SecurityLevel::from_flags(byte) {
                Ok(level) => {
                    assert_eq!(level.flags(), bits, "flags {byte:#04x}");
                    assert_eq!(u8::from(level), bits);
                    assert_eq!(level.is_authenticated(), bits & flags::AUTH != 0);
                    assert_eq!(level.is_private(), bits & flags::PRIV != 0);
                }
                Err(e) => {
                    assert_eq!(bits, flags::PRIV, "flags {byte:#04x}");
                    assert_eq!(e, UsmError::PrivWithoutAuth);
                }
            }
        }
        assert_eq!(
            SecurityLevel::try_from(flags::AUTH | flags::PRIV | flags::REPORTABLE),
            Ok(SecurityLevel::AuthPriv)
        );
        let names: Vec<String> = [
            SecurityLevel::NoAuthNoPriv,
            SecurityLevel::AuthNoPriv,
            SecurityLevel::AuthPriv,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(names, ["noAuthNoPriv", "authNoPriv", "authPriv"]);
        for (text, want) in [
            ("noAuthNoPriv", SecurityLevel::NoAuthNoPriv),
            ("NANP", SecurityLevel::NoAuthNoPriv),
            ("authNoPriv", SecurityLevel::AuthNoPriv),
            ("auth", SecurityLevel::AuthNoPriv),
            ("AuthPriv", SecurityLevel::AuthPriv),
            ("ap", SecurityLevel::AuthPriv),
        ] {
            assert_eq!(text.parse(), Ok(want), "{text}");
        }
        assert_eq!("authpriv2".parse::<SecurityLevel>(), Err(ParseLevelError));
    }
}

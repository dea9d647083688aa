//! The User-based Security Model: key derivation (RFC 3414 A.2), HMAC
//! authentication (RFC 3414, RFC 7860) and privacy (DES RFC 3414, AES
//! RFC 3826, and the AES-192/256 key extension net-snmp uses).

use std::fmt;
use std::str::FromStr;

use hmac::{Mac, SimpleHmac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Digest;

use crate::error::UsmError;

/// Authentication protocols.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, serde::Serialize, serde::Deserialize)]
pub enum AuthProtocol {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl AuthProtocol {
    /// Digest length: the localized key length.
    pub fn key_len(self) -> usize {
        match self {
            AuthProtocol::Md5 => 16,
            AuthProtocol::Sha1 => 20,
            AuthProtocol::Sha224 => 28,
            AuthProtocol::Sha256 => 32,
            AuthProtocol::Sha384 => 48,
            AuthProtocol::Sha512 => 64,
        }
    }

    /// Truncated HMAC length carried in msgAuthenticationParameters
    /// (12 for the RFC 3414 protocols, RFC 7860 for the SHA-2 family).
    pub fn mac_len(self) -> usize {
        match self {
            AuthProtocol::Md5 | AuthProtocol::Sha1 => 12,
            AuthProtocol::Sha224 => 16,
            AuthProtocol::Sha256 => 24,
            AuthProtocol::Sha384 => 32,
            AuthProtocol::Sha512 => 48,
        }
    }

    fn hash(self, data: &[&[u8]]) -> Vec<u8> {
        fn h<D: Digest>(data: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in data {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            AuthProtocol::Md5 => h::<md5::Md5>(data),
            AuthProtocol::Sha1 => h::<sha1::Sha1>(data),
            AuthProtocol::Sha224 => h::<sha2::Sha224>(data),
            AuthProtocol::Sha256 => h::<sha2::Sha256>(data),
            AuthProtocol::Sha384 => h::<sha2::Sha384>(data),
            AuthProtocol::Sha512 => h::<sha2::Sha512>(data),
        }
    }

    fn hmac(self, key: &[u8], msg: &[u8]) -> Vec<u8> {
        fn m<D>(key: &[u8], msg: &[u8]) -> Vec<u8>
        where
            D: Digest + hmac::digest::core_api::BlockSizeUser,
        {
            // HMAC accepts keys of any length, so this never fails; an empty
            // MAC on the impossible error path just fails verification.
            match <SimpleHmac<D> as hmac::digest::KeyInit>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(msg);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        }
        match self {
            AuthProtocol::Md5 => m::<md5::Md5>(key, msg),
            AuthProtocol::Sha1 => m::<sha1::Sha1>(key, msg),
            AuthProtocol::Sha224 => m::<sha2::Sha224>(key, msg),
            AuthProtocol::Sha256 => m::<sha2::Sha256>(key, msg),
            AuthProtocol::Sha384 => m::<sha2::Sha384>(key, msg),
            AuthProtocol::Sha512 => m::<sha2::Sha512>(key, msg),
        }
    }
}

/// Unknown protocol name on the command line or in params.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol {0:?}")]
pub struct UnknownProtocol(pub String);

/// Accepts net-snmp's `-a` spellings.
impl FromStr for AuthProtocol {
    type Err = UnknownProtocol;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "MD5" => AuthProtocol::Md5,
            "SHA" | "SHA1" | "SHA-1" => AuthProtocol::Sha1,
            "SHA-224" | "SHA224" => AuthProtocol::Sha224,
            "SHA-256" | "SHA256" => AuthProtocol::Sha256,
            "SHA-384" | "SHA384" => AuthProtocol::Sha384,
            "SHA-512" | "SHA512" => AuthProtocol::Sha512,
            _ => return Err(UnknownProtocol(s.to_string())),
        })
    }
}

/// Privacy protocols.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, serde::Serialize, serde::Deserialize)]
pub enum PrivProtocol {
    Des,
    Aes128,
    Aes192,
    Aes256,
}

impl PrivProtocol {
    /// Key material needed: DES uses 8 octets of key plus 8 of pre-IV.
    pub fn key_len(self) -> usize {
        match self {
            PrivProtocol::Des | PrivProtocol::Aes128 => 16,
            PrivProtocol::Aes192 => 24,
            PrivProtocol::Aes256 => 32,
        }
    }
}

/// Accepts net-snmp's `-x` spellings.
impl FromStr for PrivProtocol {
    type Err = UnknownProtocol;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "DES" => PrivProtocol::Des,
            "AES" | "AES128" | "AES-128" => PrivProtocol::Aes128,
            "AES192" | "AES-192" => PrivProtocol::Aes192,
            "AES256" | "AES-256" => PrivProtocol::Aes256,
            _ => return Err(UnknownProtocol(s.to_string())),
        })
    }
}

/// RFC 3414 A.2.1 password-to-key: hash 1 MiB of the repeated password.
/// This is the expensive step, so callers cache its result ([`crate::security::UsmUser`]).
pub fn password_to_key(proto: AuthProtocol, password: &[u8]) -> Result<SecretSlice<u8>, UsmError> {
    if password.is_empty() {
        return Err(UsmError::PasswordTooShort);
    }
    const TOTAL: usize = 1_048_576;
    let mut block = Vec::with_capacity(64 * 1024);
    while block.len() < 64 * 1024 {
        block.extend_from_slice(password);
    }
    // The stream is the password repeated; feed it in chunks at the right phase.
    fn run<D: Digest>(password: &[u8], block: &[u8]) -> Vec<u8> {
        let mut d = D::new();
        let mut done = 0usize;
        let plen = password.len();
        while done < TOTAL {
            let phase = done % plen;
            let avail = block.len() - phase;
            let take = avail.min(TOTAL - done) / plen * plen;
            let take = if take == 0 {
                (TOTAL - done).min(avail)
            } else {
                take
            };
            d.update(&block[phase..phase + take]);
            done += take;
        }
        d.finalize().to_vec()
    }
    let ku = match proto {
        AuthProtocol::Md5 => run::<md5::Md5>(password, &block),
        AuthProtocol::Sha1 => run::<sha1::Sha1>(password, &block),
        AuthProtocol::Sha224 => run::<sha2::Sha224>(password, &block),
        AuthProtocol::Sha256 => run::<sha2::Sha256>(password, &block),
        AuthProtocol::Sha384 => run::<sha2::Sha384>(password, &block),
        AuthProtocol::Sha512 => run::<sha2::Sha512>(password, &block),
    };
    Ok(SecretSlice::from(ku))
}

/// RFC 3414 A.2.2 key localization: `H(Ku || engineID || Ku)`.
pub fn localize_key(proto: AuthProtocol, ku: &[u8], engine_id: &[u8]) -> Vec<u8> {
    proto.hash(&[ku, engine_id, ku])
}

/// Localizes a privacy key and stretches it to the cipher's length.
///
/// net-snmp 5.9 extends AES-192/256 keys with draft-blumenthal-aes-usm-04
/// section 3.1.2.1: `Kul = Kul || H(Kul)` until long enough, hashing the
/// whole key built so far. (Cisco's "AES256C" Reeder variant is different
/// and not what `-x AES256` means.)
pub fn localize_priv_key(
    auth: AuthProtocol,
    privacy: PrivProtocol,
    ku: &[u8],
    engine_id: &[u8],
) -> SecretSlice<u8> {
    let mut k = localize_key(auth, ku, engine_id);
    let need = privacy.key_len();
    if matches!(privacy, PrivProtocol::Aes192 | PrivProtocol::Aes256) {
        while k.len() < need {
            let h = auth.hash(&[&k]);
            k.extend_from_slice(&h);
        }
    }
    k.truncate(need);
    SecretSlice::from(k)
}

/// Computes the truncated HMAC over `msg` (whose auth field at
/// `auth_offset` must hold zeros) and writes it in place.
pub fn sign(
    proto: AuthProtocol,
    key: &[u8],
    msg: &mut [u8],
    auth_offset: usize,
) -> Result<(), UsmError> {
    let n = proto.mac_len();
    let mac = proto.hmac(key, msg);
    let dst = msg
        .get_mut(auth_offset..auth_offset + n)
        .ok_or(UsmError::BadAuthParams)?;
    let src = mac.get(..n).ok_or(UsmError::AuthenticationFailed)?;
    dst.copy_from_slice(src);
    Ok(())
}

/// Checks the HMAC of a received message.
pub fn verify(
    proto: AuthProtocol,
    key: &[u8],
    msg: &[u8],
    auth_offset: usize,
    received: &[u8],
) -> Result<(), UsmError> {
    let n = proto.mac_len();
    if received.len() != n {
        return Err(UsmError::BadAuthParams);
    }
    let mut copy = msg.to_vec();
    copy.get_mut(auth_offset..auth_offset + n)
        .ok_or(UsmError::BadAuthParams)?
        .fill(0);
    let mac = proto.hmac(key, &copy);
    let want = mac.get(..n).ok_or(UsmError::AuthenticationFailed)?;
    // Constant time: no early exit on the first differing byte.
    let diff = want
        .iter()
        .zip(received)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if diff == 0 {
        Ok(())
    } else {
        Err(UsmError::AuthenticationFailed)
    }
}

/// Encrypts a scoped PDU. Returns ciphertext and msgPrivacyParameters.
pub fn encrypt(
    privacy: PrivProtocol,
    key: &[u8],
    engine_boots: i32,
    engine_time: i32,
    salt: u64,
    plain: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), UsmError> {
    use cbc::cipher::{BlockEncryptMut, KeyIvInit};
    match privacy {
        PrivProtocol::Des => {
            let (k, pre_iv) = des_key(key)?;
            let mut salt_bytes = [0u8; 8];
            salt_bytes[..4].copy_from_slice(&engine_boots.to_be_bytes());
            salt_bytes[4..].copy_from_slice(&(salt as u32).to_be_bytes());
            let iv: Vec<u8> = pre_iv.iter().zip(salt_bytes).map(|(a, b)| a ^ b).collect();
            let mut buf = plain.to_vec();
            let pad = (8 - buf.len() % 8) % 8;
            buf.resize(buf.len() + pad, 0);
            let enc = cbc::Encryptor::<des::Des>::new_from_slices(k, &iv)
                .map_err(|_| UsmError::BadPrivParams)?;
            let len = buf.len();
            let out = enc
                .encrypt_padded_mut::<cbc::cipher::block_padding::NoPadding>(&mut buf, len)
                .map_err(|_| UsmError::DecryptionFailed)?
                .to_vec();
            Ok((out, salt_bytes.to_vec()))
        }
        _ => {
            let salt_bytes = salt.to_be_bytes();
            let iv = aes_iv(engine_boots, engine_time, &salt_bytes);
            let mut buf = plain.to_vec();
            aes_cfb(privacy, key, &iv, &mut buf, true)?;
            Ok((buf, salt_bytes.to_vec()))
        }
    }
}

/// Decrypts an encrypted scoped PDU.
pub fn decrypt(
    privacy: PrivProtocol,
    key: &[u8],
    engine_boots: i32,
    engine_time: i32,
    priv_params: &[u8],
    cipher: &[u8],
) -> Result<Vec<u8>, UsmError> {
    use cbc::cipher::{BlockDecryptMut, KeyIvInit};
    if priv_params.len() != 8 {
        return Err(UsmError::BadPrivParams);
    }
    match privacy {
        PrivProtocol::Des => {
            if cipher.len() % 8 != 0 {
                return Err(UsmError::DecryptionFailed);
            }
            let (k, pre_iv) = des_key(key)?;
            let iv: Vec<u8> = pre_iv.iter().zip(priv_params).map(|(a, b)| a ^ b).collect();
            let mut buf = cipher.to_vec();
            let dec = cbc::Decryptor::<des::Des>::new_from_slices(k, &iv)
                .map_err(|_| UsmError::BadPrivParams)?;
            let out = dec
                .decrypt_padded_mut::<cbc::cipher::block_padding::NoPadding>(&mut buf)
                .map_err(|_| UsmError::DecryptionFailed)?
                .to_vec();
            Ok(out)
        }
        _ => {
            let iv = aes_iv(engine_boots, engine_time, priv_params);
            let mut buf = cipher.to_vec();
            aes_cfb(privacy, key, &iv, &mut buf, false)?;
            Ok(buf)
        }
    }
}

fn des_key(key: &[u8]) -> Result<(&[u8], &[u8]), UsmError> {
    let k = key.get(..8).ok_or(UsmError::NoPrivKey)?;
    let pre_iv = key.get(8..16).ok_or(UsmError::NoPrivKey)?;
    Ok((k, pre_iv))
}

fn aes_iv(boots: i32, time: i32, salt: &[u8]) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..4].copy_from_slice(&boots.to_be_bytes());
    iv[4..8].copy_from_slice(&time.to_be_bytes());
    for (d, s) in iv[8..].iter_mut().zip(salt) {
        *d = *s;
    }
    iv
}

fn aes_cfb(
    privacy: PrivProtocol,
    key: &[u8],
    iv: &[u8; 16],
    buf: &mut [u8],
    encrypt: bool,
) -> Result<(), UsmError> {
    use cfb_mode::cipher::{AsyncStreamCipher, KeyIvInit};
    let k = key.get(..privacy.key_len()).ok_or(UsmError::NoPrivKey)?;
    macro_rules! run {
        ($c:ty) => {
            if encrypt {
                cfb_mode::Encryptor::<$c>::new_from_slices(k, iv)
                    .map_err(|_| UsmError::NoPrivKey)?
                    .encrypt(buf)
            } else {
                cfb_mode::Decryptor::<$c>::new_from_slices(k, iv)
                    .map_err(|_| UsmError::NoPrivKey)?
                    .decrypt(buf)
            }
        };
    }
    match privacy {
        PrivProtocol::Aes128 => run!(aes::Aes128),
        PrivProtocol::Aes192 => run!(aes::Aes192),
        PrivProtocol::Aes256 => run!(aes::Aes256),
        PrivProtocol::Des => return Err(UsmError::NoPrivKey),
    }
    Ok(())
}

/// Keys localized to one authoritative engine.
#[derive(Clone)]
pub struct LocalizedKeys {
    /// Which HMAC to use; None for noAuthNoPriv.
    pub auth: Option<(AuthProtocol, SecretSlice<u8>)>,
    /// Which cipher to use; None without privacy.
    pub privacy: Option<(PrivProtocol, SecretSlice<u8>)>,
}

impl fmt::Debug for LocalizedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalizedKeys")
            .field("auth", &self.auth.as_ref().map(|a| a.0))
            .field("privacy", &self.privacy.as_ref().map(|p| p.0))
            .finish()
    }
}

impl LocalizedKeys {
    pub fn auth_key(&self) -> Option<(AuthProtocol, &[u8])> {
        self.auth.as_ref().map(|(p, k)| (*p, k.expose_secret()))
    }
    pub fn priv_key(&self) -> Option<(PrivProtocol, &[u8])> {
        self.privacy.as_ref().map(|(p, k)| (*p, k.expose_secret()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    // RFC 3414 A.3.1 / A.3.2 test vectors.
    #[test]
    fn rfc3414_vectors() {
        let eid = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let ku = password_to_key(AuthProtocol::Md5, b"maplesyrup").unwrap();
        assert_eq!(hex(ku.expose_secret()), "9faf3283884e92834ebc9847d8edd963");
        assert_eq!(
            hex(&localize_key(AuthProtocol::Md5, ku.expose_secret(), &eid)),
            "526f5eed9fcce26f8964c2930787d82b"
        );
        let ku = password_to_key(AuthProtocol::Sha1, b"maplesyrup").unwrap();
        assert_eq!(
            hex(ku.expose_secret()),
            "9fb5cc0381497b3793528939ff788d5d79145211"
        );
        assert_eq!(
            hex(&localize_key(AuthProtocol::Sha1, ku.expose_secret(), &eid)),
            "6695febc9288e36282235fc7151f128497b38f3f"
        );
    }

    #[test]
    fn aes_roundtrip() {
        for p in [
            PrivProtocol::Des,
            PrivProtocol::Aes128,
            PrivProtocol::Aes192,
            PrivProtocol::Aes256,
        ] {
            let key = vec![7u8; 32];
            let (c, salt) = encrypt(
                p,
                &key,
                3,
                99,
                0x1122334455667788,
                b"hello world, scoped pdu",
            )
            .unwrap();
            let d = decrypt(p, &key, 3, 99, &salt, &c).unwrap();
            assert_eq!(&d[..23], b"hello world, scoped pdu");
        }
    }
}

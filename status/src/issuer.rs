//! Issuer identity as OCSP sees it: hashes of the issuer's name and key (RFC 6960 §4.1.1).

use aws_lc_rs::digest;

/// A small, dense number for an issuer, assigned in configuration order. It is the first
/// part of every index key, so it is kept to 16 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IssuerId(pub u16);

/// The hash algorithms a CertID may use. SHA-1 is what RFC 5019 clients send; RFC 9919
/// recommends SHA-256; SHA-384/512 are accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum HashAlgorithm {
    /// SHA-1 (1.3.14.3.2.26)
    Sha1 = 0,
    /// SHA-256 (2.16.840.1.101.3.4.2.1)
    Sha256 = 1,
    /// SHA-384 (2.16.840.1.101.3.4.2.2)
    Sha384 = 2,
    /// SHA-512 (2.16.840.1.101.3.4.2.3)
    Sha512 = 3,
}

impl HashAlgorithm {
    /// Every algorithm, in discriminant order.
    pub const ALL: [HashAlgorithm; 4] = [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512];

    /// The DER content octets of the algorithm's OBJECT IDENTIFIER.
    pub fn oid_content(self) -> &'static [u8] {
        match self {
            Self::Sha1 => &[0x2b, 0x0e, 0x03, 0x02, 0x1a],
            Self::Sha256 => &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01],
            Self::Sha384 => &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02],
            Self::Sha512 => &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03],
        }
    }

    /// From the DER content octets of an OBJECT IDENTIFIER.
    pub fn from_oid_content(oid: &[u8]) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.oid_content() == oid)
    }

    /// Output length in octets.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// A short name for configuration and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// From [`HashAlgorithm::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Hashes `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }
}

/// An issuer's name and key hashes under every CertID hash algorithm, computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerHashes {
    name: [Vec<u8>; 4],
    key: [Vec<u8>; 4],
}

impl IssuerHashes {
    /// From the DER of the issuer certificate's subject `Name` and the contents of its
    /// `subjectPublicKey` BIT STRING (without the unused-bits octet), as RFC 6960 specifies.
    pub fn new(subject_name_der: &[u8], subject_public_key_bits: &[u8]) -> Self {
        Self {
            name: HashAlgorithm::ALL.map(|a| a.digest(subject_name_der)),
            key: HashAlgorithm::ALL.map(|a| a.digest(subject_public_key_bits)),
        }
    }

    /// The issuerNameHash under `alg`.
    pub fn name_hash(&self, alg: HashAlgorithm) -> &[u8] {
        &self.name[alg as usize]
    }

    /// The issuerKeyHash under `alg`.
    pub fn key_hash(&self, alg: HashAlgorithm) -> &[u8] {
        &self.key[alg as usize]
    }

    /// Whether a CertID's hashes designate this issuer.
    pub fn matches(&self, alg: HashAlgorithm, name_hash: &[u8], key_hash: &[u8]) -> bool {
        self.key_hash(alg) == key_hash && self.name_hash(alg) == name_hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_round_trip_and_lengths_match() {
        for a in HashAlgorithm::ALL {
            assert_eq!(HashAlgorithm::from_oid_content(a.oid_content()), Some(a));
            assert_eq!(a.digest(b"x").len(), a.output_len());
            assert_eq!(HashAlgorithm::from_name(a.name()), Some(a));
        }
    }

    #[test]
    fn matching_needs_both_hashes() {
        let h = IssuerHashes::new(b"name", b"key");
        let alg = HashAlgorithm::Sha256;
        assert!(h.matches(alg, h.name_hash(alg), h.key_hash(alg)));
        assert!(!h.matches(alg, h.key_hash(alg), h.key_hash(alg)));
    }
}

//! Object identifiers used in Revoca's certificate profiles.

use const_oid::ObjectIdentifier;

/// id-ce-subjectKeyIdentifier (2.5.29.14).
pub const SUBJECT_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
/// id-ce-keyUsage (2.5.29.15).
pub const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
/// id-ce-subjectAltName (2.5.29.17).
pub const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
/// id-ce-basicConstraints (2.5.29.19).
pub const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
/// id-ce-certificatePolicies (2.5.29.32).
pub const CERTIFICATE_POLICIES: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.32");
/// id-ce-authorityKeyIdentifier (2.5.29.35).
pub const AUTHORITY_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
/// id-ce-extKeyUsage (2.5.29.37).
pub const EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
/// id-pe-authorityInfoAccess (1.3.6.1.5.5.7.1.1).
pub const AUTHORITY_INFO_ACCESS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.1");
/// id-kp-serverAuth (1.3.6.1.5.5.7.3.1).
pub const KP_SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
/// id-kp-clientAuth (1.3.6.1.5.5.7.3.2).
pub const KP_CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");
/// id-kp-OCSPSigning (1.3.6.1.5.5.7.3.9).
pub const KP_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
/// id-ad-ocsp (1.3.6.1.5.5.7.48.1).
pub const AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
/// id-ad-caIssuers (1.3.6.1.5.5.7.48.2).
pub const AD_CA_ISSUERS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");
/// id-pkix-ocsp-nocheck (1.3.6.1.5.5.7.48.1.5).
pub const OCSP_NOCHECK: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.5");
/// CA/Browser Forum domain-validated TLS policy (2.23.140.1.2.1).
pub const CABF_DOMAIN_VALIDATED: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.140.1.2.1");

//! X.501 distinguished names: parsing from a compact text form and DER encoding.
//!
//! The text form is `TYPE=value` pairs separated by commas, for example
//! `CN=Revoca Demo Root,O=Revoca,C=ES`. Unlike RFC 4514 (which lists the most-significant RDN
//! last), the RDNs are encoded in the order written: the first pair becomes the first RDN of
//! the DER `SEQUENCE`. [`Name`]'s `Display` uses the same order, so parsing and printing
//! round-trip.
//!
//! A backslash escapes the next character (`\,` for a literal comma, `\\` for a backslash,
//! `\ ` for a significant leading or trailing space). Whitespace around types and values is
//! otherwise ignored. Each RDN holds one attribute (no multi-valued RDNs).

use std::fmt;

use const_oid::ObjectIdentifier;
use der::{Decode, Tag, Tagged};

use crate::writer::{self, tag};

/// How an attribute value is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StringKind {
    /// `PrintableString`.
    Printable,
    /// `UTF8String`.
    Utf8,
}

/// One attribute type the parser understands.
struct AttributeType {
    /// The short name used in the text form (matched case-insensitively).
    name: &'static str,
    oid: ObjectIdentifier,
    kind: StringKind,
    /// Upper bound in characters (RFC 5280 Appendix A), if any.
    max_chars: Option<usize>,
}

const ATTRIBUTES: &[AttributeType] = &[
    AttributeType {
        name: "CN",
        oid: ObjectIdentifier::new_unwrap("2.5.4.3"),
        kind: StringKind::Utf8,
        max_chars: Some(64),
    },
    AttributeType {
        name: "serialNumber",
        oid: ObjectIdentifier::new_unwrap("2.5.4.5"),
        // X520SerialNumber ::= PrintableString (RFC 5280 Appendix A).
        kind: StringKind::Printable,
        max_chars: Some(64),
    },
    AttributeType {
        name: "C",
        oid: ObjectIdentifier::new_unwrap("2.5.4.6"),
        kind: StringKind::Printable,
        max_chars: Some(2),
    },
    AttributeType {
        name: "L",
        oid: ObjectIdentifier::new_unwrap("2.5.4.7"),
        kind: StringKind::Utf8,
        max_chars: Some(128),
    },
    AttributeType {
        name: "ST",
        oid: ObjectIdentifier::new_unwrap("2.5.4.8"),
        kind: StringKind::Utf8,
        max_chars: Some(128),
    },
    AttributeType {
        name: "O",
        oid: ObjectIdentifier::new_unwrap("2.5.4.10"),
        kind: StringKind::Utf8,
        max_chars: Some(64),
    },
    AttributeType {
        name: "OU",
        oid: ObjectIdentifier::new_unwrap("2.5.4.11"),
        kind: StringKind::Utf8,
        max_chars: Some(64),
    },
    AttributeType {
        name: "organizationIdentifier",
        oid: ObjectIdentifier::new_unwrap("2.5.4.97"),
        kind: StringKind::Utf8,
        max_chars: None,
    },
];

/// Why a distinguished name was rejected.
#[derive(Debug, thiserror::Error)]
pub enum NameError {
    /// The attribute type is not one of C, ST, L, O, OU, CN, serialNumber,
    /// organizationIdentifier.
    #[error(
        "unknown attribute type {0:?} (expected C, ST, L, O, OU, CN, serialNumber or organizationIdentifier)"
    )]
    UnknownAttribute(String),
    /// A component had no `=` between type and value.
    #[error("name component {0:?} has no '=' (expected TYPE=value)")]
    MissingEquals(String),
    /// A component was empty (two commas in a row, or a trailing comma).
    #[error("empty name component (two commas in a row or a trailing comma)")]
    EmptyComponent,
    /// The value of an attribute was empty.
    #[error("attribute {0} has an empty value")]
    EmptyValue(&'static str),
    /// The value is longer than the attribute's upper bound.
    #[error("attribute {attribute} is {chars} characters long; at most {max} are allowed")]
    TooLong {
        /// The attribute type.
        attribute: &'static str,
        /// The value's length in characters.
        chars: usize,
        /// The upper bound.
        max: usize,
    },
    /// The value has a character its string type cannot hold.
    #[error("attribute {attribute} has a character not allowed in a {expected}: {character:?}")]
    InvalidCharacter {
        /// The attribute type.
        attribute: &'static str,
        /// The offending character.
        character: char,
        /// What the value must be.
        expected: &'static str,
    },
    /// The country is not two upper-case ASCII letters (ISO 3166-1 alpha-2).
    #[error("country {0:?} is not an ISO 3166-1 alpha-2 code (two upper-case letters)")]
    InvalidCountry(String),
    /// The text ended with a lone backslash.
    #[error("name ends with an unfinished escape ('\\')")]
    TrailingEscape,
    /// DER given to [`Name::from_der`] is not a valid X.501 `Name`.
    #[error("invalid DER Name: {0}")]
    InvalidDer(#[source] der::Error),
}

/// A DER-encoded X.501 `Name` (an `RDNSequence`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Name {
    der: Vec<u8>,
}

impl Name {
    /// The empty name (`SEQUENCE {}`), used for subjects identified only by their SAN.
    pub fn empty() -> Self {
        Self {
            der: vec![tag::SEQUENCE, 0x00],
        }
    }

    /// Parses the text form `CN=...,O=...,C=..` (see the module documentation). An empty or
    /// all-whitespace string gives the empty name.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        if text.trim().is_empty() {
            return Ok(Self::empty());
        }
        let components = split_components(text)?;
        let mut der = Vec::with_capacity(16 + text.len() * 2);
        let mut result = Ok(());
        writer::nested(&mut der, tag::SEQUENCE, |out| {
            for component in &components {
                if let Err(e) = encode_component(out, component) {
                    result = Err(e);
                    return;
                }
            }
        });
        result.map(|()| Self { der })
    }

    /// Wraps an existing DER `Name` (for example an issuer's subject copied from its
    /// certificate), checking that it is a well-formed `RDNSequence`.
    pub fn from_der(der: Vec<u8>) -> Result<Self, NameError> {
        x509_cert::name::Name::from_der(&der).map_err(NameError::InvalidDer)?;
        Ok(Self { der })
    }

    /// The DER encoding.
    pub fn as_der(&self) -> &[u8] {
        &self.der
    }

    /// Whether this is the empty name.
    pub fn is_empty(&self) -> bool {
        self.der == [tag::SEQUENCE, 0x00]
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Ok(parsed) = x509_cert::name::Name::from_der(&self.der) else {
            // Unreachable: every constructor validates the DER.
            return f.write_str("<invalid name>");
        };
        for (i, rdn) in parsed.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            for (j, atv) in rdn.0.iter().enumerate() {
                if j > 0 {
                    f.write_str("+")?;
                }
                match ATTRIBUTES.iter().find(|a| a.oid == atv.oid) {
                    Some(a) => f.write_str(a.name)?,
                    None => write!(f, "{}", atv.oid)?,
                }
                f.write_str("=")?;
                write_value(f, &atv.value)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

/// Writes an attribute value: strings escaped for [`Name::parse`], anything else as `#hex`
/// of its DER.
fn write_value(f: &mut fmt::Formatter<'_>, value: &der::Any) -> fmt::Result {
    let bytes = value.value();
    let text = match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString => {
            std::str::from_utf8(bytes).ok().map(str::to_owned)
        }
        Tag::BmpString if bytes.len().is_multiple_of(2) => {
            let units = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        _ => None,
    };
    let Some(text) = text else {
        f.write_str("#")?;
        let mut der = Vec::new();
        writer::tlv(&mut der, value.tag().into(), bytes);
        for b in der {
            write!(f, "{b:02x}")?;
        }
        return Ok(());
    };
    let last = text.chars().count().saturating_sub(1);
    for (i, c) in text.chars().enumerate() {
        let edge_space = c == ' ' && (i == 0 || i == last);
        if c == ',' || c == '\\' || edge_space {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    Ok(())
}

/// A character of the text form and whether it was escaped.
type Char = (char, bool);

/// Splits on unescaped commas, resolving escapes.
fn split_components(text: &str) -> Result<Vec<Vec<Char>>, NameError> {
    let mut components = Vec::new();
    let mut current = Vec::new();
    let mut escaping = false;
    for c in text.chars() {
        if escaping {
            current.push((c, true));
            escaping = false;
        } else if c == '\\' {
            escaping = true;
        } else if c == ',' {
            components.push(std::mem::take(&mut current));
        } else {
            current.push((c, false));
        }
    }
    if escaping {
        return Err(NameError::TrailingEscape);
    }
    components.push(current);
    Ok(components)
}

/// Trims unescaped whitespace from both ends.
fn trim(mut chars: &[Char]) -> &[Char] {
    while let [(c, false), rest @ ..] = chars
        && c.is_whitespace()
    {
        chars = rest;
    }
    while let [rest @ .., (c, false)] = chars
        && c.is_whitespace()
    {
        chars = rest;
    }
    chars
}

/// Encodes one `TYPE=value` component as an RDN.
fn encode_component(out: &mut Vec<u8>, component: &[Char]) -> Result<(), NameError> {
    let component = trim(component);
    if component.is_empty() {
        return Err(NameError::EmptyComponent);
    }
    let Some(eq) = component
        .iter()
        .position(|&(c, escaped)| c == '=' && !escaped)
    else {
        return Err(NameError::MissingEquals(
            component.iter().map(|(c, _)| c).collect(),
        ));
    };
    let type_name: String = trim(&component[..eq]).iter().map(|(c, _)| c).collect();
    let value: String = trim(&component[eq + 1..]).iter().map(|(c, _)| c).collect();
    let attribute = ATTRIBUTES
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(&type_name))
        .ok_or(NameError::UnknownAttribute(type_name))?;
    let value_tag = check_value(attribute, &value)?;
    writer::nested(out, tag::SET, |out| {
        writer::nested(out, tag::SEQUENCE, |out| {
            writer::oid(out, &attribute.oid);
            writer::tlv(out, value_tag, value.as_bytes());
        });
    });
    Ok(())
}

/// Checks a value against its attribute's string type and bound; returns the DER tag.
fn check_value(attribute: &AttributeType, value: &str) -> Result<u8, NameError> {
    if value.is_empty() {
        return Err(NameError::EmptyValue(attribute.name));
    }
    if attribute.name == "C" {
        if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(NameError::InvalidCountry(value.to_owned()));
        }
        return Ok(tag::PRINTABLE_STRING);
    }
    let chars = value.chars().count();
    if let Some(max) = attribute.max_chars
        && chars > max
    {
        return Err(NameError::TooLong {
            attribute: attribute.name,
            chars,
            max,
        });
    }
    match attribute.kind {
        StringKind::Printable => {
            if let Some(character) = value.chars().find(|c| !is_printable_string_char(*c)) {
                return Err(NameError::InvalidCharacter {
                    attribute: attribute.name,
                    character,
                    expected: "PrintableString",
                });
            }
            Ok(tag::PRINTABLE_STRING)
        }
        StringKind::Utf8 => {
            if let Some(character) = value.chars().find(|c| c.is_control()) {
                return Err(NameError::InvalidCharacter {
                    attribute: attribute.name,
                    character,
                    expected: "UTF8String without control characters",
                });
            }
            Ok(tag::UTF8_STRING)
        }
    }
}

/// The PrintableString alphabet (X.680 41.4).
fn is_printable_string_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_in_written_order() {
        let name = Name::parse("CN=a,C=ES").unwrap();
        assert_eq!(
            name.as_der(),
            [
                0x30, 0x19, // RDNSequence
                0x31, 0x0a, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x01, b'a', // CN
                0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'E', b'S',
            ]
        );
    }

    #[test]
    fn round_trips() {
        for text in [
            "CN=Revoca Demo Root,O=Revoca,C=ES",
            "CN=Ñandú Ltd\\, Sucursal,OU=Ops,L=València,ST=Valencia,C=ES",
            "serialNumber=A-123,organizationIdentifier=VATES-B12345678,CN=x",
            "CN=\\ padded\\ ",
            "CN=back\\\\slash=eq",
        ] {
            let name = Name::parse(text).unwrap();
            assert_eq!(name.to_string(), text);
            let again = Name::parse(&name.to_string()).unwrap();
            assert_eq!(again, name);
            assert_eq!(Name::from_der(name.as_der().to_vec()).unwrap(), name);
        }
    }

    #[test]
    fn whitespace_and_case_are_forgiven() {
        let a = Name::parse(" cn = Revoca Root , o=Revoca, c=ES ").unwrap();
        assert_eq!(a.to_string(), "CN=Revoca Root,O=Revoca,C=ES");
    }

    #[test]
    fn empty_name() {
        assert!(Name::parse("").unwrap().is_empty());
        assert!(Name::parse("  ").unwrap().is_empty());
        assert_eq!(Name::empty().to_string(), "");
        assert!(!Name::parse("CN=x").unwrap().is_empty());
    }

    #[test]
    fn types_of_values() {
        let name = Name::parse("serialNumber=12,C=ES,O=x").unwrap();
        let parsed = x509_cert::name::Name::from_der(name.as_der()).unwrap();
        let tags: Vec<Tag> = parsed
            .0
            .iter()
            .map(|r| r.0.get(0).unwrap().value.tag())
            .collect();
        assert_eq!(
            tags,
            [Tag::PrintableString, Tag::PrintableString, Tag::Utf8String]
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            Name::parse("XX=a"),
            Err(NameError::UnknownAttribute(t)) if t == "XX"
        ));
        assert!(matches!(
            Name::parse("CN="),
            Err(NameError::EmptyValue("CN"))
        ));
        assert!(matches!(
            Name::parse("CN=  "),
            Err(NameError::EmptyValue("CN"))
        ));
        assert!(matches!(
            Name::parse("CN=a,Revoca"),
            Err(NameError::MissingEquals(c)) if c == "Revoca"
        ));
        assert!(matches!(
            Name::parse("CN=a,,O=b"),
            Err(NameError::EmptyComponent)
        ));
        assert!(matches!(
            Name::parse("CN=a,"),
            Err(NameError::EmptyComponent)
        ));
        assert!(matches!(
            Name::parse("CN=a\\"),
            Err(NameError::TrailingEscape)
        ));
        assert!(matches!(
            Name::parse("C=es"),
            Err(NameError::InvalidCountry(_))
        ));
        assert!(matches!(
            Name::parse("C=ESP"),
            Err(NameError::InvalidCountry(_))
        ));
        assert!(matches!(
            Name::parse("serialNumber=a_b"),
            Err(NameError::InvalidCharacter { character: '_', .. })
        ));
        assert!(matches!(
            Name::parse(&format!("CN={}", "x".repeat(65))),
            Err(NameError::TooLong { max: 64, .. })
        ));
        assert!(matches!(
            Name::parse("CN=a\u{7}b"),
            Err(NameError::InvalidCharacter { .. })
        ));
    }

    #[test]
    fn from_der_checks_structure() {
        assert!(Name::from_der(vec![0x04, 0x00]).is_err());
        assert!(Name::from_der(vec![0x30, 0x01]).is_err());
        assert!(Name::from_der(vec![0x30, 0x00, 0x00]).is_err());
        assert!(Name::from_der(vec![0x30, 0x00]).unwrap().is_empty());
    }

    #[test]
    fn displays_unknown_attributes() {
        // SEQUENCE { SET { SEQUENCE { OID 0.9.2342.19200300.100.1.25 (DC), IA5String "org" } } }
        let der = vec![
            0x30, 0x15, 0x31, 0x13, 0x30, 0x11, 0x06, 0x0a, 0x09, 0x92, 0x26, 0x89, 0x93, 0xf2,
            0x2c, 0x64, 0x01, 0x19, 0x16, 0x03, b'o', b'r', b'g',
        ];
        let name = Name::from_der(der).unwrap();
        assert_eq!(name.to_string(), "0.9.2342.19200300.100.1.25=org");
    }
}

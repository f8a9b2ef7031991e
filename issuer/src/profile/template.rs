//! Value templates: literal text with `{field}` placeholders.

use std::collections::BTreeMap;

/// One piece of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    /// Literal text.
    Literal(String),
    /// A request field.
    Field(String),
    /// `{csr:common_name}`: the CSR's common name.
    CsrCommonName,
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

/// The values a template is rendered from: checked request fields and the CSR's CN.
#[derive(Debug, Default)]
pub(crate) struct Values {
    /// Request fields present in the request, normalised.
    pub(crate) fields: BTreeMap<String, String>,
    /// The CSR's common name (lower-cased), if the profile takes names from the CSR.
    pub(crate) csr_common_name: Option<String>,
}

impl Template {
    /// Parses `text`; the error says what is wrong.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                None => {
                    pieces.push(Piece::Literal(rest.to_owned()));
                    break;
                }
                Some(i) => {
                    if i > 0 {
                        pieces.push(Piece::Literal(rest[..i].to_owned()));
                    }
                    if rest[i..].starts_with('}') {
                        return Err(format!("unmatched '}}' in {text:?}"));
                    }
                    let after = &rest[i + 1..];
                    let Some(end) = after.find('}') else {
                        return Err(format!("unclosed '{{' in {text:?}"));
                    };
                    let name = &after[..end];
                    if name == "csr:common_name" {
                        pieces.push(Piece::CsrCommonName);
                    } else if is_field_name(name) {
                        pieces.push(Piece::Field(name.to_owned()));
                    } else {
                        return Err(format!(
                            "placeholder {{{name}}} in {text:?} is neither a field name \
                             ([a-z][a-z0-9_]*) nor csr:common_name"
                        ));
                    }
                    rest = &after[end + 1..];
                }
            }
        }
        Ok(Self { pieces })
    }

    /// The request fields the template uses.
    pub(crate) fn fields(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Field(f) => Some(f.as_str()),
            _ => None,
        })
    }

    /// Whether the template uses `{csr:common_name}`.
    pub(crate) fn uses_csr(&self) -> bool {
        self.pieces.contains(&Piece::CsrCommonName)
    }

    /// The literal value when the template has no placeholder.
    pub(crate) fn fixed(&self) -> Option<String> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Literal(s) => out.push_str(s),
                _ => return None,
            }
        }
        Some(out)
    }

    /// Renders the template, or `None` when a value it needs is absent.
    pub(crate) fn render(&self, values: &Values) -> Option<String> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Literal(s) => out.push_str(s),
                Piece::Field(f) => out.push_str(values.fields.get(f)?),
                Piece::CsrCommonName => out.push_str(values.csr_common_name.as_deref()?),
            }
        }
        Some(out)
    }

    /// A description of where the value comes from, for error messages.
    pub(crate) fn sources(&self) -> String {
        let names: Vec<&str> = self
            .pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Field(f) => Some(f.as_str()),
                Piece::CsrCommonName => Some("csr:common_name"),
                Piece::Literal(_) => None,
            })
            .collect();
        if names.is_empty() {
            "the profile's fixed value".to_owned()
        } else {
            format!("request field(s) {}", names.join(", "))
        }
    }
}

/// `[a-z][a-z0-9_]*`, at most 64 characters.
pub(crate) fn is_field_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 64
        && matches!(bytes.next(), Some(b'a'..=b'z'))
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders() {
        let t = Template::parse("{given_name} {surname} - DNI {dni}").unwrap();
        assert_eq!(
            t.fields().collect::<Vec<_>>(),
            ["given_name", "surname", "dni"]
        );
        assert!(t.fixed().is_none());
        let mut v = Values::default();
        v.fields.insert("given_name".into(), "JUAN".into());
        v.fields.insert("surname".into(), "ESPAÑOL".into());
        assert_eq!(t.render(&v), None);
        v.fields.insert("dni".into(), "99999999R".into());
        assert_eq!(t.render(&v).unwrap(), "JUAN ESPAÑOL - DNI 99999999R");
        assert_eq!(Template::parse("ES").unwrap().fixed().unwrap(), "ES");
        let csr = Template::parse("{csr:common_name}").unwrap();
        assert!(csr.uses_csr());
        assert_eq!(csr.render(&v), None);
    }

    #[test]
    fn rejects_bad_placeholders() {
        for bad in [
            "{",
            "}",
            "a{b",
            "{Bad}",
            "{}",
            "{a-b}",
            "x}y",
            "{csr:other}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }
}

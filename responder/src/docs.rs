//! Static documents served next to OCSP: CRLs (`/crl/...`) and CA certificates
//! (`/ca/...`). Publishers swap in new versions atomically; readers never block.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;

/// One published document.
#[derive(Debug)]
pub struct StaticDoc {
    /// The bytes.
    pub body: Bytes,
    /// Content-Type, e.g. `application/pkix-crl`.
    pub content_type: &'static str,
    /// Last-Modified (Unix seconds; a CRL's thisUpdate).
    pub last_modified: i64,
    /// When it stops being valid (a CRL's nextUpdate); `max-age` never passes it.
    pub expires: Option<i64>,
    /// Strong ETag, quotes included.
    pub etag: String,
}

impl StaticDoc {
    /// A document whose ETag is derived from its bytes.
    pub fn new(
        body: Bytes,
        content_type: &'static str,
        last_modified: i64,
        expires: Option<i64>,
    ) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &body);
        let etag = format!("\"{}\"", hex::encode(&digest.as_ref()[..12]));
        Self {
            body,
            content_type,
            last_modified,
            expires,
            etag,
        }
    }
}

/// The documents, by URL path.
#[derive(Debug, Default)]
pub struct StaticDocs {
    docs: ArcSwap<HashMap<String, Arc<StaticDoc>>>,
}

impl StaticDocs {
    /// The document at `path`.
    pub fn get(&self, path: &str) -> Option<Arc<StaticDoc>> {
        self.docs.load().get(path).cloned()
    }

    /// Adds or replaces documents (one atomic swap).
    pub fn publish(&self, docs: impl IntoIterator<Item = (String, StaticDoc)>) {
        let new: Vec<(String, Arc<StaticDoc>)> =
            docs.into_iter().map(|(p, d)| (p, Arc::new(d))).collect();
        self.docs.rcu(|current| {
            let mut next = HashMap::clone(current);
            for (p, d) in &new {
                next.insert(p.clone(), Arc::clone(d));
            }
            next
        });
    }

    /// Every path published, sorted.
    pub fn paths(&self) -> Vec<String> {
        let mut v: Vec<String> = self.docs.load().keys().cloned().collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_replaces_and_keeps_others() {
        let docs = StaticDocs::default();
        docs.publish([
            (
                "/a".to_owned(),
                StaticDoc::new(Bytes::from_static(b"1"), "x/y", 1, None),
            ),
            (
                "/b".to_owned(),
                StaticDoc::new(Bytes::from_static(b"2"), "x/y", 1, None),
            ),
        ]);
        let old_etag = docs.get("/a").unwrap().etag.clone();
        docs.publish([(
            "/a".to_owned(),
            StaticDoc::new(Bytes::from_static(b"3"), "x/y", 2, Some(9)),
        )]);
        let a = docs.get("/a").unwrap();
        assert_eq!(&a.body[..], b"3");
        assert_ne!(a.etag, old_etag);
        assert_eq!(&docs.get("/b").unwrap().body[..], b"2");
        assert!(docs.get("/c").is_none());
        assert_eq!(docs.paths(), ["/a", "/b"]);
    }
}

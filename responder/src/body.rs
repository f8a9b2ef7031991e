//! The response body type of the HTTP front: up to two shared buffers sent back to back.
//!
//! A pre-signed response is its per-certificate head followed by the issuer's shared
//! tail (the responder certificate). Sending them as two frames lets hyper write both
//! with one vectored write, without copying them into a fresh buffer per request.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

/// A body of zero, one or two [`Bytes`] parts with an exact length.
#[derive(Debug, Default)]
pub struct OcspBody {
    first: Option<Bytes>,
    second: Option<Bytes>,
}

impl OcspBody {
    /// An empty body.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A body of one buffer.
    pub fn one(part: Bytes) -> Self {
        Self::two(part, Bytes::new())
    }

    /// `first` then `second` on the wire.
    pub fn two(first: Bytes, second: Bytes) -> Self {
        let non_empty = |b: Bytes| (!b.is_empty()).then_some(b);
        Self {
            first: non_empty(first),
            second: non_empty(second),
        }
    }

    fn len(&self) -> u64 {
        let len = |b: &Option<Bytes>| b.as_ref().map_or(0, |b| b.len() as u64);
        len(&self.first) + len(&self.second)
    }
}

impl Body for OcspBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self.first.take().or_else(|| self.second.take());
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.second.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len())
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn collect(body: OcspBody) -> Vec<u8> {
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn parts_come_in_order_with_exact_length() {
        let body = OcspBody::two(Bytes::from_static(b"head"), Bytes::from_static(b"-tail"));
        assert_eq!(body.size_hint().exact(), Some(9));
        assert_eq!(collect(body).await, b"head-tail");
        let one = OcspBody::one(Bytes::from_static(b"x"));
        assert_eq!(one.size_hint().exact(), Some(1));
        assert_eq!(collect(one).await, b"x");
        let empty = OcspBody::two(Bytes::new(), Bytes::new());
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));
        assert!(OcspBody::empty().is_end_stream());
    }
}

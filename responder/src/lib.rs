//! Revoca's OCSP responder: request parsing, response building, the refresher that keeps
//! a pre-signed response for every assigned serial, the HTTP front and the local admin
//! channel.
//!
//! Data flow: HTTP ([`http`]) → parse ([`request`]) → look up ([`service`], the status
//! index) → pre-signed bytes, or on-demand signing for what cannot be pre-signed.
//! Responses are made by [`refresher`] with [`response`].

#![forbid(unsafe_code)]

pub mod admin;
pub mod body;
pub mod clock;
pub mod der;
pub mod docs;
pub mod http;
pub mod issuers;
pub mod metrics;
pub mod refresher;
pub mod request;
pub mod response;
pub mod service;

pub use clock::Clock;
pub use issuers::{
    IssuerError, IssuerSet, IssuerSettings, NonceMode, OcspIssuer, ResponderIdentity,
    UnassignedPolicy,
};
pub use refresher::{RefreshSettings, Refresher, Resign, UrgentQueue};
pub use service::{Answer, Service, ServiceSettings};

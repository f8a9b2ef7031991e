//! placeholder

pub mod acme;
pub mod api;
pub mod audit;
pub mod certinfo;
pub mod client;
pub mod roles;
pub mod store;
pub mod tls;
pub mod workflow;
pub use audit::{AuditEntry, AuditError, AuditLog, AuditRecord};

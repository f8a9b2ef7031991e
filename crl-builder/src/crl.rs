//! The CRL encoder: RFC 5280 §5 v2 CRLs written straight from an entry source to a
//! writer, with the signature over the streamed TBS bytes.
//!
//! # Passes
//!
//! DER puts every length before its content, and the signature (whose length varies for
//! ECDSA) comes after the TBS, so the outer `CertificateList` header cannot be written
//! until the signature exists. [`write_crl`] therefore walks the [`EntrySource`] three
//! times and never holds the TBS:
//!
//! 1. **measure**: checks every entry (reason rules, times) and sums the exact encoded
//!    lengths;
//! 2. **digest**: encodes the TBS into the hash of the signer's scheme only (no output),
//!    checking the serial order, and has the signer sign the digest
//!    ([`Signer::sign_digest`]);
//! 3. **write**: writes the outer header (now known), encodes the TBS again straight to
//!    the writer, comparing a 128-bit fingerprint with pass 2's to prove the bytes are
//!    those that were signed, then writes the algorithm and the signature (and hashes the
//!    whole CRL with SHA-256 for [`CrlSummary::sha256`]).
//!
//! Memory stays at one 64 KiB chunk whatever the number of entries; the cost is encoding
//! and hashing the TBS twice. If the source yields anything different on a later pass, the
//! build fails with [`CrlError::SourceChanged`].
//!
//! Signers that cannot sign a digest (Ed25519, or a backend returning
//! [`SignError::PrehashUnsupported`]) get the **buffered** path instead: the TBS is encoded
//! once into a buffer of exactly its size and [`Signer::sign`] signs it, so memory is about
//! one CRL. [`CrlSummary::signing`] says which path ran.
//!
//! # Entries
//!
//! Entries must come in strictly ascending [`Serial`] order (numeric for the non-negative
//! serials RFC 5280 requires). RFC 5280 does not ask for an order; requiring one makes the
//! CRL bytes a function of the revocation set, rules out duplicate serials without a set in
//! memory, and is what [`crate::partition`] produces.
//!
//! Reason codes: `None` and `Some(Unspecified)` produce no reasonCode extension (RFC 5280
//! §5.3.1 SHOULD, BR 7.2.2). On a CRL that lists CA certificates ([`CrlParams::ca_entries`]
//! or an IDP with `onlyContainsCACerts`) every entry must have a reason and `Unspecified` is
//! written as reasonCode 0. `certificateHold` is encoded when given: whether suspension is
//! allowed is the profile's decision. `removeFromCRL` is refused (delta CRLs only).
//! invalidityDate is always a GeneralizedTime (RFC 5280 §5.3.2).

use std::io::Write;

use aws_lc_rs::digest;
use revoca_signer::{SignError, SignatureScheme, Signer};
use revoca_status::{RevocationReason, Serial};

use crate::der::{self, tag};
use crate::numbers::CrlNumber;
use crate::time::{MAX_TIME_TLV, encode_generalized_time, encode_time, time_tlv_len};
use crate::{CrlError, UnixTime};

/// One revoked (or held) certificate on a CRL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrlEntry {
    /// The certificate's serial number.
    pub serial: Serial,
    /// revocationDate: when the CA recorded the revocation (or the hold).
    pub revocation_time: UnixTime,
    /// The reason; see the module documentation for how `None` and `Unspecified` are
    /// written.
    pub reason: Option<RevocationReason>,
    /// invalidityDate: when the key is known or suspected to have been compromised.
    pub invalidity_date: Option<UnixTime>,
}

/// The Issuing Distribution Point extension (RFC 5280 §5.2.5), always critical. A
/// partition CRL names the URI written into its certificates' CRL distribution points,
/// byte for byte (BR 7.2.2); an ARL sets `only_contains_ca_certs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IssuingDistributionPoint<'a> {
    /// `distributionPoint.fullName`: URIs copied byte for byte (IA5, printable ASCII). An
    /// empty slice omits the distribution point (then a flag must be set).
    pub full_name: &'a [&'a str],
    /// `onlyContainsUserCerts`: the CRL covers end-entity certificates only.
    pub only_contains_user_certs: bool,
    /// `onlyContainsCACerts`: the CRL covers CA certificates only (an ARL).
    pub only_contains_ca_certs: bool,
}

impl<'a> IssuingDistributionPoint<'a> {
    /// A partition (or full) CRL published at `uris`, no scope flags.
    pub fn new(uris: &'a [&'a str]) -> Self {
        Self {
            full_name: uris,
            only_contains_user_certs: false,
            only_contains_ca_certs: false,
        }
    }

    /// An authority revocation list published at `uris` (`onlyContainsCACerts`).
    pub fn arl(uris: &'a [&'a str]) -> Self {
        Self {
            only_contains_ca_certs: true,
            ..Self::new(uris)
        }
    }

    /// The same point with `onlyContainsUserCerts` set.
    pub fn only_user_certs(self) -> Self {
        Self {
            only_contains_user_certs: true,
            ..self
        }
    }
}

/// Everything about a CRL except its entries and its key.
#[derive(Clone, Copy, Debug)]
pub struct CrlParams<'a> {
    /// The issuer's subject `Name`, DER, exactly as in the issuing certificate.
    pub issuer_name_der: &'a [u8],
    /// The issuer certificate's subject key identifier: becomes the AKI keyIdentifier.
    pub authority_key_id: &'a [u8],
    /// cRLNumber: strictly increasing per scope (see [`crate::numbers`]).
    pub crl_number: CrlNumber,
    /// thisUpdate.
    pub this_update: UnixTime,
    /// nextUpdate; must be after `this_update` (see [`crate::schedule`] for policy limits).
    pub next_update: UnixTime,
    /// The Issuing Distribution Point, for partition CRLs and ARLs; `None` for a full CRL.
    pub idp: Option<IssuingDistributionPoint<'a>>,
    /// The CRL lists CA certificates (a root's CRL): every entry must carry a reason.
    /// Implied by an IDP with `onlyContainsCACerts`.
    pub ca_entries: bool,
}

impl<'a> CrlParams<'a> {
    /// A full CRL for end-entity certificates: no IDP, reasons optional.
    pub fn new(
        issuer_name_der: &'a [u8],
        authority_key_id: &'a [u8],
        crl_number: CrlNumber,
        this_update: UnixTime,
        next_update: UnixTime,
    ) -> Self {
        Self {
            issuer_name_der,
            authority_key_id,
            crl_number,
            this_update,
            next_update,
            idp: None,
            ca_entries: false,
        }
    }

    /// Whether every entry must carry a reason.
    fn reasons_required(&self) -> bool {
        self.ca_entries || self.idp.is_some_and(|idp| idp.only_contains_ca_certs)
    }
}

/// Where entries come from. [`write_crl`] visits the source up to three times and needs
/// the same entries, in the same order, every time; a source reading a live store should
/// read one snapshot (one read transaction) or be collected first.
///
/// Implemented for slices and vectors of [`CrlEntry`] and, through [`FnSource`], for any
/// iterator factory. A fallible source (a store) implements it directly and reports its
/// errors with [`CrlError::from_source`].
pub trait EntrySource {
    /// Calls `visit` once per entry, in ascending serial order, stopping at the first error.
    fn for_each_entry(
        &self,
        visit: &mut dyn FnMut(&CrlEntry) -> Result<(), CrlError>,
    ) -> Result<(), CrlError>;
}

impl EntrySource for [CrlEntry] {
    fn for_each_entry(
        &self,
        visit: &mut dyn FnMut(&CrlEntry) -> Result<(), CrlError>,
    ) -> Result<(), CrlError> {
        self.iter().try_for_each(visit)
    }
}

impl EntrySource for Vec<CrlEntry> {
    fn for_each_entry(
        &self,
        visit: &mut dyn FnMut(&CrlEntry) -> Result<(), CrlError>,
    ) -> Result<(), CrlError> {
        self.as_slice().for_each_entry(visit)
    }
}

/// An [`EntrySource`] from a function returning a fresh iterator on every call, e.g.
/// `FnSource(|| (0..n).map(make_entry))`.
#[derive(Clone, Copy, Debug)]
pub struct FnSource<F>(pub F);

impl<F, I> EntrySource for FnSource<F>
where
    F: Fn() -> I,
    I: IntoIterator<Item = CrlEntry>,
{
    fn for_each_entry(
        &self,
        visit: &mut dyn FnMut(&CrlEntry) -> Result<(), CrlError>,
    ) -> Result<(), CrlError> {
        (self.0)().into_iter().try_for_each(|e| visit(&e))
    }
}

/// How the signature was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningMode {
    /// The TBS was streamed through a hash and the signer signed the digest; the TBS was
    /// never held in memory.
    Streamed,
    /// The signer needs the whole message (Ed25519, or no digest signing in the backend):
    /// the TBS was held in memory once.
    Buffered,
}

/// What [`write_crl`] produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrlSummary {
    /// Size of the DER CRL, in bytes.
    pub bytes: u64,
    /// Number of entries on it.
    pub entries: u64,
    /// SHA-256 of the DER CRL (for manifests and ETags).
    pub sha256: [u8; 32],
    /// Whether the TBS was streamed or buffered for signing.
    pub signing: SigningMode,
}

/// Writes a signed DER CRL for `params` and the entries of `source` to `out`, streaming
/// (see the module documentation). `out` receives the bytes in writes of 64 KiB or more,
/// so it needs no `BufWriter`. On error the bytes already written must be discarded:
/// write to a temporary file and rename it only on success.
pub fn write_crl<W, S>(
    mut out: W,
    params: &CrlParams<'_>,
    source: &S,
    signer: &dyn Signer,
) -> Result<CrlSummary, CrlError>
where
    W: Write,
    S: EntrySource + ?Sized,
{
    let layout = Layout::measure(params, source, signer.scheme())?;
    if let Some(streamed) = layout.try_streamed(&mut out, source, signer)? {
        return Ok(streamed);
    }
    let (tbs, sig) = layout.buffered_tbs(source, signer, 0)?;
    let mut out = HashingWriter::new(&mut out);
    out.write_all(&layout.outer_header(sig.len())?)?;
    out.write_all(&tbs)?;
    drop(tbs);
    out.write_all(&layout.trailer(&sig))?;
    out.flush()?;
    Ok(layout.summary(out, SigningMode::Buffered))
}

/// Builds a signed DER CRL in memory (see [`write_crl`]). The vector is allocated once at
/// its final size (on the buffered path the TBS is shifted in place to make room for the
/// outer header, never copied to a second buffer), so memory is one CRL.
pub fn encode_crl_to_vec<S>(
    params: &CrlParams<'_>,
    source: &S,
    signer: &dyn Signer,
) -> Result<Vec<u8>, CrlError>
where
    S: EntrySource + ?Sized,
{
    let layout = Layout::measure(params, source, signer.scheme())?;
    let reserve = usize::try_from(layout.tbs_len)
        .ok()
        .and_then(|n| n.checked_add(TRAILER_RESERVE))
        .ok_or(CrlError::TooLarge)?;
    let mut out = Vec::new();
    out.try_reserve_exact(reserve)
        .map_err(|_| CrlError::TooLarge)?;
    if layout.try_streamed(&mut out, source, signer)?.is_some() {
        return Ok(out);
    }
    drop(out);
    let (mut tbs, sig) = layout.buffered_tbs(source, signer, TRAILER_RESERVE)?;
    let header = layout.outer_header(sig.len())?;
    let tbs_len = tbs.len();
    // Shift the TBS right in place to make room for the outer header.
    tbs.resize(tbs_len + header.len(), 0);
    tbs.copy_within(..tbs_len, header.len());
    tbs[..header.len()].copy_from_slice(&header);
    tbs.extend_from_slice(&layout.trailer(&sig));
    Ok(tbs)
}

/// Room after the TBS for the outer header, the AlgorithmIdentifier and a signature of
/// any size Revoca produces (RSA-4096: 512 octets).
const TRAILER_RESERVE: usize = 1024;

/// Bytes buffered before they go to the hash and the writer.
const CHUNK: usize = 64 * 1024;

/// Object identifiers' encoded content (all under id-ce, 2.5.29).
const OID_AKI: [u8; 5] = [tag::OID, 0x03, 0x55, 0x1d, 0x23];
const OID_CRL_NUMBER: [u8; 5] = [tag::OID, 0x03, 0x55, 0x1d, 0x14];
const OID_IDP: [u8; 5] = [tag::OID, 0x03, 0x55, 0x1d, 0x1c];
/// A reasonCode extension without its last octet (the code): SEQUENCE { id-ce-cRLReasons,
/// OCTET STRING { ENUMERATED } }.
const REASON_EXT_PREFIX: [u8; 11] = [
    tag::SEQUENCE,
    0x0a,
    tag::OID,
    0x03,
    0x55,
    0x1d,
    0x15,
    tag::OCTET_STRING,
    0x03,
    tag::ENUMERATED,
    0x01,
];
const REASON_EXT_LEN: usize = REASON_EXT_PREFIX.len() + 1;
/// An invalidityDate extension before its GeneralizedTime: SEQUENCE { id-ce-invalidityDate,
/// OCTET STRING { GeneralizedTime (17 octets) } }.
const INVALIDITY_EXT_PREFIX: [u8; 9] = [
    tag::SEQUENCE,
    0x18,
    tag::OID,
    0x03,
    0x55,
    0x1d,
    0x18,
    tag::OCTET_STRING,
    0x11,
];
const INVALIDITY_EXT_LEN: usize = INVALIDITY_EXT_PREFIX.len() + 17;

/// The hash a scheme signs, or `None` for a pure scheme.
fn prehash(scheme: SignatureScheme) -> Option<&'static digest::Algorithm> {
    match scheme {
        SignatureScheme::EcdsaP256Sha256
        | SignatureScheme::RsaPkcs1Sha256
        | SignatureScheme::RsaPssSha256 => Some(&digest::SHA256),
        SignatureScheme::EcdsaP384Sha384 => Some(&digest::SHA384),
        SignatureScheme::Ed25519 => None,
    }
}

/// The reasonCode to write for `entry`, if any.
fn reason_code(entry: &CrlEntry, required: bool) -> Result<Option<u8>, CrlError> {
    match entry.reason {
        None if required => Err(CrlError::MissingReason {
            serial: entry.serial,
        }),
        None => Ok(None),
        Some(RevocationReason::Unspecified) if !required => Ok(None),
        Some(reason @ RevocationReason::RemoveFromCrl) => Err(CrlError::ReasonNotAllowed {
            serial: entry.serial,
            reason,
        }),
        Some(reason) => Ok(Some(reason.code())),
    }
}

/// The encoded length of one entry's TLV (always under 128, so a two-octet header).
fn entry_len(entry: &CrlEntry, reasons_required: bool) -> Result<usize, CrlError> {
    let mut extensions = 0;
    if reason_code(entry, reasons_required)?.is_some() {
        extensions += REASON_EXT_LEN;
    }
    if let Some(t) = entry.invalidity_date {
        time_tlv_len(t, "invalidityDate")?;
        extensions += INVALIDITY_EXT_LEN;
    }
    let content = 2
        + entry.serial.as_der_content().len()
        + time_tlv_len(entry.revocation_time, "revocationDate")?
        + if extensions > 0 { 2 + extensions } else { 0 };
    Ok(2 + content)
}

/// The largest entry TLV: content ≤ 22 (serial) + 17 (time) + 2 + 12 (reason) + 26
/// (invalidity) = 79 octets, plus a two-octet header.
const MAX_ENTRY_LEN: usize = 81;
/// Spare capacity the entry encoder needs after the last entry: it appends a whole
/// fixed-size scratch buffer and truncates, which compiles to a few vector moves instead
/// of a `memcpy` call per field.
const ENTRY_SLACK: usize = MAX_ENTRY_LEN + MAX_TIME_TLV;

/// Appends one entry's TLV to `out`.
fn encode_entry(
    out: &mut Vec<u8>,
    entry: &CrlEntry,
    reasons_required: bool,
) -> Result<(), CrlError> {
    let reason = reason_code(entry, reasons_required)?;
    let time = encode_time(entry.revocation_time, "revocationDate")?;
    let invalidity = entry
        .invalidity_date
        .map(|t| encode_generalized_time(t, "invalidityDate"))
        .transpose()?;
    let serial = entry.serial.as_der_content();
    let extensions =
        reason.map_or(0, |_| REASON_EXT_LEN) + invalidity.map_or(0, |_| INVALIDITY_EXT_LEN);
    let content =
        2 + serial.len() + time.as_bytes().len() + if extensions > 0 { 2 + extensions } else { 0 };

    // Fixed-size copies only (a time is copied as its whole 17-octet array, then the
    // cursor advances by its real length).
    let mut buf = [0u8; ENTRY_SLACK];
    // Every length here is below 128: one octet.
    buf[..4].copy_from_slice(&[
        tag::SEQUENCE,
        content as u8,
        tag::INTEGER,
        serial.len() as u8,
    ]);
    let mut n = 4 + serial.len();
    buf[4..n].copy_from_slice(serial);
    buf[n..n + MAX_TIME_TLV].copy_from_slice(time.as_array());
    n += time.as_bytes().len();
    if extensions > 0 {
        buf[n..n + 2].copy_from_slice(&[tag::SEQUENCE, extensions as u8]);
        n += 2;
        if let Some(code) = reason {
            buf[n..n + REASON_EXT_PREFIX.len()].copy_from_slice(&REASON_EXT_PREFIX);
            buf[n + REASON_EXT_PREFIX.len()] = code;
            n += REASON_EXT_LEN;
        }
        if let Some(t) = &invalidity {
            buf[n..n + INVALIDITY_EXT_PREFIX.len()].copy_from_slice(&INVALIDITY_EXT_PREFIX);
            n += INVALIDITY_EXT_PREFIX.len();
            buf[n..n + MAX_TIME_TLV].copy_from_slice(t.as_array());
            n += MAX_TIME_TLV;
        }
    }
    let start = out.len();
    out.extend_from_slice(&buf);
    out.truncate(start + n);
    Ok(())
}

/// Appends `tag`, the length of what `content` appends, and that content.
fn nested(out: &mut Vec<u8>, tag: u8, content: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    content(&mut inner);
    der::tlv(out, tag, &inner);
}

/// Appends an Extension: SEQUENCE { extnID, critical (only when TRUE), OCTET STRING }.
fn extension(out: &mut Vec<u8>, oid: &[u8], critical: bool, value: impl FnOnce(&mut Vec<u8>)) {
    nested(out, tag::SEQUENCE, |out| {
        out.extend_from_slice(oid);
        if critical {
            out.extend_from_slice(&[tag::BOOLEAN, 0x01, 0xff]);
        }
        nested(out, tag::OCTET_STRING, value);
    });
}

fn check_params(params: &CrlParams<'_>) -> Result<(), CrlError> {
    let invalid = |msg: &str| Err(CrlError::InvalidParams(msg.to_owned()));
    if der::single_tlv_tag(params.issuer_name_der) != Some(tag::SEQUENCE)
        || params.issuer_name_der.len() <= 2
    {
        return invalid("the issuer name is not a non-empty DER Name (SEQUENCE)");
    }
    if params.authority_key_id.is_empty() {
        return invalid("the authority key identifier is empty");
    }
    time_tlv_len(params.this_update, "thisUpdate")?;
    time_tlv_len(params.next_update, "nextUpdate")?;
    if params.next_update <= params.this_update {
        return invalid("nextUpdate must be later than thisUpdate");
    }
    if let Some(idp) = params.idp {
        if idp.only_contains_ca_certs && idp.only_contains_user_certs {
            return invalid("an IDP cannot be both onlyContainsUserCerts and onlyContainsCACerts");
        }
        if idp.full_name.is_empty() && !idp.only_contains_ca_certs && !idp.only_contains_user_certs
        {
            return invalid("an IDP needs a distribution point name or a scope flag");
        }
        if let Some(bad) = idp
            .full_name
            .iter()
            .find(|u| u.is_empty() || !u.bytes().all(|b| (0x21..=0x7e).contains(&b)))
        {
            return Err(CrlError::InvalidParams(format!(
                "IDP URI {bad:?} is empty or not printable ASCII (IA5String, no spaces)"
            )));
        }
    }
    Ok(())
}

/// The CRL's fixed parts, encoded, and the exact lengths of the variable ones.
struct Layout {
    scheme: SignatureScheme,
    reasons_required: bool,
    /// The TBSCertList header, version, signature, issuer, thisUpdate, nextUpdate and the
    /// revokedCertificates header (absent with no entries).
    head: Vec<u8>,
    /// `[0] EXPLICIT Extensions`.
    extensions: Vec<u8>,
    /// Sum of the entry TLVs.
    entries_len: u64,
    /// Number of entries.
    entries: u64,
    /// The whole TBSCertList TLV.
    tbs_len: u64,
}

impl Layout {
    /// Pass 1: checks the parameters and every entry and computes all lengths.
    fn measure<S: EntrySource + ?Sized>(
        params: &CrlParams<'_>,
        source: &S,
        scheme: SignatureScheme,
    ) -> Result<Self, CrlError> {
        check_params(params)?;
        let reasons_required = params.reasons_required();
        let mut entries_len = 0u64;
        let mut entries = 0u64;
        source.for_each_entry(&mut |e| {
            entries_len += entry_len(e, reasons_required)? as u64;
            entries += 1;
            Ok(())
        })?;

        let mut body = Vec::with_capacity(512);
        body.extend_from_slice(&[tag::INTEGER, 0x01, 0x01]); // v2
        body.extend_from_slice(scheme.algorithm_identifier_der());
        body.extend_from_slice(params.issuer_name_der);
        body.extend_from_slice(encode_time(params.this_update, "thisUpdate")?.as_bytes());
        body.extend_from_slice(encode_time(params.next_update, "nextUpdate")?.as_bytes());
        let mut revoked_header = Vec::new();
        if entries > 0 {
            der::header(&mut revoked_header, tag::SEQUENCE, entries_len);
        }
        let extensions = crl_extensions(params);

        let content = der::sum(&[
            body.len() as u64,
            revoked_header.len() as u64,
            entries_len,
            extensions.len() as u64,
        ])?;
        let tbs_len = der::tlv_len(content)?;
        let mut head = Vec::with_capacity(8 + body.len() + revoked_header.len());
        der::header(&mut head, tag::SEQUENCE, content);
        head.extend_from_slice(&body);
        head.extend_from_slice(&revoked_header);
        Ok(Self {
            scheme,
            reasons_required,
            head,
            extensions,
            entries_len,
            entries,
            tbs_len,
        })
    }

    /// Encodes the TBS into `sink`, checking that the source still yields what pass 1
    /// measured. The serial order is checked in the pass whose bytes get signed
    /// (`check_order`); a later pass is compared with it byte for byte through the digest.
    fn encode_tbs<S: EntrySource + ?Sized>(
        &self,
        source: &S,
        sink: &mut Sink<'_>,
        check_order: bool,
    ) -> Result<(), CrlError> {
        sink.put(&self.head)?;
        let start = sink.emitted();
        let mut order = OrderCheck {
            enabled: check_order,
            ..OrderCheck::default()
        };
        source.for_each_entry(&mut |e| {
            order.check(e)?;
            if order.count > self.entries {
                return Err(CrlError::SourceChanged);
            }
            encode_entry(&mut sink.buf, e, self.reasons_required)?;
            sink.maybe_flush()
        })?;
        if order.count != self.entries || sink.emitted() - start != self.entries_len {
            return Err(CrlError::SourceChanged);
        }
        sink.put(&self.extensions)?;
        sink.flush()
    }

    /// Passes 2 and 3 when the signer can sign a digest; `None` when it cannot (nothing
    /// was written then).
    fn try_streamed<S: EntrySource + ?Sized>(
        &self,
        out: &mut dyn Write,
        source: &S,
        signer: &dyn Signer,
    ) -> Result<Option<CrlSummary>, CrlError> {
        let Some(algorithm) = prehash(self.scheme) else {
            return Ok(None);
        };
        // Pass 2: the digest of the TBS, nothing written.
        let mut nowhere = std::io::sink();
        let mut hash = digest::Context::new(algorithm);
        let mut sink = Sink::streaming(&mut nowhere, Some(&mut hash));
        self.encode_tbs(source, &mut sink, true)?;
        let signed_fingerprint = sink.fingerprint;
        let sig = match signer.sign_digest(hash.finish().as_ref()) {
            Ok(sig) => sig,
            Err(SignError::PrehashUnsupported { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };

        // Pass 3: header, the same TBS again (its fingerprint must equal the signed
        // one's), trailer.
        let mut out = HashingWriter::new(out);
        out.write_all(&self.outer_header(sig.len())?)?;
        let mut sink = Sink::streaming(&mut out, None);
        self.encode_tbs(source, &mut sink, false)?;
        if sink.fingerprint != signed_fingerprint {
            return Err(CrlError::SourceChanged);
        }
        out.write_all(&self.trailer(&sig))?;
        out.flush()?;
        Ok(Some(self.summary(out, SigningMode::Streamed)))
    }

    /// The buffered path: the TBS in a vector of its exact size (plus `spare` capacity)
    /// and its signature by [`Signer::sign`].
    fn buffered_tbs<S: EntrySource + ?Sized>(
        &self,
        source: &S,
        signer: &dyn Signer,
        spare: usize,
    ) -> Result<(Vec<u8>, Vec<u8>), CrlError> {
        let capacity = usize::try_from(self.tbs_len)
            .ok()
            .and_then(|n| n.checked_add(spare + ENTRY_SLACK))
            .ok_or(CrlError::TooLarge)?;
        let mut buf = Vec::new();
        buf.try_reserve_exact(capacity)
            .map_err(|_| CrlError::TooLarge)?;
        let mut sink = Sink::buffered(buf);
        self.encode_tbs(source, &mut sink, true)?;
        let tbs = sink.buf;
        if tbs.len() as u64 != self.tbs_len {
            return Err(CrlError::SourceChanged);
        }
        let sig = signer.sign(&tbs)?;
        Ok((tbs, sig))
    }

    /// The CertificateList SEQUENCE header for a signature of `sig_len` octets.
    fn outer_header(&self, sig_len: usize) -> Result<Vec<u8>, CrlError> {
        let bit_string = der::tlv_len(sig_len as u64 + 1)?;
        let content = der::sum(&[
            self.tbs_len,
            self.scheme.algorithm_identifier_der().len() as u64,
            bit_string,
        ])?;
        let mut header = Vec::with_capacity(10);
        der::header(&mut header, tag::SEQUENCE, content);
        Ok(header)
    }

    /// signatureAlgorithm and signatureValue.
    fn trailer(&self, sig: &[u8]) -> Vec<u8> {
        let alg = self.scheme.algorithm_identifier_der();
        let mut out = Vec::with_capacity(alg.len() + sig.len() + 8);
        out.extend_from_slice(alg);
        der::header(&mut out, tag::BIT_STRING, sig.len() as u64 + 1);
        out.push(0x00); // no unused bits
        out.extend_from_slice(sig);
        out
    }

    fn summary(&self, written: HashingWriter<'_>, signing: SigningMode) -> CrlSummary {
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(written.hash.finish().as_ref());
        CrlSummary {
            bytes: written.written,
            entries: self.entries,
            sha256,
            signing,
        }
    }
}

/// crlExtensions: `[0] EXPLICIT SEQUENCE { AKI, cRLNumber, IDP? }`.
fn crl_extensions(params: &CrlParams<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    nested(&mut out, 0xa0, |out| {
        nested(out, tag::SEQUENCE, |out| {
            // authorityKeyIdentifier { [0] keyIdentifier }, non-critical (RFC 5280 §5.2.1).
            extension(out, &OID_AKI, false, |out| {
                nested(out, tag::SEQUENCE, |out| {
                    der::tlv(out, 0x80, params.authority_key_id);
                });
            });
            // cRLNumber, non-critical (RFC 5280 §5.2.3).
            extension(out, &OID_CRL_NUMBER, false, |out| {
                der::tlv(out, tag::INTEGER, params.crl_number.der_content());
            });
            // issuingDistributionPoint, critical (RFC 5280 §5.2.5, BR 7.2.2).
            if let Some(idp) = params.idp {
                extension(out, &OID_IDP, true, |out| {
                    nested(out, tag::SEQUENCE, |out| {
                        if !idp.full_name.is_empty() {
                            // distributionPoint [0] { fullName [0] { URI [6] ... } }
                            nested(out, 0xa0, |out| {
                                nested(out, 0xa0, |out| {
                                    for uri in idp.full_name {
                                        der::tlv(out, 0x86, uri.as_bytes());
                                    }
                                });
                            });
                        }
                        // BOOLEAN DEFAULT FALSE: present only when TRUE (DER).
                        if idp.only_contains_user_certs {
                            out.extend_from_slice(&[0x81, 0x01, 0xff]);
                        }
                        if idp.only_contains_ca_certs {
                            out.extend_from_slice(&[0x82, 0x01, 0xff]);
                        }
                    });
                });
            }
        });
    });
    out
}

/// Counts entries and, when enabled, checks strictly ascending serials.
#[derive(Default)]
struct OrderCheck {
    enabled: bool,
    previous: Option<Serial>,
    count: u64,
}

impl OrderCheck {
    fn check(&mut self, entry: &CrlEntry) -> Result<(), CrlError> {
        if self.enabled {
            if self.previous.is_some_and(|p| !ascending(&p, &entry.serial)) {
                return Err(CrlError::NotAscending {
                    index: self.count,
                    serial: entry.serial,
                });
            }
            self.previous = Some(entry.serial);
        }
        self.count += 1;
        Ok(())
    }
}

/// `previous < next` in [`Serial`]'s order (length, then content octets: numeric for
/// non-negative serials), without a library call per entry: consecutive serials usually
/// differ within the first octets.
fn ascending(previous: &Serial, next: &Serial) -> bool {
    let (a, b) = (previous.as_der_content(), next.as_der_content());
    if a.len() != b.len() {
        return a.len() < b.len();
    }
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// Where encoded TBS bytes go: a chunk buffer flushed to the signed hash (pass 2), the
/// fingerprint and the writer, or (buffered) one vector that keeps everything.
struct Sink<'w> {
    buf: Vec<u8>,
    chunked: bool,
    flushed: u64,
    /// The hash that gets signed (pass 2 only).
    hash: Option<&'w mut digest::Context>,
    /// Compares pass 3 with pass 2.
    fingerprint: Fingerprint,
    writer: Option<&'w mut dyn Write>,
}

impl<'w> Sink<'w> {
    fn streaming(writer: &'w mut dyn Write, hash: Option<&'w mut digest::Context>) -> Self {
        Self {
            buf: Vec::with_capacity(CHUNK + ENTRY_SLACK + 256),
            chunked: true,
            flushed: 0,
            hash,
            fingerprint: Fingerprint::default(),
            writer: Some(writer),
        }
    }

    fn buffered(buf: Vec<u8>) -> Self {
        Self {
            buf,
            chunked: false,
            flushed: 0,
            hash: None,
            fingerprint: Fingerprint::default(),
            writer: None,
        }
    }

    /// Bytes emitted so far (flushed or buffered).
    fn emitted(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), CrlError> {
        self.buf.extend_from_slice(bytes);
        self.maybe_flush()
    }

    fn maybe_flush(&mut self) -> Result<(), CrlError> {
        if self.chunked && self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), CrlError> {
        if !self.chunked || self.buf.is_empty() {
            return Ok(());
        }
        if let Some(h) = &mut self.hash {
            h.update(&self.buf);
        }
        self.fingerprint.update(&self.buf);
        if let Some(w) = &mut self.writer {
            w.write_all(&self.buf)?;
        }
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

/// A 128-bit fingerprint of the TBS, to prove that pass 3 wrote the bytes pass 2 signed.
///
/// It is not a cryptographic hash, and need not be: whoever controls the entry source
/// already controls what pass 2 signs, so the check only has to catch a source that
/// changes between passes (a live store, a bug), never a chosen collision. Each lane is a
/// chain of bijections of its state (xor a word, multiply by an odd constant, rotate), so
/// one differing word always gives a different lane; several differing words collide with
/// probability about 2^-64 per lane. About three times as fast as SHA-256 here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Fingerprint {
    a: u64,
    b: u64,
    len: u64,
}

impl Fingerprint {
    fn update(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        let (mut a, mut b) = (self.a, self.b);
        for word in &mut words {
            let w = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
            a = (a ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
            b = (b ^ w).wrapping_mul(0xc2b2_ae3d_27d4_eb4f).rotate_left(31);
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            // The tail's length goes in too, so trailing zero octets still count.
            let w = u64::from_le_bytes(last) ^ ((rest.len() as u64) << 59);
            a = (a ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
            b = (b ^ w).wrapping_mul(0xc2b2_ae3d_27d4_eb4f).rotate_left(31);
        }
        self.a = a;
        self.b = b;
        self.len += bytes.len() as u64;
    }
}

/// A writer that counts and SHA-256-hashes everything written through it.
struct HashingWriter<'a> {
    inner: &'a mut dyn Write,
    hash: digest::Context,
    written: u64,
}

impl<'a> HashingWriter<'a> {
    fn new(inner: &'a mut dyn Write) -> Self {
        Self {
            inner,
            hash: digest::Context::new(&digest::SHA256),
            written: 0,
        }
    }
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        let done = buf.get(..n).unwrap_or(buf);
        self.hash.update(done);
        self.written += done.len() as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

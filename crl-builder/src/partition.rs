//! Grouping status records into CRL entries per partition.
//!
//! The partition of a certificate is chosen at issuance (`CrlPartition` in the issuing
//! core) and recorded in its status record as `crl_partition`. [`PartitionGrouper`] takes
//! records one at a time (it fits `Store::for_each_record`'s callback, filtered to one
//! issuer) and produces, per partition, the entries of revoked and held certificates in
//! ascending serial order, ready for [`crate::write_crl`].
//!
//! Nothing revoked is ever dropped silently: records whose partition is outside the
//! issuer's current plan (the plan was changed, or the record predates it) still get their
//! own group, and are reported in [`Grouped::outside_plan`] so that the operator keeps
//! publishing those CRLs. Records without a partition go to [`Grouped::unpartitioned`]
//! (the full CRL).

use std::collections::BTreeMap;

use revoca_status::{CertRecord, CertState, RevocationReason, Serial};

use crate::{CrlEntry, UnixTime};

/// The partitions an issuer currently publishes: numbers `first .. first + count`
/// (`CrlPartition::SerialMod { first, partitions, .. }`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionPlan {
    /// The first partition number.
    pub first: u32,
    /// How many partitions.
    pub count: u32,
}

impl PartitionPlan {
    /// Whether partition `n` belongs to the plan.
    pub fn contains(&self, n: u32) -> bool {
        n >= self.first && u64::from(n) < u64::from(self.first) + u64::from(self.count)
    }
}

/// Which records become entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupOptions {
    /// Leave out certificates whose notAfter is strictly before this time. Set it to the
    /// thisUpdate of the last CRL that was published *after* they expired (BR 4.10.1 /
    /// 7.2: an entry may go once it has appeared on a CRL issued after expiry), minus any
    /// retention. `None` keeps every entry.
    pub drop_expired_before: Option<UnixTime>,
}

/// Entries grouped by partition, each group in ascending serial order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grouped {
    /// Entries of certificates with no partition: the issuer's full CRL.
    pub unpartitioned: Vec<CrlEntry>,
    /// Every partition of the plan (empty ones included: they are published too) and any
    /// other partition number found in the records.
    pub partitions: BTreeMap<u32, Vec<CrlEntry>>,
    /// Partition numbers that had entries but are not in the plan, ascending.
    pub outside_plan: Vec<u32>,
    /// Revoked or held records left out because they expired (see [`GroupOptions`]).
    pub dropped_expired: u64,
}

/// Accumulates records into [`Grouped`].
#[derive(Debug)]
pub struct PartitionGrouper {
    plan: Option<PartitionPlan>,
    options: GroupOptions,
    grouped: Grouped,
}

/// The CRL entry for a record, if it belongs on a CRL: revoked certificates with their
/// reason, held ones with certificateHold; good ones never.
pub fn entry_for(serial: Serial, record: &CertRecord) -> Option<CrlEntry> {
    let (revocation_time, reason) = match record.state {
        CertState::Good => return None,
        CertState::Revoked { at, reason } => (at, reason),
        CertState::Held { at } => (at, RevocationReason::CertificateHold),
    };
    Some(CrlEntry {
        serial,
        revocation_time,
        reason: Some(reason),
        invalidity_date: record.invalidity_date,
    })
}

impl PartitionGrouper {
    /// A grouper for an issuer with partition plan `plan` (`None`: a full CRL only, though
    /// partitioned records are still grouped and reported as outside the plan).
    pub fn new(plan: Option<PartitionPlan>, options: GroupOptions) -> Self {
        let mut grouped = Grouped::default();
        if let Some(plan) = plan {
            for i in 0..plan.count {
                grouped
                    .partitions
                    .insert(plan.first.saturating_add(i), Vec::new());
            }
        }
        Self {
            plan,
            options,
            grouped,
        }
    }

    /// Adds one record (of this issuer).
    pub fn push(&mut self, serial: Serial, record: &CertRecord) {
        let Some(entry) = entry_for(serial, record) else {
            return;
        };
        if self
            .options
            .drop_expired_before
            .is_some_and(|cutoff| record.not_after < cutoff)
        {
            self.grouped.dropped_expired += 1;
            return;
        }
        match record.crl_partition {
            None => self.grouped.unpartitioned.push(entry),
            Some(n) => self.grouped.partitions.entry(n).or_default().push(entry),
        }
    }

    /// Sorts every group by serial and returns the result.
    pub fn finish(mut self) -> Grouped {
        self.grouped
            .unpartitioned
            .sort_unstable_by_key(|e| e.serial);
        for (n, entries) in &mut self.grouped.partitions {
            entries.sort_unstable_by_key(|e| e.serial);
            let planned = self.plan.is_some_and(|p| p.contains(*n));
            if !planned && !entries.is_empty() {
                self.grouped.outside_plan.push(*n);
            }
        }
        self.grouped
    }
}

/// Groups `records` (one issuer's) in one call; see [`PartitionGrouper`].
pub fn group_entries<'r, I>(
    records: I,
    plan: Option<PartitionPlan>,
    options: GroupOptions,
) -> Grouped
where
    I: IntoIterator<Item = (Serial, &'r CertRecord)>,
{
    let mut grouper = PartitionGrouper::new(plan, options);
    for (serial, record) in records {
        grouper.push(serial, record);
    }
    grouper.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serial(n: u64) -> Serial {
        Serial::from_unsigned_be(&n.to_be_bytes()).unwrap()
    }

    fn record(state: CertState, partition: Option<u32>, not_after: i64) -> CertRecord {
        CertRecord {
            state,
            not_after,
            precertificate: false,
            crl_partition: partition,
            invalidity_date: None,
        }
    }

    #[test]
    fn groups_sorts_and_reports() {
        let revoked = CertState::Revoked {
            at: 100,
            reason: RevocationReason::KeyCompromise,
        };
        let held = CertState::Held { at: 200 };
        let mut kc = record(revoked, Some(3), 10_000);
        kc.invalidity_date = Some(50);
        let records = [
            (serial(0x300), kc),
            (serial(0x80), record(held, Some(3), 10_000)),
            (serial(7), record(CertState::Good, Some(3), 10_000)),
            (serial(9), record(revoked, None, 10_000)),
            (serial(5), record(revoked, None, 10_000)),
            (serial(11), record(revoked, Some(99), 10_000)),
            (serial(12), record(revoked, Some(2), 10)),
            (serial(13), record(revoked, Some(2), 1000)),
        ];
        let plan = PartitionPlan { first: 1, count: 4 };
        let grouped = group_entries(
            records.iter().map(|(s, r)| (*s, r)),
            Some(plan),
            GroupOptions {
                drop_expired_before: Some(500),
            },
        );
        assert_eq!(
            grouped.partitions.keys().copied().collect::<Vec<_>>(),
            [1, 2, 3, 4, 99]
        );
        assert!(grouped.partitions[&1].is_empty());
        let p3 = &grouped.partitions[&3];
        assert_eq!(
            p3.iter().map(|e| e.serial).collect::<Vec<_>>(),
            [serial(0x80), serial(0x300)]
        );
        assert_eq!(p3[0].reason, Some(RevocationReason::CertificateHold));
        assert_eq!(p3[0].revocation_time, 200);
        assert_eq!(p3[1].reason, Some(RevocationReason::KeyCompromise));
        assert_eq!(p3[1].invalidity_date, Some(50));
        assert_eq!(
            grouped.partitions[&2]
                .iter()
                .map(|e| e.serial)
                .collect::<Vec<_>>(),
            [serial(13)]
        );
        assert_eq!(grouped.dropped_expired, 1);
        assert_eq!(
            grouped
                .unpartitioned
                .iter()
                .map(|e| e.serial)
                .collect::<Vec<_>>(),
            [serial(5), serial(9)]
        );
        assert_eq!(grouped.outside_plan, [99]);

        // No plan: partitioned records are still kept, and reported.
        let grouped = group_entries(
            records.iter().map(|(s, r)| (*s, r)),
            None,
            GroupOptions::default(),
        );
        assert_eq!(grouped.outside_plan, [2, 3, 99]);
        assert_eq!(grouped.dropped_expired, 0);
        assert!(
            PartitionPlan {
                first: u32::MAX,
                count: 2
            }
            .contains(u32::MAX)
        );
        assert!(!PartitionPlan { first: 1, count: 4 }.contains(5));
    }
}

//! The dataset semantics of `fs_offline::spec`, implemented directly in
//! plain Rust over rows (no SQL), to check the engine against.

use std::collections::BTreeMap;

use crate::support::Row;

/// The options of a base-group dataset the reference understands.
#[derive(Debug, Clone, Default)]
pub(crate) struct RefSpec {
    pub as_of: Option<i64>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub include_duplicated: bool,
    pub include_deleted: bool,
    pub n: Option<u32>,
}

/// (event time, api_invocation_time, write_time): newer is greater.
fn key(r: &Row) -> (i64, i64, i64) {
    (r.et, r.api, r.write_time)
}

/// Step 1.
fn candidates(rows: &[Row], spec: &RefSpec, base: bool) -> Vec<Row> {
    rows.iter()
        .filter(|r| spec.as_of.is_none_or(|t| r.write_time <= t))
        .filter(|r| !base || spec.from.is_none_or(|f| r.et >= f))
        .filter(|r| !base || spec.to.is_none_or(|t| r.et <= t))
        .cloned()
        .collect()
}

/// Step 2: per (id, event time), the row with the newest (api, write time);
/// on a full tie the delete marker.
fn dedupe(rows: Vec<Row>) -> Vec<Row> {
    let mut best: BTreeMap<(String, i64), Row> = BTreeMap::new();
    for r in rows {
        let k = (r.id.clone(), r.et);
        match best.get(&k) {
            Some(b) if (b.api, b.write_time, b.deleted) >= (r.api, r.write_time, r.deleted) => {}
            _ => {
                best.insert(k, r);
            }
        }
    }
    best.into_values().collect()
}

/// Step 3: a marker hides every row of its record not newer than it, and
/// itself.
fn hide_deleted(rows: Vec<Row>) -> Vec<Row> {
    let markers: Vec<Row> = rows.iter().filter(|r| r.deleted).cloned().collect();
    rows.into_iter()
        .filter(|r| !markers.iter().any(|m| m.id == r.id && key(r) <= key(m)))
        .collect()
}

fn newest_first(a: &Row, b: &Row) -> std::cmp::Ordering {
    (b.et, b.api, b.write_time, b.deleted).cmp(&(a.et, a.api, a.write_time, a.deleted))
}

/// Steps 1–3 of a group.
pub(crate) fn prepared(rows: &[Row], spec: &RefSpec, base: bool) -> Vec<Row> {
    let mut rows = candidates(rows, spec, base);
    if !spec.include_duplicated {
        rows = dedupe(rows);
    }
    if !spec.include_deleted {
        rows = hide_deleted(rows);
    }
    rows
}

/// Steps 1–4: the base group's rows.
pub(crate) fn base(rows: &[Row], spec: &RefSpec) -> Vec<Row> {
    let rows = prepared(rows, spec, true);
    let n = spec.n.or(if spec.include_duplicated {
        None
    } else {
        Some(1)
    });
    let Some(n) = n else { return rows };
    let mut by_id: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for r in rows {
        by_id.entry(r.id.clone()).or_default().push(r);
    }
    let mut out = Vec::new();
    for (_, mut v) in by_id {
        v.sort_by(newest_first);
        out.extend(v.into_iter().take(n as usize));
    }
    out
}

/// Step 5 for one entity row: the matching feature row (after steps 1–3),
/// or `None`.
pub(crate) fn point_in_time<'a>(
    prepared: &'a [Row],
    id: &str,
    t: i64,
    max_age_ms: Option<i64>,
) -> Option<&'a Row> {
    let best = prepared
        .iter()
        .filter(|r| r.id == id && r.et <= t && max_age_ms.is_none_or(|a| r.et >= t - a))
        .min_by(|a, b| newest_first(a, b))?;
    (!best.deleted).then_some(best)
}

//! `delete-record`: records deleted from a feature group (DeleteRecord),
//! on the embedded store or with `--aws`.
//!
//! DeleteRecord itself succeeds for an identifier that has no record, and a
//! SoftDelete older than the record leaves it online (SageMaker writes the
//! offline marker anyway): a typo would pass unnoticed. So every record is
//! read first (one batch get of the event times), and the command refuses,
//! deleting nothing, when one is not in the online store or is not older
//! than the delete. A group without an online store has nothing to check.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use featurestore::online::{DeleteOptions, OnlineStore, OnlineStoreExt};
use featurestore::schema::{EventTime, FeatureGroup, batch_to_records};
use futures::StreamExt;
use serde_json::json;

use crate::backend::{Backend, Open};
use crate::cli::{DeleteRecordArgs, Global};
use crate::output::{count, print_json};

/// Deletes in flight (each is one request with `--aws`).
const DELETES_IN_FLIGHT: usize = 16;

/// `delete-record`.
pub(crate) async fn command(global: &Global, args: &DeleteRecordArgs) -> Result<()> {
    let mut seen = HashSet::new();
    let ids: Vec<String> = args
        .ids
        .iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect();
    let backend = Backend::connect(global, Open::Existing).await?;
    let online = backend.online();
    let spec = online.feature_group(&args.group).await?;
    let at = delete_time(args.event_time.as_deref())?;
    if spec.online_enabled() {
        check_deletable(online.as_ref(), &spec, &ids, at).await?;
    }
    let (options, mode) = if args.hard {
        (DeleteOptions::hard(), "HardDelete")
    } else {
        (DeleteOptions::default(), "SoftDelete")
    };
    let event_time = at.format(spec.event_time().feature_type);
    delete_all(online.as_ref(), &args.group, &ids, &event_time, &options).await?;
    drop(online);
    backend.close()?;
    if global.json {
        print_json(&json!({
            "group": args.group,
            "deleted": ids,
            "mode": mode,
            "event_time": event_time,
        }))
    } else {
        println!(
            "deleted {} from feature group {:?} ({mode} as of {event_time}): {}",
            records(ids.len()),
            args.group,
            listed(&ids)
        );
        Ok(())
    }
}

/// `--event-time`: ISO-8601 UTC or seconds since the epoch; now without it.
fn delete_time(given: Option<&str>) -> Result<EventTime> {
    let Some(text) = given else {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("the system clock is before 1970")?;
        return Ok(EventTime::from_millis(i64::try_from(now.as_millis())?)?);
    };
    EventTime::parse_iso(text)
        .or_else(|_| EventTime::parse_fractional(text))
        .map_err(|_| {
            anyhow::anyhow!(
                "--event-time {text:?}: expected ISO-8601 UTC such as 2024-06-01T00:00:00Z, \
                 or seconds since the epoch"
            )
        })
}

/// Fails, naming the records, unless each of `ids` is in the online store
/// with an event time before `at`.
async fn check_deletable(
    online: &dyn OnlineStore,
    spec: &FeatureGroup,
    ids: &[String],
    at: EventTime,
) -> Result<()> {
    let group = &spec.feature_group_name;
    let event_time = [spec.event_time().name.clone()];
    let got = online.batch_get(group, ids, Some(&event_time)).await?;
    if let Some((id, reason)) = got.errors.first() {
        bail!("record {id:?} of feature group {group:?}: {reason}; nothing was deleted");
    }
    if !got.missing.is_empty() {
        bail!(
            "{} of {} not in the online store of feature group {group:?} \
             (never written, deleted already, or expired): {}; nothing was deleted",
            count(got.missing.len() as u64),
            records(ids.len()),
            listed(&got.missing)
        );
    }
    for (id, record) in got.record_ids.iter().zip(batch_to_records(&got.batch)?) {
        let t = record.event_time(spec)?;
        if t >= at {
            bail!(
                "record {id:?} of feature group {group:?} has event time {t}, not before the \
                 delete's {at}: the delete would leave it online; pass a later --event-time; \
                 nothing was deleted"
            );
        }
    }
    Ok(())
}

/// Deletes each of `ids`, [`DELETES_IN_FLIGHT`] at a time; every delete is
/// tried, and the error says how many went through.
async fn delete_all(
    online: &dyn OnlineStore,
    group: &str,
    ids: &[String],
    event_time: &str,
    options: &DeleteOptions,
) -> Result<()> {
    let results: Vec<(&String, featurestore::online::Result<()>)> =
        futures::stream::iter(ids.iter().map(|id| async move {
            (
                id,
                online.delete_record(group, id, event_time, options).await,
            )
        }))
        .buffered(DELETES_IN_FLIGHT)
        .collect()
        .await;
    let failed: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
    if let Some((id, Err(e))) = failed.first() {
        bail!(
            "deleted {} of {} from feature group {group:?}; record {id:?}: {e}{}",
            count((ids.len() - failed.len()) as u64),
            records(ids.len()),
            if failed.len() > 1 {
                format!(" ({} records failed)", count(failed.len() as u64))
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// `1 record`, `3 records`.
fn records(n: usize) -> String {
    if n == 1 {
        "1 record".to_owned()
    } else {
        format!("{} records", count(n as u64))
    }
}

/// The first ten identifiers, quoted.
fn listed(ids: &[String]) -> String {
    let shown: Vec<String> = ids.iter().take(10).map(|id| format!("{id:?}")).collect();
    let more = if ids.len() > 10 { ", ..." } else { "" };
    format!("{}{more}", shown.join(", "))
}

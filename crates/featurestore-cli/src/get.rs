//! `get`: records from the online store, as a table, JSON or CSV.

use std::collections::HashSet;
use std::time::Instant;

use anyhow::{Result, bail};
use featurestore::online::OnlineStoreExt;
use serde_json::json;

use crate::backend::{Backend, Open, read_text};
use crate::cli::{GetArgs, GetFormat, Global};
use crate::output::{
    batch_json, batch_table, count, duration, millis, print_batch_csv, print_json,
};

/// The identifiers to read: the arguments, then the file's lines, each once.
fn record_ids(args: &GetArgs) -> Result<Vec<String>> {
    let mut ids = args.ids.clone();
    if let Some(path) = &args.ids_file {
        let text = read_text(path)?;
        ids.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
        if ids.is_empty() {
            bail!("{}: no record identifiers in the file", path.display());
        }
    }
    if ids.is_empty() {
        bail!("no record identifiers: pass IDs or --ids-file FILE");
    }
    let mut seen = HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    Ok(ids)
}

/// `get`.
pub(crate) async fn command(global: &Global, args: &GetArgs) -> Result<()> {
    let ids = record_ids(args)?;
    let format = match args.format {
        Some(f) => f,
        None if global.json => GetFormat::Json,
        None => GetFormat::Table,
    };
    let backend = Backend::connect(global, Open::Existing).await?;
    let online = backend.online();
    let features = args.features.as_deref();
    let started = Instant::now();
    let (batch, missing) = if let [id] = ids.as_slice() {
        let spec = online.feature_group(&args.group).await?;
        match online.get(&args.group, id, features).await? {
            Some(b) => (b, Vec::new()),
            None => {
                let view = match features {
                    Some(f) => spec.project(f)?,
                    None => (*spec).clone(),
                };
                (
                    featurestore::schema::records_to_batch(&view, &[])?,
                    vec![id.clone()],
                )
            }
        }
    } else {
        let got = online.batch_get(&args.group, &ids, features).await?;
        if let Some((id, reason)) = got.errors.first() {
            bail!("record {id:?} of feature group {:?}: {reason}", args.group);
        }
        (got.batch, got.missing)
    };
    let elapsed = started.elapsed();
    backend.close()?;
    match format {
        GetFormat::Table => {
            if batch.num_rows() > 0 {
                println!("{}", batch_table(&batch)?);
            }
            println!(
                "{} of {} records in {}",
                count(batch.num_rows() as u64),
                count(ids.len() as u64),
                duration(elapsed)
            );
        }
        GetFormat::Json => print_json(&json!({
            "group": args.group,
            "records": batch_json(&batch),
            "missing": missing,
            "elapsed_ms": millis(elapsed),
        }))?,
        GetFormat::Csv => print_batch_csv(&batch)?,
    }
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(10).map(|m| format!("{m:?}")).collect();
        let more = if missing.len() > 10 { ", ..." } else { "" };
        bail!(
            "{} of {} records not found in feature group {:?}: {}{more}",
            count(missing.len() as u64),
            count(ids.len() as u64),
            args.group,
            shown.join(", ")
        );
    }
    Ok(())
}

//! `datasets`: the kept datasets (artifacts) that `dataset` reuses: list,
//! show, remove, and clean up to a size.

use anyhow::{Context, Result, bail};
use featurestore::offline::artifact::{ArtifactInfo, ArtifactOptions, ArtifactStore};
use serde_json::{Value, json};

use crate::backend::{Backend, Open};
use crate::cli::{DatasetsAction, DatasetsArgs, Global};
use crate::output::{bytes, count, key_values, print_json, table};

/// `datasets ...`.
pub(crate) async fn command(global: &Global, args: &DatasetsArgs) -> Result<()> {
    let backend = Backend::connect(global, Open::Existing).await?;
    let Some(store) = backend.store().dataset_artifacts().cloned() else {
        bail!("this store keeps no datasets");
    };
    backend.close()?;
    match &args.action {
        DatasetsAction::List => list(global, &store),
        DatasetsAction::Show { id } => show(global, &store, id),
        DatasetsAction::Rm { ids } => remove(global, &store, ids),
        DatasetsAction::Gc { max_bytes } => gc(global, &store, *max_bytes),
    }
}

/// The base of a kept dataset: its group, or `entities`.
fn base(info: &ArtifactInfo) -> String {
    let base = &info.spec["base"];
    match base["group"]["name"].as_str() {
        Some(name) => name.to_owned(),
        None => "entities".to_owned(),
    }
}

/// Milliseconds since the epoch as ISO-8601 UTC.
fn when(ms: u64) -> String {
    featurestore::schema::EventTime::from_millis(i64::try_from(ms).unwrap_or(i64::MAX))
        .map(|t| t.to_iso())
        .unwrap_or_else(|_| ms.to_string())
}

fn summary_json(info: &ArtifactInfo) -> Value {
    json!({
        "dataset_id": info.id,
        "base": base(info),
        "rows": info.rows,
        "bytes": info.bytes,
        "inputs": info.inputs.len(),
        "created": when(info.created_at_ms),
        "last_used": when(info.last_used_ms),
    })
}

fn list(global: &Global, store: &ArtifactStore) -> Result<()> {
    let infos = store.list()?;
    if global.json {
        let items: Vec<Value> = infos.iter().map(summary_json).collect();
        return print_json(&json!({ "dir": store.dir(), "datasets": items }));
    }
    if infos.is_empty() {
        println!("no kept datasets in {}", store.dir().display());
        return Ok(());
    }
    let mut t = table(["dataset id", "base", "rows", "size", "last used", "created"]);
    for info in &infos {
        t.add_row(vec![
            info.id.clone(),
            base(info),
            count(info.rows),
            bytes(info.bytes),
            when(info.last_used_ms),
            when(info.created_at_ms),
        ]);
    }
    println!("{t}");
    let total: u64 = infos.iter().map(|i| i.bytes).sum();
    println!(
        "{} kept datasets ({}) in {}",
        count(infos.len() as u64),
        bytes(total),
        store.dir().display()
    );
    Ok(())
}

fn show(global: &Global, store: &ArtifactStore, id: &str) -> Result<()> {
    let id = store.resolve(id)?;
    let info = store
        .info(&id)?
        .with_context(|| format!("dataset {id} was removed meanwhile"))?;
    let path = store.dir().join(&id).join("data.arrow");
    if global.json {
        let mut v = summary_json(&info);
        if let Value::Object(map) = &mut v {
            map.insert("path".into(), json!(path));
            map.insert("columns".into(), json!(info.columns));
            map.insert("build_seconds".into(), json!(info.build_seconds));
            map.insert("spec".into(), info.spec.clone());
            map.insert("input_files".into(), serde_json::to_value(&info.inputs)?);
        }
        return print_json(&v);
    }
    println!(
        "{}",
        key_values(&[
            ("dataset id", info.id.clone()),
            ("base", base(&info)),
            ("rows", count(info.rows)),
            ("size", bytes(info.bytes)),
            ("columns", info.columns.join(", ")),
            ("created", when(info.created_at_ms)),
            ("last used", when(info.last_used_ms)),
            ("built in", format!("{:.2} s", info.build_seconds)),
            ("file", path.display().to_string()),
        ])
    );
    println!("spec        {}", info.spec);
    println!("inputs      {}", count(info.inputs.len() as u64));
    for input in &info.inputs {
        println!(
            "  {}  {}  {}  {}",
            input.role,
            bytes(input.size),
            input.version,
            input.location
        );
    }
    Ok(())
}

fn remove(global: &Global, store: &ArtifactStore, ids: &[String]) -> Result<()> {
    let mut removed = Vec::new();
    for id in ids {
        let id = store.resolve(id)?;
        if store.remove(&id)? {
            removed.push(id);
        }
    }
    if global.json {
        return print_json(&json!({ "removed": removed }));
    }
    for id in &removed {
        println!("removed dataset {id}");
    }
    Ok(())
}

fn gc(global: &Global, store: &ArtifactStore, max_bytes: Option<u64>) -> Result<()> {
    let store = match max_bytes {
        Some(n) => ArtifactStore::new(store.dir(), ArtifactOptions::default().size_budget(n)),
        None => store.clone(),
    };
    let report = store.gc()?;
    if global.json {
        return print_json(&json!({
            "evicted": report.evicted,
            "evicted_bytes": report.evicted_bytes,
            "stale_removed": report.stale_removed,
            "bytes_left": report.bytes_left,
        }));
    }
    println!(
        "removed {} datasets ({}) and {} leftovers of interrupted builds; {} kept",
        count(report.evicted.len() as u64),
        bytes(report.evicted_bytes),
        count(report.stale_removed),
        bytes(report.bytes_left)
    );
    Ok(())
}

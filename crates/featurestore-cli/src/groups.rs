//! Feature group commands: create, describe, list, add features, delete.

use std::path::Path;

use anyhow::{Context, Result, bail};
use featurestore::ingest::{InferOptions, infer_schema};
use featurestore::schema::{FeatureGroup, OfflineStoreConfig, OnlineStoreConfig, infer_group};
use serde_json::json;

use crate::backend::{Backend, FeatureGroupDescription, Open, group_json, read_text};
use crate::cli::{AddFeaturesArgs, CreateGroupArgs, Global, GroupNameArgs};
use crate::output::{key_values, print_json, table};
use featurestore::schema::registry::{TimeFormat, iso_millis};

/// The offline S3 URI recorded for groups of the embedded store when none
/// is given (the embedded store writes under its own directory).
pub(crate) const LOCAL_OFFLINE_URI: &str = "s3://featurestore-local/offline";

/// `create-feature-group`.
pub(crate) async fn create(global: &Global, args: &CreateGroupArgs) -> Result<()> {
    let spec = build_spec(args, global.aws)?;
    if args.dry_run {
        println!("{}", spec.to_json()?);
        return Ok(());
    }
    let backend = Backend::connect(global, Open::OrCreate).await?;
    let info = backend
        .create(spec)
        .await
        .map_err(|e| with_role_hint(e, global.aws))?;
    if global.json {
        print_json(&group_json(&info)?)?;
    } else {
        println!("created feature group {:?}", info.spec.feature_group_name);
        print_description(&info);
    }
    backend.close()
}

/// The trust policy that lets SageMaker assume a feature group's role.
const SAGEMAKER_TRUST_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// `e`, with a hint when it is SageMaker saying it cannot assume the
/// group's role (`--role-arn`), the most common first stumble: the trust
/// policy the role needs.
fn with_role_hint(e: anyhow::Error, aws: bool) -> anyhow::Error {
    let text = format!("{e:#}");
    if aws && text.contains("sts:AssumeRole") && text.contains("sagemaker.amazonaws.com") {
        anyhow::anyhow!(
            "{text} (hint: SageMaker assumes the --role-arn role only if the role's trust policy allows it: {SAGEMAKER_TRUST_POLICY})"
        )
    } else {
        e
    }
}

/// The group `args` describe, validated.
pub(crate) fn build_spec(args: &CreateGroupArgs, aws: bool) -> Result<FeatureGroup> {
    let (mut spec, source) = if let Some(path) = &args.definition {
        let text = read_text(path)?;
        if text.trim().is_empty() {
            bail!(
                "{}: the file is empty (expected CreateFeatureGroup JSON)",
                path.display()
            );
        }
        let mut spec =
            FeatureGroup::from_json(&text).with_context(|| path.display().to_string())?;
        spec.feature_group_name = args.name.clone();
        if let Some(uri) = &args.offline_s3_uri {
            match &mut spec.offline_store_config {
                Some(off) => off.s3_storage_config.s3_uri = uri.clone(),
                None => spec.offline_store_config = Some(OfflineStoreConfig::new(uri.clone())),
            }
        }
        (spec, path)
    } else if let (Some(path), Some(record_id), Some(event_time)) =
        (&args.from_data, &args.record_id, &args.event_time)
    {
        let spec = infer_from_data(path, &args.name, record_id, event_time, args, aws)?;
        (spec, path)
    } else {
        bail!("pass --definition FILE.json, or --from-data FILE with --record-id and --event-time");
    };
    if args.no_online {
        spec.online_store_config = None;
    }
    if let Some(arn) = &args.role_arn {
        spec.role_arn = Some(arn.clone());
    }
    spec.validate()
        .with_context(|| source.display().to_string())?;
    Ok(spec)
}

fn infer_from_data(
    path: &Path,
    name: &str,
    record_id: &str,
    event_time: &str,
    args: &CreateGroupArgs,
    aws: bool,
) -> Result<FeatureGroup> {
    let (file, schema) = infer_schema(path, &InferOptions::default())?;
    let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    if columns.is_empty() {
        bail!(
            "{}: no columns to infer features from (is the file empty?)",
            file.display()
        );
    }
    for (flag, column) in [("--record-id", record_id), ("--event-time", event_time)] {
        if !columns.contains(&column) {
            bail!(
                "{}: no column {column:?} ({flag}); the columns are {}",
                file.display(),
                columns.join(", ")
            );
        }
    }
    let mut builder = infer_group(name, record_id, event_time, &schema)
        .with_context(|| file.display().to_string())?;
    if !args.no_online {
        builder = builder.online_store(OnlineStoreConfig::enabled());
    }
    match (&args.offline_s3_uri, aws) {
        (Some(uri), _) => builder = builder.offline_store_s3_uri(uri.clone()),
        (None, false) => builder = builder.offline_store_s3_uri(LOCAL_OFFLINE_URI),
        (None, true) => {}
    }
    builder.build().with_context(|| file.display().to_string())
}

/// Prints a group for people.
pub(crate) fn print_description(info: &FeatureGroupDescription) {
    let spec = &info.spec;
    let online = match &spec.online_store_config {
        Some(c) if spec.online_enabled() => match c.ttl_duration {
            Some(ttl) => format!("enabled (TTL {} {:?})", ttl.value, ttl.unit),
            None => "enabled".to_owned(),
        },
        _ => "none".to_owned(),
    };
    let offline = match &spec.offline_store_config {
        Some(c) => {
            let mut s = c.s3_storage_config.s3_uri.clone();
            if let Some(loc) = &info.offline_location() {
                s = format!("{s} (data in {loc})");
            }
            s
        }
        None => "none".to_owned(),
    };
    let mut lines = vec![
        ("feature group", spec.feature_group_name.clone()),
        ("arn", info.arn.clone()),
        ("status", info.status.to_string()),
        ("created", iso_millis(&info.creation_time)),
    ];
    if let Some(t) = &info.last_modified_time {
        lines.push(("last modified", iso_millis(t)));
    }
    lines.extend([
        (
            "record identifier",
            spec.record_identifier_feature_name.clone(),
        ),
        ("event time", spec.event_time_feature_name.clone()),
        ("online store", online),
        ("offline store", offline),
    ]);
    if let Some(d) = &spec.description {
        lines.push(("description", d.clone()));
    }
    println!("{}", key_values(&lines));
    let mut t = table(["feature", "type", "role"]);
    for def in &spec.feature_definitions {
        let ty = match def.collection {
            Some(c) => format!("{}<{}>", c.type_name(), def.feature_type),
            None => def.feature_type.to_string(),
        };
        let role = if def.name == spec.record_identifier_feature_name {
            "record identifier"
        } else if def.name == spec.event_time_feature_name {
            "event time"
        } else {
            ""
        };
        t.add_row([def.name.as_str(), ty.as_str(), role]);
    }
    println!("{t}");
}

/// `describe-feature-group`.
pub(crate) async fn describe(global: &Global, args: &GroupNameArgs) -> Result<()> {
    let backend = Backend::connect(global, Open::Existing).await?;
    let info = backend.describe(&args.name).await?;
    if global.json {
        print_json(&group_json(&info)?)?;
    } else {
        print_description(&info);
    }
    backend.close()
}

/// `list-feature-groups`.
pub(crate) async fn list(global: &Global) -> Result<()> {
    let backend = Backend::connect(global, Open::Existing).await?;
    let groups = backend.list().await?;
    if global.json {
        let summaries: Vec<_> = groups
            .iter()
            .map(|g| {
                let mut v = g.summary().to_json(TimeFormat::IsoMillis);
                v["FeatureCount"] = json!(g.spec.feature_definitions.len());
                v["OnlineStore"] = json!(g.spec.online_enabled());
                v["OfflineStore"] = json!(g.spec.offline_enabled());
                v
            })
            .collect();
        print_json(&json!({ "FeatureGroupSummaries": summaries }))?;
    } else if groups.is_empty() {
        println!("no feature groups");
    } else {
        let mut t = table(["name", "status", "features", "online", "offline", "created"]);
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        for g in &groups {
            t.add_row([
                g.name(),
                g.status.as_str(),
                g.spec.feature_definitions.len().to_string().as_str(),
                yes_no(g.spec.online_enabled()),
                yes_no(g.spec.offline_enabled()),
                iso_millis(&g.creation_time).as_str(),
            ]);
        }
        println!("{t}");
    }
    backend.close()
}

/// `add-features`.
pub(crate) async fn add_features(global: &Global, args: &AddFeaturesArgs) -> Result<()> {
    let backend = Backend::connect(global, Open::Existing).await?;
    let info = backend.add_features(&args.name, &args.features).await?;
    if global.json {
        print_json(&group_json(&info)?)?;
    } else {
        let added: Vec<String> = args
            .features
            .iter()
            .map(|d| format!("{} {}", d.name, d.feature_type))
            .collect();
        println!(
            "added {} to {:?}: {} ({} features now)",
            if added.len() == 1 {
                "1 feature".to_owned()
            } else {
                format!("{} features", added.len())
            },
            args.name,
            added.join(", "),
            info.spec.feature_definitions.len()
        );
    }
    backend.close()
}

/// `delete-feature-group`.
pub(crate) async fn delete(global: &Global, args: &GroupNameArgs) -> Result<()> {
    let backend = Backend::connect(global, Open::Existing).await?;
    let info = backend.describe(&args.name).await?;
    backend.delete(&args.name).await?;
    if global.json {
        print_json(&json!({ "deleted": args.name, "offline_location": info.offline_location() }))?;
    } else {
        match &info.offline_location() {
            Some(loc) => println!(
                "deleted feature group {:?}; its offline files stay in {loc}",
                args.name
            ),
            None => println!("deleted feature group {:?}", args.name),
        }
    }
    backend.close()
}

//! What a dataset is made of, exactly: its normalised spec and the
//! identity of every input it reads, and the dataset id hashed from both.
//!
//! An engine that can name its inputs ([`DatasetEngine::pin`](crate::DatasetEngine::pin))
//! lists them as [`Input`]s:
//!
//! | input | location | version |
//! |---|---|---|
//! | an offline file read from local disk | its canonical path | `mtime_ns:<n>` (with its size) |
//! | an offline object read through the S3 cache | `s3://bucket/key` | `etag:<etag>` (with its size) |
//! | a group's definition as the engine reads it | the group's name | `sha256:<hash of its features and types>` |
//! | an entity table file | its canonical path | `mtime_ns:<n>` (with its size) |
//! | entity rows given as Arrow batches | `(batches)` | `sha256:<hash of their Arrow IPC encoding>` |
//!
//! The [dataset id](dataset_id) is the SHA-256 of a format tag, the
//! [normalised spec](normalized_spec) and the sorted inputs: the same spec
//! over unchanged inputs gives the same id, and a changed, added or removed
//! file (or a changed definition) gives another. Cost: one `stat` per file
//! and one hash over the spec and the list (entity batches: one pass over
//! their bytes).

use std::io::Write;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use fs_schema::FeatureGroup;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::spec::{Base, DatasetSpec, EntitySource, JoinType};

/// Bumped when the artifact format or the meaning of an id changes, so
/// that artifacts of an older version are never taken for current ones.
const FORMAT: &str = "featurestore-dataset-v1";

/// Hex digits of a dataset id (128 bits of the SHA-256).
pub const ID_LEN: usize = 32;

/// One input of a dataset and what identifies its version (see the
/// [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Input {
    /// What it is to the dataset: `group:<name>` (an offline file of the
    /// group), `definition:<name>` or `entities`.
    pub role: String,
    /// Where it is: a local path, `s3://bucket/key`, or a group's name.
    pub location: String,
    /// Its size in bytes (0 for a definition).
    pub size: u64,
    /// What identifies this version of it: `mtime_ns:<n>`, `etag:<etag>` or
    /// `sha256:<hex>`.
    pub version: String,
}

impl Input {
    /// An input with these fields.
    pub fn new(
        role: impl Into<String>,
        location: impl Into<String>,
        size: u64,
        version: impl Into<String>,
    ) -> Self {
        Input {
            role: role.into(),
            location: location.into(),
            size,
            version: version.into(),
        }
    }

    /// A local file as it is now: its canonical path (so that `./a` and
    /// `a` are the same input), size and modification time.
    pub fn local_file(role: impl Into<String>, path: &Path) -> Result<Self> {
        let path = &std::fs::canonicalize(path).map_err(|source| Error::LocalIo {
            what: "resolving",
            path: path.to_path_buf(),
            source,
        })?;
        let meta = std::fs::metadata(path).map_err(|source| Error::LocalIo {
            what: "reading metadata of",
            path: path.to_path_buf(),
            source,
        })?;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Ok(Input::new(
            role,
            path.display().to_string(),
            meta.len(),
            format!("mtime_ns:{mtime_ns}"),
        ))
    }

    /// The definition of `group` the engine reads its files as.
    pub fn definition(group: &FeatureGroup) -> Self {
        let text = group_json(group).to_string();
        Input::new(
            format!("definition:{}", group.feature_group_name),
            group.feature_group_name.clone(),
            0,
            format!("sha256:{}", hex(&Sha256::digest(text.as_bytes()))),
        )
    }

    /// Entity rows given in memory, identified by the hash of their Arrow
    /// IPC encoding (schema and values).
    pub fn batches(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Self> {
        let mut hasher = HashingWriter(Sha256::new(), 0);
        let encode =
            |hasher: &mut HashingWriter| -> std::result::Result<(), arrow_schema::ArrowError> {
                let mut writer = arrow_ipc::writer::StreamWriter::try_new(hasher, schema)?;
                for batch in batches {
                    writer.write(batch)?;
                }
                writer.finish()
            };
        encode(&mut hasher).map_err(|e| {
            Error::InvalidDataset(format!("the entity batches cannot be encoded: {e}"))
        })?;
        // The size of the encoding, not of the arrays in memory (which
        // counts spare capacity): the same rows give the same input.
        let size = hasher.1;
        Ok(Input::new(
            "entities",
            "(batches)",
            size,
            format!("sha256:{}", hex(&hasher.0.finalize())),
        ))
    }
}

/// Feeds what is written into a SHA-256, counting the bytes.
struct HashingWriter(Sha256, u64);

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        self.1 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `spec` as JSON with every field that changes its rows, in a fixed
/// shape: what the dataset id hashes (with the inputs), and what
/// `datasets show` prints. Entity rows are named by their columns only;
/// their content is an [`Input`].
pub fn normalized_spec(spec: &DatasetSpec) -> Value {
    let base = match &spec.base {
        Base::Group(group) => json!({ "group": group_json(group) }),
        Base::Entities(e) => json!({
            "entities": {
                "source": match &e.source {
                    EntitySource::Batches { .. } => "batches".to_owned(),
                    EntitySource::File(path) => path.display().to_string(),
                },
                "id_column": e.id_column,
                "time_column": e.time_column,
            }
        }),
    };
    let millis = |t: Option<fs_schema::EventTime>| t.map(|t| t.as_millis());
    let joins: Vec<Value> = spec
        .joins
        .iter()
        .map(|j| {
            json!({
                "group": group_json(&j.group),
                "on": j.entity_column,
                "features": j.features,
                "max_age_ms": j.max_age_ms(),
                "join": match j.join_type { JoinType::Inner => "inner", JoinType::Left => "left" },
                "prefix": j.prefix,
            })
        })
        .collect();
    json!({
        "base": base,
        "features": spec.features,
        "as_of_ms": millis(spec.as_of),
        "event_time_from_ms": millis(spec.event_time_from),
        "event_time_to_ms": millis(spec.event_time_to),
        "include_duplicated_records": spec.include_duplicated_records,
        "include_deleted_records": spec.include_deleted_records,
        "recent_records_per_id": spec.recent_records_per_id,
        "include_metadata": spec.include_metadata,
        "limit": spec.limit,
        "joins": joins,
    })
}

/// What of a group changes the rows read from it: its name, key columns
/// and feature definitions (not its description, tags or store settings).
fn group_json(group: &FeatureGroup) -> Value {
    json!({
        "name": group.feature_group_name,
        "record_identifier": group.record_identifier_feature_name,
        "event_time": group.event_time_feature_name,
        "features": group.feature_definitions,
    })
}

/// The dataset id of `spec` over `inputs` (in any order): [`ID_LEN`] hex
/// digits of the SHA-256 of the format tag, the [`normalized_spec`] and the
/// sorted inputs.
pub fn dataset_id(spec: &DatasetSpec, inputs: &[Input]) -> String {
    let mut sorted: Vec<&Input> = inputs.iter().collect();
    sorted.sort();
    let mut hash = Sha256::new();
    hash.update(FORMAT.as_bytes());
    hash.update(b"\n");
    hash.update(normalized_spec(spec).to_string().as_bytes());
    for input in sorted {
        hash.update(b"\n");
        // Serializing a struct of strings and numbers cannot fail.
        hash.update(serde_json::to_string(input).unwrap_or_default().as_bytes());
    }
    let mut id = hex(&hash.finalize());
    id.truncate(ID_LEN);
    id
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DatasetBuilder;
    use fs_schema::FeatureDefinition;

    fn group(extra: bool) -> FeatureGroup {
        let mut b = FeatureGroup::builder("orders", "id", "ts")
            .feature(FeatureDefinition::string("id"))
            .feature(FeatureDefinition::string("ts"))
            .offline_store_s3_uri("s3://bucket/prefix");
        if extra {
            b = b.feature(FeatureDefinition::fractional("amount"));
        }
        b.build().unwrap()
    }

    fn file(size: u64, mtime: u64) -> Input {
        Input::new(
            "group:orders",
            "/d/a.parquet",
            size,
            format!("mtime_ns:{mtime}"),
        )
    }

    #[test]
    fn the_id_depends_on_the_spec_and_every_input_but_not_their_order() {
        let spec = DatasetBuilder::from_group(group(false)).build().unwrap();
        let inputs = vec![file(10, 1), Input::definition(&group(false))];
        let id = dataset_id(&spec, &inputs);
        assert_eq!(id.len(), ID_LEN);
        let reversed: Vec<Input> = inputs.iter().rev().cloned().collect();
        assert_eq!(dataset_id(&spec, &reversed), id);
        assert_ne!(dataset_id(&spec, &[file(11, 1), inputs[1].clone()]), id);
        assert_ne!(dataset_id(&spec, &[file(10, 2), inputs[1].clone()]), id);
        assert_ne!(dataset_id(&spec, &inputs[..1]), id);
        let other = DatasetBuilder::from_group(group(false))
            .include_metadata()
            .build()
            .unwrap();
        assert_ne!(dataset_id(&other, &inputs), id);
    }

    #[test]
    fn entity_batches_are_named_by_their_content_not_their_capacity() {
        use std::sync::Arc;
        let batch = |values: Vec<i64>| {
            let array = arrow_array::Int64Array::from(values);
            RecordBatch::try_from_iter([("x", Arc::new(array) as arrow_array::ArrayRef)]).unwrap()
        };
        let tight = batch(vec![1, 2, 3]);
        let mut roomy = Vec::with_capacity(4096);
        roomy.extend([1, 2, 3]);
        let roomy = batch(roomy);
        assert_ne!(tight.get_array_memory_size(), roomy.get_array_memory_size());
        let of = |b: &RecordBatch| Input::batches(&b.schema(), std::slice::from_ref(b)).unwrap();
        assert_eq!(of(&tight), of(&roomy));
        assert_ne!(of(&tight), of(&batch(vec![1, 2, 4])));
    }

    #[test]
    fn a_definition_input_changes_with_the_features_only() {
        assert_ne!(
            Input::definition(&group(false)),
            Input::definition(&group(true))
        );
        let mut described = group(false);
        described.description = Some("not part of the rows".into());
        assert_eq!(
            Input::definition(&described),
            Input::definition(&group(false))
        );
    }
}

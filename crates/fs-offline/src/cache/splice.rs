//! Projected copies of Parquet objects, spliced from their column chunks.
//!
//! A projected copy is an ordinary Parquet file holding some of an
//! object's columns: every row group, and for each kept column the chunk's
//! bytes exactly as the object has them (pages, encodings, compression and
//! statistics untouched), under a footer rewritten for the kept columns.
//! Any Parquet reader reads it; the embedded engine reads it as the object
//! with the other columns missing.
//!
//! A copy is extended by splicing again: the chunks it holds are copied
//! from it, the ones it lacks from ranged reads of the object, which land
//! in a sparse temporary file at their offsets ([`Fetched`]). The footer records the object's ETag and size
//! ([`ETAG_KEY`], [`SIZE_KEY`]), so a copy of a replaced object is never
//! taken for the new one.
//!
//! Cost: one pass over the kept chunks' bytes (a copy, no decoding), plus
//! the footer: O(row groups × kept columns) metadata.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, parquet_to_arrow_schema};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::{
    FooterTail, KeyValue, ParquetMetaData, ParquetMetaDataReader, RowGroupMetaData,
};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

/// The footer key holding the object's ETag (without quotes).
pub(crate) const ETAG_KEY: &str = "featurestore.projected.etag";
/// The footer key holding the object's size in bytes.
pub(crate) const SIZE_KEY: &str = "featurestore.projected.size";
/// The footer key Arrow writers keep their schema under.
const ARROW_SCHEMA_KEY: &str = "ARROW:schema";

/// The bytes of a Parquet footer: the metadata length and magic in the
/// last 8 bytes of a file, the metadata before them.
const TAIL: usize = 8;

/// How many bytes of an object's end to fetch first: most footers fit, so
/// one GET reads them.
pub(crate) const FOOTER_GUESS: u64 = 64 << 10;

/// A byte range of an object, `[start, start + len)`.
pub(crate) type Range = (u64, u64);

/// An object's footer, from the bytes at its end.
#[derive(Debug, Clone)]
pub(crate) struct Footer {
    /// The metadata and the 8-byte tail, as the object has them.
    pub(crate) bytes: Bytes,
    pub(crate) meta: Arc<ParquetMetaData>,
}

/// What reading the end of an object told.
pub(crate) enum FooterRead {
    /// The whole footer.
    Whole(Footer),
    /// The footer starts further back: this many bytes at the object's end.
    Needs(u64),
}

/// Parses the footer from `tail`, the last bytes of an object of `size`
/// bytes.
pub(crate) fn footer(tail: Bytes, size: u64) -> Result<FooterRead, String> {
    if tail.len() < TAIL || size < (TAIL as u64 + 4) {
        return Err(format!(
            "{size} bytes are too few for a Parquet file (a footer alone takes 12)"
        ));
    }
    let last: [u8; TAIL] = tail[tail.len() - TAIL..]
        .try_into()
        .map_err(|_| "the footer's tail is short".to_owned())?;
    let decoded = FooterTail::try_new(&last).map_err(|e| e.to_string())?;
    if decoded.is_encrypted_footer() {
        return Err("its footer is encrypted; projected reads need a plain footer".into());
    }
    let need = decoded.metadata_length() as u64 + TAIL as u64;
    if need + 4 > size {
        return Err(format!(
            "its footer claims {need} bytes of a {size}-byte file: not a Parquet file"
        ));
    }
    if (tail.len() as u64) < need {
        return Ok(FooterRead::Needs(need));
    }
    let bytes = tail.slice(tail.len() - need as usize..);
    let meta = ParquetMetaDataReader::decode_metadata(&bytes[..bytes.len() - TAIL])
        .map_err(|e| e.to_string())?;
    Ok(FooterRead::Whole(Footer {
        bytes,
        meta: Arc::new(meta),
    }))
}

/// The top-level columns of `meta`'s schema named in `columns` (exact
/// names, as the embedded engine matches them), as the indexes of their
/// leaf columns, in file order. Columns the file lacks are left out: they
/// read as nulls.
pub(crate) fn leaves_of(meta: &ParquetMetaData, columns: &[String]) -> Vec<usize> {
    let schema = meta.file_metadata().schema_descr();
    (0..schema.num_columns())
        .filter(|&i| {
            let root = schema.get_column_root(i).name();
            columns.iter().any(|c| c == root)
        })
        .collect()
}

/// The byte ranges of the chunks of `leaves` in every row group, adjacent
/// chunks merged into one range, in file order.
pub(crate) fn chunk_ranges(meta: &ParquetMetaData, leaves: &[usize]) -> Vec<Range> {
    let mut ranges: Vec<Range> = meta
        .row_groups()
        .iter()
        .flat_map(|rg| leaves.iter().map(move |&i| rg.column(i).byte_range()))
        .collect();
    ranges.sort_unstable();
    let mut merged: Vec<Range> = Vec::with_capacity(ranges.len());
    for (start, len) in ranges {
        match merged.last_mut() {
            Some((s, l)) if *s + *l == start => *l += len,
            _ => merged.push((start, len)),
        }
    }
    merged
}

/// Ranges of an object fetched into a (sparse) temporary file, each at
/// its offset in the object, read back as the object would be there. Only
/// recorded ranges are read: a read of anything else fails instead of
/// returning the file's zeros.
#[derive(Debug)]
pub(crate) struct Fetched {
    file: Arc<File>,
    ranges: BTreeMap<u64, u64>,
    size: u64,
}

impl Fetched {
    /// No ranges yet, of an object of `size` bytes, in `file`.
    pub(crate) fn new(file: Arc<File>, size: u64) -> Self {
        Self {
            file,
            ranges: BTreeMap::new(),
            size,
        }
    }

    /// Records that `file` holds the object's `len` bytes at `start`.
    pub(crate) fn record(&mut self, start: u64, len: u64) {
        self.ranges.insert(start, len);
    }

    /// The end of the recorded range holding `start`.
    fn end_of_range_at(&self, start: u64) -> parquet::errors::Result<u64> {
        match self.ranges.range(..=start).next_back() {
            Some((&at, &len)) if start < at + len => Ok(at + len),
            _ => Err(ParquetError::General(format!(
                "no fetched range holds offset {start}"
            ))),
        }
    }
}

impl Length for Fetched {
    fn len(&self) -> u64 {
        self.size
    }
}

impl ChunkReader for Fetched {
    type T = std::io::Take<<File as ChunkReader>::T>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let end = self.end_of_range_at(start)?;
        Ok(self.file.as_ref().get_read(start)?.take(end - start))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let end = self.end_of_range_at(start)?;
        if start + length as u64 > end {
            return Err(ParquetError::General(format!(
                "the fetched range at {start} holds {} of the {length} bytes asked",
                end - start
            )));
        }
        self.file.as_ref().get_bytes(start, length)
    }
}

/// A projected copy already on disk: its file and footer.
pub(crate) struct Held {
    pub(crate) file: File,
    pub(crate) meta: Arc<ParquetMetaData>,
}

impl Held {
    /// Reads the footer of the copy `file`; `None` when it is not a
    /// projected copy of the object with `etag` (another version, or not
    /// a readable Parquet file).
    pub(crate) fn open(file: File, etag: &str) -> Option<Self> {
        let meta = ParquetMetaDataReader::new().parse_and_finish(&file).ok()?;
        (footer_value(&meta, ETAG_KEY).as_deref() == Some(etag)).then(|| Held {
            file,
            meta: Arc::new(meta),
        })
    }

    /// The names of its top-level columns.
    pub(crate) fn columns(&self) -> Vec<String> {
        self.meta
            .file_metadata()
            .schema_descr()
            .root_schema()
            .get_fields()
            .iter()
            .map(|f| f.name().to_owned())
            .collect()
    }
}

/// The value of footer key `key`.
pub(crate) fn footer_value(meta: &ParquetMetaData, key: &str) -> Option<String> {
    meta.file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .clone()
}

/// Writes to `out` the projected copy of the object (`etag`, `size`,
/// footer `object`) holding the top-level columns `keep` (names, in any
/// order; those the object lacks are skipped): each kept chunk is taken
/// from `held` when it holds the column, else from `fetched`. Returns the
/// bytes written.
pub(crate) fn splice(
    out: File,
    object: &ParquetMetaData,
    etag: &str,
    size: u64,
    keep: &[String],
    held: Option<&Held>,
    fetched: &Fetched,
) -> parquet::errors::Result<u64> {
    let file_meta = object.file_metadata();
    let schema = file_meta.schema_descr();
    let root = schema.root_schema();
    let fields: Vec<Arc<Type>> = root
        .get_fields()
        .iter()
        .filter(|f| keep.iter().any(|k| k == f.name()))
        .cloned()
        .collect();
    let projected = Arc::new(
        Type::group_type_builder(root.name())
            .with_fields(fields)
            .build()?,
    );
    let leaves: Vec<usize> = leaves_of(object, keep);

    let mut kv = vec![
        KeyValue::new(ETAG_KEY.to_owned(), etag.to_owned()),
        KeyValue::new(SIZE_KEY.to_owned(), size.to_string()),
    ];
    // Other writers' footer keys are kept, except the Arrow schema, which
    // is written again for the kept columns.
    let had_arrow_schema = file_meta
        .key_value_metadata()
        .is_some_and(|m| m.iter().any(|k| k.key == ARROW_SCHEMA_KEY));
    kv.extend(
        file_meta
            .key_value_metadata()
            .into_iter()
            .flatten()
            .filter(|k| k.key != ARROW_SCHEMA_KEY && k.key != ETAG_KEY && k.key != SIZE_KEY)
            .cloned(),
    );
    let mut props = WriterProperties::builder()
        .set_key_value_metadata(Some(kv))
        .set_created_by(
            file_meta
                .created_by()
                .unwrap_or("featurestore projected copy")
                .to_owned(),
        )
        .build();
    if had_arrow_schema {
        let arrow = parquet_to_arrow_schema(schema, file_meta.key_value_metadata())?;
        let kept: Vec<_> = arrow
            .fields()
            .iter()
            .filter(|f| keep.iter().any(|k| k == f.name()))
            .cloned()
            .collect();
        add_encoded_arrow_schema_to_metadata(
            &arrow_schema::Schema::new_with_metadata(kept, arrow.metadata().clone()),
            &mut props,
        );
    }

    // Where each kept leaf is in the held copy, by column path.
    let held_leaf = |leaf: usize| -> Option<usize> {
        let held = held?;
        let path = schema.column(leaf).path().clone();
        let hs = held.meta.file_metadata().schema_descr();
        (0..hs.num_columns()).find(|&j| *hs.column(j).path() == path)
    };
    let sources: Vec<Option<usize>> = leaves.iter().map(|&l| held_leaf(l)).collect();

    let mut writer = SerializedFileWriter::new(out, projected, Arc::new(props))?;
    for (g, rg) in object.row_groups().iter().enumerate() {
        let mut rg_writer = writer.next_row_group()?;
        for (&leaf, source) in leaves.iter().zip(&sources) {
            match (source, held) {
                (Some(j), Some(h)) => {
                    let chunk = h.meta.row_group(g).column(*j).clone();
                    rg_writer.append_column(&h.file, close_of(chunk, h.meta.row_group(g)))?;
                }
                _ => {
                    let chunk = rg.column(leaf).clone();
                    rg_writer.append_column(fetched, close_of(chunk, rg))?;
                }
            }
        }
        rg_writer.close()?;
    }
    let out = writer.into_inner()?;
    out.sync_all()?;
    Ok(out.metadata()?.len())
}

/// What a writer needs to splice `chunk` of row group `rg` in as it is.
fn close_of(
    chunk: parquet::file::metadata::ColumnChunkMetaData,
    rg: &RowGroupMetaData,
) -> ColumnCloseResult {
    ColumnCloseResult {
        bytes_written: u64::try_from(chunk.compressed_size()).unwrap_or(0),
        rows_written: u64::try_from(rg.num_rows()).unwrap_or(0),
        metadata: chunk,
        bloom_filter: None,
        column_index: None,
        offset_index: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    /// A Parquet file of 3 row groups and 4 columns, as bytes.
    fn object() -> (Bytes, RecordBatch) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("t", DataType::Int64, false),
            Field::new("a", DataType::Float64, true),
            Field::new("b", DataType::Utf8, true),
        ]));
        let n = 3000;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("id-{}", i % 97)),
                )),
                Arc::new(Int64Array::from_iter_values(0..n)),
                Arc::new(Float64Array::from_iter(
                    (0..n).map(|i| (i % 7 != 0).then_some(i as f64 / 3.0)),
                )),
                Arc::new(StringArray::from_iter(
                    (0..n).map(|i| (i % 5 != 0).then(|| format!("b{i}"))),
                )),
            ],
        )
        .unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(1000))
            .build();
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(&mut buf, schema, Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        (Bytes::from(buf), batch)
    }

    fn read(path: &std::path::Path) -> RecordBatch {
        let file = File::open(path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
        arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap()
    }

    /// `ranges` of `object` in a sparse temporary file, as a projected
    /// read fetches them.
    fn fetch(object: &Bytes, ranges: &[Range]) -> Fetched {
        use std::os::unix::fs::FileExt;
        let file = tempfile::tempfile().unwrap();
        let mut fetched = Fetched::new(Arc::new(file), object.len() as u64);
        for &(start, len) in ranges {
            fetched
                .file
                .write_all_at(&object[start as usize..(start + len) as usize], start)
                .unwrap();
            fetched.record(start, len);
        }
        fetched
    }

    fn whole_footer(object: &Bytes) -> Footer {
        let size = object.len() as u64;
        let tail = object.slice(object.len() - 64..);
        match footer(tail, size).unwrap() {
            FooterRead::Whole(f) => f,
            FooterRead::Needs(n) => {
                match footer(object.slice(object.len() - n as usize..), size).unwrap() {
                    FooterRead::Whole(f) => f,
                    FooterRead::Needs(_) => panic!("the footer was not read whole"),
                }
            }
        }
    }

    #[test]
    fn a_spliced_copy_holds_the_kept_columns_bit_for_bit_and_is_extended_from_itself() {
        let (object, batch) = object();
        let foot = whole_footer(&object);
        assert_eq!(foot.meta.num_row_groups(), 3);
        let dir = tempfile::tempdir().unwrap();

        // First copy: id and a, from ranged reads only.
        let keep = ["id".to_owned(), "a".to_owned()];
        let leaves = leaves_of(&foot.meta, &keep);
        assert_eq!(leaves, [0, 2]);
        let ranges = chunk_ranges(&foot.meta, &leaves);
        assert_eq!(
            ranges.len(),
            6,
            "two separate chunks in each of 3 row groups"
        );
        let fetched = fetch(&object, &ranges);
        let first = dir.path().join("first.parquet");
        splice(
            File::create(&first).unwrap(),
            &foot.meta,
            "e1",
            object.len() as u64,
            &keep,
            None,
            &fetched,
        )
        .unwrap();
        let got = read(&first);
        assert_eq!(got.num_columns(), 2);
        assert_eq!(got.column(0), batch.column(0));
        assert_eq!(got.column(1), batch.column(2));
        assert_eq!(got.schema().field(1), batch.schema().field(2));

        // Extended with b: only b's chunks are fetched, the others come from the copy.
        let held = Held::open(File::open(&first).unwrap(), "e1").expect("the copy of e1");
        assert_eq!(held.columns(), ["id", "a"]);
        assert!(
            Held::open(File::open(&first).unwrap(), "e2").is_none(),
            "another version is not held"
        );
        let missing = leaves_of(&foot.meta, &["b".to_owned()]);
        let only_b = fetch(&object, &chunk_ranges(&foot.meta, &missing));
        let keep = [
            "id".to_owned(),
            "a".to_owned(),
            "b".to_owned(),
            "not_in_file".to_owned(),
        ];
        let second = dir.path().join("second.parquet");
        splice(
            File::create(&second).unwrap(),
            &foot.meta,
            "e1",
            object.len() as u64,
            &keep,
            Some(&held),
            &only_b,
        )
        .unwrap();
        let got = read(&second);
        assert_eq!(got.num_columns(), 3);
        assert_eq!(got.column(0), batch.column(0));
        assert_eq!(got.column(1), batch.column(2));
        assert_eq!(got.column(2), batch.column(3));
        let meta = ParquetMetaDataReader::new()
            .parse_and_finish(&File::open(&second).unwrap())
            .unwrap();
        assert_eq!(footer_value(&meta, ETAG_KEY).as_deref(), Some("e1"));
        assert_eq!(
            footer_value(&meta, SIZE_KEY),
            Some(object.len().to_string())
        );
        // The chunks are the object's own bytes: same compressed sizes.
        for g in 0..3 {
            assert_eq!(
                meta.row_group(g).column(2).compressed_size(),
                foot.meta.row_group(g).column(3).compressed_size()
            );
        }
    }

    #[test]
    fn a_chunk_that_was_not_fetched_fails_the_splice_instead_of_reading_zeros() {
        let (object, _) = object();
        let foot = whole_footer(&object);
        let keep = ["id".to_owned(), "b".to_owned()];
        let only_id = fetch(&object, &chunk_ranges(&foot.meta, &[0]));
        let dir = tempfile::tempdir().unwrap();
        let err = splice(
            File::create(dir.path().join("x")).unwrap(),
            &foot.meta,
            "e",
            object.len() as u64,
            &keep,
            None,
            &only_id,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("no fetched range holds offset"),
            "{err}"
        );

        // A range recorded one byte short of its chunk: the splice stops at
        // the range's end and fails, rather than read the file's zeros.
        let chunks = chunk_ranges(&foot.meta, &[0, 3]);
        let short: Vec<Range> = chunks.iter().map(|&(s, l)| (s, l - 1)).collect();
        let err = splice(
            File::create(dir.path().join("y")).unwrap(),
            &foot.meta,
            "e",
            object.len() as u64,
            &keep,
            None,
            &fetch(&object, &short),
        )
        .unwrap_err();
        assert!(err.to_string().contains("splice"), "{err}");
    }

    #[test]
    fn footers_are_read_from_the_tail_or_ask_for_more() {
        let (object, _) = object();
        let size = object.len() as u64;
        match footer(object.slice(object.len() - 16..), size).unwrap() {
            FooterRead::Needs(n) => assert!(n > 16 && n < size),
            FooterRead::Whole(_) => panic!("16 bytes hold no whole footer"),
        }
        let err = footer(Bytes::from_static(b"0123456789abcdef"), 16)
            .err()
            .unwrap();
        assert!(
            err.contains("Corrupt footer") || err.contains("not a Parquet"),
            "{err}"
        );
        assert!(footer(Bytes::from_static(b"PAR1"), 4).is_err());
    }

    #[test]
    fn adjacent_chunks_are_fetched_as_one_range() {
        let (object, _) = object();
        let foot = whole_footer(&object);
        let all = chunk_ranges(&foot.meta, &[0, 1, 2, 3]);
        assert_eq!(all.len(), 1, "row groups follow each other too: {all:?}");
        assert_eq!(all[0].0, 4, "after the magic");
        let adjacent = chunk_ranges(&foot.meta, &[0, 1]);
        assert_eq!(adjacent.len(), 3);
        let covered: u64 = all.iter().map(|r| r.1).sum();
        let chunks: u64 = foot
            .meta
            .row_groups()
            .iter()
            .flat_map(|rg| rg.columns().iter().map(|c| c.compressed_size() as u64))
            .sum();
        assert_eq!(covered, chunks);
    }
}

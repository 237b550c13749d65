//! Writing datasets to Parquet and CSV: round trips, row-group bounds,
//! compression, and atomicity when the input fails.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use fs_offline::BatchStream;
use fs_offline::output::{
    OutputFormat, ParquetCompression, ParquetOptions, write, write_csv, write_parquet,
};
use fs_offline::{DatasetBuilder, Error};
use fs_schema::FeatureType;
use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::local::Fixture;
use crate::support::{Row, group, ms, read_all, rows, runtime};

fn fixture(n: i64) -> (Fixture, fs_offline::DatasetSpec) {
    let g = group("g", FeatureType::String);
    let mut f = Fixture::new();
    let base = ms("2024-01-01T00:00:00Z");
    let data: Vec<Row> = (0..n)
        .flat_map(|i| {
            let id = format!("r{i}");
            [
                Row::put(&id, base + i * 1000, i, 1, 1),
                Row::put(&id, base + i * 1000 - 1, -1, 2, 2),
            ]
        })
        .collect();
    f.add(&g, &data);
    let spec = DatasetBuilder::from_group(g).build().unwrap();
    (f, spec)
}

#[test]
fn parquet_output_round_trips_in_bounded_row_groups() {
    let (f, spec) = fixture(1000);
    let path = f.dir.path().join("out/latest.parquet");
    let report = runtime()
        .block_on(async {
            let stream = f.engine.execute(&spec).await?;
            write_parquet(
                stream,
                &path,
                ParquetOptions {
                    compression: ParquetCompression::Zstd(3),
                    row_group_rows: 100,
                },
            )
            .await
        })
        .unwrap();
    assert_eq!(report.rows, 1000);
    assert_eq!(report.bytes, std::fs::metadata(&path).unwrap().len());
    let expected = rows(&f.run(&spec), &["id", "ts", "a", "b", "s"]);
    assert_eq!(
        rows(&read_all(&path), &["id", "ts", "a", "b", "s"]),
        expected
    );
    let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let meta = reader.metadata();
    assert!(meta.num_row_groups() >= 10);
    for rg in meta.row_groups() {
        assert!(rg.num_rows() <= 100);
        assert!(matches!(
            rg.column(0).compression(),
            parquet::basic::Compression::ZSTD(_)
        ));
        // Floating-point columns without a dictionary, the others with one.
        for col in rg.columns() {
            let dictionary = col.dictionary_page_offset().is_some();
            let floating = col.column_type() == parquet::basic::Type::DOUBLE;
            assert_eq!(dictionary, !floating, "{}", col.column_path());
        }
    }
    // Only the target is left in the directory.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["latest.parquet"]);
}

#[test]
fn csv_output_has_a_header_and_every_row() {
    let (f, spec) = fixture(3);
    let path = f.dir.path().join("latest.csv");
    let report = runtime()
        .block_on(async { write_csv(f.engine.execute(&spec).await?, &path).await })
        .unwrap();
    assert_eq!(report.rows, 3);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.remove(0), "id,ts,a,b,s");
    lines.sort();
    assert_eq!(
        lines,
        [
            "r0,2024-01-01T00:00:00.000Z,0,0.0,s0",
            "r1,2024-01-01T00:00:01.000Z,1,0.5,s1",
            "r2,2024-01-01T00:00:02.000Z,2,1.0,s2",
        ]
    );
}

#[test]
fn a_failing_input_leaves_the_previous_file_and_no_temporary_file() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("data.parquet");
    std::fs::write(&path, b"previous").unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef],
    )
    .unwrap();
    for format in [
        OutputFormat::Parquet(ParquetOptions::default()),
        OutputFormat::Csv,
    ] {
        let items = vec![
            Ok(batch.clone()),
            Err(Error::InvalidDataset("the source broke".into())),
        ];
        let stream = BatchStream::new(schema.clone(), futures::stream::iter(items));
        let err = runtime()
            .block_on(write(stream, &path, format))
            .unwrap_err();
        assert!(err.to_string().contains("the source broke"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"previous");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

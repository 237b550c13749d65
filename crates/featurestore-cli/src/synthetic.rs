//! Synthetic data: a realistic, deterministic customer dataset, written by
//! `create-dataset` and generated again by the demo to check what it reads.
//!
//! Rows are generated as a stream (memory stays flat whatever `--rows`):
//! about 70% of rows introduce a new customer and 30% are a newer version
//! of an earlier one (same `customer_id`, later `event_time`), as a feed of
//! profile updates would be. Event times increase by 7 s on average from
//! 2024-05-01T00:00:00Z, in both ISO forms the service accepts. A
//! customer's age, city and signup channel stay with the customer; the
//! lifetime value grows with time; some values are missing (nulls).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use std::time::Instant;

use anyhow::{Context, Result, bail};
use featurestore::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use featurestore::arrow::datatypes::{DataType, Field, Schema};
use featurestore::parquet::arrow::ArrowWriter;
use featurestore::parquet::basic::Compression;
use featurestore::parquet::file::properties::WriterProperties;
use featurestore::schema::EventTime;
use serde_json::{Value, json};

use crate::cli::{CreateDatasetArgs, DataFormat, Global};
use crate::output::{bytes, count, duration, print_json};

/// `create-dataset`.
pub(crate) fn command(global: &Global, args: &CreateDatasetArgs) -> Result<()> {
    let format = format_of(&args.out, args.format)?;
    let started = Instant::now();
    let w = write(&args.out, format, args.rows, args.seed)?;
    if global.json {
        print_json(&json!({
            "file": args.out,
            "rows": w.rows,
            "customers": w.customers,
            "bytes": w.bytes,
            "seed": args.seed,
        }))
    } else {
        println!(
            "wrote {} rows of {} customers to {} ({}, seed {}) in {}",
            count(w.rows),
            count(w.customers),
            args.out.display(),
            bytes(w.bytes),
            args.seed,
            duration(started.elapsed())
        );
        Ok(())
    }
}

/// The record identifier column.
pub(crate) const ID: &str = "customer_id";
/// The event time column.
pub(crate) const EVENT_TIME: &str = "event_time";

/// 2024-05-01T00:00:00Z in milliseconds.
const START_MS: i64 = 1_714_521_600_000;
/// Mean spacing of event times.
const STEP_MS: i64 = 7_000;

const CITIES: [&str; 16] = [
    "Berlin",
    "Lisbon",
    "São Paulo",
    "Zürich",
    "Kraków",
    "Washington, D.C.",
    "Austin",
    "Toronto",
    "Dublin",
    "Osaka",
    "Melbourne",
    "Nairobi",
    "Coeur d'Alene",
    "Mexico City",
    "Seoul",
    "Lyon",
];
const CHANNELS: [&str; 4] = ["web", "app", "referral", "partner"];

/// xorshift64*: small, fast, and the same on every platform.
#[derive(Debug, Clone)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // SplitMix64 of the seed, so that nearby seeds give unrelated
        // streams and no seed gives the all-zero state.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        XorShift(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True `percent`% of the time.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One generated row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub(crate) customer_id: i64,
    pub(crate) event_time: String,
    pub(crate) age: Option<i64>,
    pub(crate) city: &'static str,
    pub(crate) lifetime_value: Option<f64>,
    pub(crate) is_premium: i64,
    pub(crate) sessions_30d: i64,
    pub(crate) signup_channel: Option<&'static str>,
}

impl Row {
    /// The row as the CSV writer writes it (nulls empty), in column order.
    pub(crate) fn csv_fields(&self) -> [String; 8] {
        [
            self.customer_id.to_string(),
            self.event_time.clone(),
            self.age.map(|a| a.to_string()).unwrap_or_default(),
            self.city.to_owned(),
            self.lifetime_value
                .map(|v| format!("{v:.2}"))
                .unwrap_or_default(),
            self.is_premium.to_string(),
            self.sessions_30d.to_string(),
            self.signup_channel.unwrap_or_default().to_owned(),
        ]
    }

    /// The row as one JSON Lines line (without the newline), keys in column order.
    fn json_line(&self) -> String {
        let values: [Value; 8] = [
            self.customer_id.into(),
            self.event_time.clone().into(),
            self.age.into(),
            self.city.into(),
            self.lifetime_value.map(round2).into(),
            self.is_premium.into(),
            self.sessions_30d.into(),
            self.signup_channel.into(),
        ];
        let fields: Vec<String> = COLUMNS
            .iter()
            .zip(values)
            .map(|(k, v)| format!("{}:{v}", Value::from(*k)))
            .collect();
        format!("{{{}}}", fields.join(","))
    }
}

/// The columns, in order.
pub(crate) const COLUMNS: [&str; 8] = [
    ID,
    EVENT_TIME,
    "age",
    "city",
    "lifetime_value",
    "is_premium",
    "sessions_30d",
    "signup_channel",
];

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The rows of a dataset, generated one at a time.
#[derive(Debug, Clone)]
pub(crate) struct Rows {
    seed: u64,
    rng: XorShift,
    index: u64,
    rows: u64,
    customers: i64,
}

/// `rows` rows for `seed`.
pub(crate) fn rows(rows: u64, seed: u64) -> Rows {
    Rows {
        seed,
        rng: XorShift::new(seed),
        index: 0,
        rows,
        customers: 0,
    }
}

impl Iterator for Rows {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        if self.index >= self.rows {
            return None;
        }
        let i = self.index as i64;
        self.index += 1;
        let rng = &mut self.rng;
        let customer_id = if self.customers > 0 && rng.chance(30) {
            1 + rng.below(self.customers as u64) as i64
        } else {
            self.customers += 1;
            self.customers
        };
        // Strictly increasing, so a repeated customer always has a newer time.
        let t = START_MS + i * STEP_MS + rng.below(STEP_MS as u64 - 1) as i64;
        let event_time = if rng.chance(30) {
            iso(t)
        } else {
            iso(t - t.rem_euclid(1000)).replace(".000Z", "Z")
        };
        // What stays with a customer comes from the customer's own stream.
        let mut c = XorShift::new(self.seed ^ (customer_id as u64).wrapping_mul(0x9E37_79B9));
        let base_age = 18 + c.below(70) as i64;
        let city = CITIES[c.below(CITIES.len() as u64) as usize];
        let channel = (!c.chance(10)).then(|| CHANNELS[c.below(CHANNELS.len() as u64) as usize]);
        let base_value = 20.0 + c.unit() * 2_000.0;
        let premium_bias = c.chance(25);
        let days = (t - START_MS) as f64 / 86_400_000.0;
        let lifetime_value = round2(base_value * (1.0 + days / 30.0) + rng.unit() * 50.0);
        Some(Row {
            customer_id,
            event_time,
            age: (!rng.chance(4)).then_some(base_age + (days / 365.0) as i64),
            city,
            lifetime_value: (!rng.chance(3)).then_some(lifetime_value),
            is_premium: i64::from(premium_bias != rng.chance(10)),
            sessions_30d: rng.below(61) as i64,
            signup_channel: channel,
        })
    }
}

fn iso(ms: i64) -> String {
    EventTime::from_millis(ms)
        .map(|t| t.to_iso())
        .unwrap_or_default()
}

/// What `write` wrote.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Written {
    pub(crate) rows: u64,
    pub(crate) customers: u64,
    pub(crate) bytes: u64,
}

/// The format of `path`: `format` when given, else its extension.
pub(crate) fn format_of(path: &Path, format: Option<DataFormat>) -> Result<DataFormat> {
    if let Some(f) = format {
        return Ok(f);
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    Ok(match ext.as_deref() {
        Some("csv") => DataFormat::Csv,
        Some("parquet" | "pq") => DataFormat::Parquet,
        Some("jsonl" | "ndjson") => DataFormat::Jsonl,
        _ => bail!(
            "{}: cannot tell the format from the extension; use .csv, .parquet or .jsonl, or pass --format",
            path.display()
        ),
    })
}

/// Writes `rows` rows for `seed` to `path` in `format`.
pub(crate) fn write(
    path: &Path,
    format: DataFormat,
    rows_wanted: u64,
    seed: u64,
) -> Result<Written> {
    let file = File::create(path).with_context(|| format!("{}", path.display()))?;
    let mut generator = rows(rows_wanted, seed);
    let io = |e: std::io::Error| anyhow::Error::new(e).context(format!("{}", path.display()));
    match format {
        DataFormat::Csv => {
            let mut w = csv::Writer::from_writer(BufWriter::new(file));
            w.write_record(COLUMNS)?;
            for row in generator.by_ref() {
                w.write_record(row.csv_fields())?;
            }
            w.flush().map_err(io)?;
        }
        DataFormat::Jsonl => {
            let mut w = BufWriter::new(file);
            for row in generator.by_ref() {
                writeln!(w, "{}", row.json_line()).map_err(io)?;
            }
            w.flush().map_err(io)?;
        }
        DataFormat::Parquet => {
            let schema = Arc::new(arrow_schema());
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build();
            let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
            let mut chunk = Vec::with_capacity(65_536);
            loop {
                chunk.clear();
                chunk.extend(generator.by_ref().take(65_536));
                if chunk.is_empty() {
                    break;
                }
                w.write(&to_batch(&schema, &chunk)?)?;
            }
            w.close()?;
        }
    }
    let bytes = std::fs::metadata(path).map_err(io)?.len();
    Ok(Written {
        rows: rows_wanted,
        customers: generator.customers as u64,
        bytes,
    })
}

fn arrow_schema() -> Schema {
    Schema::new(vec![
        Field::new(ID, DataType::Int64, false),
        Field::new(EVENT_TIME, DataType::Utf8, false),
        Field::new("age", DataType::Int64, true),
        Field::new("city", DataType::Utf8, false),
        Field::new("lifetime_value", DataType::Float64, true),
        Field::new("is_premium", DataType::Int64, false),
        Field::new("sessions_30d", DataType::Int64, false),
        Field::new("signup_channel", DataType::Utf8, true),
    ])
}

fn to_batch(schema: &Arc<Schema>, rows: &[Row]) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.customer_id),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.event_time.as_str()),
        )),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.age))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.city))),
        Arc::new(Float64Array::from_iter(
            rows.iter().map(|r| r.lifetime_value.map(round2)),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.is_premium),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.sessions_30d),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.signup_channel),
        )),
    ];
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

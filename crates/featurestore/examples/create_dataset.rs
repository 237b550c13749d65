//! Step 1 of 5: write a small synthetic dataset of customer profiles.
//!
//! ```text
//! cargo run -p featurestore --example create_dataset [DIR]
//! ```
//!
//! Writes `DIR/customers.csv` (default DIR: `target/featurestore-example`):
//! 1,000 rows, some of them newer versions of an earlier customer (same
//! `customer_id`, later `event_time`), some values missing. The next steps
//! create a feature group for it, ingest it, and read it back online and
//! offline.

#![allow(clippy::print_stdout)] // an example shows its results

use std::io::Write;
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = example_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("customers.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    writeln!(out, "customer_id,event_time,age,city,lifetime_value")?;
    let cities = ["Lisbon", "Oslo", "Seattle", "Nairobi", "Osaka"];
    let start = 1_714_550_400; // 2024-05-01T00:00:00Z
    let mut customers = 0u64;
    for row in 0..1_000u64 {
        // Every fourth row updates an earlier customer; the rest are new.
        let id = if row % 4 == 3 {
            (row * 7919) % customers + 1
        } else {
            customers += 1;
            customers
        };
        let secs = start + row as i64 * 60;
        let time = chrono_free_iso(secs);
        let age = if id % 10 == 0 {
            String::new() // missing
        } else {
            (18 + id % 60).to_string()
        };
        let city = cities[(id % 5) as usize];
        let value = (id as f64) * 12.5 + row as f64 * 0.25;
        writeln!(out, "{id},{time},{age},{city},{value}")?;
    }
    out.flush()?;
    println!(
        "wrote 1000 rows for {customers} customers to {}",
        path.display()
    );
    Ok(())
}

/// The example directory: the first argument, or `target/featurestore-example`.
fn example_dir() -> PathBuf {
    std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/featurestore-example"))
}

/// `secs` since the epoch as `yyyy-MM-ddTHH:mm:ssZ` (the civil-from-days
/// algorithm, to keep the example free of a date crate).
fn chrono_free_iso(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

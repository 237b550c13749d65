//! The Parquet-read pair's side of ours: a plain scan of a group's offline
//! files (every row and column) as Arrow batches, timed.

use std::path::Path;
use std::time::Instant;

use fs_offline::scan::Scan;
use fs_offline::table::OfflineTable;
use fs_schema::FeatureGroup;
use futures::StreamExt;

/// Scans every file of `group` under `data_dir` and prints
/// `RESULT scan_<label>_rows_per_second` and the rows read.
pub(crate) fn scan(
    runtime: &tokio::runtime::Runtime,
    group: &FeatureGroup,
    data_dir: &Path,
    label: &str,
) {
    let scan = Scan::new(OfflineTable::new(group.clone(), data_dir));
    let t = Instant::now();
    let rows = runtime
        .block_on(async {
            let mut stream = scan.stream().await?;
            let mut rows = 0usize;
            while let Some(batch) = stream.next().await {
                rows += batch?.num_rows();
            }
            Ok::<_, fs_offline::Error>(rows)
        })
        .unwrap_or_else(|e| panic!("scanning {}: {e}", data_dir.display()));
    let secs = t.elapsed().as_secs_f64();
    super::say(&format!(
        "RESULT scan_{label}_rows_per_second {:.0} rows/s",
        rows as f64 / secs
    ));
    super::say(&format!("RESULT scan_{label}_rows {rows} rows"));
}

//! The result table: rows, targets, pass or fail, the machine, and the
//! generated section of `docs/benchmarks.md`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

/// The unit of a measured quantity (which also says which way is better).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Microseconds (lower is better).
    Micros,
    /// Milliseconds (lower is better).
    Millis,
    /// Seconds (lower is better).
    Secs,
    /// Rows per second (higher is better).
    RowsPerSec,
    /// Megabytes (10^6 bytes) per second (higher is better).
    MbPerSec,
    /// MiB of memory (lower is better).
    Mib,
    /// Megabytes (10^6 bytes) moved over a link (lower is better).
    Mb,
}

impl Unit {
    fn higher_is_better(self) -> bool {
        matches!(self, Unit::RowsPerSec | Unit::MbPerSec)
    }
}

/// A measured quantity.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Q(pub(crate) f64, pub(crate) Unit);

impl std::fmt::Display for Q {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Q(v, u) = *self;
        match u {
            Unit::Micros if v >= 1000.0 => write!(f, "{:.2} ms", v / 1000.0),
            Unit::Micros => write!(f, "{v:.1} µs"),
            Unit::Millis => write!(f, "{v:.1} ms"),
            Unit::Secs => write!(f, "{v:.2} s"),
            Unit::RowsPerSec => write!(f, "{} rows/s", thousands(v)),
            Unit::MbPerSec => write!(f, "{} MB/s", thousands(v)),
            Unit::Mib => write!(f, "{} MiB", thousands(v)),
            Unit::Mb if v < 10.0 => write!(f, "{v:.3} MB"),
            Unit::Mb => write!(f, "{} MB", thousands(v)),
        }
    }
}

/// `1234567.8` as `1,234,568`.
pub(crate) fn thousands(v: f64) -> String {
    let s = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

/// What a row must reach.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// No target: measured for information.
    None,
    /// Ours at most this (in ours' unit).
    AtMost(Q),
    /// Ours at least this (in ours' unit).
    AtLeast(Q),
    /// The ratio (how many times better ours is than the anchor) at least this.
    RatioAtLeast(f64),
}

/// One line of the table.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) name: String,
    /// Ours, or why it is not available.
    pub(crate) ours: Result<Q, String>,
    /// The anchor (`None` when the row has none), or why it is not available.
    pub(crate) anchor: Option<Result<Q, String>>,
    pub(crate) target: Target,
    pub(crate) note: String,
    /// The rows each side wrote, when the row compares outputs: a row whose
    /// sides wrote different counts fails whatever its target.
    pub(crate) counts: Option<(f64, f64)>,
}

impl Row {
    /// A row of ours against an anchor.
    pub(crate) fn pair(
        name: impl Into<String>,
        ours: Result<Q, String>,
        anchor: Result<Q, String>,
        target: Target,
        note: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            ours,
            anchor: Some(anchor),
            target,
            note: note.into(),
            counts: None,
        }
    }

    /// A row of ours alone, against an absolute target.
    pub(crate) fn alone(
        name: impl Into<String>,
        ours: Result<Q, String>,
        target: Target,
        note: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            ours,
            anchor: None,
            target,
            note: note.into(),
            counts: None,
        }
    }

    /// Records the rows each side wrote (when both are known) and says so
    /// in the note: equal counts are stated, different ones fail the row.
    pub(crate) fn with_counts(mut self, ours: Option<f64>, anchor: Option<f64>) -> Self {
        let (Some(o), Some(a)) = (ours, anchor) else {
            return self;
        };
        self.counts = Some((o, a));
        if o == a {
            self.note
                .push_str(&format!(" Both wrote {} rows.", thousands(o)));
        } else {
            self.note.push_str(&format!(
                " **The row counts differ**: ours {}, the anchor {}, so the row fails.",
                thousands(o),
                thousands(a)
            ));
        }
        self
    }

    /// How many times better ours is than the anchor (a rate divided by
    /// the anchor's; a time divides the anchor's).
    pub(crate) fn ratio(&self) -> Option<f64> {
        let (Ok(Q(o, u)), Some(Ok(Q(a, _)))) = (&self.ours, &self.anchor) else {
            return None;
        };
        if u.higher_is_better() {
            (*a > 0.0).then(|| o / a)
        } else {
            (*o > 0.0).then(|| a / o)
        }
    }

    fn target_text(&self) -> String {
        match self.target {
            Target::None => "—".into(),
            Target::AtMost(q) => format!("≤ {q}"),
            Target::AtLeast(q) => format!("≥ {q}"),
            Target::RatioAtLeast(r) => format!("ratio ≥ {r}×"),
        }
    }

    /// `pass`, `FAIL`, `info`, or why it could not be judged; a row whose
    /// sides wrote different row counts fails.
    pub(crate) fn verdict(&self) -> String {
        if self.counts.is_some_and(|(o, a)| o != a) {
            return "**FAIL** (row counts differ)".into();
        }
        let ours = match &self.ours {
            Ok(q) => *q,
            Err(why) => return format!("not available: {}", cell(why)),
        };
        let pass = match self.target {
            Target::None => return "info".into(),
            Target::AtMost(q) => ours.1 == q.1 && ours.0 <= q.0,
            Target::AtLeast(q) => ours.1 == q.1 && ours.0 >= q.0,
            Target::RatioAtLeast(r) => match (self.ratio(), &self.anchor) {
                (Some(x), _) => x >= r,
                (None, Some(Err(why))) => {
                    return format!("anchor not available: {}", cell(why));
                }
                (None, _) => return "no ratio".into(),
            },
        };
        if pass {
            "pass".into()
        } else {
            "**FAIL**".into()
        }
    }
}

/// A reason as one table cell: its first line, at most 200 characters, no `|`.
fn cell(why: &str) -> String {
    let line = why.lines().next().unwrap_or_default().trim();
    let mut s: String = line.chars().take(200).collect();
    if line.chars().count() > 200 {
        s.push('…');
    }
    s.replace('|', "/")
}

/// The table as Markdown, then one note per row.
pub(crate) fn markdown(rows: &[Row]) -> String {
    let mut s = String::from(
        "| benchmark | ours | anchor | ratio | target | result |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let ours = r.ours.as_ref().map_or("—".into(), ToString::to_string);
        let anchor = match &r.anchor {
            None => "—".into(),
            Some(Ok(q)) => q.to_string(),
            // Said once, in the result column.
            Some(Err(why)) if r.ours.as_ref().err() == Some(why) => "—".into(),
            Some(Err(why)) => format!("not available: {}", cell(why)),
        };
        let ratio = r.ratio().map_or("—".into(), |x| format!("{x:.2}×"));
        let _ = writeln!(
            s,
            "| {} | {ours} | {anchor} | {ratio} | {} | {} |",
            r.name,
            r.target_text(),
            r.verdict()
        );
    }
    s.push_str("\nNotes:\n\n");
    for r in rows.iter().filter(|r| !r.note.is_empty()) {
        let _ = writeln!(s, "- **{}**: {}", r.name, r.note);
    }
    s
}

/// Cores, memory, CPU model and kernel, from /proc.
pub(crate) fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count()
        .max(1);
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".into(), |(_, m)| m.trim().to_owned());
    let mem_kb: f64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cores} cores ({model}), {:.1} GiB memory, Linux {}",
        mem_kb / 1024.0 / 1024.0,
        kernel.trim()
    )
}

/// The 1-minute load average.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// Today's date (UTC) as YYYY-MM-DD.
pub(crate) fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Days to civil date (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

const START: &str = "<!-- bench-table:start -->";
const END: &str = "<!-- bench-table:end -->";

/// Puts `section` between the markers of `path`, or (first time) before
/// its first `## ` heading, leaving the rest of the file as it is.
pub(crate) fn write_docs(path: &Path, section: &str) -> Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let block = format!("{START}\n{}\n{END}", section.trim_end());
    let new = match (text.find(START), text.find(END)) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{block}{}", &text[..a], &text[b + END.len()..])
        }
        _ => match text.find("\n## ") {
            Some(i) => format!("{}\n{block}\n{}", &text[..=i], &text[i + 1..]),
            None => format!("{}\n\n{block}\n", text.trim_end()),
        },
    };
    std::fs::write(path, new).with_context(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(target: Target) -> Row {
        Row::pair(
            "r",
            Ok(Q(2.0, Unit::Secs)),
            Ok(Q(4.0, Unit::Secs)),
            target,
            "",
        )
    }

    #[test]
    fn a_row_whose_sides_wrote_different_row_counts_fails() {
        let equal = row(Target::RatioAtLeast(1.5)).with_counts(Some(10.0), Some(10.0));
        assert_eq!(equal.verdict(), "pass");
        assert!(equal.note.contains("Both wrote 10 rows"));
        for target in [Target::RatioAtLeast(1.5), Target::None] {
            let differ = row(target).with_counts(Some(10.0), Some(9.0));
            assert!(differ.verdict().contains("FAIL"), "{}", differ.verdict());
            assert!(differ.note.contains("row counts differ"));
        }
        let unknown = row(Target::None).with_counts(None, Some(9.0));
        assert_eq!(unknown.verdict(), "info");
    }
}

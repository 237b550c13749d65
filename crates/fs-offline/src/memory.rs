//! How much memory the embedded engine's SQL plans may hold by default.
//!
//! DataFusion keeps sorts, aggregations and hash joins within a memory pool:
//! sorts and aggregations spill to disk when it is full, and a hash join's
//! build side, which cannot spill, fails with `ResourcesExhausted`
//! ([`Error::OutOfMemory`](crate::Error::OutOfMemory) here). Without a pool
//! nothing stops a plan before the kernel does, so the engine always has
//! one: [`EngineOptions::memory_limit`](crate::EngineOptions::memory_limit)
//! when set, else [`default_pool`].

use std::sync::OnceLock;

/// The smallest default pool: below this a machine's own reading is
/// more likely wrong than useful.
const MIN_POOL: u64 = 256 << 20;

/// Half of the memory this process may use: the cgroup's limit when one is
/// set (v2 `memory.max`, else v1 `memory.limit_in_bytes`) and lower than the
/// machine's memory (`MemTotal` of `/proc/meminfo`), else the machine's; at
/// least 256 MiB. `None` where neither can be read (not Linux). Read once
/// per process.
pub(crate) fn default_pool() -> Option<usize> {
    static POOL: OnceLock<Option<usize>> = OnceLock::new();
    *POOL.get_or_init(|| {
        let total = [mem_total(), cgroup_limit()].into_iter().flatten().min()?;
        usize::try_from((total / 2).max(MIN_POOL)).ok()
    })
}

/// `MemTotal` in bytes.
fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&text)
}

fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// The cgroup's memory limit in bytes, if one is set.
fn cgroup_limit() -> Option<u64> {
    [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|path| parse_limit(&std::fs::read_to_string(path).ok()?))
}

/// A limit file's bytes; `None` for `max` (v2) or a value so large that it
/// means none (v1 writes about 2^63).
fn parse_limit(text: &str) -> Option<u64> {
    let bytes: u64 = text.trim().parse().ok()?;
    (bytes < 1 << 60).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_and_cgroup_files_are_read_as_bytes() {
        let meminfo = "MemTotal:       24589460 kB\nMemFree:         1000 kB\n";
        assert_eq!(parse_meminfo(meminfo), Some(24_589_460 * 1024));
        assert_eq!(parse_meminfo("MemFree: 1 kB\n"), None);
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("9223372036854771712\n"), None);
        assert_eq!(parse_limit("4294967296\n"), Some(4 << 30));
    }
}

//! Dataset artifacts (`fs_offline::artifact`): reuse without recomputing,
//! new ids for changed data, one build among concurrent callers, atomic
//! publication, eviction by budget, and the files read back as written.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use arrow_array::{Int64Array, RecordBatch};
use fs_offline::artifact::{ArtifactCompression, ArtifactEngine, ArtifactOptions, ArtifactStore};
use fs_offline::local::LocalEngine;
use fs_offline::spec::{Entities, EntitySource};
use fs_offline::table::OfflineTable;
use fs_offline::{BatchStream, DatasetBuilder, DatasetEngine, DatasetSpec, JoinSpec, Pinned};
use fs_schema::{FeatureGroup, FeatureType};
use futures::TryStreamExt;
use tempfile::TempDir;

use crate::support::{Row, group, ms, runtime, total_rows, write_rows};

const T0: &str = "2024-01-01T00:00:00Z";

fn t(min: i64) -> i64 {
    ms(T0) + min * 60_000
}

/// The real embedded engine, counting the datasets it actually runs (a
/// reused artifact runs none).
#[derive(Debug, Clone)]
struct Counting {
    engine: LocalEngine,
    runs: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl DatasetEngine for Counting {
    async fn execute(&self, spec: &DatasetSpec) -> fs_offline::Result<BatchStream> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.engine.execute(spec).await
    }

    async fn sql(&self, spec: &DatasetSpec) -> fs_offline::Result<String> {
        self.engine.sql(spec).await
    }

    async fn pin(&self, spec: &DatasetSpec) -> fs_offline::Result<Option<Pinned>> {
        let pinned = self.engine.pin(spec)?;
        Ok(Some(Pinned::new(
            pinned.inputs().to_vec(),
            Arc::new(self.clone()),
        )))
    }
}

/// One group's offline files and an artifact store, in a temporary directory.
struct Fixture {
    dir: TempDir,
    group: FeatureGroup,
    runs: Arc<AtomicUsize>,
}

impl Fixture {
    fn new() -> Self {
        let dir = TempDir::new().unwrap();
        let group = group("orders", FeatureType::String);
        let rows: Vec<Row> = (0..50)
            .map(|i| Row::put(&format!("c{}", i % 10), t(i), i, t(i), t(i)))
            .collect();
        write_rows(&dir.path().join("orders"), &group, &rows);
        Fixture {
            dir,
            group,
            runs: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("orders")
    }

    fn store_dir(&self) -> PathBuf {
        self.dir.path().join("artifacts")
    }

    fn engine(&self, options: ArtifactOptions) -> ArtifactEngine {
        let local =
            LocalEngine::new().with_table(OfflineTable::new(self.group.clone(), self.data_dir()));
        let counting = Counting {
            engine: local,
            runs: self.runs.clone(),
        };
        ArtifactEngine::new(
            Arc::new(counting),
            ArtifactStore::new(self.store_dir(), options),
        )
    }

    fn latest(&self) -> DatasetSpec {
        DatasetBuilder::from_group(self.group.clone())
            .build()
            .unwrap()
    }

    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
}

fn sum_a(batches: &[RecordBatch]) -> i64 {
    batches
        .iter()
        .map(|b| {
            let a = b.column_by_name("a").unwrap();
            let a = a.as_any().downcast_ref::<Int64Array>().unwrap();
            a.iter().flatten().sum::<i64>()
        })
        .sum()
}

#[test]
fn the_same_spec_on_unchanged_data_is_read_back_without_recomputing() {
    let fx = Fixture::new();
    let engine = fx.engine(ArtifactOptions::default());
    let spec = fx.latest();
    let rt = runtime();
    let first = rt.block_on(engine.artifact(&spec)).unwrap().unwrap();
    assert!(!first.reused());
    assert_eq!(fx.runs(), 1);
    let bytes = std::fs::read(first.data_path()).unwrap();
    let second = rt.block_on(engine.artifact(&spec)).unwrap().unwrap();
    assert!(second.reused());
    assert_eq!(
        fx.runs(),
        1,
        "a reused artifact must not run the dataset again"
    );
    assert_eq!(second.id(), first.id());
    assert_eq!(std::fs::read(second.data_path()).unwrap(), bytes);
    // Its rows are the engine's rows.
    let direct = rt
        .block_on(
            LocalEngine::new()
                .with_table(OfflineTable::new(fx.group.clone(), fx.data_dir()))
                .collect(&spec),
        )
        .unwrap();
    let kept = second.read_all().unwrap();
    assert_eq!(total_rows(&kept), 10);
    assert_eq!(total_rows(&kept), total_rows(&direct));
    assert_eq!(sum_a(&kept), sum_a(&direct));
    assert_eq!(second.info().rows, 10);
    assert_eq!(second.info().columns, ["id", "ts", "a", "b", "s"]);
    // Streaming gives the same batches as the one-read path.
    let streamed: Vec<RecordBatch> = rt
        .block_on(async { second.stream()?.try_collect().await })
        .unwrap();
    assert_eq!(streamed, kept);
    // And the DatasetEngine face of the engine streams the artifact.
    let via_trait = rt
        .block_on(async { engine.execute(&spec).await?.collect().await })
        .unwrap();
    assert_eq!(via_trait, kept);
    assert_eq!(fx.runs(), 1);
}

#[test]
fn an_lz4_artifact_holds_the_same_rows_under_the_same_id_and_is_read_either_way() {
    let fx = Fixture::new();
    let spec = fx.latest();
    let rt = runtime();
    let plain = fx.engine(ArtifactOptions::default());
    let first = rt.block_on(plain.artifact(&spec)).unwrap().unwrap();
    let rows = first.read_all().unwrap();
    // The same dataset kept LZ4-compressed in another store.
    let lz4_dir = fx.dir.path().join("lz4");
    let local = LocalEngine::new().with_table(OfflineTable::new(fx.group.clone(), fx.data_dir()));
    let lz4 = ArtifactEngine::new(
        Arc::new(local),
        ArtifactStore::new(
            &lz4_dir,
            ArtifactOptions::default().compression(ArtifactCompression::Lz4),
        ),
    );
    let compressed = rt.block_on(lz4.artifact(&spec)).unwrap().unwrap();
    assert_eq!(
        compressed.id(),
        first.id(),
        "the rows decide the id, not their storage"
    );
    assert_eq!(compressed.info().compression, ArtifactCompression::Lz4);
    assert_eq!(first.info().compression, ArtifactCompression::None);
    assert_ne!(
        std::fs::read(compressed.data_path()).unwrap(),
        std::fs::read(first.data_path()).unwrap()
    );
    assert_eq!(compressed.read_all().unwrap(), rows);
    let streamed: Vec<RecordBatch> = rt
        .block_on(async { compressed.stream()?.try_collect().await })
        .unwrap();
    assert_eq!(streamed, rows);
    // A store opened uncompressed reads the LZ4 artifact it already holds.
    let reopened = ArtifactStore::new(&lz4_dir, ArtifactOptions::default());
    let again = reopened.get(first.id()).unwrap().unwrap();
    assert_eq!(again.read_all().unwrap(), rows);
}

#[test]
fn changed_data_or_a_changed_spec_gives_a_new_id() {
    let fx = Fixture::new();
    let engine = fx.engine(ArtifactOptions::default());
    let rt = runtime();
    let spec = fx.latest();
    let before = rt.block_on(engine.artifact(&spec)).unwrap().unwrap();
    // A new flush: one more file.
    write_rows(
        &fx.data_dir(),
        &fx.group,
        &[Row::put("c99", t(100), 1000, t(100), t(100))],
    );
    let after = rt.block_on(engine.artifact(&spec)).unwrap().unwrap();
    assert_ne!(after.id(), before.id());
    assert!(!after.reused());
    assert_eq!(after.info().rows, 11);
    // The id is known without building.
    assert_eq!(
        rt.block_on(engine.dataset_id(&spec)).unwrap().as_deref(),
        Some(after.id())
    );
    // Another spec over the same data.
    let narrower = DatasetBuilder::from_group(fx.group.clone())
        .features(["a"])
        .build()
        .unwrap();
    let other = rt.block_on(engine.artifact(&narrower)).unwrap().unwrap();
    assert_ne!(other.id(), after.id());
    assert_eq!(other.info().columns, ["id", "ts", "a"]);
    // Both are kept.
    let listed = held(&engine);
    assert_eq!(listed.len(), 3);
    assert!(listed.contains(&before.id().to_owned()));
}

#[test]
fn entity_rows_in_memory_are_part_of_the_id() {
    let fx = Fixture::new();
    let engine = fx.engine(ArtifactOptions::default());
    let rt = runtime();
    let entities = |time: &str| {
        let batch = RecordBatch::try_from_iter([
            (
                "customer",
                Arc::new(arrow_array::StringArray::from(vec!["c1", "c2"])) as _,
            ),
            (
                "at",
                Arc::new(arrow_array::StringArray::from(vec![time, time])) as _,
            ),
        ])
        .unwrap();
        DatasetBuilder::from_entities(Entities {
            source: EntitySource::Batches {
                schema: batch.schema(),
                batches: vec![batch],
            },
            id_column: "customer".into(),
            time_column: "at".into(),
        })
        .join(JoinSpec::new(fx.group.clone()).features(["a"]))
        .build()
        .unwrap()
    };
    let early = rt
        .block_on(engine.artifact(&entities("2024-01-01T00:15:00Z")))
        .unwrap()
        .unwrap();
    let late = rt
        .block_on(engine.artifact(&entities("2024-01-01T00:45:00Z")))
        .unwrap()
        .unwrap();
    assert_ne!(early.id(), late.id());
    assert_ne!(
        sum_a(&early.read_all().unwrap()),
        sum_a(&late.read_all().unwrap())
    );
    let again = rt
        .block_on(engine.artifact(&entities("2024-01-01T00:15:00Z")))
        .unwrap()
        .unwrap();
    assert!(again.reused());
    assert_eq!(again.id(), early.id());
}

#[test]
fn concurrent_callers_of_one_id_build_it_once_and_read_the_same_bytes() {
    let fx = Fixture::new();
    const CALLERS: usize = 8;
    let barrier = Arc::new(Barrier::new(CALLERS));
    let results: Vec<(String, bool, Vec<u8>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CALLERS)
            .map(|_| {
                // Each caller has its own engine, store handle, runtime and
                // lock file descriptors, as separate processes would.
                let engine = fx.engine(ArtifactOptions::default());
                let spec = fx.latest();
                let barrier = barrier.clone();
                s.spawn(move || {
                    barrier.wait();
                    let a = runtime().block_on(engine.artifact(&spec)).unwrap().unwrap();
                    (
                        a.id().to_owned(),
                        a.reused(),
                        std::fs::read(a.data_path()).unwrap(),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(fx.runs(), 1, "exactly one caller builds");
    assert_eq!(results.iter().filter(|(_, reused, _)| !reused).count(), 1);
    for (id, _, bytes) in &results {
        assert_eq!(id, &results[0].0);
        assert_eq!(bytes, &results[0].2);
    }
    // Nothing but the artifact and the lock directory is left.
    assert_eq!(
        entries(&fx.store_dir()),
        [".locks".to_owned(), results[0].0.clone()]
    );
}

/// The ids the engine's store holds, most recently used first.
fn held(engine: &ArtifactEngine) -> Vec<String> {
    engine
        .store()
        .list()
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn a_failed_build_publishes_nothing_and_gc_removes_what_a_killed_one_left() {
    let fx = Fixture::new();
    let engine = fx.engine(ArtifactOptions::default());
    let rt = runtime();
    // An entity file with a time that is not one: the build fails part-way.
    let bad = fx.dir.path().join("entities.csv");
    std::fs::write(
        &bad,
        "customer,at\nc1,2024-01-01T00:15:00Z\nc2,not a time\n",
    )
    .unwrap();
    let spec = DatasetBuilder::from_entities(Entities {
        source: EntitySource::File(bad),
        id_column: "customer".into(),
        time_column: "at".into(),
    })
    .join(JoinSpec::new(fx.group.clone()))
    .build()
    .unwrap();
    assert!(rt.block_on(engine.artifact(&spec)).is_err());
    assert!(engine.store().list().unwrap().is_empty());
    assert_eq!(entries(&fx.store_dir()), [".locks"]);
    // What a build killed half-way leaves behind: its staging directory.
    let id = rt
        .block_on(engine.dataset_id(&fx.latest()))
        .unwrap()
        .unwrap();
    let stale = fx.store_dir().join(format!(".build-{id}-999999-0"));
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("data.arrow"), b"half a file").unwrap();
    assert!(
        engine.store().get(&id).unwrap().is_none(),
        "a staging directory is no artifact"
    );
    let report = engine.store().gc().unwrap();
    assert!(report.stale_removed >= 1);
    assert!(!stale.exists());
    // The id builds normally afterwards.
    let built = rt.block_on(engine.artifact(&fx.latest())).unwrap().unwrap();
    assert!(!built.reused());
    // An artifact damaged by hand (its rows removed) is built again.
    std::fs::remove_file(built.data_path()).unwrap();
    let again = rt.block_on(engine.artifact(&fx.latest())).unwrap().unwrap();
    assert!(!again.reused());
    assert_eq!(again.id(), id);
    assert_eq!(total_rows(&again.read_all().unwrap()), 10);
}

#[test]
fn the_budget_evicts_the_least_recently_used_artifacts() {
    let fx = Fixture::new();
    let rt = runtime();
    let specs: Vec<DatasetSpec> = [vec!["a"], vec!["b"], vec!["s"]]
        .into_iter()
        .map(|f| {
            DatasetBuilder::from_group(fx.group.clone())
                .features(f)
                .build()
                .unwrap()
        })
        .collect();
    // Measure one artifact, then allow about two of them.
    let unlimited = fx.engine(ArtifactOptions::default());
    let probe = rt.block_on(unlimited.artifact(&specs[0])).unwrap().unwrap();
    let size = probe.info().bytes;
    let engine = fx.engine(ArtifactOptions::default().size_budget(size * 2 + size / 2));
    std::thread::sleep(Duration::from_millis(20));
    let b = rt.block_on(engine.artifact(&specs[1])).unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    // Reading the first makes it the most recently used.
    assert!(engine.store().get(probe.id()).unwrap().is_some());
    std::thread::sleep(Duration::from_millis(20));
    let c = rt.block_on(engine.artifact(&specs[2])).unwrap().unwrap();
    assert_eq!(
        held(&engine),
        [c.id().to_owned(), probe.id().to_owned()],
        "b was the least recently used"
    );
    // A reader holding the evicted artifact still reads it.
    assert_eq!(
        b.read_all()
            .unwrap()
            .iter()
            .map(|x| x.num_rows())
            .sum::<usize>(),
        10
    );
    // rm and gc.
    assert!(engine.store().remove(c.id()).unwrap());
    assert!(!engine.store().remove(c.id()).unwrap());
    assert_eq!(engine.store().list().unwrap().len(), 1);
    assert_eq!(
        engine.store().resolve(&probe.id()[..8]).unwrap(),
        probe.id()
    );
    assert!(engine.store().resolve("zz").is_err());
}

#[test]
#[ignore = "needs the it-venv's pyarrow (FS_IT_PYTHON); run by cargo xtask it"]
fn pyarrow_reads_an_artifact_as_the_rows_it_holds() {
    let python = std::env::var("FS_IT_PYTHON")
        .expect("FS_IT_PYTHON (the it-venv's python, with pyarrow): run with cargo xtask it");
    let fx = Fixture::new();
    let engine = fx.engine(ArtifactOptions::default());
    let artifact = runtime()
        .block_on(engine.artifact(&fx.latest()))
        .unwrap()
        .unwrap();
    let ours = artifact.read_all().unwrap();
    let script = "import sys, pyarrow.ipc as ipc\n\
                  t = ipc.open_file(sys.argv[1]).read_all()\n\
                  a = [v for v in t.column('a').to_pylist() if v is not None]\n\
                  print(t.num_rows, sum(a), ','.join(t.schema.names), t.schema.field('ts').type)";
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .arg(artifact.data_path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("{} {} id,ts,a,b,s string", total_rows(&ours), sum_a(&ours))
    );
}

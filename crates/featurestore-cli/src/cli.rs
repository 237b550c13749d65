//! The command line: global flags, commands and their arguments (clap derive).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use featurestore::schema::{FeatureDefinition, FeatureType};

const TOP_EXAMPLES: &str = "\
Examples:
  featurestore demo                                   # the whole workflow on a temporary store
  featurestore create-dataset --rows 10000 --out customers.csv
  featurestore create-feature-group customers --from-data customers.csv \\
      --record-id customer_id --event-time event_time
  featurestore ingest customers customers.csv
  featurestore get customers 1 2 3
  featurestore flush
  featurestore serve --addr 127.0.0.1:8600

Exit codes: 0 success; 1 error (one line on stderr: what, and the file, row and
column where they apply); 2 invalid command line; 3 an ingest finished but some
rows failed (they are in the --failures file).";

/// The `featurestore` command line.
#[derive(Debug, Parser)]
#[command(
    name = "featurestore",
    version,
    about = "Feature groups, ingestion and online reads on an embedded feature store \
             (SageMaker Feature Store semantics), or on SageMaker itself with --aws.",
    after_help = TOP_EXAMPLES,
    propagate_version = true
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags every command takes.
#[derive(Debug, Clone, Args)]
pub(crate) struct Global {
    /// The embedded store's directory (one writer at a time).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "DIR",
        default_value = featurestore::local::DEFAULT_DIR
    )]
    pub(crate) store: PathBuf,
    /// Use SageMaker Feature Store through the AWS SDK (credentials and region
    /// from the environment or profile) instead of the embedded store. Needs a
    /// build with the `aws` feature.
    #[arg(long, global = true, help_heading = "Global options")]
    pub(crate) aws: bool,
    /// With --aws: the endpoint to call instead of AWS's (e.g. a `featurestore
    /// serve` or fs-server address).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "URL"
    )]
    pub(crate) endpoint_url: Option<String>,
    /// With --aws: the AWS region (else AWS_REGION or the profile's).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "REGION"
    )]
    pub(crate) region: Option<String>,
    /// With --aws: the local cache of offline data that `sync` and `dataset`
    /// read through (share it between the jobs of a machine).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "DIR",
        default_value = ".featurestore-cache"
    )]
    pub(crate) cache: PathBuf,
    /// With --aws: an S3-compatible endpoint for the offline store (path-style).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "URL"
    )]
    pub(crate) s3_endpoint_url: Option<String>,
    /// With --aws: the Athena endpoint for `dataset --engine athena`.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "URL"
    )]
    pub(crate) athena_endpoint_url: Option<String>,
    /// With --aws: the Athena workgroup.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "NAME"
    )]
    pub(crate) athena_workgroup: Option<String>,
    /// With --aws: where Athena writes query results (s3://...).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "S3URI"
    )]
    pub(crate) athena_output: Option<String>,
    /// Machine-readable output: one JSON document on stdout, no progress bars.
    #[arg(long, global = true, help_heading = "Global options")]
    pub(crate) json: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Write a realistic synthetic customer dataset (deterministic for a seed).
    #[command(after_help = "\
Columns: customer_id (the record identifier; about 30% of rows are newer versions of
an earlier customer), event_time (ISO-8601 UTC, increasing), age, city, lifetime_value,
is_premium, sessions_30d, signup_channel (age, lifetime_value and signup_channel have
some nulls).

Examples:
  featurestore create-dataset --rows 10000 --out customers.csv
  featurestore create-dataset --rows 1000000 --out customers.parquet --seed 7
  featurestore create-dataset --rows 500 --out customers.jsonl --format jsonl")]
    CreateDataset(CreateDatasetArgs),

    /// Create a feature group from a CreateFeatureGroup JSON file or inferred from a data file.
    #[command(after_help = "\
The group gets an online store (unless --no-online) and an offline store. A definition
file is the CreateFeatureGroup request's JSON (what `aws sagemaker create-feature-group
--cli-input-json` takes); NAME replaces its FeatureGroupName.

Examples:
  featurestore create-feature-group customers --definition customers.json
  featurestore create-feature-group customers --from-data customers.csv \\
      --record-id customer_id --event-time event_time
  featurestore create-feature-group customers --from-data customers.parquet \\
      --record-id customer_id --event-time event_time --dry-run   # print the JSON only")]
    CreateFeatureGroup(CreateGroupArgs),

    /// Show a feature group: its features, stores and offline location.
    #[command(after_help = "\
Examples:
  featurestore describe-feature-group customers
  featurestore --json describe-feature-group customers   # DescribeFeatureGroup-shaped JSON")]
    DescribeFeatureGroup(GroupNameArgs),

    /// List the feature groups.
    #[command(after_help = "\
With --aws, each group is described too (8 at a time): SageMaker's ListFeatureGroups
does not say how many features a group has or which stores.

Examples:
  featurestore list-feature-groups
  featurestore --store /data/fs --json list-feature-groups")]
    ListFeatureGroups,

    /// Add features to a feature group (features cannot be removed or changed).
    #[command(after_help = "\
Types: Integral, Fractional, String. Existing records read new features as null.

Examples:
  featurestore add-features customers --feature churn_score:Fractional
  featurestore add-features customers --feature segment:String --feature orders_90d:Integral")]
    AddFeatures(AddFeaturesArgs),

    /// Delete a feature group: its definition and online records (offline files are kept).
    #[command(after_help = "\
Examples:
  featurestore delete-feature-group customers")]
    DeleteFeatureGroup(GroupNameArgs),

    /// Ingest CSV, Parquet or JSON Lines files (files, directories, globs) into a feature group.
    #[command(after_help = "\
Without --failures, every row is checked first and nothing is written unless all rows
are good: the first problem is reported with its file, row and column. With --failures
FILE, good rows are written and bad ones go to FILE (.csv or .jsonl, with the reason and
the original values: fix it and ingest it again); the exit code is 3 if any row failed.
A checkpoint (default under the store directory) lets --resume skip what a stopped
run already wrote.

Examples:
  featurestore ingest customers customers.csv
  featurestore ingest customers 'data/*.parquet' --failures failed.csv
  featurestore ingest customers data/ --resume
  featurestore ingest customers data/ --shard 0/4     # worker 0 of 4 (0-based)
  featurestore --aws --region eu-west-1 ingest customers data/ --concurrency 64
  featurestore --aws ingest customers data/ --batch-write --concurrency 8   # 25 rows per request
  featurestore ingest customers late.csv --target-stores offline --ttl 30d")]
    Ingest(IngestArgs),

    /// Read records from the online store (several ids: one batch get).
    #[command(after_help = "\
Exits with 1 when a requested record is not found (the others are still printed).

Examples:
  featurestore get customers 42
  featurestore get customers 1 2 3 --features age,lifetime_value
  featurestore get customers --ids-file ids.txt --format csv > rows.csv
  featurestore --json get customers 42")]
    Get(GetArgs),

    /// Delete records (DeleteRecord): hidden (SoftDelete) or removed (--hard) online, marked deleted offline.
    #[command(after_help = "\
SoftDelete (the default) hides each record online: get and batch get no longer return
it. --hard (HardDelete) removes it from the online store. Either way a row with
is_deleted = true goes to the offline store, and `dataset` leaves the record out
(unless --include-deleted). The delete's event time (default: now) must be later than
each record's. Every record is checked first: when one is not in the online store
(unknown, deleted already or expired) or is newer than the delete, nothing is deleted.

Examples:
  featurestore delete-record customers 42
  featurestore delete-record customers 42 43 --hard
  featurestore delete-record customers 42 --event-time 2024-06-01T00:00:00Z
  featurestore --aws --region eu-west-1 delete-record customers 42")]
    DeleteRecord(DeleteRecordArgs),

    /// Serve the store over the SageMaker Feature Store API (runtime and control plane).
    #[command(after_help = "\
Any AWS SDK can use it: point its endpoint_url at the printed address (with any
credentials). The address is the first line printed. Stops on Ctrl-C or SIGTERM and
flushes the offline store.

Examples:
  featurestore serve                        # a free port on 127.0.0.1
  featurestore serve --addr 127.0.0.1:8600
  featurestore --aws --endpoint-url http://127.0.0.1:8600 --region us-east-1 list-feature-groups")]
    Serve(ServeArgs),

    /// Build a training dataset from the offline store: latest record per id, point-in-time joins.
    #[command(after_help = "\
By default the dataset has the latest row of each record (by event time, then API
invocation time, then write time) whose latest row is not a delete. Times are
ISO-8601 UTC (2024-05-01T00:00:00Z). A --join is GROUP followed by :options —
on=COL (the base column matched against GROUP's record id; default the base's),
features=a,b, max-age=DURATION (90s, 15m, 2h, 7d), left (keep rows without a
match), prefix=P (names the joined columns P<feature>). Each base row gets the
joined group's row with the greatest event time not after the base row's event time.
Without --out the first rows are shown as a table (--show N) and counted; with
--out FILE the whole dataset is written (.parquet, .csv or .arrow, streamed).

Each dataset has an id: a hash of what it asks for and of the exact files it reads
(path, size and modification time; with --aws each S3 object's key, size and ETag).
The dataset is kept under that id (on the embedded store in STORE/datasets, with
--aws in CACHE/.fs-datasets), so the same command on unchanged data reads it back
instead of building it again, and changed data gives a new id. Record the id to
reproduce a training run; `featurestore datasets` lists and removes kept datasets.
--no-reuse builds afresh and keeps nothing.

Examples:
  featurestore dataset customers --out customers.parquet
  featurestore dataset customers --as-of 2024-06-01T00:00:00Z --from 2024-05-01T00:00:00Z
  featurestore dataset customers --include-deleted --include-duplicates --metadata --show 50
  featurestore dataset orders --join customers:features=age,city:max-age=30d --out train.csv
  featurestore dataset --entities labels.csv --entity-id customer_id --entity-time label_time \\
      --join customers --out train.parquet
  featurestore --json dataset customers --show 0 | jq -r .dataset_id")]
    Dataset(DatasetArgs),

    /// List, show, remove or clean up kept datasets (the artifacts `dataset` reuses).
    #[command(after_help = "\
Kept datasets are Arrow IPC files (readable by pyarrow, DuckDB or any Arrow
library) with what they were built from. An id may be shortened to its first 6 or
more characters.

Examples:
  featurestore datasets list
  featurestore datasets show 3f9a2c
  featurestore datasets rm 3f9a2c
  featurestore datasets gc --max-bytes 50000000000
  featurestore --aws --cache /mnt/fs-cache datasets list")]
    Datasets(DatasetsArgs),

    /// With --aws: copy a group's offline data from S3 into the local cache (only what changed).
    #[command(after_help = "\
Many training jobs on one machine can sync at once: one downloads, the others wait
and then read. Files appear only whole; a sync that was killed is completed by the
next one; corrupt or missing local files are fetched again. `dataset --aws` syncs
on its own; run `sync` ahead to warm the cache.

Examples:
  featurestore --aws --region eu-west-1 sync customers
  featurestore --aws sync customers --from 2024-05-01T00:00:00Z --cache /mnt/fs-cache")]
    Sync(SyncArgs),

    /// Move the offline outbox to Parquet files; print the files and rows.
    #[command(after_help = "\
Examples:
  featurestore flush
  featurestore --json flush")]
    Flush,

    /// Run the whole workflow on a temporary store: dataset, feature group, ingest, online and offline reads.
    #[command(after_help = "\
Steps: 1 create a dataset, 2 create a feature group inferred from it, 3 ingest it,
4 read a few known records online (with timings), 5 delete one customer and build
the training dataset from the offline Parquet files (latest row per customer,
deleted customers left out), checked against the dataset. The store is temporary
unless --dir is given.

Examples:
  featurestore demo
  featurestore demo --rows 100000 --dir ./demo")]
    Demo(DemoArgs),
}

/// A data file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DataFormat {
    /// CSV with a header row.
    Csv,
    /// Parquet (Snappy).
    Parquet,
    /// JSON Lines: one object per line.
    Jsonl,
}

/// `create-dataset`.
#[derive(Debug, Args)]
pub(crate) struct CreateDatasetArgs {
    /// Rows to write.
    #[arg(long, value_name = "N", value_parser = parse_rows)]
    pub(crate) rows: u64,
    /// The file to write.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// The format (default: from the file's extension).
    #[arg(long, value_enum)]
    pub(crate) format: Option<DataFormat>,
    /// The random seed: the same seed gives the same file.
    #[arg(long, value_name = "S", default_value_t = 42)]
    pub(crate) seed: u64,
}

/// `create-feature-group`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["definition", "from_data"]))]
pub(crate) struct CreateGroupArgs {
    /// The feature group's name.
    pub(crate) name: String,
    /// A CreateFeatureGroup JSON file.
    #[arg(long, value_name = "FILE.json")]
    pub(crate) definition: Option<PathBuf>,
    /// A CSV, Parquet or JSON Lines file to infer the features from.
    #[arg(long, value_name = "FILE", requires_all = ["record_id", "event_time"])]
    pub(crate) from_data: Option<PathBuf>,
    /// With --from-data: the record identifier column.
    #[arg(long, value_name = "COL", requires = "from_data")]
    pub(crate) record_id: Option<String>,
    /// With --from-data: the event time column.
    #[arg(long, value_name = "COL", requires = "from_data")]
    pub(crate) event_time: Option<String>,
    /// The offline store's S3 URI (the embedded store records it and writes
    /// under its own directory; with --aws, no offline store unless given).
    #[arg(long, value_name = "URI")]
    pub(crate) offline_s3_uri: Option<String>,
    /// With --aws: the IAM role the offline store writes with.
    #[arg(long, value_name = "ARN")]
    pub(crate) role_arn: Option<String>,
    /// No online store (offline only).
    #[arg(long)]
    pub(crate) no_online: bool,
    /// Print the CreateFeatureGroup JSON and create nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// Commands that take a group name only.
#[derive(Debug, Args)]
pub(crate) struct GroupNameArgs {
    /// The feature group's name.
    pub(crate) name: String,
}

/// `add-features`.
#[derive(Debug, Args)]
pub(crate) struct AddFeaturesArgs {
    /// The feature group's name.
    pub(crate) name: String,
    /// A feature to add, as NAME:TYPE (Integral, Fractional or String); repeat for more.
    #[arg(long = "feature", value_name = "NAME:TYPE", required = true, value_parser = parse_feature)]
    pub(crate) features: Vec<FeatureDefinition>,
}

/// `ingest`.
#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// The feature group.
    pub(crate) group: String,
    /// Files, directories or glob patterns (.csv, .parquet, .pq, .jsonl, .ndjson).
    #[arg(required = true, value_name = "FILE")]
    pub(crate) inputs: Vec<PathBuf>,
    /// With --aws: puts in flight (the embedded store writes one transaction per batch instead).
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(crate) concurrency: u32,
    /// Write good rows and list failed ones in FILE (.csv or .jsonl) instead of
    /// checking everything first and writing nothing when a row is bad.
    #[arg(long, value_name = "FILE")]
    pub(crate) failures: Option<PathBuf>,
    /// Skip the rows the checkpoint says an earlier run wrote.
    #[arg(long)]
    pub(crate) resume: bool,
    /// The checkpoint file (default: one per group, shard and set of inputs
    /// in the store's checkpoints/ directory, or ./.featurestore-checkpoints/ with --aws).
    #[arg(long, value_name = "FILE")]
    pub(crate) checkpoint: Option<PathBuf>,
    /// Ingest only share I of N (I from 0 to N-1): whole files, or rows by
    /// record identifier when there are fewer files than shards.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub(crate) shard: Option<(u32, u32)>,
    /// Rows per batch.
    #[arg(long, value_name = "ROWS", default_value_t = featurestore::ingest::DEFAULT_BATCH_SIZE, value_parser = parse_batch_size)]
    pub(crate) batch_size: usize,
    /// With --aws: write with BatchWriteRecord (up to 25 rows per request,
    /// --concurrency requests in flight) instead of one PutRecord per row.
    #[arg(long)]
    pub(crate) batch_write: bool,
    /// Write to these stores only (default: every store the group has).
    #[arg(long, value_name = "STORES")]
    pub(crate) target_stores: Option<TargetStores>,
    /// A time to live for the ingested records in the online store, e.g.
    /// 30d (units: s, m, h, d, w), instead of the group's default.
    #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
    pub(crate) ttl: Option<featurestore::schema::TtlDuration>,
    /// Read an empty CSV cell as an empty string for String features
    /// (default: a missing value for every type, as pandas reads it). An
    /// empty record identifier or event time is an error either way.
    #[arg(long)]
    pub(crate) keep_empty_strings: bool,
}

/// `--target-stores`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TargetStores {
    /// The online store only.
    Online,
    /// The offline store only.
    Offline,
    /// Both stores.
    Both,
}

impl TargetStores {
    /// The stores, as the API names them.
    pub(crate) fn stores(self) -> Vec<featurestore::schema::TargetStore> {
        use featurestore::schema::TargetStore;
        match self {
            Self::Online => vec![TargetStore::OnlineStore],
            Self::Offline => vec![TargetStore::OfflineStore],
            Self::Both => vec![TargetStore::OnlineStore, TargetStore::OfflineStore],
        }
    }
}

/// How `get` prints records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GetFormat {
    /// An aligned table.
    Table,
    /// JSON: {"records": [...], "missing": [...]}.
    Json,
    /// CSV with a header row.
    Csv,
}

/// `get`.
#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// The feature group.
    pub(crate) group: String,
    /// Record identifiers.
    #[arg(value_name = "ID")]
    pub(crate) ids: Vec<String>,
    /// A file of record identifiers, one per line.
    #[arg(long, value_name = "FILE")]
    pub(crate) ids_file: Option<PathBuf>,
    /// Only these features (comma-separated), in this order.
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub(crate) features: Option<Vec<String>>,
    /// The output format (default: table; json with --json).
    #[arg(long, value_enum)]
    pub(crate) format: Option<GetFormat>,
}

/// `delete-record`.
#[derive(Debug, Args)]
pub(crate) struct DeleteRecordArgs {
    /// The feature group.
    pub(crate) group: String,
    /// Record identifiers.
    #[arg(value_name = "ID", required = true)]
    pub(crate) ids: Vec<String>,
    /// The delete's event time: ISO-8601 UTC (e.g. 2024-06-01T00:00:00Z), or
    /// seconds since the epoch (default: now).
    #[arg(long, value_name = "TIME")]
    pub(crate) event_time: Option<String>,
    /// HardDelete: remove the records from the online store (default: SoftDelete).
    #[arg(long)]
    pub(crate) hard: bool,
}

/// `dataset`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("base").required(true).args(["group", "entities"]))]
pub(crate) struct DatasetArgs {
    /// The base feature group.
    pub(crate) group: Option<String>,
    /// Instead of a base group: an entity table (CSV, Parquet or JSON Lines)
    /// to join groups onto; needs --entity-id, --entity-time and --join.
    #[arg(long, value_name = "FILE", requires_all = ["entity_id", "entity_time"])]
    pub(crate) entities: Option<PathBuf>,
    /// With --entities: the identifier column.
    #[arg(long, value_name = "COL", requires = "entities")]
    pub(crate) entity_id: Option<String>,
    /// With --entities: the time column.
    #[arg(long, value_name = "COL", requires = "entities")]
    pub(crate) entity_time: Option<String>,
    /// Only these features of the base group (its record id and event time always come).
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub(crate) features: Option<Vec<String>>,
    /// The data as it was at this time: only rows written to the offline store by then.
    #[arg(long, value_name = "TIME")]
    pub(crate) as_of: Option<String>,
    /// Only rows with an event time at or after this.
    #[arg(long, value_name = "TIME")]
    pub(crate) from: Option<String>,
    /// Only rows with an event time at or before this.
    #[arg(long, value_name = "TIME")]
    pub(crate) to: Option<String>,
    /// Keep delete markers and the rows they hide.
    #[arg(long)]
    pub(crate) include_deleted: bool,
    /// Keep every row (several per record and event time), not only the latest.
    #[arg(long)]
    pub(crate) include_duplicates: bool,
    /// The N most recent rows of each record instead of the latest one.
    #[arg(long, value_name = "N")]
    pub(crate) recent: Option<u32>,
    /// Add write_time, api_invocation_time and is_deleted.
    #[arg(long)]
    pub(crate) metadata: bool,
    /// At most N rows.
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<u64>,
    /// Join a group point-in-time: `GROUP[:on=COL][:features=a,b][:max-age=7d][:left][:prefix=P]`.
    #[arg(long, value_name = "SPEC")]
    pub(crate) join: Vec<String>,
    /// Write the dataset to FILE (.parquet or .csv).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Without --out: show at most N rows.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub(crate) show: usize,
    /// Print the SQL the dataset runs as, and build nothing.
    #[arg(long)]
    pub(crate) sql: bool,
    /// With --aws: build the dataset from the local cache (synced first),
    /// from only the column chunks it needs (projected), or on Athena.
    #[arg(long, value_enum, default_value = "cache")]
    pub(crate) engine: Engine,
    /// Build the dataset afresh: neither read a kept one nor keep this one.
    #[arg(long)]
    pub(crate) no_reuse: bool,
    /// Memory the dataset's plan may hold (e.g. 512M, 8G): sorts spill to
    /// disk beyond it, and a join that cannot fails naming it (default:
    /// half of the memory this process may use).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) memory_limit: Option<usize>,
}

/// `datasets`.
#[derive(Debug, Args)]
pub(crate) struct DatasetsArgs {
    /// What to do.
    #[command(subcommand)]
    pub(crate) action: DatasetsAction,
}

/// `datasets` actions.
#[derive(Debug, Subcommand)]
pub(crate) enum DatasetsAction {
    /// The kept datasets, most recently used first.
    List,
    /// What a kept dataset is: rows, size, spec and inputs.
    Show {
        /// The dataset id (or its first 6+ characters).
        id: String,
    },
    /// Remove kept datasets (readers that have one open keep reading it).
    Rm {
        /// Dataset ids (or their first 6+ characters).
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Remove what interrupted builds left, then the least recently used
    /// datasets beyond --max-bytes.
    Gc {
        /// Keep at most this many bytes of datasets (default: the cache's budget, none).
        #[arg(long, value_name = "BYTES")]
        max_bytes: Option<u64>,
    },
}

/// Where `dataset --aws` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Engine {
    /// Sync the offline data into the local cache, then the embedded SQL engine.
    Cache,
    /// Fetch only the column chunks the dataset needs from S3 into the
    /// local cache (none twice), then the embedded SQL engine.
    Projected,
    /// Amazon Athena over the groups' Glue tables.
    Athena,
}

/// `sync`.
#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    /// The feature group.
    pub(crate) group: String,
    /// Only partitions with event times at or after this (ISO-8601 UTC).
    #[arg(long, value_name = "TIME")]
    pub(crate) from: Option<String>,
    /// Only partitions with event times at or before this.
    #[arg(long, value_name = "TIME")]
    pub(crate) to: Option<String>,
    /// GET requests in flight at first (whole objects or ranged parts).
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub(crate) concurrency: usize,
    /// The most GET requests in flight: more are added while they make the
    /// download faster. At or below --concurrency, the number stays fixed.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub(crate) max_concurrency: usize,
    /// Objects larger than this are downloaded in ranged parts of this
    /// size, several at once (e.g. 8M, 64M).
    #[arg(long, value_name = "SIZE", default_value = "16M", value_parser = parse_size)]
    pub(crate) part_size: usize,
}

/// `serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Where to listen; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub(crate) addr: SocketAddr,
}

/// `demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Keep the demo's files (dataset and store) in DIR instead of a temporary directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
    /// Rows of the dataset.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(10..=10_000_000))]
    pub(crate) rows: u64,
}

/// Parses `NAME:TYPE`.
fn parse_feature(s: &str) -> Result<FeatureDefinition, String> {
    let (name, ty) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?} is not NAME:TYPE (e.g. churn_score:Fractional)"))?;
    let feature_type = match ty.trim().to_ascii_lowercase().as_str() {
        "integral" => FeatureType::Integral,
        "fractional" => FeatureType::Fractional,
        "string" => FeatureType::String,
        _ => {
            return Err(format!(
                "unknown feature type {ty:?} in {s:?} (expected Integral, Fractional or String)"
            ));
        }
    };
    Ok(FeatureDefinition::new(name.trim(), feature_type))
}

/// Parses `I/N` with `0 <= I < N`.
fn parse_shard(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{s:?} is not I/N with 0 <= I < N (e.g. 0/4)");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let i: u32 = i.trim().parse().map_err(|_| bad())?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// Parses a time to live: a whole number of s, m, h, d or w (at least 1).
fn parse_ttl(s: &str) -> Result<featurestore::schema::TtlDuration, String> {
    use featurestore::schema::{TtlDuration, TtlUnit};
    let bad =
        || format!("{s:?} is not a time to live such as 30d (a number, then s, m, h, d or w)");
    let t = s.trim();
    let unit = match t.chars().last().ok_or_else(bad)? {
        's' => TtlUnit::Seconds,
        'm' => TtlUnit::Minutes,
        'h' => TtlUnit::Hours,
        'd' => TtlUnit::Days,
        'w' => TtlUnit::Weeks,
        _ => return Err(bad()),
    };
    match t[..t.len() - 1].parse::<u32>() {
        Ok(n) if n >= 1 => Ok(TtlDuration::new(unit, n)),
        _ => Err(bad()),
    }
}

fn parse_rows(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{s:?} is not a number of rows (1 or more)")),
    }
}

/// `512M`, `8G`, `1.5G`, `4GiB` or plain bytes (K, M, G, T are powers of 1024).
fn parse_size(s: &str) -> Result<usize, String> {
    let text = s.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let shift = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => {
            return Err(format!(
                "{s:?}: the unit must be K, M, G or T (e.g. 512M, 8G)"
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 512M, 8G)"))?;
    let bytes = value * 2f64.powi(shift);
    if !(1.0..9e18).contains(&bytes) {
        return Err(format!("{s:?}: a size from 1 byte up"));
    }
    Ok(bytes as usize)
}

fn parse_batch_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
        _ => Err(format!("{s:?} is not a batch size from 1 to 1000000")),
    }
}

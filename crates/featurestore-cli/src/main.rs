//! `featurestore`: the command line of the featurestore workspace.
//!
//! Feature groups, ingestion, online reads, a local SageMaker-compatible
//! server and a demo of the whole workflow, on the embedded store (default
//! `./.featurestore`) or, built with the `aws` feature and run with `--aws`,
//! on SageMaker Feature Store. `featurestore --help` lists the commands;
//! each command's `--help` has examples.
//!
//! Errors are one line on stderr (`error: ...`, naming the file, row and
//! column where they apply) with exit code 1; an invalid command line exits
//! with 2; an ingest that finished with failed rows exits with 3.

// A command-line program talks to its user through stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod backend;
mod cli;
mod datasets;
mod delete;
mod demo;
mod get;
mod groups;
mod ingest;
mod offline;
mod output;
mod serve;
mod synthetic;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use crate::cli::{Cli, Command};

/// mimalloc instead of the system allocator: the AWS SDK allocates many
/// small objects per request, and with glibc's malloc about a fifth of an
/// `--aws` ingest's CPU time went to allocating and freeing them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let message = info.to_string();
        // `featurestore get ... | head`: the reader went away; stop quietly,
        // as a program killed by SIGPIPE would.
        if message.contains("failed printing to stdout") {
            std::process::exit(141);
        }
        eprintln!(
            "error: internal error (a bug in featurestore, please report it): {}",
            one_line(&message)
        );
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if broken_pipe(&e) => ExitCode::from(141),
        Err(e) => {
            eprintln!("error: {}", one_line(&causes(&e)));
            if e.downcast_ref::<ingest::RowsFailed>().is_some() {
                ExitCode::from(3)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Help and version go to stdout with exit code 0; invalid command lines
/// get clap's first line (what is wrong) and a pointer to `--help`.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            // clap's message is its first paragraph (what is wrong and, for
            // missing arguments, which); usage and tips follow.
            let rendered = e.render().to_string();
            let first = rendered
                .trim_start()
                .split("\n\n")
                .next()
                .map(one_line)
                .unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(&first);
            eprintln!(
                "error: {first} (see `featurestore {}--help`)",
                subcommand_named()
            );
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, as anyhow's `{:#}` writes them (`a: b: c`),
/// leaving out a cause whose text the message already holds (many library
/// errors print their source in their own message too).
fn causes(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// True when stdout's reader went away (`featurestore get ... | head`).
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<csv::Error>().is_some_and(|c| {
                matches!(c.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe)
            })
    })
}

/// The subcommand named on the command line, with a trailing space, if any.
fn subcommand_named() -> String {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let names: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
    std::env::args()
        .skip(1)
        .find(|a| names.contains(&a.as_str()))
        .map(|a| format!("{a} "))
        .unwrap_or_default()
}

/// Joins the lines of a message into one.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

async fn run(cli: Cli) -> Result<()> {
    let global = &cli.global;
    match &cli.command {
        Command::CreateDataset(args) => synthetic::command(global, args),
        Command::CreateFeatureGroup(args) => groups::create(global, args).await,
        Command::DescribeFeatureGroup(args) => groups::describe(global, args).await,
        Command::ListFeatureGroups => groups::list(global).await,
        Command::AddFeatures(args) => groups::add_features(global, args).await,
        Command::DeleteFeatureGroup(args) => groups::delete(global, args).await,
        Command::Ingest(args) => ingest::command(global, args).await,
        Command::Get(args) => get::command(global, args).await,
        Command::DeleteRecord(args) => delete::command(global, args).await,
        Command::Serve(args) => serve::serve(global, args).await,
        Command::Dataset(args) => offline::dataset(global, args).await,
        Command::Datasets(args) => datasets::command(global, args).await,
        Command::Sync(args) => offline::sync(global, args).await,
        Command::Flush => serve::flush(global).await,
        Command::Demo(args) => demo::command(global, args).await,
    }
}

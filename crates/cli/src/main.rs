//! The `tessera` binary: parses the command line and dispatches to the subcommands.

// Printing results is this crate's job; libraries below it never print.
#![allow(clippy::print_stdout)]

mod audit;
mod backup;
mod bench;
mod clients;
mod demo;
mod logging;
mod purge;
mod render;
mod serve;
mod source;
mod store;
mod workflow;

use std::process::ExitCode;

/// The interpreter allocates many small JSON values; mimalloc serves them about twice as fast as
/// glibc's allocator (measured with `tessera bench interpreter`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

/// Tessera: identity governance with a durable workflow engine that runs SailPoint ISC workflows.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate and test workflow definitions locally.
    #[command(subcommand)]
    Workflow(workflow::Command),
    /// Run the API and the workflow engine.
    Serve(serve::ServeArgs),
    /// Work with sources: aggregate accounts.
    #[command(subcommand)]
    Source(source::Command),
    /// Measure Tessera's speed.
    #[command(subcommand)]
    Bench(bench::Command),
    /// Manage API clients on the database: list, create, disable, enable, rotate a secret, delete.
    #[command(subcommand)]
    Clients(clients::Command),
    /// Read the audit log: who changed what, newest first.
    Audit(audit::AuditArgs),
    /// Write a consistent copy of a SQLite deployment's database, while its server runs.
    Backup(backup::BackupArgs),
    /// Put a backup in place (no server may run on the data directory); the database it replaces is
    /// kept aside.
    Restore(backup::RestoreArgs),
    /// Delete what is past its retention now: ended executions, dispatched events, sent notifications,
    /// audit entries (a server does it hourly).
    Purge(purge::PurgeArgs),
    /// Manage the keys tokens are signed with.
    #[command(subcommand, name = "signing-keys")]
    SigningKeys(clients::KeysCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Workflow(command) => workflow::run(command),
        Command::Bench(command) => bench::run(command),
        Command::Serve(args) => serve::run(args),
        Command::Source(command) => source::run(command),
        Command::Clients(command) => clients::run(command),
        Command::Audit(args) => audit::run(args),
        Command::Backup(args) => backup::backup(&args),
        Command::Restore(args) => backup::restore(&args),
        Command::Purge(args) => purge::run(&args),
        Command::SigningKeys(command) => clients::run_keys(command),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

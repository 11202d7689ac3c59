//! `tessera clients` and `tessera signing-keys`: API clients and token signing keys managed on the
//! database directly, beside a running server or without one — how an administrator who lost the
//! one-time secret replaces it without deleting the data directory, and how keys are rotated.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand};
use tessera_model::{Clock, SystemClock};
use tessera_server::auth::ALL;
use tessera_server::auth::clients::{self as service, NewClient};
use tessera_server::clients;

use crate::store::StoreArgs;

/// How the audit log names the machine's operator.
const ACTOR: &str = "system:cli";

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List every API client (never its secret).
    List(ListArgs),
    /// Create a client and print its secret, once.
    Create(CreateArgs),
    /// Disable a client: its tokens are refused from now on.
    Disable(IdArgs),
    /// Enable a disabled client.
    Enable(IdArgs),
    /// Give a client a new secret (printed once); the old secret and its tokens stop working.
    Rotate(IdArgs),
    /// Delete a client and end its tokens.
    Delete(IdArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The client's name.
    name: String,
    /// A scope it holds (repeat for more); by default every scope (`sp:scopes:all`).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// The identity the client acts as.
    #[arg(long)]
    identity: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Args)]
pub(crate) struct IdArgs {
    /// The client's id.
    id: String,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Make a new token signing key; the old ones verify their tokens until those expire (or, with
    /// --revoke-old, never again).
    Rotate(RotateArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RotateArgs {
    /// Refuse every token signed before, at once (when a key may have leaked).
    #[arg(long)]
    revoke_old: bool,
    #[command(flatten)]
    store: StoreArgs,
}

fn block_on<T>(work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(work)
}

fn api(error: tessera_server::error::ApiError) -> anyhow::Error {
    anyhow!("{}", error.message)
}

pub(crate) fn run(command: Command) -> Result<ExitCode> {
    let now = SystemClock.now();
    block_on(async move {
        match command {
            Command::List(args) => {
                let store = args.store.open().await?;
                let all = clients::list_all(&store).await.map_err(api)?;
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&all)?);
                } else {
                    for client in &all {
                        let scopes: Vec<&str> =
                            client["scope"].as_array().into_iter().flatten().filter_map(|s| s.as_str()).collect();
                        println!(
                            "{}  {}  {}  scopes: {}{}",
                            client["id"].as_str().unwrap_or_default(),
                            if client["enabled"] == true { "enabled " } else { "disabled" },
                            client["name"].as_str().unwrap_or_default(),
                            scopes.join(" "),
                            client["identityId"].as_str().map(|id| format!("  acts as {id}")).unwrap_or_default(),
                        );
                    }
                }
                store.close().await;
            }
            Command::Create(args) => {
                let store = args.store.open().await?;
                let scopes = if args.scopes.is_empty() { vec![ALL.to_owned()] } else { args.scopes };
                let new = NewClient { name: args.name, scopes, identity_id: args.identity };
                let (client, secret) = service::create(&store, new, ACTOR, now).await.map_err(api)?;
                store.close().await;
                print_secret(&client.id, &secret);
            }
            Command::Disable(args) => {
                let store = args.store.open().await?;
                clients::set_enabled(&store, &args.id, false, ACTOR, now).await.map_err(api)?;
                store.close().await;
                println!("Disabled client {}: its tokens are refused within a second.", args.id);
            }
            Command::Enable(args) => {
                let store = args.store.open().await?;
                clients::set_enabled(&store, &args.id, true, ACTOR, now).await.map_err(api)?;
                store.close().await;
                println!("Enabled client {}.", args.id);
            }
            Command::Rotate(args) => {
                let store = args.store.open().await?;
                let (client, secret) = service::rotate(&store, &args.id, |_| Ok(()), ACTOR, now).await.map_err(api)?;
                store.close().await;
                print_secret(&client.id, &secret);
            }
            Command::Delete(args) => {
                let store = args.store.open().await?;
                service::delete(&store, &args.id, |_| Ok(()), ACTOR, now).await.map_err(api)?;
                store.close().await;
                println!("Deleted client {}.", args.id);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print_secret(id: &str, secret: &str) {
    println!("client id:     {id}");
    println!("client secret: {secret}");
    println!("The secret is shown only this once; tokens issued with an earlier secret are refused.");
}

pub(crate) fn run_keys(command: KeysCommand) -> Result<ExitCode> {
    let now = SystemClock.now();
    block_on(async move {
        match command {
            KeysCommand::Rotate(args) => {
                let store = args.store.open().await?;
                let id = tessera_server::auth::keys::rotate(&store, now, args.revoke_old).await?;
                store.close().await;
                println!("New token signing key {id}: running servers sign with it within 10 seconds.");
                if args.revoke_old {
                    println!("Every token signed with an older key is refused within 10 seconds.");
                } else {
                    println!("Tokens signed with the older keys are accepted until they expire.");
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

//! confab's load tool: drives a real `confab serve` over loopback with the real REST and WebSocket
//! protocol, and measures what the issue's performance targets ask for (docs/performance.md).
//!
//! ```text
//! cargo build --release --examples --bin confab
//! target/release/examples/load fanout --rooms 100 --members 100 --senders 1 --rate 1000 --seconds 60
//! target/release/examples/load fanout --rooms 100 --members 100 --rooms-per-user 10   # 1,000 users, 1 connection each
//! target/release/examples/load conns --count 10000
//! target/release/examples/load ingest --senders 64 --seconds 20 [--transport rest]
//! target/release/examples/load history --messages 1000000
//! target/release/examples/load saturate --rooms 10 --members 100
//! target/release/examples/load sweep --fill-rooms 1000 --fill-messages 1000
//! target/release/examples/load login-flood --clients 100
//! target/release/examples/load rooms-list --users 1000 --rooms 10000 --member-of 200
//! target/release/examples/load reference --rooms 10 --members 100   # saturate: bare server vs confab
//! target/release/examples/load search --messages 1000000 --ingest-rate 20000   # issue 14's bars
//! ```
//!
//! Each scenario prints a table for people and, as its last line, one JSON object for scripts
//! (the CI smoke test reads it). By default the tool starts `confab serve` itself (the binary next
//! to its own directory, e.g. `target/release/confab`) on a free port with a temporary data
//! directory, raised send limits and open registration, and stops it at the end; `--url` targets a
//! running server instead.

mod bare;
mod client;
mod conns;
mod fanout;
mod history;
mod ingest;
mod login_flood;
mod membership;
mod mesh;
mod mesh_args;
mod receiver;
mod reference;
mod report;
mod rooms_activity;
mod rooms_list;
mod rooms_measure;
mod saturate;
mod search;
mod search_queries;
mod search_report;
mod search_seed;
mod search_text;
mod search_watch;
mod sender;
mod server;
mod sweep;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use server::{ServerOpts, Target};

#[derive(Parser)]
#[command(about = "Load generator and benchmark for confab (REST + WebSocket, loopback)")]
struct Cli {
    #[command(flatten)]
    server: ServerOpts,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// R rooms x N members, S senders per room, open-loop aggregate rate: loss, order, latency.
    Fanout(fanout::Args),
    /// C idle authenticated connections joined to rooms: server RSS per connection, connect time.
    Conns(conns::Args),
    /// Closed-loop acknowledged (durable) sends over WebSocket or REST: messages/s.
    Ingest(ingest::Args),
    /// Fill one room with K messages, then time newest-50 and paged history reads.
    History(history::Args),
    /// Fan-out steps of rising rate on one R x N mesh until p99 or delivery fails: the maximum.
    Saturate(saturate::Args),
    /// Chat latency while the TTL sweep deletes many full expired rooms.
    Sweep(sweep::Args),
    /// Chat latency while clients loop on failed logins, against a baseline without them.
    LoginFlood(login_flood::Args),
    /// Fill U users and R rooms over REST (one user in M of them, with N messages in each of
    /// those, some mentioning it, half of them half read), then time that user's
    /// `GET /api/rooms` and `GET /api/rooms?member=true` and check their counts.
    RoomsList(rooms_list::Args),
    /// `saturate` against a bare tokio-tungstenite broadcast server and then against confab,
    /// in one run: both results and their ratio.
    Reference(reference::Args),
    /// Seed M chat messages into R rooms (measuring search lag and ack-to-searchable meanwhile),
    /// then the index's size, search latency under S searchers, a full reindex, and search
    /// during the 100 x 100 fan-out against the fan-out alone (issue 14).
    Search(search::Args),
    /// The bare reference server itself (started by `reference`).
    #[command(hide = true)]
    BareServer(bare::ServeArgs),
}

impl Scenario {
    /// `CONFAB_*` settings the scenario needs on the server it starts.
    fn server_env(&self) -> Vec<(String, String)> {
        match self {
            Scenario::Sweep(args) => args.server_env(),
            Scenario::LoginFlood(args) => args.server_env(),
            Scenario::Search(args) => args.server_env(),
            _ => Vec::new(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Scenario::BareServer(args) = &cli.scenario {
        return bare::serve(args).await;
    }
    let mut target = Target::start(&cli.server, cli.scenario.server_env()).await?;
    let result = match cli.scenario {
        Scenario::Fanout(args) => fanout::run(&target, &args).await,
        Scenario::Conns(args) => conns::run(&target, &args).await,
        Scenario::Ingest(args) => ingest::run(&target, &args).await,
        Scenario::History(args) => history::run(&mut target, &args).await,
        Scenario::Saturate(args) => saturate::run(&target, &args).await,
        Scenario::Sweep(args) => sweep::run(&mut target, &args).await,
        Scenario::LoginFlood(args) => login_flood::run(&target, &args).await,
        Scenario::RoomsList(args) => rooms_list::run(&target, &args).await,
        Scenario::Reference(args) => reference::run(&target, &args).await,
        Scenario::Search(args) => search::run(&target, &args).await,
        Scenario::BareServer(_) => unreachable!("served above"),
    };
    target.stop();
    let report = result?;
    report.print();
    Ok(())
}

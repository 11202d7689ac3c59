//! Ctrl-C during `tessera source aggregate`: the command says it is stopping, exits 130, records
//! the run `INTERRUPTED` with its counts (what it applied stays, nothing is removed), and the next
//! run finishes the job.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tessera_store::AccessStore;

const PEOPLE: usize = 40_000;

fn tessera(data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command.env_remove("TESSERA_SECRET_KEY").env("TESSERA_LOG", "warn").env("TESSERA_DATA_DIR", data);
    command
}

/// The demo seeded (its catalogue holds the HR source), then the server stopped.
fn seed_demo(data: &Path) {
    let mut server =
        tessera(data).args(["serve", "--demo", "--listen", "127.0.0.1:0"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening") {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the demo server stopped");
    }
    Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(server.wait().unwrap().success());
}

/// The HR source's runs, newest first.
fn runs(data: &Path) -> Vec<tessera_store::AggregationRecord> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = tessera_store::Store::open_data_dir(data).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let runs = tx.aggregations_of("demo-source-hr", 10).await.unwrap();
        tx.commit().await.unwrap();
        store.close().await;
        runs
    })
}

#[test]
fn ctrl_c_stops_an_aggregation_cleanly_and_the_next_run_finishes_it() {
    let dir = std::env::temp_dir().join(format!("tessera-interrupt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    seed_demo(&data);
    let seeded = runs(&data).len();
    let file = std::fs::File::create(data.join("imports/hr.csv")).unwrap();
    tessera_connectors::generate::write_hr_file(std::io::BufWriter::new(file), PEOPLE, 11).unwrap();

    let mut run = tessera(&data)
        .args(["source", "aggregate", "HR"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the run has applied a first batch.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the run never showed progress");
        assert!(run.try_wait().unwrap().is_none(), "the run ended before it could be interrupted");
        let latest = runs(&data);
        if latest.len() > seeded
            && latest[0].status == tessera_model::AggregationStatus::Running
            && latest[0].processed > 0
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Command::new("kill").args(["-INT", &run.id().to_string()]).status().unwrap();
    let output = run.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stderr.contains("Stopping after the current batch"), "{stderr}");
    assert!(stdout.contains(": INTERRUPTED in"), "{stdout}");
    assert!(stdout.contains("run the aggregation again to finish"), "{stdout}");

    let interrupted = runs(&data).remove(0);
    assert_eq!(interrupted.status, tessera_model::AggregationStatus::Interrupted);
    assert!(interrupted.completed_at.is_some());
    let applied = interrupted.stats["added"].as_u64().unwrap();
    assert!(applied > 0 && applied < PEOPLE as u64, "part of the file was applied: {}", interrupted.stats);
    assert_eq!(interrupted.stats["removed"], 0, "an interrupted run removes nothing: {}", interrupted.stats);

    // The next run finishes the job: what is left is added, what was applied is unchanged.
    let again = tessera(&data).args(["source", "aggregate", "HR", "--json"]).output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(summary["status"], "SUCCESS", "{summary}");
    assert_eq!(summary["scanned"], PEOPLE, "{summary}");
    let (added, unchanged) = (summary["added"].as_u64().unwrap(), summary["unchanged"].as_u64().unwrap());
    assert_eq!(added + unchanged + summary["changed"].as_u64().unwrap(), PEOPLE as u64, "{summary}");
    assert!(unchanged + summary["changed"].as_u64().unwrap() >= applied, "{summary}");
    std::fs::remove_dir_all(&dir).ok();
}

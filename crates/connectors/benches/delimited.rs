//! Throughput of the delimited reader on a generated HR file: `cargo bench -p tessera-connectors`.

use std::io::Write;
use std::time::Instant;

use tessera_connectors::generate::write_hr_file;
use tessera_connectors::{DelimitedConfig, DelimitedReader};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows = std::env::var("ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let mut file = Vec::new();
    write_hr_file(&mut file, rows, 42)?;
    let config = DelimitedConfig::new("employeeNumber");
    let mut stderr = std::io::stderr();
    for encoding in ["utf-8", "windows-1252"] {
        let config = DelimitedConfig { encoding: encoding.to_owned(), ..config.clone() };
        for round in 0..3 {
            let started = Instant::now();
            let mut read = 0usize;
            for row in DelimitedReader::new(file.as_slice(), &config)? {
                read += row?.attributes.len();
            }
            let seconds = started.elapsed().as_secs_f64();
            writeln!(
                stderr,
                "{encoding} round {round}: {rows} rows ({} MB, {read} cells) in {seconds:.3} s: {:.0} rows/s, {:.0} MB/s",
                file.len() / 1_000_000,
                rows as f64 / seconds,
                file.len() as f64 / seconds / 1e6,
            )?;
        }
    }
    Ok(())
}

//! A PostgreSQL cluster of a test's (or the fault harness's) own, made by
//! `scripts/ensure-postgres.sh`: never the machine's shared server, and the only one a test ever
//! crashes or stops. Stopped and deleted when dropped. Included by `tests/http` and
//! `benches/faults` with `#[path]`.

use std::process::{Command, Output, Stdio};

pub struct Cluster {
    pub dir: String,
    pub url: String,
}

fn script(arguments: &[&str]) -> Output {
    Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/ensure-postgres.sh"))
        .args(arguments)
        .stdin(Stdio::null())
        .output()
        .expect("scripts/ensure-postgres.sh runs")
}

impl Cluster {
    /// A new cluster on a free port of the loopback interface.
    pub fn start() -> Cluster {
        let state = tempfile::NamedTempFile::new().expect("a state file");
        let output = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/ensure-postgres.sh"))
            .env("YGOR_PG_FORCE_THROWAWAY", "1")
            .env("YGOR_PG_STATE_FILE", state.path())
            .stdin(Stdio::null())
            .output()
            .expect("scripts/ensure-postgres.sh runs");
        assert!(output.status.success(), "a throwaway cluster: {}", String::from_utf8_lossy(&output.stderr));
        let url = String::from_utf8(output.stdout).expect("a URL").trim().to_owned();
        let dir = std::fs::read_to_string(state.path()).expect("its directory").trim().to_owned();
        assert!(!dir.is_empty(), "the script started a throwaway cluster");
        assert!(url.contains("@127.0.0.1:"), "the throwaway cluster listens on loopback: {url}");
        Cluster { dir, url }
    }

    /// `pg_ctl stop -m immediate`: the server dies as in a crash.
    pub fn crash(&self) {
        let output = script(&["--crash", &self.dir]);
        assert!(output.status.success(), "crash: {}", String::from_utf8_lossy(&output.stderr));
    }

    pub fn restart(&self) {
        let output = script(&["--restart", &self.dir]);
        assert!(output.status.success(), "restart: {}", String::from_utf8_lossy(&output.stderr));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let output = script(&["--stop", &self.dir]);
        if !output.status.success() {
            eprintln!("could not remove the cluster {}: {}", self.dir, String::from_utf8_lossy(&output.stderr));
        }
    }
}

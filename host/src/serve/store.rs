//! What the shared service keeps: runs (settings, state, last statistics, CSV files) and
//! uploaded components, in one SQLite database under `--data-dir` (component bytes beside it,
//! as files named by their hash).
//!
//! Every write is a single statement or transaction, committed before the API answers, so a
//! crash loses at most the statistics since the last snapshot. Opening the store after a
//! crash or a restart marks the runs that were cut off `interrupted`, keeping what they had
//! recorded.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Serialize;

/// The store failed; the service cannot keep its promise of not losing results.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("the run database {path}: {error}")]
    Database {
        /// The database file.
        path: String,
        /// SQLite's error.
        error: rusqlite::Error,
    },
    /// A file of the data folder could not be read or written.
    #[error("{path}: {error}")]
    File {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
}

/// Where a run is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Waiting for one of its tenant's run slots.
    Queued,
    /// Loading its component, spawning or running users.
    Running,
    /// Its users are stopping.
    Stopping,
    /// It ran for its run time.
    Finished,
    /// Its tenant stopped it.
    Stopped,
    /// It could not start (the message says why).
    Failed,
    /// The service stopped while it was queued or running.
    Interrupted,
}

impl RunState {
    /// The name stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Stopping => "stopping",
            RunState::Finished => "finished",
            RunState::Stopped => "stopped",
            RunState::Failed => "failed",
            RunState::Interrupted => "interrupted",
        }
    }

    fn parse(name: &str) -> Self {
        match name {
            "queued" => RunState::Queued,
            "running" => RunState::Running,
            "stopping" => RunState::Stopping,
            "finished" => RunState::Finished,
            "stopped" => RunState::Stopped,
            "failed" => RunState::Failed,
            _ => RunState::Interrupted,
        }
    }

    /// Whether the run is over.
    pub fn is_over(self) -> bool {
        !matches!(
            self,
            RunState::Queued | RunState::Running | RunState::Stopping
        )
    }
}

/// One run as stored.
#[derive(Clone, Debug, Serialize)]
pub struct RunRecord {
    /// Its id: random, unguessable, unique.
    pub id: String,
    /// Its tenant.
    #[serde(skip)]
    pub tenant: String,
    /// Its state.
    pub state: RunState,
    /// The settings it was submitted with.
    pub settings: serde_json::Value,
    /// When it was submitted (Unix seconds).
    pub created: f64,
    /// When its users started spawning.
    pub started: Option<f64>,
    /// When it ended.
    pub ended: Option<f64>,
    /// Why it failed or was interrupted.
    pub message: Option<String>,
}

/// One uploaded component.
#[derive(Clone, Debug, Serialize)]
pub struct ComponentRecord {
    /// SHA-256 of its bytes, hex: the id runs name it by.
    pub id: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was uploaded.
    pub created: f64,
    /// What it declares: classes (names, weights, hosts), options.
    pub description: serde_json::Value,
}

/// The service's database and data folder.
pub struct Store {
    connection: Mutex<Connection>,
    path: PathBuf,
    folder: PathBuf,
}

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    PRAGMA foreign_keys = ON;
    CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        state TEXT NOT NULL,
        settings TEXT NOT NULL,
        created REAL NOT NULL,
        started REAL,
        ended REAL,
        message TEXT,
        summary TEXT
    );
    CREATE INDEX IF NOT EXISTS runs_by_tenant ON runs (tenant, created);
    CREATE TABLE IF NOT EXISTS run_files (
        run TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        content BLOB NOT NULL,
        PRIMARY KEY (run, name)
    );
    CREATE TABLE IF NOT EXISTS components (
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
        size INTEGER NOT NULL,
        created REAL NOT NULL,
        description TEXT NOT NULL,
        PRIMARY KEY (tenant, id)
    );
";

/// The CSV files a run's statistics are kept as, with the suffix `--csv` gives them.
pub const RUN_FILES: &[(&str, &str)] = &[
    ("stats", "_stats.csv"),
    ("stats_history", "_stats_history.csv"),
    ("failures", "_failures.csv"),
    ("exceptions", "_exceptions.csv"),
];

fn lock(connection: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    connection.lock().unwrap_or_else(PoisonError::into_inner)
}

fn record(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let settings: String = row.get(3)?;
    Ok(RunRecord {
        id: row.get(0)?,
        tenant: row.get(1)?,
        state: RunState::parse(&row.get::<_, String>(2)?),
        settings: serde_json::from_str(&settings).unwrap_or_default(),
        created: row.get(4)?,
        started: row.get(5)?,
        ended: row.get(6)?,
        message: row.get(7)?,
    })
}

const RUN_COLUMNS: &str = "id, tenant, state, settings, created, started, ended, message";

impl Store {
    /// Open (or create) the store in `folder`. Runs left queued or running by a previous
    /// process are marked interrupted, with the CSV files their last snapshot left on disk.
    pub fn open(folder: &Path) -> Result<Self, StoreError> {
        let file_error = |path: &Path| {
            let path = path.display().to_string();
            move |error| StoreError::File { path, error }
        };
        std::fs::create_dir_all(folder.join("runs")).map_err(file_error(folder))?;
        std::fs::create_dir_all(folder.join("components")).map_err(file_error(folder))?;
        let path = folder.join("locust.sqlite");
        let database = |error| StoreError::Database {
            path: path.display().to_string(),
            error,
        };
        let connection = Connection::open(&path).map_err(database)?;
        connection.execute_batch(SCHEMA).map_err(database)?;
        let store = Self {
            connection: Mutex::new(connection),
            path: path.clone(),
            folder: folder.to_owned(),
        };
        store.interrupt_leftovers()?;
        Ok(store)
    }

    fn database(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |error| StoreError::Database {
            path: self.path.display().to_string(),
            error,
        }
    }

    /// The folder where a run's CSV files are written while it runs.
    pub fn run_folder(&self, id: &str) -> PathBuf {
        self.folder.join("runs").join(id)
    }

    /// The file holding a tenant's component.
    pub fn component_path(&self, tenant: &str, id: &str) -> PathBuf {
        self.folder
            .join("components")
            .join(tenant)
            .join(format!("{id}.wasm"))
    }

    fn interrupt_leftovers(&self) -> Result<(), StoreError> {
        let now = crate::stats::unix_now();
        let cut: Vec<(String, String)> = {
            let connection = lock(&self.connection);
            let mut statement = connection
                .prepare(
                    "SELECT id, state FROM runs WHERE state IN ('queued', 'running', 'stopping')",
                )
                .map_err(self.database())?;
            statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .and_then(Iterator::collect)
                .map_err(self.database())?
        };
        for (id, state) in cut {
            let message = if state == "queued" {
                "the service stopped before this run started; submit it again"
            } else {
                "the service stopped while this run was running; these are its statistics up to \
                 the last snapshot"
            };
            tracing::warn!(target: "locust.serve", "run {id} was {state} when the service stopped: marked interrupted");
            self.finish(&id, RunState::Interrupted, Some(message), now)?;
        }
        Ok(())
    }

    /// Store a newly submitted run.
    pub fn insert_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        lock(&self.connection)
            .execute(
                "INSERT INTO runs (id, tenant, state, settings, created) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    run.id,
                    run.tenant,
                    run.state.name(),
                    run.settings.to_string(),
                    run.created
                ],
            )
            .map_err(self.database())?;
        Ok(())
    }

    /// A run has started spawning users.
    pub fn mark_started(&self, id: &str, at: f64) -> Result<(), StoreError> {
        lock(&self.connection)
            .execute(
                "UPDATE runs SET state = 'running', started = ?2 WHERE id = ?1",
                params![id, at],
            )
            .map_err(self.database())?;
        Ok(())
    }

    /// Set a run's state while it is not over yet.
    pub fn set_state(&self, id: &str, state: RunState) -> Result<(), StoreError> {
        lock(&self.connection)
            .execute(
                "UPDATE runs SET state = ?2 WHERE id = ?1",
                params![id, state.name()],
            )
            .map_err(self.database())?;
        Ok(())
    }

    /// A run is over: its final state, why, and its CSV files (read from its run folder,
    /// which is then removed), in one transaction.
    pub fn finish(
        &self,
        id: &str,
        state: RunState,
        message: Option<&str>,
        at: f64,
    ) -> Result<(), StoreError> {
        let folder = self.run_folder(id);
        let mut files = Vec::new();
        for (name, suffix) in RUN_FILES {
            if let Ok(content) = std::fs::read(folder.join(format!("run{suffix}"))) {
                files.push((name, content));
            }
        }
        {
            let mut connection = lock(&self.connection);
            let transaction = connection.transaction().map_err(self.database())?;
            transaction
                .execute(
                    "UPDATE runs SET state = ?2, message = ?3, ended = ?4 WHERE id = ?1",
                    params![id, state.name(), message, at],
                )
                .map_err(self.database())?;
            for (name, content) in &files {
                transaction
                    .execute(
                        "INSERT OR REPLACE INTO run_files (run, name, content) VALUES (?1, ?2, ?3)",
                        params![id, name, content],
                    )
                    .map_err(self.database())?;
            }
            transaction.commit().map_err(self.database())?;
        }
        let _ = std::fs::remove_dir_all(folder);
        Ok(())
    }

    /// Keep `summary` (the run's statistics as `/stats/requests` shows them) as its latest.
    pub fn save_summary(&self, id: &str, summary: &serde_json::Value) -> Result<(), StoreError> {
        lock(&self.connection)
            .execute(
                "UPDATE runs SET summary = ?2 WHERE id = ?1",
                params![id, summary.to_string()],
            )
            .map_err(self.database())?;
        Ok(())
    }

    /// A tenant's runs, newest first.
    pub fn runs(&self, tenant: &str) -> Result<Vec<RunRecord>, StoreError> {
        let connection = lock(&self.connection);
        let mut statement = connection
            .prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE tenant = ?1 ORDER BY created DESC, id"
            ))
            .map_err(self.database())?;
        statement
            .query_map([tenant], record)
            .and_then(Iterator::collect)
            .map_err(self.database())
    }

    /// One run of a tenant (none when it is another tenant's).
    pub fn run(&self, tenant: &str, id: &str) -> Result<Option<RunRecord>, StoreError> {
        lock(&self.connection)
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE tenant = ?1 AND id = ?2"),
                [tenant, id],
                record,
            )
            .optional()
            .map_err(self.database())
    }

    /// A run's latest statistics.
    pub fn summary(&self, tenant: &str, id: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let text: Option<Option<String>> = lock(&self.connection)
            .query_row(
                "SELECT summary FROM runs WHERE tenant = ?1 AND id = ?2",
                [tenant, id],
                |row| row.get(0),
            )
            .optional()
            .map_err(self.database())?;
        Ok(text
            .flatten()
            .and_then(|text| serde_json::from_str(&text).ok()))
    }

    /// One of a finished run's CSV files.
    pub fn file(&self, tenant: &str, id: &str, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        lock(&self.connection)
            .query_row(
                "SELECT content FROM run_files JOIN runs ON runs.id = run_files.run \
                 WHERE runs.tenant = ?1 AND runs.id = ?2 AND run_files.name = ?3",
                [tenant, id, name],
                |row| row.get(0),
            )
            .optional()
            .map_err(self.database())
    }

    /// Delete a tenant's oldest finished runs beyond `keep`; returns how many went.
    pub fn prune(&self, tenant: &str, keep: usize) -> Result<usize, StoreError> {
        let connection = lock(&self.connection);
        connection
            .execute(
                "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE tenant = ?1 AND state \
                 NOT IN ('queued', 'running', 'stopping') ORDER BY created DESC, id LIMIT -1 OFFSET ?2)",
                params![tenant, keep as i64],
            )
            .map_err(self.database())
    }

    /// Keep a tenant's component: its bytes as a file, its record in the database.
    pub fn insert_component(
        &self,
        tenant: &str,
        record: &ComponentRecord,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let path = self.component_path(tenant, &record.id);
        let file_error = |error| StoreError::File {
            path: path.display().to_string(),
            error,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(file_error)?;
        }
        // Written whole under a temporary name, then renamed: never a half component.
        let partial = path.with_extension("partial");
        std::fs::write(&partial, bytes).map_err(file_error)?;
        std::fs::rename(&partial, &path).map_err(file_error)?;
        lock(&self.connection)
            .execute(
                "INSERT OR REPLACE INTO components (tenant, id, size, created, description) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    tenant,
                    record.id,
                    record.size as i64,
                    record.created,
                    record.description.to_string()
                ],
            )
            .map_err(self.database())?;
        Ok(())
    }

    /// A tenant's components, newest first.
    pub fn components(&self, tenant: &str) -> Result<Vec<ComponentRecord>, StoreError> {
        self.query_components(tenant, None)
    }

    /// One of a tenant's components.
    pub fn component(&self, tenant: &str, id: &str) -> Result<Option<ComponentRecord>, StoreError> {
        Ok(self.query_components(tenant, Some(id))?.pop())
    }

    fn query_components(
        &self,
        tenant: &str,
        id: Option<&str>,
    ) -> Result<Vec<ComponentRecord>, StoreError> {
        let connection = lock(&self.connection);
        let mut statement = connection
            .prepare(
                "SELECT id, size, created, description FROM components WHERE tenant = ?1 \
                 AND (?2 IS NULL OR id = ?2) ORDER BY created DESC, id",
            )
            .map_err(self.database())?;
        statement
            .query_map(params![tenant, id], |row| {
                let description: String = row.get(3)?;
                Ok(ComponentRecord {
                    id: row.get(0)?,
                    size: row.get::<_, i64>(1)? as u64,
                    created: row.get(2)?,
                    description: serde_json::from_str(&description).unwrap_or_default(),
                })
            })
            .and_then(Iterator::collect)
            .map_err(self.database())
    }

    /// Forget a tenant's component; false when it has none by that id.
    pub fn delete_component(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let deleted = lock(&self.connection)
            .execute(
                "DELETE FROM components WHERE tenant = ?1 AND id = ?2",
                [tenant, id],
            )
            .map_err(self.database())?;
        let _ = std::fs::remove_file(self.component_path(tenant, id));
        Ok(deleted > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, tenant: &str, created: f64) -> RunRecord {
        RunRecord {
            id: id.to_owned(),
            tenant: tenant.to_owned(),
            state: RunState::Queued,
            settings: serde_json::json!({"users": 1}),
            created,
            started: None,
            ended: None,
            message: None,
        }
    }

    #[test]
    fn runs_are_scoped_to_their_tenant_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("store");
        store.insert_run(&run("r1", "a", 1.0)).expect("insert");
        store.insert_run(&run("r2", "b", 2.0)).expect("insert");
        store.mark_started("r1", 3.0).expect("started");
        let folder = store.run_folder("r1");
        std::fs::create_dir_all(&folder).expect("folder");
        std::fs::write(folder.join("run_stats.csv"), "Type,Name\n").expect("csv");
        store
            .save_summary("r1", &serde_json::json!({"stats": []}))
            .expect("summary");
        assert!(
            store.run("b", "r1").expect("read").is_none(),
            "another tenant's"
        );
        assert_eq!(store.runs("a").expect("runs").len(), 1);
        drop(store);

        // r1 was running and r2 queued when the "service" stopped.
        let store = Store::open(dir.path()).expect("reopen");
        let r1 = store.run("a", "r1").expect("read").expect("kept");
        assert_eq!(r1.state, RunState::Interrupted);
        assert!(r1.message.expect("why").contains("last snapshot"));
        assert_eq!(
            store.file("a", "r1", "stats").expect("file").as_deref(),
            Some(&b"Type,Name\n"[..])
        );
        assert!(store.file("b", "r1", "stats").expect("file").is_none());
        assert_eq!(
            store.summary("a", "r1").expect("summary"),
            Some(serde_json::json!({"stats": []}))
        );
        let r2 = store.run("b", "r2").expect("read").expect("kept");
        assert_eq!(r2.state, RunState::Interrupted);
        assert!(r2.message.expect("why").contains("before this run started"));
        assert!(!folder.exists(), "the files moved into the database");
    }

    #[test]
    fn pruning_keeps_the_newest_finished_runs_and_every_live_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("store");
        for index in 0..5 {
            let id = format!("r{index}");
            store
                .insert_run(&run(&id, "a", f64::from(index)))
                .expect("insert");
            if index < 4 {
                store
                    .finish(&id, RunState::Finished, None, 10.0)
                    .expect("finish");
            }
        }
        store.insert_run(&run("other", "b", 0.0)).expect("insert");
        store
            .finish("other", RunState::Finished, None, 1.0)
            .expect("finish");
        assert_eq!(store.prune("a", 2).expect("prune"), 2);
        let ids: Vec<String> = store
            .runs("a")
            .expect("runs")
            .into_iter()
            .map(|run| run.id)
            .collect();
        assert_eq!(ids, ["r4", "r3", "r2"]);
        assert_eq!(store.runs("b").expect("runs").len(), 1);
    }
}

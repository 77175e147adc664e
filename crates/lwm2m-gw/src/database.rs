//! The SQLite file under each store (`lwm2m-gw server`'s [`crate::store`] and the gateway
//! daemon's `daemon::store`): WAL mode with `synchronous=FULL`, so a write returns only once it
//! is on disk and callers can write before they acknowledge what it records.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::Connection;

/// Why the database could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DatabaseError {
    /// The data directory could not be created.
    #[error("cannot create data directory {dir}")]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// SQLite refused an operation.
    #[error("database {what} failed")]
    Sqlite {
        /// What was being done.
        what: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
}

/// Maps a SQLite error to [`DatabaseError::Sqlite`] naming what was being done.
pub(crate) fn sql<E: From<DatabaseError>>(what: &'static str) -> impl FnOnce(rusqlite::Error) -> E {
    move |source| DatabaseError::Sqlite { what, source }.into()
}

/// One open database file; calls block for one small transaction (with fsync).
#[derive(Debug)]
pub(crate) struct Database {
    connection: Mutex<Connection>,
    path: PathBuf,
}

impl Database {
    /// Opens (creating if needed) `file` in `dir` and runs `schema` (idempotent DDL).
    pub(crate) fn open(dir: &Path, file: &str, schema: &str) -> Result<Self, DatabaseError> {
        std::fs::create_dir_all(dir).map_err(|source| DatabaseError::CreateDir { dir: dir.to_owned(), source })?;
        let path = dir.join(file);
        let connection = Connection::open(&path).map_err(sql::<DatabaseError>("open"))?;
        connection.pragma_update(None, "journal_mode", "WAL").map_err(sql::<DatabaseError>("enabling wal"))?;
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(sql::<DatabaseError>("setting synchronous=full"))?;
        connection.execute_batch(schema).map_err(sql::<DatabaseError>("creating tables"))?;
        Ok(Self { connection: Mutex::new(connection), path })
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for one transaction or statement.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.connection.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

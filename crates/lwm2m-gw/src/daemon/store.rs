//! Durable state of `lwm2m-gw run`: the gateway core's [`GatewayState`] (prefix assignments,
//! the prefix counter, each distant server's reporting setting) and the End-Devices the gateway
//! has known, in one SQLite database (`gateway.sqlite3` in the data directory).
//!
//! As for the server's store, the database runs in WAL mode with `synchronous=FULL` and the
//! runtime writes from inside the engine step, before the datagrams of that step are sent: a
//! prefix is on disk before the Register that got it is acknowledged.

use std::path::Path;
use std::sync::MutexGuard;

use gateway::{GatewayState, StateChange};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};

use crate::database::{self, Database, DatabaseError};

/// File name of the database inside the data directory.
pub(crate) const DATABASE_FILE: &str = "gateway.sqlite3";

/// Why the store could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GatewayStoreError {
    /// The database file could not be opened, read or written.
    #[error(transparent)]
    Database(#[from] DatabaseError),
    /// A stored row does not hold what it should.
    #[error("stored {table} row {key:?} is invalid")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The row's key.
        key: String,
    },
}

fn sql(what: &'static str) -> impl FnOnce(rusqlite::Error) -> GatewayStoreError {
    database::sql(what)
}

/// An End-Device the gateway has known, as kept across restarts. Times are milliseconds since
/// the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KnownEndDevice {
    /// Endpoint name.
    pub(crate) endpoint: String,
    /// Its prefix.
    pub(crate) prefix: String,
    /// Whether it was registered when last written.
    pub(crate) connected: bool,
    /// When it last registered or went away.
    pub(crate) changed_ms: u64,
}

/// Besides the tables, a page cache of 64 KiB instead of SQLite's 2 MiB: the gateway writes a
/// row per End-Device change and reads the tables back only at start, and a cache as large as
/// the file would cost ~180 bytes per End-Device.
const SCHEMA: &str = "
PRAGMA cache_size = -64;
CREATE TABLE IF NOT EXISTS prefix (endpoint TEXT PRIMARY KEY NOT NULL, prefix TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS reporting (ssid INTEGER PRIMARY KEY NOT NULL, enabled INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS end_device (endpoint TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL);
";

/// The database. Calls block for one small transaction (with fsync).
#[derive(Debug)]
pub(crate) struct GatewayStore {
    database: Database,
}

impl GatewayStore {
    /// Opens (creating if needed) the database in `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Self, GatewayStoreError> {
        Ok(Self { database: Database::open(dir, DATABASE_FILE, SCHEMA)? })
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        self.database.path()
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.database.lock()
    }

    /// Writes `changes` (in order, in one transaction); [`StateChange::Everything`] writes all of
    /// `state`. An End-Device whose prefix is given up is forgotten with it.
    pub(crate) fn save_changes(&self, state: &GatewayState, changes: &[StateChange]) -> Result<(), GatewayStoreError> {
        let mut connection = self.lock();
        let tx = connection.transaction().map_err(sql("begin"))?;
        for change in changes {
            match change {
                StateChange::PrefixAssigned { endpoint, prefix, counter } => {
                    tx.execute(
                        "INSERT INTO prefix (endpoint, prefix) VALUES (?1, ?2) \
                         ON CONFLICT(endpoint) DO UPDATE SET prefix = excluded.prefix",
                        params![endpoint, prefix],
                    )
                    .map_err(sql("write prefix"))?;
                    write_counter(&tx, *counter)?;
                }
                StateChange::PrefixForgotten { endpoint } => {
                    tx.execute("DELETE FROM prefix WHERE endpoint = ?1", params![endpoint])
                        .map_err(sql("delete prefix"))?;
                    tx.execute("DELETE FROM end_device WHERE endpoint = ?1", params![endpoint])
                        .map_err(sql("delete end device"))?;
                }
                StateChange::Reporting { ssid, enabled } => {
                    tx.execute(
                        "INSERT INTO reporting (ssid, enabled) VALUES (?1, ?2) \
                         ON CONFLICT(ssid) DO UPDATE SET enabled = excluded.enabled",
                        params![ssid, enabled],
                    )
                    .map_err(sql("write reporting"))?;
                }
                StateChange::Everything => write_everything(&tx, state)?,
            }
        }
        tx.commit().map_err(sql("commit"))
    }

    /// The stored gateway state (empty on a new database).
    pub(crate) fn load_state(&self) -> Result<GatewayState, GatewayStoreError> {
        let connection = self.lock();
        let mut state = GatewayState::default();
        let mut statement = connection.prepare("SELECT endpoint, prefix FROM prefix").map_err(sql("read prefixes"))?;
        let rows = statement
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
            .map_err(sql("read prefixes"))?;
        for row in rows {
            let (endpoint, prefix) = row.map_err(sql("read prefixes"))?;
            match (lwm2m::EndpointName::new(&endpoint), lwm2m::Prefix::new(&prefix)) {
                (Ok(endpoint), Ok(prefix)) => {
                    state.prefixes.insert(endpoint, prefix);
                }
                // The End-Device gets a new prefix when it registers again.
                _ => tracing::warn!(endpoint, prefix, "stored prefix row is invalid; ignored"),
            }
        }
        let mut statement = connection.prepare("SELECT ssid, enabled FROM reporting").map_err(sql("read reporting"))?;
        let rows = statement
            .query_map([], |row| Ok((row.get::<_, u16>(0)?, row.get::<_, bool>(1)?)))
            .map_err(sql("read reporting"))?;
        for row in rows {
            let (ssid, enabled) = row.map_err(sql("read reporting"))?;
            state.reporting.insert(ssid, enabled);
        }
        let counter: Option<String> = connection
            .query_row("SELECT value FROM meta WHERE key = 'prefix_counter'", [], |row| row.get(0))
            .map_or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) }, |v| Ok(Some(v)))
            .map_err(sql("read prefix counter"))?;
        if let Some(counter) = counter {
            state.prefix_counter = counter
                .parse()
                .map_err(|_| GatewayStoreError::Corrupt { table: "meta", key: "prefix_counter".to_owned() })?;
        }
        Ok(state)
    }

    /// Adds or replaces a known End-Device.
    pub(crate) fn put_end_device(&self, device: &KnownEndDevice) -> Result<(), GatewayStoreError> {
        let doc = serde_json::to_string(device)
            .map_err(|_| GatewayStoreError::Corrupt { table: "end_device", key: device.endpoint.clone() })?;
        self.lock()
            .execute(
                "INSERT INTO end_device (endpoint, doc) VALUES (?1, ?2) ON CONFLICT(endpoint) DO UPDATE SET doc = excluded.doc",
                params![device.endpoint, doc],
            )
            .map_err(sql("write end device"))?;
        Ok(())
    }

    /// Every known End-Device, by endpoint name.
    pub(crate) fn end_devices(&self) -> Result<Vec<KnownEndDevice>, GatewayStoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare("SELECT endpoint, doc FROM end_device ORDER BY endpoint")
            .map_err(sql("read end devices"))?;
        let rows = statement
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
            .map_err(sql("read end devices"))?;
        let mut out = Vec::new();
        for row in rows {
            let (endpoint, doc) = row.map_err(sql("read end devices"))?;
            let device = serde_json::from_str(&doc)
                .map_err(|_| GatewayStoreError::Corrupt { table: "end_device", key: endpoint.clone() })?;
            out.push(device);
        }
        Ok(out)
    }
}

fn write_counter(tx: &rusqlite::Transaction<'_>, counter: u32) -> Result<(), GatewayStoreError> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('prefix_counter', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![counter.to_string()],
    )
    .map_err(sql("write prefix counter"))?;
    Ok(())
}

fn write_everything(tx: &rusqlite::Transaction<'_>, state: &GatewayState) -> Result<(), GatewayStoreError> {
    tx.execute("DELETE FROM prefix", []).map_err(sql("clear prefixes"))?;
    {
        let mut insert =
            tx.prepare("INSERT INTO prefix (endpoint, prefix) VALUES (?1, ?2)").map_err(sql("write prefix"))?;
        for (endpoint, prefix) in &state.prefixes {
            insert.execute(params![endpoint.as_str(), prefix.as_str()]).map_err(sql("write prefix"))?;
        }
    }
    tx.execute("DELETE FROM end_device WHERE endpoint NOT IN (SELECT endpoint FROM prefix)", [])
        .map_err(sql("delete end devices"))?;
    tx.execute("DELETE FROM reporting", []).map_err(sql("clear reporting"))?;
    for (ssid, enabled) in &state.reporting {
        tx.execute("INSERT INTO reporting (ssid, enabled) VALUES (?1, ?2)", params![ssid, enabled])
            .map_err(sql("write reporting"))?;
    }
    write_counter(tx, state.prefix_counter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        std::env::temp_dir().join(format!("lwm2m-gw-gwstore-{name}-{}-{nanos}", std::process::id()))
    }

    #[test]
    fn the_gateway_state_survives_a_reopen() {
        let dir = temp_dir("state");
        let assigned = |endpoint: &str, prefix: &str, counter| StateChange::PrefixAssigned {
            endpoint: endpoint.into(),
            prefix: prefix.into(),
            counter,
        };
        let mut state = GatewayState::default();
        state
            .prefixes
            .insert(lwm2m::EndpointName::new("lamp").expect("valid"), lwm2m::Prefix::new("d1").expect("valid"));
        state.prefix_counter = 2;
        state.reporting.insert(1, false);
        {
            let store = GatewayStore::open(&dir).expect("opens");
            assert_eq!(store.load_state().expect("reads"), GatewayState::default());
            let changes = [
                assigned("lamp", "d1", 1),
                assigned("thermo", "d2", 2),
                StateChange::Reporting { ssid: 1, enabled: true },
            ];
            store.save_changes(&state, &changes).expect("writes");
            let changes = [
                StateChange::PrefixForgotten { endpoint: "thermo".into() },
                StateChange::Reporting { ssid: 1, enabled: false },
            ];
            store.save_changes(&state, &changes).expect("writes again");
        }
        let store = GatewayStore::open(&dir).expect("reopens");
        assert_eq!(store.load_state().expect("reads"), state);
        state
            .prefixes
            .insert(lwm2m::EndpointName::new("plug").expect("valid"), lwm2m::Prefix::new("d9").expect("valid"));
        state.prefix_counter = 9;
        state.reporting.clear();
        store.save_changes(&state, &[StateChange::Everything]).expect("writes everything");
        assert_eq!(store.load_state().expect("reads"), state);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn known_end_devices_are_kept_until_their_prefix_is_given_up() {
        let dir = temp_dir("devices");
        let store = GatewayStore::open(&dir).expect("opens");
        for (endpoint, prefix) in [("a", "d1"), ("b", "d2")] {
            let device =
                KnownEndDevice { endpoint: endpoint.into(), prefix: prefix.into(), connected: true, changed_ms: 5 };
            store.put_end_device(&device).expect("writes");
        }
        store
            .put_end_device(&KnownEndDevice {
                endpoint: "a".into(),
                prefix: "d1".into(),
                connected: false,
                changed_ms: 9,
            })
            .expect("writes");
        store
            .save_changes(&GatewayState::default(), &[StateChange::PrefixForgotten { endpoint: "b".into() }])
            .expect("deletes");
        let devices = store.end_devices().expect("reads");
        assert_eq!(
            devices,
            [KnownEndDevice { endpoint: "a".into(), prefix: "d1".into(), connected: false, changed_ms: 9 }]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! Durable state of `lwm2m-gw server`: security entries, bootstrap configurations and
//! registrations, in one SQLite database (`state.sqlite3` in the data directory).
//!
//! The database runs in WAL mode with `synchronous=FULL`, so every write returns only once it
//! is on disk: callers write before they acknowledge (HTTP answer, CoAP ACK). Each row holds
//! one JSON document keyed by endpoint name; the shapes are the serde types of this module.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::MutexGuard;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::database::{self, Database, DatabaseError};

/// File name of the database inside the data directory.
pub(crate) const DATABASE_FILE: &str = "state.sqlite3";

/// Why the store could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// The database file could not be opened, read or written.
    #[error(transparent)]
    Database(#[from] DatabaseError),
    /// A stored row is not the JSON it should be.
    #[error("stored {table} row for {endpoint:?} is not valid json")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The row's key.
        endpoint: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

/// Credentials of one endpoint, as the security REST API and the DTLS layers use them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SecurityEntry {
    /// The endpoint name.
    pub(crate) endpoint: String,
    /// How it authenticates.
    pub(crate) mode: SecurityMode,
}

/// The DTLS credentials of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub(crate) enum SecurityMode {
    /// Pre-shared key.
    Psk {
        /// PSK identity.
        identity: String,
        /// The key, hex.
        key: String,
    },
    /// X.509 certificate whose subject CN is the endpoint name.
    X509,
}

/// Whose security store: the LwM2M Server's or the Bootstrap Server's (Leshan runs them as
/// two demos with a store each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The LwM2M Server's.
    Server,
    /// The Bootstrap Server's.
    Bootstrap,
}

impl Scope {
    fn table(self) -> &'static str {
        match self {
            Self::Server => "security",
            Self::Bootstrap => "bs_security",
        }
    }
}

/// A registration as kept across restarts. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredRegistration {
    /// Which CoAP face holds it (`coap`, `coaps`).
    pub(crate) face: String,
    /// Registration ID (`/rd/<id>`).
    pub(crate) id: String,
    /// Endpoint name.
    pub(crate) endpoint: String,
    /// Peer address.
    pub(crate) address: String,
    /// Authenticated identity, if any.
    pub(crate) identity: Option<String>,
    /// LwM2M version (`1.1`).
    pub(crate) version: String,
    /// Lifetime in seconds.
    pub(crate) lifetime: u32,
    /// Binding letters (`U`).
    pub(crate) binding: String,
    /// Queue mode.
    pub(crate) queue_mode: bool,
    /// SMS number.
    pub(crate) sms: Option<String>,
    /// Extra registration parameters.
    pub(crate) additional: BTreeMap<String, Option<String>>,
    /// The object list as link-format.
    pub(crate) objects: String,
    /// When it registered.
    pub(crate) registered_ms: u64,
    /// When it last registered or updated.
    pub(crate) updated_ms: u64,
}

/// The database. Calls block for the duration of one small transaction (with fsync).
#[derive(Debug)]
pub(crate) struct Store {
    database: Database,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS security (endpoint TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bs_security (endpoint TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bootstrap (endpoint TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS registration (endpoint TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL);
";

fn sql(what: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    database::sql(what)
}

impl Store {
    /// Opens (creating if needed) the database in `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
        Ok(Self { database: Database::open(dir, DATABASE_FILE, SCHEMA)? })
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        self.database.path()
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.database.lock()
    }

    fn put(&self, table: &'static str, endpoint: &str, doc: &str) -> Result<(), StoreError> {
        let statement = format!("INSERT INTO {table} (endpoint, doc) VALUES (?1, ?2) ON CONFLICT(endpoint) DO UPDATE SET doc = excluded.doc");
        self.lock().execute(&statement, params![endpoint, doc]).map_err(sql("write"))?;
        Ok(())
    }

    fn delete(&self, table: &'static str, endpoint: &str) -> Result<bool, StoreError> {
        let statement = format!("DELETE FROM {table} WHERE endpoint = ?1");
        Ok(self.lock().execute(&statement, params![endpoint]).map_err(sql("delete"))? > 0)
    }

    fn all<T: for<'de> Deserialize<'de>>(&self, table: &'static str) -> Result<Vec<(String, T)>, StoreError> {
        let connection = self.lock();
        let mut statement =
            connection.prepare(&format!("SELECT endpoint, doc FROM {table} ORDER BY endpoint")).map_err(sql("read"))?;
        let rows = statement
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
            .map_err(sql("read"))?;
        let mut out = Vec::new();
        for row in rows {
            let (endpoint, doc) = row.map_err(sql("read"))?;
            let value = serde_json::from_str(&doc).map_err(|source| StoreError::Corrupt {
                table,
                endpoint: endpoint.clone(),
                source,
            })?;
            out.push((endpoint, value));
        }
        Ok(out)
    }

    fn one<T: for<'de> Deserialize<'de>>(&self, table: &'static str, endpoint: &str) -> Result<Option<T>, StoreError> {
        let doc: Option<String> = self
            .lock()
            .query_row(&format!("SELECT doc FROM {table} WHERE endpoint = ?1"), params![endpoint], |row| row.get(0))
            .optional()
            .map_err(sql("read"))?;
        doc.map(|doc| {
            serde_json::from_str(&doc).map_err(|source| StoreError::Corrupt {
                table,
                endpoint: endpoint.to_owned(),
                source,
            })
        })
        .transpose()
    }

    /// Adds or replaces a security entry of `scope`.
    pub(crate) fn put_security(&self, scope: Scope, entry: &SecurityEntry) -> Result<(), StoreError> {
        self.put(scope.table(), &entry.endpoint, &to_json(entry))
    }

    /// Removes a security entry of `scope`; whether there was one.
    pub(crate) fn delete_security(&self, scope: Scope, endpoint: &str) -> Result<bool, StoreError> {
        self.delete(scope.table(), endpoint)
    }

    /// Every security entry of `scope`.
    pub(crate) fn securities(&self, scope: Scope) -> Result<Vec<SecurityEntry>, StoreError> {
        Ok(self.all(scope.table())?.into_iter().map(|(_, e)| e).collect())
    }

    /// Adds or replaces a bootstrap configuration (Leshan JSON).
    pub(crate) fn put_bootstrap(&self, endpoint: &str, config: &serde_json::Value) -> Result<(), StoreError> {
        self.put("bootstrap", endpoint, &config.to_string())
    }

    /// The bootstrap configuration of `endpoint`.
    pub(crate) fn bootstrap(&self, endpoint: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.one("bootstrap", endpoint)
    }

    /// Removes a bootstrap configuration; whether there was one.
    pub(crate) fn delete_bootstrap(&self, endpoint: &str) -> Result<bool, StoreError> {
        self.delete("bootstrap", endpoint)
    }

    /// Every bootstrap configuration, by endpoint.
    pub(crate) fn bootstraps(&self) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        self.all("bootstrap")
    }

    /// Adds or replaces a registration.
    pub(crate) fn put_registration(&self, registration: &StoredRegistration) -> Result<(), StoreError> {
        self.put("registration", &registration.endpoint, &to_json(registration))
    }

    /// Removes the registration of `endpoint` if it is still the one with `id` (the endpoint
    /// may have registered again meanwhile, on another face).
    pub(crate) fn delete_registration(&self, endpoint: &str, id: &str) -> Result<bool, StoreError> {
        let deleted = self
            .lock()
            .execute(
                "DELETE FROM registration WHERE endpoint = ?1 AND json_extract(doc, '$.id') = ?2",
                params![endpoint, id],
            )
            .map_err(sql("delete"))?;
        Ok(deleted > 0)
    }

    /// Every registration.
    pub(crate) fn registrations(&self) -> Result<Vec<StoredRegistration>, StoreError> {
        Ok(self.all("registration")?.into_iter().map(|(_, r)| r).collect())
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    // These types hold only strings, numbers, booleans and maps with string keys.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("lwm2m-gw-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn entries_survive_reopening_the_database() {
        let dir = temp_dir("reopen");
        let entry = SecurityEntry {
            endpoint: "ep1".into(),
            mode: SecurityMode::Psk { identity: "id1".into(), key: "0102".into() },
        };
        {
            let store = Store::open(&dir).unwrap();
            store.put_security(Scope::Server, &entry).unwrap();
            store.put_bootstrap("ep1", &serde_json::json!({"toDelete": ["/0"]})).unwrap();
        }
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.securities(Scope::Server).unwrap(), vec![entry]);
        assert!(store.securities(Scope::Bootstrap).unwrap().is_empty());
        assert_eq!(store.bootstrap("ep1").unwrap(), Some(serde_json::json!({"toDelete": ["/0"]})));
        assert_eq!(store.bootstraps().unwrap().len(), 1);
        assert!(store.delete_security(Scope::Server, "ep1").unwrap());
        assert!(!store.delete_security(Scope::Server, "ep1").unwrap());
        assert!(store.securities(Scope::Server).unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_registration_is_deleted_only_while_its_id_is_current() {
        let dir = temp_dir("registration");
        let store = Store::open(&dir).unwrap();
        let registration = StoredRegistration {
            face: "coap".into(),
            id: "newer".into(),
            endpoint: "ep".into(),
            address: "127.0.0.1:1".into(),
            identity: None,
            version: "1.1".into(),
            lifetime: 60,
            binding: "U".into(),
            queue_mode: false,
            sms: None,
            additional: BTreeMap::new(),
            objects: "</3/0>".into(),
            registered_ms: 1,
            updated_ms: 2,
        };
        store.put_registration(&registration).unwrap();
        assert!(!store.delete_registration("ep", "older").unwrap());
        assert_eq!(store.registrations().unwrap(), vec![registration]);
        assert!(store.delete_registration("ep", "newer").unwrap());
        assert!(store.registrations().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_database_runs_in_wal_mode_with_full_sync() {
        let dir = temp_dir("pragmas");
        let store = Store::open(&dir).unwrap();
        let mode: String = store.lock().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        let sync: i64 = store.lock().query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(sync, 2, "FULL");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

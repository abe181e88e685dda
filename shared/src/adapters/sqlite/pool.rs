//! Read connections, reused; reads run on the blocking pool and never wait for the writer (WAL).

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

use super::db_err;
use crate::ports::StoreError;

pub struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

const MAX_IDLE: usize = 8;

impl ReadPool {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn take(&self) -> Result<Connection, StoreError> {
        if let Some(c) = self.idle.lock().ok().and_then(|mut v| v.pop()) {
            return Ok(c);
        }
        let c = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db_err)?;
        c.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db_err)?;
        super::schema::fix_plans(&c).map_err(db_err)?;
        Ok(c)
    }

    fn give_back(&self, c: Connection) {
        if let Ok(mut v) = self.idle.lock()
            && v.len() < MAX_IDLE
        {
            v.push(c);
        }
    }

    /// Runs `f` on a read connection.
    pub async fn read<T, F>(self: &std::sync::Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.take()?;
            let out = f(&conn);
            pool.give_back(conn);
            out
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use rusqlite::config::DbConfig;

    use super::*;

    #[tokio::test]
    async fn read_connections_keep_their_plans() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        drop(Connection::open(&path).unwrap());
        let pool = Arc::new(ReadPool::new(path));
        let fixed = pool
            .read(|c| Ok(c.db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG).unwrap()))
            .await
            .unwrap();
        assert!(
            fixed,
            "a read connection re-prepares `LIMIT ?` statements on every call"
        );
    }
}

//! Object storage for document bytes: local disk by default, S3 in production,
//! both behind `object_store`. Metadata lives in PostgreSQL (see `projects`);
//! this module only knows keys, bytes and signed URLs.
//!
//! Keys are `tenants/{tenant_id}/documents/{document_id}`, so one tenant's
//! objects can be listed and removed by prefix when the tenant is deleted.

pub mod signed;

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt, stream::BoxStream};
use object_store::{
    ObjectStore, ObjectStoreExt, WriteMultipart,
    aws::{AmazonS3, AmazonS3Builder},
    local::LocalFileSystem,
    path::Path,
    signer::Signer,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::{Config, StorageBackend};

/// How many bytes arrived and their SHA-256 (lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub size: u64,
    pub sha256: String,
}

/// Why streaming an upload into storage failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the body is larger than the declared {declared} bytes")]
    TooLarge { declared: u64 },
    #[error("the body has {received} bytes but {declared} were declared")]
    TooSmall { declared: u64, received: u64 },
    #[error("reading the request body failed: {0}")]
    Body(String),
    #[error(transparent)]
    Store(#[from] object_store::Error),
}

/// Whether `err` comes from a full disk or an exhausted quota (ENOSPC, EDQUOT)
/// somewhere down its chain of causes.
pub fn is_disk_full(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && (io.kind() == std::io::ErrorKind::StorageFull
                || io.kind() == std::io::ErrorKind::QuotaExceeded
                || matches!(io.raw_os_error(), Some(28 | 122)))
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// The configured object store. Cheap to clone.
#[derive(Clone)]
pub struct Storage {
    backend: StorageBackend,
    store: Arc<dyn ObjectStore>,
    /// Present for S3: presigns PUT and GET URLs.
    s3: Option<Arc<AmazonS3>>,
    /// Signs tenantry's own upload URLs (local disk).
    urls: signed::UrlSigner,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Builds the store named by `STORAGE_BACKEND`; a local directory is created if missing.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let urls = signed::UrlSigner::new(config.secret_key.expose())
            .with_previous(config.secret_key_previous.as_ref().map(|k| k.expose()));
        match config.storage_backend {
            StorageBackend::Local => {
                std::fs::create_dir_all(&config.storage_path)
                    .map_err(|e| anyhow::anyhow!("STORAGE_PATH: cannot create `{}`: {e}", config.storage_path))?;
                let store = LocalFileSystem::new_with_prefix(&config.storage_path)?;
                Ok(Self {
                    backend: StorageBackend::Local,
                    store: Arc::new(store),
                    s3: None,
                    urls,
                })
            }
            StorageBackend::S3 => {
                let bucket = config
                    .s3_bucket
                    .as_deref()
                    .ok_or_else(|| anyhow::anyhow!("S3_BUCKET is required"))?;
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(&config.aws_region);
                if let Some(endpoint) = &config.aws_endpoint_url {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                if let (Some(id), Some(secret)) = (&config.aws_access_key_id, &config.aws_secret_access_key) {
                    builder = builder.with_access_key_id(id).with_secret_access_key(secret.expose());
                }
                let s3 = Arc::new(builder.build()?);
                Ok(Self {
                    backend: StorageBackend::S3,
                    store: s3.clone(),
                    s3: Some(s3),
                    urls,
                })
            }
        }
    }

    pub fn backend(&self) -> StorageBackend {
        self.backend
    }

    /// The signer of tenantry-served upload URLs.
    pub fn url_signer(&self) -> &signed::UrlSigner {
        &self.urls
    }

    /// The object key of a document.
    pub fn document_key(tenant: Uuid, document: Uuid) -> String {
        format!("tenants/{tenant}/documents/{document}")
    }

    fn path(key: &str) -> Path {
        Path::from(key)
    }

    /// Streams `body` into `key`, refusing more or fewer bytes than `declared`.
    /// On any failure the partial object is discarded, so nothing is kept.
    pub async fn write_exact<S, E>(&self, key: &str, declared: u64, body: S) -> Result<StoredObject, WriteError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let upload = self.store.put_multipart(&Self::path(key)).await?;
        let mut writer = WriteMultipart::new(upload);
        let mut hasher = Sha256::new();
        let mut received: u64 = 0;
        let mut body = body;
        let failure = loop {
            match body.next().await {
                None => break None,
                Some(Err(e)) => break Some(WriteError::Body(e.to_string())),
                Some(Ok(chunk)) => {
                    received += chunk.len() as u64;
                    if received > declared {
                        break Some(WriteError::TooLarge { declared });
                    }
                    hasher.update(&chunk);
                    if let Err(e) = writer.wait_for_capacity(4).await {
                        break Some(e.into());
                    }
                    writer.put(chunk);
                }
            }
        };
        let failure = failure.or((received < declared).then_some(WriteError::TooSmall { declared, received }));
        if let Some(err) = failure {
            let _ = writer.abort().await;
            return Err(err);
        }
        writer.finish().await?;
        Ok(StoredObject {
            size: received,
            sha256: hex::encode(hasher.finalize()),
        })
    }

    /// Stores `bytes` at `key` in one request (tests, small objects).
    pub async fn put(&self, key: &str, bytes: Bytes) -> object_store::Result<()> {
        self.store.put(&Self::path(key), bytes.into()).await.map(|_| ())
    }

    /// The object's size, or `None` when it does not exist.
    pub async fn size(&self, key: &str) -> object_store::Result<Option<u64>> {
        match self.store.head(&Self::path(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The object's bytes as a stream.
    pub async fn stream(&self, key: &str) -> object_store::Result<BoxStream<'static, object_store::Result<Bytes>>> {
        Ok(self.store.get(&Self::path(key)).await?.into_stream())
    }

    /// Size and SHA-256 of a stored object, read back in full.
    pub async fn digest(&self, key: &str) -> object_store::Result<StoredObject> {
        let mut stream = self.stream(key).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = stream.try_next().await? {
            size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        Ok(StoredObject {
            size,
            sha256: hex::encode(hasher.finalize()),
        })
    }

    /// Deletes an object; a missing object is not an error.
    pub async fn delete(&self, key: &str) -> object_store::Result<()> {
        match self.store.delete(&Self::path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Deletes objects after their rows are gone (post-commit); failures are
    /// logged, not raised: the metadata change has already happened.
    pub async fn delete_all_logged(&self, keys: &[String]) {
        for key in keys {
            if let Err(e) = self.delete(key).await {
                tracing::warn!(key, error = ?e.to_string(), "could not delete stored object");
            }
        }
    }

    /// Deletes every object under `prefix`; returns how many were removed.
    pub async fn delete_prefix(&self, prefix: &str) -> object_store::Result<u64> {
        let prefix = Self::path(prefix);
        let locations: Vec<Path> = self
            .store
            .list(Some(&prefix))
            .map_ok(|m| m.location)
            .try_collect()
            .await?;
        let mut deleted = 0;
        for location in locations {
            match self.store.delete(&location).await {
                Ok(()) => deleted += 1,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    }

    /// A presigned S3 URL for `method` on `key`; `None` on local disk.
    pub async fn presign(
        &self,
        method: object_store::signer::Method,
        key: &str,
        expires_in: Duration,
    ) -> object_store::Result<Option<url::Url>> {
        match &self.s3 {
            Some(s3) => Ok(Some(s3.signed_url(method, &Self::path(key), expires_in).await?)),
            None => Ok(None),
        }
    }

    /// Health probe: a listing round trip.
    pub async fn check(&self) -> object_store::Result<()> {
        let mut list = self.store.list(Some(&Self::path("health")));
        list.next().await.transpose().map(|_| ())
    }
}

/// The `storage` entry of `/health/detailed`: backend and a listing round trip.
pub async fn health(storage: &Storage) -> serde_json::Value {
    let start = std::time::Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(2), storage.check()).await;
    let backend = match storage.backend() {
        StorageBackend::Local => "local",
        StorageBackend::S3 => "s3",
    };
    let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(Ok(())) => serde_json::json!({"status": "ok", "backend": backend, "latency_ms": latency_ms}),
        Ok(Err(e)) => {
            tracing::warn!(error = ?e.to_string(), "storage health check failed");
            serde_json::json!({"status": "error", "backend": backend, "latency_ms": latency_ms, "error": "storage unreachable"})
        }
        Err(_) => {
            serde_json::json!({"status": "error", "backend": backend, "latency_ms": latency_ms, "error": "timed out"})
        }
    }
}

/// Deletes every stored object of `tenant` (tenant deletion; call after the
/// tenant's rows are gone). Returns how many objects were removed.
pub async fn delete_tenant_objects(storage: &Storage, tenant_id: Uuid) -> anyhow::Result<u64> {
    Ok(storage.delete_prefix(&format!("tenants/{tenant_id}")).await?)
}

#[cfg(test)]
mod tests {
    use super::is_disk_full;

    fn store_error(io: std::io::Error) -> object_store::Error {
        object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(io),
        }
    }

    #[test]
    fn a_full_disk_is_recognised_through_the_store_error() {
        let enospc = store_error(std::io::Error::from_raw_os_error(28));
        assert!(is_disk_full(&enospc));
        let quota = store_error(std::io::Error::from(std::io::ErrorKind::QuotaExceeded));
        assert!(is_disk_full(&quota));
        let denied = store_error(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert!(!is_disk_full(&denied));
    }
}

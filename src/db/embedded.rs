//! placeholder while helper-1 writes the real module
pub async fn ensure_cluster(_data_dir: &std::path::Path) -> anyhow::Result<String> { anyhow::bail!("embedded PostgreSQL not ready") }
pub async fn ensure_database(_url: &str, _name: &str) -> anyhow::Result<String> { anyhow::bail!("embedded PostgreSQL not ready") }

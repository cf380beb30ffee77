//! `tenantry seed`: sample data for trying the API.

use crate::app::AppState;

pub async fn run(_state: &AppState) -> anyhow::Result<()> {
    anyhow::bail!("seed is not implemented yet")
}

//! The audit chain: rows are append-only, tampering is detected, and only a
//! tenant's deletion removes its trail.

use serde_json::json;
use tenantry::{
    audit::{self, AuditAction, AuditActor, AuditEvent},
    db::TenantId,
};
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn audit_rows_are_append_only_and_tampering_is_detected() {
    let app = TestApp::spawn().await;
    let a = app.seed_tenant("audited").await;
    let mut tx = app.state.db.tenant_tx(TenantId::from_trusted(a.id)).await.unwrap();
    for i in 0..3 {
        audit::record(
            &mut tx,
            TenantId::from_trusted(a.id),
            &AuditActor::default(),
            AuditEvent::new(AuditAction::ProjectCreated, "project", i).new_values(json!({"name": format!("p{i}")})),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = app.state.db.tenant_tx(TenantId::from_trusted(a.id)).await.unwrap();
    let ok = audit::verify_chain(&mut tx, a.id).await.unwrap();
    assert!(ok.valid && ok.rows_checked == 3, "{ok:?}");
    drop(tx);
    for change in [
        "UPDATE audit_logs SET action = 'project.deleted'",
        "DELETE FROM audit_logs",
    ] {
        let mut tx = app.state.db.tenant_tx(TenantId::from_trusted(a.id)).await.unwrap();
        let err = sqlx::query(change).execute(&mut *tx).await.unwrap_err();
        assert!(
            err.to_string().contains("append-only") || err.to_string().contains("permission denied"),
            "{err}"
        );
    }

    // A superuser who disables the guard and edits a row is caught by verification.
    let mut su = app.db.superuser().await;
    sqlx::query("ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_immutable")
        .execute(&mut su)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_logs SET new_values = '{\"name\":\"forged\"}' WHERE tenant_id = $1 AND seq = 2")
        .bind(a.id)
        .execute(&mut su)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_immutable")
        .execute(&mut su)
        .await
        .unwrap();
    let mut tx = app.state.db.tenant_tx(TenantId::from_trusted(a.id)).await.unwrap();
    let bad = audit::verify_chain(&mut tx, a.id).await.unwrap();
    assert!(!bad.valid);
    assert_eq!(bad.first_broken_seq, Some(2));
}

#[tokio::test]
async fn deleting_a_tenant_removes_its_audit_trail_but_nothing_else_can() {
    let app = TestApp::spawn().await;
    let a = app.seed_tenant("doomed").await;
    let b = app.seed_tenant("keeper").await;
    for t in [&a, &b] {
        let mut tx = app.state.db.tenant_tx(TenantId::from_trusted(t.id)).await.unwrap();
        audit::record(
            &mut tx,
            TenantId::from_trusted(t.id),
            &AuditActor::default(),
            AuditEvent::new(AuditAction::TenantUpdated, "tenant", t.id),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let mut tx = app.state.db.cli_command("test").tx().await.unwrap();
    sqlx::query("DELETE FROM tenants WHERE id = $1")
        .bind(a.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut su = app.db.superuser().await;
    let left: Vec<Uuid> = sqlx::query_scalar("SELECT DISTINCT tenant_id FROM audit_logs WHERE tenant_id IN ($1, $2)")
        .bind(a.id)
        .bind(b.id)
        .fetch_all(&mut su)
        .await
        .unwrap();
    assert_eq!(left, vec![b.id]);
}

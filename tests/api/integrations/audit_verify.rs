//! `tenantry audit verify`: an export from a real server, with awkward values,
//! verifies offline (the real binary, no database in its environment); one
//! changed byte or one removed row is reported at its line. And the `jsonb`
//! text renderer it relies on agrees with PostgreSQL on generated documents.

use std::process::Stdio;

use reqwest::StatusCode;
use serde_json::json;
use tenantry::audit::{
    jsonb_text::Jsonb,
    verify::{FileFormat, VerifyError, verify},
};

use crate::helpers::*;

/// Rows with unicode, quotes, control characters, nesting, numbers such as
/// 1.50 and 1e3, nulls and a machine principal, chained by the real trigger.
async fn awkward_rows(app: &TestApp, tenant: uuid::Uuid) {
    let mut c = app.db.superuser().await;
    let values = [
        r#"{"price": 1.50, "count": 1e3, "tiny": 1.5e-3, "neg": -0.0, "big": 123456789012345678901234567890.10}"#,
        r#"{"name": "Zoë \"the\" café ☕ 😀", "path": "C:\\temp\\x", "ctl": "tab\there\nnew\u0001line", "slash": "a/b"}"#,
        r#"{"nested": {"list": [1, [2, {"z": null, "a": true}], {}], "b": {"deeper": {"x": []}}}, "k": "v", "kk": false}"#,
        r#"{"dup": 1, "dup": 2, "é": 1, "e": 2, "ee": 3}"#,
        "null",
    ];
    for (i, v) in values.iter().enumerate() {
        sqlx::query(
            "INSERT INTO audit_logs (tenant_id, id, seq, actor_id, action, resource_type, resource_id, old_values, \
             new_values, ip_address, user_agent, request_id, actor_principal, prev_hash, hash) \
             VALUES ($1, gen_random_uuid(), 0, NULL, 'project.updated', 'project', $2, $3::jsonb, $4::jsonb, $5, $6, \
             $7, $8, '\\x', '\\x')",
        )
        .bind(tenant)
        .bind((i % 2 == 0).then(|| format!("res-{i}")))
        .bind((i == 2).then_some(r#"{"old": "välue, with \"quotes\""}"#))
        .bind(*v)
        .bind("2001:db8::1")
        .bind(format!("agent \"{i}\",\t<ünïcödé>\r\n"))
        .bind((i != 1).then(|| format!("req-{i}")))
        .bind((i % 2 == 1).then(|| format!("api_key:ci ✓ {i}")))
        .execute(&mut c)
        .await
        .unwrap();
    }
}

async fn export(app: &TestApp, token: &str, format: &str) -> String {
    let r = app
        .client
        .get(app.url(&format!("/api/v1/audit/export?format={format}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

/// Runs the real binary with an empty environment; (exit code, stdout).
async fn run_verify(dir: &tempfile::TempDir, name: &str, content: &str) -> (i32, String) {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args(["audit", "verify", "--file"])
        .arg(&path)
        .current_dir(dir.path())
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

#[tokio::test]
async fn an_export_verifies_offline_and_tampering_is_reported_at_its_row() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let r = app
        .post(
            "/api/v1/projects",
            &admin,
            json!({"name": "Ünïcode \"quoted\" 😀", "description": "a\\b"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    awkward_rows(&app, t.id).await;
    let r = app.post("/api/v1/projects", &admin, json!({"name": "After"})).await;
    assert_eq!(r.status, StatusCode::CREATED);

    let ndjson = export(&app, &admin, "ndjson").await;
    let rows = ndjson.lines().count();
    assert!(rows >= 8, "{ndjson}");
    assert!(
        ndjson.contains("1.50") && ndjson.contains(": 1000"),
        "numbers as jsonb prints them: {ndjson}"
    );
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run_verify(&dir, "export.ndjson", &ndjson).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("OK, {rows} rows checked, 1 chain(s)")), "{out}");
    let head: String = sqlx::query_scalar("SELECT encode(hash, 'hex') FROM audit_chain_heads WHERE tenant_id = $1")
        .bind(t.id)
        .fetch_one(&mut app.db.superuser().await)
        .await
        .unwrap();
    assert!(out.contains(&format!("head seq {rows} hash {head}")), "{out}");

    // One byte of one row's values: that row is reported, with both hashes.
    let lines: Vec<&str> = ndjson.lines().collect();
    let at = lines.iter().position(|l| l.contains(r#"price": 1.50"#)).unwrap();
    let mut tampered = lines.clone();
    let changed = lines[at].replacen(r#"price": 1.50"#, r#"price": 1.51"#, 1);
    tampered[at] = &changed;
    let id = serde_json::from_str::<serde_json::Value>(lines[at]).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, out) = run_verify(&dir, "tampered.ndjson", &(tampered.join("\n") + "\n")).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("line {}, row {id}", at + 1)), "{out}");
    assert!(out.contains("hash does not verify: expected "), "{out}");

    // A changed text field (user agent) of another row.
    let ua = lines.iter().position(|l| l.contains("ünïcödé")).unwrap();
    let mut tampered = lines.clone();
    let changed = lines[ua].replacen("ünïcödé", "ünïcödè", 1);
    tampered[ua] = &changed;
    let (code, out) = run_verify(&dir, "ua.ndjson", &tampered.join("\n")).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("line {},", ua + 1)), "{out}");

    // A removed row: the next one no longer links.
    let mut removed = lines.clone();
    removed.remove(3);
    let (code, out) = run_verify(&dir, "removed.ndjson", &removed.join("\n")).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("line 4,") && out.contains("seq does not verify: expected 4, found 5"),
        "{out}"
    );
    // The first row removed: the chain no longer starts at 1 (unless partial).
    let (code, out) = run_verify(&dir, "headless.ndjson", &lines[1..].join("\n")).await;
    assert_eq!(code, 1, "{out}");
    let partial = verify(lines[1..].join("\n").as_bytes(), FileFormat::Ndjson, true).unwrap();
    assert_eq!(partial.rows as usize, rows - 1);
    // A row removed and the next one rewritten to fit (seq and prev_hash):
    // the links hold, its own hash does not.
    let row = |i: usize| serde_json::from_str::<serde_json::Value>(lines[i]).unwrap();
    let (before, gone, next) = (row(1), row(2), row(3));
    let forged = lines[3]
        .replacen(gone["hash"].as_str().unwrap(), before["hash"].as_str().unwrap(), 1)
        .replacen(
            &format!("\"seq\":{},", next["seq"]),
            &format!("\"seq\":{},", gone["seq"]),
            1,
        );
    let mut relinked: Vec<&str> = lines.clone();
    relinked[3] = &forged;
    relinked.remove(2);
    match verify(relinked.join("\n").as_bytes(), FileFormat::Ndjson, false) {
        Err(VerifyError::Broken(b)) => assert_eq!((b.line, b.field), (3, "hash"), "{b}"),
        other => panic!("{other:?}"),
    }

    // CSV: the same chain; a changed byte is reported too.
    let csv = export(&app, &admin, "csv").await;
    let (code, out) = run_verify(&dir, "export.csv", &csv).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("OK, {rows} rows checked")), "{out}");
    let changed = csv.replacen(r#"price"": 1.50"#, r#"price"": 1.51"#, 1);
    assert_ne!(changed, csv);
    let (code, out) = run_verify(&dir, "tampered.csv", &changed).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("row {id}")), "{out}");
    assert!(out.contains("hash does not verify"), "{out}");
}

/// A tiny deterministic generator (xorshift), so failures reproduce.
struct Gen(u64);

impl Gen {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn string(&mut self) -> String {
        const PIECES: [&str; 14] = [
            "a",
            "B",
            "é",
            "😀",
            "\\\"",
            "\\\\",
            "\\n",
            "\\t",
            "\\u0007",
            "\\u00e9",
            "/",
            "\\/",
            "\\ud83d\\ude00",
            " ",
        ];
        let len = self.next(6);
        let body: String = (0..len)
            .map(|_| PIECES[self.next(PIECES.len() as u64) as usize])
            .collect();
        format!("\"{body}\"")
    }

    fn number(&mut self) -> String {
        let mut s = String::new();
        if self.next(3) == 0 {
            s.push('-');
        }
        s.push_str(&(self.next(2000) as i64 - 5).max(0).to_string());
        if self.next(2) == 0 {
            s.push('.');
            s.push_str(&format!(
                "{:0width$}",
                self.next(1000),
                width = 1 + self.next(4) as usize
            ));
        }
        if self.next(3) == 0 {
            s.push_str(["e", "E", "e+", "e-", "E-"][self.next(5) as usize]);
            s.push_str(&self.next(25).to_string());
        }
        s
    }

    fn value(&mut self, depth: u32) -> String {
        match self.next(if depth > 3 { 5 } else { 7 }) {
            0 => "null".into(),
            1 => ["true", "false"][self.next(2) as usize].into(),
            2 | 3 => self.number(),
            4 => self.string(),
            5 => {
                let items: Vec<String> = (0..self.next(4)).map(|_| self.value(depth + 1)).collect();
                format!("[{}]", items.join(" ,"))
            }
            _ => {
                let members: Vec<String> = (0..self.next(5))
                    .map(|_| format!("{} :{}", self.string(), self.value(depth + 1)))
                    .collect();
                format!("{{ {} }}", members.join(","))
            }
        }
    }
}

#[tokio::test]
async fn jsonb_text_matches_postgresql_on_generated_documents() {
    let db = TestDb::new().await;
    let mut rng = Gen(0x9E37_79B9_7F4A_7C15);
    let docs: Vec<String> = (0..2000).map(|_| rng.value(0)).collect();
    let pg: Vec<String> =
        sqlx::query_scalar("SELECT d::jsonb::text FROM unnest($1::text[]) WITH ORDINALITY AS x(d, n) ORDER BY n")
            .bind(&docs)
            .fetch_all(&mut db.superuser().await)
            .await
            .unwrap();
    for (doc, expected) in docs.iter().zip(&pg) {
        let ours = Jsonb::parse(doc).unwrap_or_else(|e| panic!("{doc}: {e}")).to_pg_text();
        assert_eq!(&ours, expected, "input: {doc}");
    }
}

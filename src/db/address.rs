//! What DATABASE_URL says about where PostgreSQL is and what stands between:
//! a transaction pooler, or the same machine.

/// Whether `url` turns sqlx's statement cache off (`statement-cache-capacity=0`,
/// sqlx's own parameter), which is how DATABASE_URL says it points at a
/// transaction pooler such as PgBouncer < 1.21, where consecutive transactions of
/// one client connection run on different server connections. sqlx still names
/// every prepared statement (`sqlx_s_N`, numbered per client connection) with the
/// cache off, and the pooler leaves them behind on the server connection, where
/// another client's `sqlx_s_1` collides. So in this mode every transaction first
/// drops the statements previous transactions left on its server connection
/// (`DEALLOCATE ALL`, in the BEGIN round trip), and the pool sets no session
/// state (no `SET ROLE` on connect: every transaction sets its role itself).
pub fn behind_transaction_pooler(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| {
        u.query_pairs()
            .any(|(k, v)| k == "statement-cache-capacity" && v.trim() == "0")
    })
}

/// Whether `url` reaches PostgreSQL on this machine: a loopback address,
/// `localhost`, or a Unix socket (a `host=/…` parameter, or no host at all).
pub fn is_local_database(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    let param = u.query_pairs().find(|(k, _)| k == "host").map(|(_, v)| v.into_owned());
    let host = param.unwrap_or_else(|| u.host_str().unwrap_or_default().to_string());
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.is_empty()
        || host.starts_with('/')
        || host == "localhost"
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

//! Rebuilds when a migration is added or changed: `sqlx::migrate!` embeds the
//! `migrations/` folder at compile time, and without this Cargo would keep a
//! binary that lacks the newest migration (as `sqlx migrate build-script` sets up).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

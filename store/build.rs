//! `sqlx::migrate!` embeds the migration files with `include_str!`, which tracks the files that exist
//! but not the directories: without this, adding a migration would not rebuild the crate and the
//! binary would silently ship the old schema.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}

//! HTTP integration tests: every endpoint and every error code, over real HTTP, on SQLite and on
//! PostgreSQL.

mod accepted;
mod audit;
mod batch;
mod cli;
mod demo;
mod errors;
mod gold;
mod helpers;
mod lifecycle;
mod outage;
mod overload;
mod projections;
mod races;
mod refusals;
mod rules_gaming;
mod shutdown;
mod stalled;
#[path = "../support/throwaway_postgres.rs"]
mod throwaway_postgres;
mod writer;

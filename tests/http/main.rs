//! HTTP integration tests: every endpoint and every error code, over real HTTP, on SQLite and on
//! PostgreSQL.

mod accepted;
mod association_pages;
mod audit;
mod batch;
mod browser;
mod citizen_pages;
mod citizen_views;
mod cli;
mod collectivity_pages;
mod demo;
mod discovery;
mod errors;
mod exports;
mod gold;
mod helpers;
mod lifecycle;
mod offers;
mod outage;
mod overload;
mod pages_association;
mod pages_docs;
mod pages_token_loop;
mod pages_transparency;
mod projections;
mod races;
mod refusals;
mod rules_gaming;
mod shutdown;
mod stalled;
#[path = "../support/throwaway_postgres.rs"]
mod throwaway_postgres;
mod venue_pages;
mod web_client;
mod web_login;
mod writer;

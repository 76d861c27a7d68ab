//! Read models, rebuilt from the event log and kept up to date by tailing it in position order.
//!
//! Every read model is a pure function of the log: the runner applies each event exactly once, in
//! position order, and readers can wait until a given position is applied (read-your-writes).
//! The read models live in memory, so reads never touch the database. Every `snapshot_every`
//! events the runner writes a snapshot of all of them together with the position they include,
//! made visible in one transaction: the state and its checkpoint can never disagree, so a crash at any point neither
//! loses nor doubles an event. A start loads the snapshot and replays only the events after it
//! (or replays from position 0 when there is none, or when its format is older). The books check
//! conservation after every event and stop the runner loudly if it ever fails.

pub mod audit;
pub mod missions;
pub mod participation;
pub mod profiles;
pub mod venues;
pub mod verify;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use ygor_ledger::books::{AnyEvent, Books, Circulation};
use ygor_ledger::partner::PartnerEvent;
use ygor_ledger::territory::TerritoryEvent;
use ygor_ledger::wallet::Holdings;
use ygor_ledger::{CitizenId, Draw, DrawId, PartnerId, PartnerKind};
use ygor_rules::Rules;

use crate::audit::AuditTrail;
use crate::missions::Missions;
use crate::profiles::Profiles;
use crate::venues::Venues;
use ygor_store::{EventLog, Position, StoreError, StoredEvent};

/// How many events one read of the log returns.
const PAGE: usize = 2_000;

/// How many events fed by the engine the runner holds before it applies them; past it, it leaves
/// the rest in the engine's (bounded) feed.
const FED_MAX: usize = 8 * PAGE;

/// How many events one read of the log returns during a replay (a rebuild, or a start).
const REPLAY_PAGE: usize = 5_000;

/// How many pages of a replay are read ahead of the one being decoded.
const REPLAY_PAGES_AHEAD: usize = 2;

/// How many events of a replay one blocking task decodes and hashes.
const REPLAY_CHUNK: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("event at position {position} does not decode: {message}")]
    Decode { position: Position, message: String },
    #[error("snapshot: {0}")]
    Snapshot(String),
    #[error("conservation violated at position {position}: {message}")]
    Conservation { position: Position, message: String },
}

/// All read models, as of `position`. Every field is a pure function of the log up to there; all
/// maps are ordered, so two replays serialise identically.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadModels {
    pub position: Position,
    pub books: Books,
    /// The rules in force, for badges.
    pub rules: Option<Rules>,
    /// Partners' kind and name, for dashboards and lists.
    pub partners: BTreeMap<PartnerId, (PartnerKind, String)>,
    /// Wallets as the citizen sees them: the holdings the `Wallet` aggregate folds to (its
    /// decision-only state, the registry of actions and the used vouchers, is not kept here).
    pub wallets: BTreeMap<CitizenId, Holdings>,
    pub profiles: Profiles,
    pub missions: Missions,
    pub venues: Venues,
    /// (next expiry, citizen) of every wallet with a lot still holding tokens that the sweep has
    /// not written off ([`Holdings::next_expiry`]): where the expiry sweep looks. One entry per
    /// wallet, not one per lot.
    pub expiries: BTreeSet<(DateTime<Utc>, CitizenId)>,
    /// The Merkle tree over the log, for checkpoints and proofs.
    pub audit: AuditTrail,
    /// Draws as their aggregate folds them: terms, entries, result.
    pub draws: BTreeMap<DrawId, Draw>,
}

/// An event this process appended, handed to its projections by the engine with its position
/// once committed: the stored form (for the audit leaf) and the typed event the engine decided
/// (applied as it is, not decoded again from JSON). Applying it has the same effect as applying
/// the same event read back from the log.
#[derive(Debug, Clone)]
pub struct FedEvent {
    pub position: Position,
    pub stored: ygor_store::NewEvent,
    pub event: AnyEvent,
}

impl ReadModels {
    pub fn circulation(&self) -> Circulation {
        self.books.circulation()
    }

    /// Applies an event fed by the engine: the same effect as [`ReadModels::apply_recorded`] on
    /// the event read back.
    pub fn apply_fed(&mut self, fed: FedEvent) -> Result<(), ProjectionError> {
        let position = fed.position;
        let leaf_hash = audit::appended_leaf_hash(position, &fed.stored)
            .map_err(|error| ProjectionError::Decode { position, message: error.to_string() })?;
        self.audit.push_leaf_hash(position, leaf_hash);
        self.apply(position, fed.event)
    }

    /// Applies one stored event: its Merkle leaf, then its effect on every read model.
    pub fn apply_recorded(&mut self, recorded: &ygor_store::RecordedEvent) -> Result<(), ProjectionError> {
        let position = recorded.position;
        let event = ygor_ledger::codec::decode_serialized(&recorded.event)
            .map_err(|error| ProjectionError::Decode { position, message: error.to_string() })?;
        self.audit
            .append(recorded)
            .map_err(|error| ProjectionError::Decode { position, message: error.to_string() })?;
        self.apply(position, event)
    }

    /// Applies one event read with [`EventLog::read_stored_after`]: the same effect as
    /// [`ReadModels::apply_recorded`] on the same event read with [`EventLog::read_after`].
    pub fn apply_stored(&mut self, stored: &StoredEvent) -> Result<(), ProjectionError> {
        self.apply_decoded(DecodedEvent::from_stored(stored)?)
    }

    /// Applies an event decoded and hashed already: its Merkle leaf, then its effect.
    fn apply_decoded(&mut self, decoded: DecodedEvent) -> Result<(), ProjectionError> {
        self.audit.push_leaf_hash(decoded.position, decoded.leaf_hash);
        self.apply(decoded.position, decoded.event)
    }

    /// Applies one event; fails (and the runner stops) if conservation breaks.
    pub fn apply(&mut self, position: Position, event: AnyEvent) -> Result<(), ProjectionError> {
        self.books
            .post(&event)
            .map_err(|error| ProjectionError::Conservation { position, message: error.to_string() })?;
        match event {
            AnyEvent::Territory(TerritoryEvent::RulesPublished { rules, .. }) => self.rules = Some(rules),
            AnyEvent::Territory(_) => {}
            AnyEvent::Partner(partner_id, event) => {
                if let PartnerEvent::PartnerRegistered { kind, name, .. } = &event {
                    self.partners.insert(partner_id, (*kind, name.clone()));
                }
                self.venues.apply(partner_id, &event);
            }
            AnyEvent::Mission(mission_id, event) => self.missions.apply(mission_id, &event),
            AnyEvent::Draw(draw_id, event) => self.draws.entry(draw_id).or_default().apply_event(event),
            AnyEvent::Wallet(citizen_id, event) => {
                self.profiles.apply(citizen_id, &event, self.rules.as_ref());
                let wallet = self.wallets.entry(citizen_id).or_default();
                let before = wallet.next_expiry();
                wallet.apply(&event);
                let after = wallet.next_expiry();
                if before != after {
                    if let Some(before) = before {
                        self.expiries.remove(&(before, citizen_id));
                    }
                    if let Some(after) = after {
                        self.expiries.insert((after, citizen_id));
                    }
                }
            }
        }
        self.position = position;
        Ok(())
    }

    /// Citizens holding a lot that expired at or before `now` and was not swept yet.
    pub fn wallets_with_expired_lots(&self, now: DateTime<Utc>) -> Vec<CitizenId> {
        let mut found: Vec<CitizenId> = self
            .expiries
            .iter()
            .take_while(|(expires_at, _)| *expires_at <= now)
            .map(|(_, citizen)| *citizen)
            .filter(|citizen| self.wallets.get(citizen).is_some_and(|wallet| !wallet.expired_unswept(now).is_empty()))
            .collect();
        found.sort();
        found.dedup();
        found
    }

    /// The participation dashboard along `dimension`, for actions with `from <= occurred_at < to`.
    pub fn participation(
        &self,
        dimension: participation::Dimension,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Vec<participation::Row> {
        participation::rows(&self.profiles, &self.wallets, dimension, from, to, &self.association_names())
    }

    /// Association names, for dashboards.
    pub fn association_names(&self) -> BTreeMap<PartnerId, String> {
        self.partners
            .iter()
            .filter(|(_, (kind, _))| *kind == PartnerKind::Association)
            .map(|(id, (_, name))| (*id, name.clone()))
            .collect()
    }
}

/// A handle on the live read models, shared by the HTTP handlers.
#[derive(Clone)]
pub struct Projections {
    models: Arc<RwLock<ReadModels>>,
    applied: watch::Receiver<Position>,
}

impl Projections {
    /// Reads the read models under a short read lock.
    pub fn read<T>(&self, reader: impl FnOnce(&ReadModels) -> T) -> T {
        let models = self.models.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        reader(&models)
    }

    pub fn applied(&self) -> Position {
        *self.applied.borrow()
    }

    /// Waits until the projections have applied `position`, at most `timeout`; false on timeout.
    pub async fn wait_for(&self, position: Position, timeout: Duration) -> bool {
        let mut applied = self.applied.clone();
        tokio::time::timeout(timeout, applied.wait_for(|applied| *applied >= position))
            .await
            .is_ok_and(|result| result.is_ok())
    }
}

/// The name of the read models' snapshot, and the shape of its body: bump the format whenever
/// `ReadModels` changes shape, so that an old snapshot is ignored rather than misread.
pub const SNAPSHOT_NAME: &str = "read_models";
pub const SNAPSHOT_FORMAT: i32 = 9;

/// How the runner follows the log.
#[derive(Debug, Clone, Copy)]
pub struct RunnerOptions {
    /// Longest sleep without a wake-up, for writers in other processes.
    pub idle_poll: Duration,
    /// Write a snapshot after this many applied events.
    pub snapshot_every: usize,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        // A replay runs at about 150-250k events/s (docs/performance.md): replaying up to a million
        // events at a start takes seconds, while each snapshot of a large log stalls the runner
        // (and, on SQLite, the writer) for as long.
        Self { idle_poll: Duration::from_millis(500), snapshot_every: 1_000_000 }
    }
}

/// The body of a snapshot: the read models one after the other, each a section of its own, its
/// length (a postcard varint), its postcard encoding, then the SHA-256 of that encoding (so that a
/// body changed in storage is refused rather than read as other models). Written section by section and read back
/// the same way (decision 14): a start never holds the whole body (≈ 55 MB at a million events)
/// beside the read models, only the largest section and one part.
macro_rules! snapshot_sections {
    ($($field:ident),* $(,)?) => {
        /// How many sections a snapshot has.
        const SECTIONS: usize = [$(stringify!($field)),*].len();

        /// Writes section `index` of the snapshot of `models` to `out`; `None` past the last.
        fn write_section(
            models: &ReadModels,
            index: usize,
            out: &mut dyn std::io::Write,
        ) -> Option<Result<(), ProjectionError>> {
            let sections: [&dyn Fn(&mut dyn std::io::Write) -> Result<(), ProjectionError>; SECTIONS] =
                [$(&|out| encode_section(&models.$field, out)),*];
            sections.get(index).map(|section| section(out))
        }

        /// The read models, section after section, each checked when `check` is set.
        async fn read_sections(sections: &mut SectionReader, check: bool) -> Result<ReadModels, ProjectionError> {
            // Fields are evaluated in the order written, which is the sections' order.
            Ok(ReadModels { $($field: sections.next(stringify!($field), check).await?),* })
        }
    };
}

snapshot_sections!(position, books, rules, partners, wallets, profiles, missions, venues, expiries, audit, draws);

/// One section: its length, its encoding, its digest, written to `out` as they are produced (the
/// encoding is sized first, in a pass that allocates nothing).
fn encode_section<T: Serialize>(value: &T, out: &mut dyn std::io::Write) -> Result<(), ProjectionError> {
    use sha2::Digest as _;
    /// Hashes and counts what it passes on.
    struct Hashing<'a> {
        out: &'a mut dyn std::io::Write,
        digest: sha2::Sha256,
        len: usize,
    }
    impl std::io::Write for Hashing<'_> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let written = self.out.write(bytes)?;
            self.digest.update(&bytes[..written]);
            self.len += written;
            Ok(written)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            self.out.flush()
        }
    }
    let failed = |error: &dyn std::fmt::Display| ProjectionError::Snapshot(error.to_string());
    let size = postcard::experimental::serialized_size(value).map_err(|error| failed(&error))?;
    let mut length = [0u8; 10];
    out.write_all(postcard::to_slice(&(size as u64), &mut length).map_err(|error| failed(&error))?)
        .map_err(|error| failed(&error))?;
    // postcard writes field by field, a few bytes at a time: buffered before they are hashed.
    let mut hashing = std::io::BufWriter::with_capacity(64 << 10, Hashing { out, digest: sha2::Sha256::new(), len: 0 });
    postcard::to_io(value, &mut hashing).map_err(|error| failed(&error))?;
    let Hashing { out, digest, len } = hashing.into_inner().map_err(|error| failed(&error.error()))?;
    if len != size {
        return Err(ProjectionError::Snapshot(format!("{len} bytes written of the {size} measured")));
    }
    out.write_all(&digest.finalize()).map_err(|error| failed(&error))
}

/// Section `index` of the snapshot of `models`, in memory.
#[cfg(test)]
fn section_of(models: &ReadModels, index: usize) -> Option<Result<Vec<u8>, ProjectionError>> {
    let mut section = Vec::new();
    write_section(models, index, &mut section).map(|written| written.map(|()| section))
}

/// The length of a section's SHA-256.
const DIGEST_LEN: usize = 32;

/// Whether `value` serialises to exactly `expected`, compared as it is written: no second buffer
/// of the section's size.
fn serialises_to<T: Serialize>(value: &T, expected: &[u8]) -> bool {
    struct SameBytes<'a> {
        expected: &'a [u8],
        offset: usize,
    }
    impl std::io::Write for SameBytes<'_> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let end = self.offset + bytes.len();
            if self.expected.get(self.offset..end) != Some(bytes) {
                return Err(std::io::Error::other("the serialisation differs"));
            }
            self.offset = end;
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    postcard::to_io(value, SameBytes { expected, offset: 0 }).is_ok_and(|written| written.offset == expected.len())
}

/// Reads a snapshot's sections from its parts, holding at most one section and one part.
struct SectionReader {
    parts: ygor_store::SnapshotReader,
    /// Bytes read and not consumed yet start at `start`.
    pending: Vec<u8>,
    start: usize,
    /// Whether every part is read.
    done: bool,
}

impl SectionReader {
    fn new(parts: ygor_store::SnapshotReader) -> SectionReader {
        SectionReader { parts, pending: Vec::new(), start: 0, done: false }
    }

    fn available(&self) -> &[u8] {
        &self.pending[self.start..]
    }

    /// Reads parts until `needed` bytes are available or the body ends; false if it ended short.
    async fn fill(&mut self, needed: usize) -> Result<bool, ProjectionError> {
        while self.available().len() < needed && !self.done {
            let Some(part) = self.parts.next_part().await? else {
                self.done = true;
                break;
            };
            self.pending.drain(..self.start);
            self.start = 0;
            self.pending.reserve_exact(needed.max(self.pending.len() + part.len()) - self.pending.len());
            self.pending.extend_from_slice(&part);
        }
        Ok(self.available().len() >= needed)
    }

    /// The next section, decoded as a `T` once its digest matches; with `check`, also re-encoded
    /// and compared byte for byte (so that the value is exactly what was written).
    async fn next<T>(&mut self, name: &str, check: bool) -> Result<T, ProjectionError>
    where
        T: Serialize + serde::de::DeserializeOwned,
    {
        use sha2::Digest as _;
        let bad = |why: &str| ProjectionError::Snapshot(format!("section {name}: {why}"));
        // A varint of a u64 takes at most 10 bytes; a section takes more (its digest).
        self.fill(10).await?;
        let (len, rest) = postcard::take_from_bytes::<u64>(self.available()).map_err(|_| bad("no length"))?;
        let header = self.available().len() - rest.len();
        let end = usize::try_from(len).ok().and_then(|len| (header + DIGEST_LEN).checked_add(len));
        let Some(end) = end.filter(|&end| end <= self.parts.size()) else {
            return Err(bad("longer than the body"));
        };
        if !self.fill(end).await? {
            return Err(bad("the body ends inside it"));
        }
        let (bytes, digest) = self.available()[header..end].split_at(end - header - DIGEST_LEN);
        if sha2::Sha256::digest(bytes).as_slice() != digest {
            return Err(bad("its digest does not match"));
        }
        let value = match postcard::take_from_bytes::<T>(bytes) {
            Ok((value, [])) => value,
            Ok(_) => return Err(bad("bytes after its value")),
            Err(error) => return Err(bad(&error.to_string())),
        };
        if check && !serialises_to(&value, bytes) {
            return Err(bad("does not serialise back to what was read"));
        }
        self.start += end;
        Ok(value)
    }

    /// Whether the body ends right after the last section.
    async fn at_end(&mut self) -> Result<bool, ProjectionError> {
        Ok(!self.fill(1).await?)
    }
}

/// How many bytes of a snapshot the serialiser hands over at a time.
const SNAPSHOT_CHUNK: usize = 256 << 10;

/// Passes what it is given on to the snapshot's writer, a chunk at a time.
struct ChunkSender {
    chunk: Vec<u8>,
    sender: tokio::sync::mpsc::Sender<Vec<u8>>,
}

impl ChunkSender {
    fn send(&mut self) -> std::io::Result<()> {
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(SNAPSHOT_CHUNK));
        self.sender.blocking_send(chunk).map_err(|_| std::io::Error::other("the snapshot's writer stopped"))
    }
}

impl std::io::Write for ChunkSender {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.chunk.extend_from_slice(bytes);
        if self.chunk.len() >= SNAPSHOT_CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.chunk.is_empty() { Ok(()) } else { self.send() }
    }
}

/// Writes a snapshot of the models in `shared`. They are serialised on a blocking thread under
/// the READ lock (queries go on; only the runner, which alone takes the write lock, waits) and
/// handed to the store a chunk at a time as they are produced: the write holds a few MB beside
/// the models, not the body (decision 14).
async fn write_snapshot(log: &EventLog, shared: &Arc<RwLock<ReadModels>>) -> Result<(), ProjectionError> {
    let position = projections_position(shared);
    let mut writer = log.snapshot_writer(SNAPSHOT_NAME, position, SNAPSHOT_FORMAT).await?;
    let (sender, mut chunks) = tokio::sync::mpsc::channel(2);
    let models = shared.clone();
    let serialising = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let models = models.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        if models.position != position {
            return Err(ProjectionError::Snapshot("the read models moved on while being written".to_owned()));
        }
        let mut out = ChunkSender { chunk: Vec::with_capacity(SNAPSHOT_CHUNK), sender };
        for index in 0..SECTIONS {
            write_section(&models, index, &mut out).unwrap_or(Ok(()))?;
        }
        out.flush().map_err(|error| ProjectionError::Snapshot(error.to_string()))
    });
    let mut stored = Ok(());
    while let Some(chunk) = chunks.recv().await {
        stored = writer.write(&chunk).await;
        if stored.is_err() {
            break;
        }
    }
    // A failed write stops the serialiser at its next chunk.
    drop(chunks);
    let serialised = serialising.await.map_err(|failed| ProjectionError::Snapshot(failed.to_string()))?;
    stored?;
    serialised?;
    writer.finish().await?;
    Ok(())
}

/// Writes the read models and the position they include (readers see the previous snapshot
/// until the whole of this one is stored), and gives them back.
pub async fn save_snapshot(log: &EventLog, models: ReadModels) -> Result<ReadModels, ProjectionError> {
    let shared = Arc::new(RwLock::new(models));
    let written = write_snapshot(log, &shared).await;
    // The serialiser's clone is gone once `write_snapshot` returns.
    let models = Arc::try_unwrap(shared)
        .map_err(|_| ProjectionError::Snapshot("the read models are still shared".to_owned()))?
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    written.map(|()| models)
}

/// The read models of the snapshot, if there is a whole one of this format (each section
/// re-encoded and compared with what was read when `check` is set); `None` otherwise.
async fn read_snapshot(log: &EventLog, check: bool) -> Result<Option<ReadModels>, ProjectionError> {
    let parts = match log.snapshot_reader(SNAPSHOT_NAME).await? {
        Some(parts) if parts.format() == SNAPSHOT_FORMAT => parts,
        Some(parts) => {
            tracing::info!(format = parts.format(), "ignoring a read-model snapshot of another format");
            return Ok(None);
        }
        None => return Ok(None),
    };
    let position = parts.position();
    let mut sections = SectionReader::new(parts);
    let models = read_sections(&mut sections, check).await?;
    if models.position != position || !sections.at_end().await? {
        return Err(ProjectionError::Snapshot("the body does not match its row".to_owned()));
    }
    Ok(Some(models))
}

/// The read models from the latest usable snapshot, or empty ones.
async fn load_snapshot(log: &EventLog) -> Result<ReadModels, ProjectionError> {
    match read_snapshot(log, false).await {
        Ok(Some(models)) => Ok(models),
        Ok(None) => Ok(ReadModels::default()),
        Err(ProjectionError::Store(StoreError::Serialization(message)) | ProjectionError::Snapshot(message)) => {
            tracing::warn!(%message, "the read-model snapshot does not read back; replaying the log");
            Ok(ReadModels::default())
        }
        Err(error) => Err(error),
    }
}

/// How long a rebuild or a start waits for in-flight transactions below the last committed
/// position to end before it reads.
const SAFE_WAIT: Duration = Duration::from_secs(60);

/// Replays the whole log, as committed when it starts, into fresh read models.
pub async fn rebuild(log: &EventLog) -> Result<ReadModels, ProjectionError> {
    let target = log.last_position().await?;
    log.wait_until_safe(target, SAFE_WAIT).await?;
    let mut models = ReadModels::default();
    catch_up(log, &mut models).await?;
    Ok(models)
}

/// A stored event decoded, with its Merkle leaf hash: what is left to do is to apply it.
struct DecodedEvent {
    position: Position,
    leaf_hash: [u8; 32],
    event: AnyEvent,
}

impl DecodedEvent {
    /// Decodes the typed event and hashes the leaf, both straight from the payload text.
    fn from_stored(stored: &StoredEvent) -> Result<DecodedEvent, ProjectionError> {
        let position = stored.position;
        let event = ygor_ledger::codec::decode_any(
            &stored.aggregate_type,
            &stored.aggregate_id,
            &stored.event_type,
            &stored.event_version,
            ygor_ledger::codec::Payload::Text(&stored.payload),
        )
        .map_err(|error| ProjectionError::Decode { position, message: error.to_string() })?;
        let leaf_hash = audit::stored_leaf_hash(stored)
            .map_err(|error| ProjectionError::Decode { position, message: error.to_string() })?;
        Ok(DecodedEvent { position, leaf_hash, event })
    }
}

/// The events of a chunk decoded in order, up to the first that does not decode, and its error.
type DecodedChunk = (Vec<DecodedEvent>, Option<ProjectionError>);

fn decode_chunk(chunk: Vec<StoredEvent>) -> DecodedChunk {
    let mut decoded = Vec::with_capacity(chunk.len());
    for stored in &chunk {
        match DecodedEvent::from_stored(stored) {
            Ok(event) => decoded.push(event),
            Err(error) => return (decoded, Some(error)),
        }
    }
    (decoded, None)
}

/// Reads the log after `after` in pages until a page comes back short, as `catch_up` did one page
/// at a time, and sends the pages on (an error ends the reading).
async fn read_pages(
    log: EventLog,
    mut after: Position,
    pages: tokio::sync::mpsc::Sender<Result<Vec<StoredEvent>, StoreError>>,
) {
    let mut reader = match log.stored_reader().await {
        Ok(reader) => reader,
        Err(error) => {
            let _ = pages.send(Err(error)).await;
            return;
        }
    };
    loop {
        let page = match reader.read_after(after, REPLAY_PAGE).await {
            Ok(page) => page,
            Err(error) => {
                let _ = pages.send(Err(error)).await;
                return;
            }
        };
        let full = page.len() == REPLAY_PAGE;
        let Some(last) = page.last() else {
            return;
        };
        after = last.position;
        if pages.send(Ok(page)).await.is_err() || !full {
            return;
        }
    }
}

/// Replays the log after `models.position` into `models`, up to the last event safe to read, and
/// returns how many events it applied.
///
/// Three stages overlap: a task reads the next pages while blocking tasks decode the typed events
/// and hash their Merkle leaves, chunk by chunk, on every core, and this task applies the decoded
/// chunks to the read models, one after the other in position order. Conservation is still
/// checked after every event, and a failure stops the replay at that event, every earlier event
/// applied, as a one-by-one replay would.
async fn catch_up(log: &EventLog, models: &mut ReadModels) -> Result<usize, ProjectionError> {
    let (sender, mut pages) = tokio::sync::mpsc::channel(REPLAY_PAGES_AHEAD);
    // Dropped (and so aborted) on every return, an early one included.
    let mut reader = tokio::task::JoinSet::new();
    reader.spawn(read_pages(log.clone(), models.position, sender));
    let in_flight = std::thread::available_parallelism().map_or(2, std::num::NonZero::get) + 1;
    let mut undecoded: VecDeque<Vec<StoredEvent>> = VecDeque::new();
    let mut decoding: VecDeque<tokio::task::JoinHandle<DecodedChunk>> = VecDeque::new();
    let mut reading = true;
    let mut total = 0;
    loop {
        // Keep the decoders busy, waiting for the reader only when there is nothing else to do.
        while decoding.len() < in_flight {
            if let Some(chunk) = undecoded.pop_front() {
                decoding.push_back(tokio::task::spawn_blocking(move || decode_chunk(chunk)));
                continue;
            }
            if !reading {
                break;
            }
            let page = if decoding.is_empty() {
                pages.recv().await
            } else {
                match pages.try_recv() {
                    Ok(page) => Some(page),
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => None,
                }
            };
            match page {
                Some(page) => {
                    let mut events = page?.into_iter();
                    loop {
                        let chunk: Vec<StoredEvent> = events.by_ref().take(REPLAY_CHUNK).collect();
                        if chunk.is_empty() {
                            break;
                        }
                        undecoded.push_back(chunk);
                    }
                }
                None => {
                    reading = false;
                    // The reader is done; if it panicked, so does the replay rather than stopping short.
                    while let Some(result) = reader.join_next().await {
                        if let Err(error) = result
                            && error.is_panic()
                        {
                            std::panic::resume_unwind(error.into_panic());
                        }
                    }
                }
            }
        }
        let Some(next) = decoding.pop_front() else {
            return Ok(total);
        };
        let (events, error) = match next.await {
            Ok(decoded) => decoded,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => {
                return Err(ProjectionError::Decode { position: models.position, message: error.to_string() });
            }
        };
        for event in events {
            models.apply_decoded(event)?;
            total += 1;
        }
        if let Some(error) = error {
            return Err(error);
        }
    }
}

/// Starts the runner: loads the snapshot and replays the log after it, then follows the log.
///
/// Events this process commits arrive through `feed` (the engine's
/// `Engine::committed_events` channel) and are applied without reading them back, as
/// long as they follow on from the last position applied. Anything else — events of other
/// processes, a position left unused by a failed transaction, a feed that fell behind — is read
/// from the log, gap-safely, as before. `wake` (the engine's commits) and, for writers in other
/// processes, every `idle_poll`, make the runner look.
pub async fn start(
    log: EventLog,
    mut wake: watch::Receiver<Position>,
    mut feed: Option<tokio::sync::mpsc::Receiver<Vec<FedEvent>>>,
    options: RunnerOptions,
) -> Result<(Projections, tokio::task::JoinHandle<Result<(), ProjectionError>>), ProjectionError> {
    let mut models = load_snapshot(&log).await?;
    let target = log.last_position().await?;
    log.wait_until_safe(target, SAFE_WAIT).await?;
    let started = std::time::Instant::now();
    let replayed = catch_up(&log, &mut models).await?;
    tracing::info!(replayed, seconds = started.elapsed().as_secs_f64(), "the read models caught up with the log");
    if replayed >= options.snapshot_every {
        let started = std::time::Instant::now();
        models = save_snapshot(&log, models).await?;
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "read-model snapshot written");
        // The read models of a long replay were allocated among the replay's own short-lived
        // buffers, and those pages stay half used: taking them back from the snapshot just
        // written lays them out afresh (a million events: 170 MB resident instead of 105).
        // It is also the one check that a snapshot reads back as what was written: each section
        // read back serialises to the very bytes read. The replayed models go first, and the
        // snapshot comes back one section at a time, so that the start never holds the replayed
        // models, the snapshot and the models read back at once (282 MB at the peak for a
        // million events, against 144 once started; see decisions 13 and 14).
        let position = models.position;
        drop(models);
        models = match read_snapshot(&log, true).await {
            Ok(Some(models)) if models.position == position => models,
            Ok(_) | Err(ProjectionError::Snapshot(_)) => {
                return Err(ProjectionError::Snapshot(
                    "the snapshot just written does not read back as the read models it was made of".to_owned(),
                ));
            }
            Err(error) => return Err(error),
        };
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "read models taken back from the snapshot");
    }
    let idle_poll = options.idle_poll;
    let mut since_snapshot = 0usize;
    let (applied_sender, applied) = watch::channel(models.position);
    let shared = Arc::new(RwLock::new(models));
    let projections = Projections { models: shared.clone(), applied };
    let task = tokio::spawn(async move {
        // Events fed in-process, not applied yet, in position order.
        let mut fed = std::collections::VecDeque::new();
        loop {
            if let Some(receiver) = feed.as_mut() {
                // Bounded: past it, the feed fills up, the engine stops feeding, and the runner
                // reads what it missed from the log.
                while fed.len() < FED_MAX
                    && let Ok(batch) = receiver.try_recv()
                {
                    fed.extend(batch);
                }
            }
            // Read a page without holding the lock, then apply it: readers never wait on the database.
            let position = shared.read().unwrap_or_else(|poisoned| poisoned.into_inner()).position;
            let page = match next_fed_page(&mut fed, position) {
                Some(page) => Page::Fed(page),
                // A storage failure is transient for a reader: log it, wait, and read again. Only
                // an event that breaks an invariant stops the runner.
                None => match log.read_after(position, PAGE).await {
                    Ok(page) => Page::Read(page),
                    Err(error) => {
                        tracing::warn!(%error, "the projections cannot read the log; retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                },
            };
            let page_len = page.len();
            if page_len > 0 {
                since_snapshot += page_len;
                let last = apply_page(&shared, page, &applied_sender)?;
                // Every position up to the last applied is final (applied without a gap): other
                // readers of the log (the audit export) need not wait for the watermark to see it.
                log.mark_final(last);
                if since_snapshot >= options.snapshot_every {
                    since_snapshot = 0;
                    let written = write_snapshot(&log, &shared).await;
                    if let Err(error) = written {
                        tracing::warn!(%error, "could not write the read-model snapshot; will retry later");
                    }
                }
                if page_len == PAGE || !fed.is_empty() {
                    continue;
                }
            }
            let target = *wake.borrow_and_update();
            if target > projections_position(&shared) || !fed.is_empty() {
                // A commit we know of is not readable yet (an older transaction is still in
                // flight on PostgreSQL): look again very soon.
                tokio::time::sleep(Duration::from_millis(2)).await;
                continue;
            }
            tokio::select! {
                batch = async { feed.as_mut()?.recv().await }, if feed.is_some() && fed.len() < FED_MAX => {
                    match batch {
                        Some(batch) => fed.extend(batch),
                        None => feed = None,
                    }
                }
                changed = wake.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
                _ = tokio::time::sleep(idle_poll) => {}
            }
        }
    });
    Ok((projections, task))
}

/// Something with a position in the log.
trait Positioned {
    fn position(&self) -> Position;
}

impl Positioned for FedEvent {
    fn position(&self) -> Position {
        self.position
    }
}

impl Positioned for ygor_store::RecordedEvent {
    fn position(&self) -> Position {
        self.position
    }
}

/// The fed events that follow on from `position` (at most a page), after dropping those already
/// applied (read from the log meanwhile); `None` when the next fed event does not follow on.
fn next_fed_page<T: Positioned>(fed: &mut std::collections::VecDeque<T>, position: Position) -> Option<Vec<T>> {
    while fed.front().is_some_and(|event| event.position() <= position) {
        fed.pop_front();
    }
    let mut next = position + 1;
    let mut page = Vec::new();
    while page.len() < PAGE
        && let Some(event) = fed.pop_front_if(|event| event.position() == next)
    {
        page.push(event);
        next += 1;
    }
    (!page.is_empty()).then_some(page)
}

/// Events to apply: fed by the engine, or read from the log.
enum Page {
    Fed(Vec<FedEvent>),
    Read(Vec<ygor_store::RecordedEvent>),
}

impl Page {
    fn len(&self) -> usize {
        match self {
            Page::Fed(events) => events.len(),
            Page::Read(events) => events.len(),
        }
    }
}

/// Applies a page of events under the write lock; returns the position of the last one.
fn apply_page(
    shared: &RwLock<ReadModels>,
    page: Page,
    applied: &watch::Sender<Position>,
) -> Result<Position, ProjectionError> {
    let mut models = shared.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    let result = match page {
        Page::Fed(events) => events.into_iter().try_for_each(|fed| models.apply_fed(fed)),
        Page::Read(events) => events.iter().try_for_each(|recorded| models.apply_recorded(recorded)),
    };
    if let Err(error) = result {
        tracing::error!(%error, "projection stopped: the log breaks an invariant");
        return Err(error);
    }
    let _ = applied.send(models.position);
    Ok(models.position)
}

fn projections_position(shared: &Arc<RwLock<ReadModels>>) -> Position {
    shared.read().unwrap_or_else(|poisoned| poisoned.into_inner()).position
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use chrono::Utc;
    use ygor_store::{RecordedEvent, SerializedEvent};

    use super::next_fed_page;

    fn fed(positions: &[i64]) -> VecDeque<RecordedEvent> {
        positions
            .iter()
            .map(|position| RecordedEvent {
                position: *position,
                recorded_at: Utc::now(),
                event: SerializedEvent::new(
                    "a".to_owned(),
                    1,
                    "wallet".to_owned(),
                    "E".to_owned(),
                    "1".to_owned(),
                    serde_json::json!({}),
                    serde_json::json!({}),
                ),
            })
            .collect()
    }

    fn positions(page: Option<Vec<RecordedEvent>>) -> Option<Vec<i64>> {
        page.map(|page| page.iter().map(|event| event.position).collect())
    }

    #[test]
    fn fed_events_are_used_only_when_they_follow_on() {
        let mut queue = fed(&[4, 5, 6, 8]);
        assert_eq!(positions(next_fed_page(&mut queue, 3)), Some(vec![4, 5, 6]), "stops before the gap at 7");
        assert_eq!(positions(next_fed_page(&mut queue, 6)), None, "7 must be read from the log");
        assert_eq!(queue.len(), 1, "8 waits");
        assert_eq!(positions(next_fed_page(&mut queue, 7)), Some(vec![8]));
    }

    #[test]
    fn fed_events_already_read_from_the_log_are_dropped() {
        let mut queue = fed(&[2, 3, 4, 5]);
        assert_eq!(positions(next_fed_page(&mut queue, 4)), Some(vec![5]));
        assert!(queue.is_empty());
        let mut behind = fed(&[1, 2]);
        assert_eq!(positions(next_fed_page(&mut behind, 9)), None);
        assert!(behind.is_empty());
    }
}

#[cfg(test)]
mod replay_tests {
    use chrono::TimeZone;
    use cqrs_es::{Aggregate, DomainEvent};
    use ygor_ledger::books::AnyEvent;
    use ygor_ledger::partner::PartnerCommand;
    use ygor_ledger::territory::TerritoryCommand;
    use ygor_ledger::{Partner, Territory, Tokens};
    use ygor_store::testing::fresh_event_log;
    use ygor_store::{AppendBatch, Backend, NewEvent, SerializedEvent};

    use super::*;

    const RULES: &str = include_str!("../../rules/tests/fixtures/sample_rules.toml");

    fn at(second: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + second, 123_456_789).single().expect("valid instant")
    }

    fn new_event<A: Aggregate>(id: &str, sequence: usize, event: &A::Event, second: i64) -> NewEvent {
        NewEvent::new(
            SerializedEvent::new(
                id.to_owned(),
                sequence,
                A::TYPE.to_owned(),
                event.event_type(),
                event.event_version(),
                serde_json::to_value(event).expect("event serialises"),
                serde_json::json!({}),
            ),
            at(second),
        )
        .expect("serialises")
    }

    /// The engine feeds its projections the typed events with their canonical payload text; the
    /// read models (Merkle tree included) must be those of the same events read back from the log.
    #[test]
    fn a_fed_event_applies_as_the_same_event_read_back() {
        let rules = ygor_rules::Rules::parse(RULES).expect("sample rules");
        let mut territory = Territory::default();
        let mut typed: Vec<(AnyEvent, NewEvent)> = Vec::new();
        fn record(typed: &mut Vec<(AnyEvent, NewEvent)>, territory: &mut Territory, command: TerritoryCommand) {
            for event in territory.decide(command).expect("decides") {
                let sequence = territory.version() + 1;
                let stored = new_event::<Territory>("territory", sequence, &event, sequence as i64);
                typed.push((AnyEvent::Territory(event.clone()), stored));
                territory.apply_event(event);
            }
        }
        let publish = TerritoryCommand::PublishRules { rules, source: RULES.to_owned(), at: at(0) };
        record(&mut typed, &mut territory, publish);
        record(&mut typed, &mut territory, TerritoryCommand::MintSupply { amount: Tokens::new(1_000), at: at(1) });
        let venue = PartnerId::parse("3f2504e0-4f89-41d3-9a0c-0305e82c3301").expect("an id");
        for event in Partner::default()
            .decide(PartnerCommand::Register {
                kind: PartnerKind::Venue,
                name: "Vélo « Club » ☕ \"quoted\"\n".to_owned(),
                public_key: "k".to_owned(),
                at: at(2),
            })
            .expect("registers")
        {
            let stored = new_event::<Partner>(&venue.to_string(), 1, &event, 2);
            typed.push((AnyEvent::Partner(venue, event), stored));
        }
        let allocate = TerritoryCommand::AllocateEnvelope { partner_id: venue, amount: Tokens::new(10), at: at(3) };
        record(&mut typed, &mut territory, allocate);
        let count = typed.len() as u64;
        let mut fed = ReadModels::default();
        let mut read = ReadModels::default();
        for (index, (event, stored)) in typed.into_iter().enumerate() {
            let position = 2 * index as Position + 1;
            let canonical = String::from_utf8(ygor_crypto::canonical_json(&stored.event().payload).expect("canonical"))
                .expect("UTF-8");
            let with_canonical = NewEvent::from_text(stored.head(), stored.recorded_at, canonical, true);
            fed.apply_fed(FedEvent { position, stored: with_canonical, event }).expect("applies fed");
            read.apply_recorded(&ygor_store::RecordedEvent::appended(position, stored)).expect("applies read");
        }
        assert_eq!(fed.audit.size(), count);
        assert!(count >= 4, "rules, mint, registration, envelope");
        assert_eq!(fed, read, "the same read models, Merkle tree included");
    }

    /// Rules (with a fraction and accented text: the general canonical path), a venue with an
    /// accented name, an envelope, then enough mints for several pages and chunks.
    async fn log_with_history(backend: Backend) -> (EventLog, impl Sized, usize) {
        let (log, guard) = fresh_event_log(backend).await;
        let rules = ygor_rules::Rules::parse(RULES).expect("sample rules");
        let mut territory = Territory::default();
        let mut events = Vec::new();
        let territory_command = |territory: &mut Territory, command, second| {
            let decided = territory.decide(command).expect("decides");
            decided
                .into_iter()
                .map(|event| {
                    let new = new_event::<Territory>("territory", territory.version() + 1, &event, second);
                    territory.apply_event(event);
                    new
                })
                .collect::<Vec<_>>()
        };
        events.extend(territory_command(
            &mut territory,
            TerritoryCommand::PublishRules { rules, source: RULES.to_owned(), at: at(0) },
            0,
        ));
        events.extend(territory_command(
            &mut territory,
            TerritoryCommand::MintSupply { amount: Tokens::new(1_000_000), at: at(1) },
            1,
        ));
        let venue = PartnerId::parse("3f2504e0-4f89-41d3-9a0c-0305e82c3301").expect("an id");
        let registered = Partner::default()
            .decide(PartnerCommand::Register {
                kind: PartnerKind::Venue,
                name: "Vélo « Club » ☕ \"quoted\"".to_owned(),
                public_key: "k".to_owned(),
                at: at(2),
            })
            .expect("registers");
        events.extend(registered.iter().map(|event| new_event::<Partner>(&venue.to_string(), 1, event, 2)));
        events.extend(territory_command(
            &mut territory,
            TerritoryCommand::AllocateEnvelope { partner_id: venue, amount: Tokens::new(1_000), at: at(3) },
            3,
        ));
        for second in 0..(2 * REPLAY_PAGE as i64 + 700) {
            events.extend(territory_command(
                &mut territory,
                TerritoryCommand::MintSupply { amount: Tokens::new(1), at: at(second) },
                second,
            ));
        }
        let count = events.len();
        for batch in events.chunks(2_000) {
            log.append(&AppendBatch { events: batch.to_vec(), ..AppendBatch::default() }).await.expect("append");
        }
        (log, guard, count)
    }

    /// The read models as the live runner builds them: `read_after` and `apply_recorded`.
    async fn applied_one_by_one(log: &EventLog) -> ReadModels {
        let mut models = ReadModels::default();
        loop {
            let page = log.read_after(models.position, PAGE).await.expect("read_after");
            if page.is_empty() {
                return models;
            }
            for recorded in &page {
                models.apply_recorded(recorded).expect("applies");
            }
        }
    }

    async fn a_replay_equals_applying_one_by_one(backend: Backend) {
        let (log, _guard, count) = log_with_history(backend).await;
        let rebuilt = rebuild(&log).await.expect("rebuild");
        assert_eq!(rebuilt.audit.size(), count as u64);
        assert_eq!(rebuilt, applied_one_by_one(&log).await, "the same read models, Merkle tree included");
        let mut stored = ReadModels::default();
        for event in log.read_stored_after(0, 100).await.expect("read_stored_after") {
            stored.apply_stored(&event).expect("applies");
        }
        let mut recorded = ReadModels::default();
        for event in log.read_after(0, 100).await.expect("read_after") {
            recorded.apply_recorded(&event).expect("applies");
        }
        assert_eq!(stored, recorded);
    }

    #[tokio::test]
    async fn sqlite_a_replay_equals_applying_one_by_one() {
        a_replay_equals_applying_one_by_one(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn postgres_a_replay_equals_applying_one_by_one() {
        a_replay_equals_applying_one_by_one(Backend::Postgres).await;
    }

    #[tokio::test]
    async fn read_models_serialise_to_their_snapshot_and_to_nothing_else() {
        let (log, _guard, _) = log_with_history(Backend::Sqlite).await;
        let models = rebuild(&log).await.expect("rebuild");
        let section = section_of(&models, 3).expect("a fourth section").expect("serialises");
        let (len, rest) = postcard::take_from_bytes::<u64>(&section).expect("a length");
        let (body, digest) = rest.split_at(rest.len() - DIGEST_LEN);
        assert_eq!(len as usize, body.len());
        assert_eq!(digest, <sha2::Sha256 as sha2::Digest>::digest(body).as_slice());
        let partners: BTreeMap<PartnerId, (PartnerKind, String)> = postcard::from_bytes(body).expect("reads back");
        assert_eq!(partners, models.partners, "the fourth section is the partners");
        assert!(!partners.is_empty());
        assert!(serialises_to(&partners, body));
        let mut changed = body.to_vec();
        let middle = changed.len() / 2;
        changed[middle] ^= 1;
        assert!(!serialises_to(&partners, &changed), "one byte differs");
        assert!(!serialises_to(&partners, &body[..body.len() - 1]), "one byte short");
        let mut longer = body.to_vec();
        longer.push(0);
        assert!(!serialises_to(&partners, &longer), "one byte more");
        assert!(!serialises_to(&BTreeMap::<PartnerId, (PartnerKind, String)>::new(), body), "other models");
        assert!(section_of(&models, SECTIONS).is_none());
    }

    /// A snapshot is its sections one after the other, whatever the parts they are stored in; a
    /// body changed or cut short does not load, and a start then replays the log instead.
    #[tokio::test]
    async fn a_snapshot_reads_back_section_by_section_and_refuses_a_changed_body() {
        let (log, _guard, _) = log_with_history(Backend::Sqlite).await;
        let models = rebuild(&log).await.expect("rebuild");
        let models = save_snapshot(&log, models).await.expect("saves");
        let stored = log.load_snapshot(SNAPSHOT_NAME).await.expect("loads").expect("a snapshot");
        let sections: Vec<u8> = (0..SECTIONS)
            .flat_map(|index| section_of(&models, index).expect("a section").expect("serialises"))
            .collect();
        assert_eq!(stored.body, sections);
        assert_eq!(read_snapshot(&log, true).await.expect("reads").as_ref(), Some(&models));
        let mut tampered = stored.clone();
        let last = tampered.body.len() - 3;
        tampered.body[last] ^= 0x40;
        log.save_snapshot(&tampered).await.expect("saves");
        assert!(read_snapshot(&log, true).await.is_err(), "a changed byte is found");
        assert_eq!(load_snapshot(&log).await.expect("loads"), ReadModels::default(), "and the start replays");
        let mut short = stored.clone();
        short.body.truncate(short.body.len() - 1);
        log.save_snapshot(&short).await.expect("saves");
        assert_eq!(load_snapshot(&log).await.expect("loads"), ReadModels::default());
        let mut longer = stored;
        longer.body.push(0);
        log.save_snapshot(&longer).await.expect("saves");
        assert_eq!(load_snapshot(&log).await.expect("loads"), ReadModels::default());
    }

    /// A start that replays more than `snapshot_every` events writes a snapshot and takes the read
    /// models back from it: they equal a rebuild, and the snapshot holds them.
    #[tokio::test]
    async fn a_long_start_takes_its_read_models_back_from_the_snapshot_it_wrote() {
        let (log, _guard, _) = log_with_history(Backend::Sqlite).await;
        let last = log.last_position().await.expect("last position");
        let options = RunnerOptions { snapshot_every: 100, ..RunnerOptions::default() };
        let (projections, task) = start(log.clone(), watch::channel(last).1, None, options).await.expect("starts");
        let started = projections.read(ReadModels::clone);
        task.abort();
        assert_eq!(started.position, last);
        assert_eq!(started, rebuild(&log).await.expect("rebuild"));
        assert_eq!(load_snapshot(&log).await.expect("a snapshot"), started);
    }

    /// A replay stops at the first event that breaks an invariant, every event before it applied.
    async fn a_replay_stops_at_the_first_bad_event(backend: Backend) {
        let (log, _guard, count) = log_with_history(backend).await;
        let last = log.last_position().await.expect("last position");
        // An allocation the treasury cannot cover, then an event that does not decode.
        let overdrawn = TerritoryEvent::EnvelopeAllocated {
            partner_id: PartnerId::parse("16fd2706-8baf-433b-82eb-8c7fada847da").expect("an id"),
            amount: Tokens::new(1_000_000_000),
            allocated_at: at(0),
        };
        let bad = new_event::<Territory>("territory", count + 1, &overdrawn, 0);
        let overdrawn_at = log.append(&AppendBatch { events: vec![bad.clone()], ..AppendBatch::default() }).await;
        let overdrawn_at = overdrawn_at.expect("append")[0];
        // Other tests' transactions on the shared server may hold the gap-safe watermark back.
        log.wait_until_safe(overdrawn_at, std::time::Duration::from_secs(30)).await.expect("safe");
        let mut models = ReadModels::default();
        let error = catch_up(&log, &mut models).await.expect_err("conservation breaks");
        assert!(
            matches!(error, ProjectionError::Conservation { position, .. } if position == overdrawn_at),
            "{error:?}"
        );
        assert_eq!(models.position, last, "every event before the bad one is applied");

        let (log, _guard, _) = log_with_history(backend).await;
        let mut undecodable = bad.event().into_owned();
        undecodable.payload = serde_json::json!({"NoSuchEvent": {}});
        let bad = NewEvent::new(undecodable, bad.recorded_at).expect("serialises");
        let undecodable_at = log.append(&AppendBatch { events: vec![bad], ..AppendBatch::default() }).await;
        let undecodable_at = undecodable_at.expect("append")[0];
        log.wait_until_safe(undecodable_at, std::time::Duration::from_secs(30)).await.expect("safe");
        let mut models = ReadModels::default();
        let error = catch_up(&log, &mut models).await.expect_err("does not decode");
        assert!(matches!(error, ProjectionError::Decode { position, .. } if position == undecodable_at), "{error:?}");
        assert_eq!(models.position, last);
        assert_eq!(models.audit.size(), count as u64);
    }

    #[tokio::test]
    async fn sqlite_a_replay_stops_at_the_first_bad_event() {
        a_replay_stops_at_the_first_bad_event(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn postgres_a_replay_stops_at_the_first_bad_event() {
        a_replay_stops_at_the_first_bad_event(Backend::Postgres).await;
    }
}

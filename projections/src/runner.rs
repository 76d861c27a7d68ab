//! The runner: replays the log into the read models (a rebuild, a start) and then follows it,
//! applying the events this process commits as the engine feeds them and reading the rest from
//! the log, gap-safely.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use ygor_ledger::books::AnyEvent;
use ygor_store::{EventLog, Position, StoreError, StoredEvent};

use crate::snapshot::{load_snapshot, read_snapshot, save_snapshot, write_snapshot};
use crate::{FedEvent, PAGE, ProjectionError, Projections, ReadModels, RunnerOptions, audit};

/// How many events one read of the log returns during a replay (a rebuild, or a start).
pub(crate) const REPLAY_PAGE: usize = 5_000;

/// How many pages of a replay are read ahead of the one being decoded.
const REPLAY_PAGES_AHEAD: usize = 2;

/// How many events of a replay one blocking task decodes and hashes.
const REPLAY_CHUNK: usize = 500;

/// How many events fed by the engine the runner holds before it applies them; past it, it leaves
/// the rest in the engine's (bounded) feed.
const FED_MAX: usize = 8 * PAGE;

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
pub(crate) struct DecodedEvent {
    pub(crate) position: Position,
    pub(crate) leaf_hash: [u8; 32],
    pub(crate) event: AnyEvent,
}

impl DecodedEvent {
    /// Decodes the typed event and hashes the leaf, both straight from the payload text.
    pub(crate) fn from_stored(stored: &StoredEvent) -> Result<DecodedEvent, ProjectionError> {
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

/// Reads the log after `after` in pages until a page comes back short, and sends the pages on (an
/// error ends the reading), so that the next page is read while one is decoded.
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
pub(crate) async fn catch_up(log: &EventLog, models: &mut ReadModels) -> Result<usize, ProjectionError> {
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
        // written lays them out afresh (a million events: about 105 MB resident, not 170).
        // It is also the one check that a snapshot reads back as what was written: each section
        // read back serialises to the very bytes read. The replayed models go first, and the
        // snapshot comes back one section at a time, so that the start never holds the replayed
        // models, the snapshot and the models read back at once (decisions 13 and 14).
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

pub(crate) fn projections_position(shared: &Arc<RwLock<ReadModels>>) -> Position {
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
